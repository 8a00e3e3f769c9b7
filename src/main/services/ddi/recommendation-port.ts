import type { DdiChecker } from '../recommend/ddi-port'
import type { DdiService } from './ddi-service'

/**
 * Adapts the DDI service to what recommendation decoding needs (recommend/ddi-port.ts): interactions among
 * ATC3 classes, one entry per source, each naming its source. `severityGradedOnly` leaves out signal
 * sources of unspecified severity (TWOSIDES).
 */
export function recommendationDdiChecker(service: DdiService, options: { severityGradedOnly?: boolean } = {}): DdiChecker {
  const included = service.sources().filter((s) => !options.severityGradedOnly || s.severityGraded)
  const keys = new Set(included.map((s) => s.key))
  return {
    source: included.map((s) => s.name).join('; '),
    check(atc3Codes) {
      return service
        .classInteractions(atc3Codes)
        .filter((pair) => keys.has(pair.source.key))
        .map((pair) => ({ a: pair.a, b: pair.b, severity: pair.severity, source: pair.source.name }))
    }
  }
}
