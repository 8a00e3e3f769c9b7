// Which service answers which API method. Plain Node (no electron) so the CLI, the e2e test host
// and the tests build exactly what the app runs. Add a method: extend ApiMethods in
// src/shared/api.ts, its schema in api-schemas.ts, and its entry here.
import { DATA_ATTRIBUTIONS } from '../../shared/attributions'
import { auditRecordView } from '../services/audit/audit'
import type { Db } from '../services/db/database'
import { getPatientTimeline, listPatients } from '../services/db/patients-repo'
import { exportRecommendationAsFhir } from '../services/interop/fhir-export'
import { MedrecServices } from '../services/open-services'
import { createEvaluateHandlers } from './evaluate-handlers'
import { createCdsHooksHandlers } from './handlers/cds-hooks'
import { createImportHandlers } from './handlers/imports'
import { createApiDispatcher, type ApiDispatcher, type ApiHandlers, type DispatcherOptions } from './dispatcher'
import { createWorkspaceHandlers } from './workspace-handlers'

/** What the handlers need; later services (models, knowledge base, audit) are added here. */
export interface ApiContext {
  db: Db
  databasePath: string
  appVersion: string
  /** Models, knowledge base and settings for the clinical workspace; default: opened lazily with the default paths. */
  workspace?: MedrecServices
}

export function createApiHandlers(context: ApiContext): ApiHandlers {
  const { db } = context
  const workspace = context.workspace ?? new MedrecServices(db)
  return {
    'app:info': () => ({
      version: context.appVersion,
      databasePath: context.databasePath,
      patientCount: (db.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n,
      dataAttributions: [...DATA_ATTRIBUTIONS]
    }),
    'patients:list': (query) => listPatients(db, query),
    'patients:timeline': (patientId) => {
      // Opening a record is audited (who looked at which patient, when).
      const timeline = getPatientTimeline(db, patientId)
      auditRecordView(db, { id: timeline.patient.id, sourcePatientId: timeline.patient.sourcePatientId }, 'app')
      return timeline
    },
    'interop:fhir-export': async (request) =>
      (await exportRecommendationAsFhir(workspace.context(), request.patientId, {
        sources: workspace.knowledge()?.ddi.sources() ?? [],
        includeReview: request.includeReview
      })) as unknown as { resourceType: 'Bundle' } & Record<string, unknown>,
    ...createWorkspaceHandlers(workspace),
    ...createEvaluateHandlers({ db, databasePath: context.databasePath, workspace }),
    ...createImportHandlers({ db }),
    ...createCdsHooksHandlers({ databasePath: context.databasePath })
  }
}

/** The validated dispatcher the app (over IPC) and the e2e host (over HTTP) serve. */
export function createApi(context: ApiContext, options?: DispatcherOptions): ApiDispatcher {
  return createApiDispatcher(createApiHandlers(context), options)
}
