// interop:* — which service answers them. Arguments arrive validated by the dispatcher.
import { CdsPilotService } from '../../services/interop/cds-hooks/pilot'
import { exportRecommendationAsFhir } from '../../services/interop/fhir-export'
import type { DomainHandlers, HandlerContext } from './types'

export function interopHandlers({ services, databasePath }: HandlerContext): DomainHandlers<'interop:'> {
  // Settings → "CDS Hooks service (pilot)": at most one, on its own connection to this database.
  const pilot = new CdsPilotService({ databasePath })
  return {
    'interop:cds-status': () => pilot.status(),
    'interop:cds-start': (request) => pilot.start(request),
    'interop:cds-stop': () => pilot.stop(),
    'interop:fhir-export': async (request) =>
      (await exportRecommendationAsFhir(services.context(), request.patientId, {
        sources: services.knowledge()?.ddi.sources() ?? [],
        includeReview: request.includeReview
      })) as unknown as { resourceType: 'Bundle' } & Record<string, unknown>
  }
}
