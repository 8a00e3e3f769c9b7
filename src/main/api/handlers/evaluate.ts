// evaluate:* — which service answers them. Arguments arrive validated by the dispatcher.
import { EvaluationJobs } from '../../services/evaluate/jobs'
import type { DomainHandlers, HandlerContext } from './types'

export function evaluateHandlers({ db, databasePath, services }: HandlerContext): DomainHandlers<'evaluate:'> {
  const jobs = new EvaluationJobs(() => ({
    db,
    databasePath,
    registry: services.registry(),
    knowledgeBasePath: services.knowledgeBasePath
  }))
  return {
    'evaluate:start': (request) => jobs.start(request),
    'evaluate:status': (jobId) => jobs.status(jobId)
  }
}
