// review:* — which service answers them. Arguments arrive validated by the dispatcher.
import { checkReview, reviewHistory, submitReview } from '../../services/review/review'
import type { DomainHandlers, HandlerContext } from './types'

export function reviewHandlers({ db, services }: HandlerContext): DomainHandlers<'review:'> {
  return {
    'review:check': (request) => checkReview(services, request),
    'review:submit': (submission) => submitReview(services, submission),
    'review:history': (patientId) => reviewHistory(db, patientId)
  }
}
