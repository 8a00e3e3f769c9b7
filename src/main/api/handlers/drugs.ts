// drugs:* — which service answers them. Arguments arrive validated by the dispatcher.
import { RefusedError } from '../../services/errors'
import { classMolecules } from '../../services/molecules/molecules'
import type { DomainHandlers, HandlerContext } from './types'

export function drugsHandlers({ services }: HandlerContext): DomainHandlers<'drugs:'> {
  return {
    'drugs:molecules': (query) => {
      const knowledge = services.knowledge()
      if (!knowledge) throw new RefusedError(`No molecule can be drawn: ${services.knowledgeUnavailable ?? 'no knowledge base'}`)
      return classMolecules(knowledge.catalog, query.atc3, query.limit)
    },
    'drugs:search': (query) => {
      const knowledge = services.knowledge()
      if (!knowledge) throw new RefusedError(`Drug search needs the knowledge base: ${services.knowledgeUnavailable ?? ''}`)
      return knowledge.catalog.search(query.text, query.limit)
    }
  }
}
