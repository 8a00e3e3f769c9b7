// interop:* — which service answers them. Arguments arrive validated by the dispatcher.
import { exportRecommendationAsFhir } from '../../services/interop/fhir-export'
import type { DomainHandlers, HandlerContext } from './types'

export function interopHandlers({ services }: HandlerContext): DomainHandlers<'interop:'> {
  return {
    'interop:fhir-export': async (request) =>
      (await exportRecommendationAsFhir(services.context(), request.patientId, {
        sources: services.knowledge()?.ddi.sources() ?? [],
        includeReview: request.includeReview
      })) as unknown as { resourceType: 'Bundle' } & Record<string, unknown>
  }
}
