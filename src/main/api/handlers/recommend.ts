// recommend:* and explain:drug — which service answers them. Arguments arrive validated by the dispatcher.
import { acknowledgeWarnings, explainView, recommendView } from '../../services/recommend/recommend-view'
import type { DomainHandlers, HandlerContext } from './types'

export function recommendHandlers({ services }: HandlerContext): DomainHandlers<'recommend:' | 'explain:'> {
  return {
    'recommend:run': (request) => recommendView(services, request),
    'recommend:acknowledge': (request) => acknowledgeWarnings(services, request),
    'explain:drug': (request) => explainView(services, request)
  }
}
