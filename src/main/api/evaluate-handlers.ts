// Which service answers the evaluation API methods (src/shared/evaluate-api.ts); arguments arrive validated.
import { defaultKnowledgeBasePath } from '../services/paths'
import type { EvaluateApiMethods } from '../../shared/evaluate-api'
import type { Db } from '../services/db/database'
import { EvaluationJobs } from '../services/evaluate/jobs'
import type { MedrecServices } from '../services/open-services'
import type { ApiHandlers } from './dispatcher'

export function createEvaluateHandlers(context: { db: Db; databasePath: string; workspace: MedrecServices }): Pick<ApiHandlers, keyof EvaluateApiMethods> {
  const jobs = new EvaluationJobs(() => ({
    db: context.db,
    databasePath: context.databasePath,
    registry: context.workspace.registry(),
    knowledgeBasePath: defaultKnowledgeBasePath()
  }))
  return {
    'evaluate:start': (request) => jobs.start(request),
    'evaluate:status': (jobId) => jobs.status(jobId)
  }
}
