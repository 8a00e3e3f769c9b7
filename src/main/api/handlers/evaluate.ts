// evaluate:* — which service answers them. Arguments arrive validated by the dispatcher.
import { EvaluationJobs } from '../../services/evaluate/jobs'
import type { DomainHandlers, HandlerContext } from './types'

export function evaluateHandlers({ db, databasePath, services }: HandlerContext): DomainHandlers<'evaluate:'> {
  const jobs = new EvaluationJobs(() => {
    // The app's own interaction checker and drug choice (as its recommendations use them); without a loaded knowledge
    // base the evaluation says why from knowledgeBasePath.
    const { ddi, drugChoice } = services.context()
    return { db, databasePath, registry: services.registry(), knowledgeBasePath: services.knowledgeBasePath, ddi: ddi ?? undefined, drugChoice }
  })
  return {
    'evaluate:start': (request) => jobs.start(request),
    'evaluate:status': (jobId) => jobs.status(jobId)
  }
}
