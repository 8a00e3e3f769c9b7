// Helpers shared by the recommendation view and the pharmacist review: a stable key per DDI warning
// (so an acknowledgement or decision names the pair it is about), and splitting inputs into those the
// knowledge base resolves and those it does not know.
import type { DdiCheckResult, DdiWarning } from '../../../shared/domain/interaction'
import { type DdiService, UnknownDrugError } from './ddi-service'

/** "B01A + M01A": the pair's two inputs, upper case, sorted; the same pair checked again gets the same key. */
export function warningKey(result: DdiCheckResult, warning: DdiWarning): string {
  const a = result.drugs[warning.a]?.input ?? `#${warning.a}`
  const b = result.drugs[warning.b]?.input ?? `#${warning.b}`
  return [a, b]
    .map((input) => input.trim().toUpperCase())
    .sort()
    .join(' + ')
}

/** The source names behind a warning, most severe evidence first. */
export function warningSources(warning: DdiWarning): string[] {
  return [...new Set(warning.evidence.map((e) => e.source.name))]
}

export function splitResolvable(ddi: DdiService, inputs: readonly string[]): { known: string[]; unknown: Array<{ input: string; reason: string }> } {
  const known: string[] = []
  const unknown: Array<{ input: string; reason: string }> = []
  for (const input of inputs) {
    try {
      ddi.resolve([input])
      known.push(input)
    } catch (error) {
      if (!(error instanceof UnknownDrugError)) throw error
      unknown.push({ input, reason: error.message })
    }
  }
  return { known, unknown }
}
