// From per-drug probabilities to the recommended combination: the drugs at or above the threshold, then,
// with DDI-safe decoding, drugs removed one at a time until
//   (1) no two remaining drugs interact at or above `blockSeverity`, and
//   (2) the combination's DDI rate (interacting pairs / all pairs) is at most `maxDdiRate`.
//
// The greedy rule (both phases): a drug's expected benefit is its probability p (the expected number of
// correct drugs in the combination is the sum of p). Among the drugs in at least one violating pair, remove
// the one that loses the least expected benefit per violating pair it resolves: the smallest p / v, with v
// the number of violating pairs it belongs to. Ties go to the smaller p, then to the code that sorts
// first. So a single conflict drops its less probable drug, and a drug that conflicts with several others
// is dropped when that costs less than dropping each of its partners. Each removal resolves at least one
// violating pair, so it ends; phase 2 may transiently raise the rate (fewer pairs in the denominator) but
// ends at the target at the latest when no interacting pair is left (rate 0).
import type { DroppedDrug, RecommendationDdiPair, RecommendationDdiSeverity } from '../../../shared/types'
import { isAtLeast } from './ddi-port'

export interface DrugProbability {
  atc3: string
  probability: number
}

export interface SafeDecodingOptions {
  /** Never co-recommend two drugs interacting at or above this severity. */
  blockSeverity: RecommendationDdiSeverity
  /** Keep the DDI rate at or below this (0..1); null: no rate target. */
  maxDdiRate: number | null
}

export interface DecodedCombination {
  /** Most probable first. */
  combination: string[]
  dropped: DroppedDrug[]
  /** Interactions among the final combination. */
  interactions: RecommendationDdiPair[]
  ddiRate: number
}

const pairKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`)

/** Interacting pairs / all unordered pairs of `combination` (0 for fewer than two drugs). */
export function ddiRate(combination: readonly string[], interactions: readonly RecommendationDdiPair[]): number {
  const n = combination.length
  if (n < 2) return 0
  const members = new Set(combination)
  const interacting = new Set(interactions.filter((p) => p.a !== p.b && members.has(p.a) && members.has(p.b)).map((p) => pairKey(p.a, p.b)))
  return interacting.size / ((n * (n - 1)) / 2)
}

/** Distinct unordered pairs among `members`, from the interactions that `counts` accepts. */
function violatingPairs(
  members: ReadonlySet<string>,
  interactions: readonly RecommendationDdiPair[],
  counts: (pair: RecommendationDdiPair) => boolean
): Array<[string, string]> {
  const seen = new Map<string, [string, string]>()
  for (const pair of interactions) {
    if (pair.a === pair.b || !members.has(pair.a) || !members.has(pair.b) || !counts(pair)) continue
    seen.set(pairKey(pair.a, pair.b), pair.a < pair.b ? [pair.a, pair.b] : [pair.b, pair.a])
  }
  return [...seen.values()]
}

/** The drug the greedy rule removes next (see the header), with the partners it conflicts with. */
export function nextToDrop(
  pairs: ReadonlyArray<[string, string]>,
  probabilityOf: (atc3: string) => number
): { atc3: string; conflictsWith: string[] } | null {
  const partners = new Map<string, string[]>()
  for (const [a, b] of pairs) {
    partners.set(a, [...(partners.get(a) ?? []), b])
    partners.set(b, [...(partners.get(b) ?? []), a])
  }
  let best: { atc3: string; cost: number; p: number } | null = null
  for (const [atc3, list] of partners) {
    const p = probabilityOf(atc3)
    const cost = p / list.length
    const better =
      !best || cost < best.cost || (cost === best.cost && (p < best.p || (p === best.p && atc3 < best.atc3)))
    if (better) best = { atc3, cost, p }
  }
  return best ? { atc3: best.atc3, conflictsWith: [...(partners.get(best.atc3) ?? [])].sort() } : null
}

/**
 * `drugs`: every medication with its probability; `interactions`: the DDI service's answer for (at least) the
 * drugs at or above the threshold, or null when no DDI check ran; `safe`: DDI-safe decoding options or null.
 */
export function decodeCombination(
  drugs: readonly DrugProbability[],
  threshold: number,
  interactions: readonly RecommendationDdiPair[] | null,
  safe: SafeDecodingOptions | null
): DecodedCombination {
  const probability = new Map(drugs.map((d) => [d.atc3, d.probability]))
  const probabilityOf = (atc3: string): number => probability.get(atc3) ?? 0
  const members = new Set(drugs.filter((d) => d.probability >= threshold).map((d) => d.atc3))
  const dropped: DroppedDrug[] = []
  const known = interactions ?? []

  if (safe) {
    if (safe.maxDdiRate !== null && !(safe.maxDdiRate >= 0 && safe.maxDdiRate <= 1)) {
      throw new Error(`The DDI rate target must lie between 0 and 1, got ${safe.maxDdiRate}.`)
    }
    const blocked = (pair: RecommendationDdiPair): boolean => isAtLeast(pair.severity, safe.blockSeverity)
    for (;;) {
      const pick = nextToDrop(violatingPairs(members, known, blocked), probabilityOf)
      if (!pick) break
      members.delete(pick.atc3)
      dropped.push({ atc3: pick.atc3, probability: probabilityOf(pick.atc3), reason: 'severity', conflictsWith: pick.conflictsWith })
    }
    const target = safe.maxDdiRate
    while (target !== null && ddiRate([...members], known) > target) {
      const pick = nextToDrop(violatingPairs(members, known, () => true), probabilityOf)
      if (!pick) break
      members.delete(pick.atc3)
      dropped.push({ atc3: pick.atc3, probability: probabilityOf(pick.atc3), reason: 'ddi-rate', conflictsWith: pick.conflictsWith })
    }
  }
  const combination = [...members].sort((a, b) => probabilityOf(b) - probabilityOf(a) || (a < b ? -1 : 1))
  const final = new Set(combination)
  return {
    combination,
    dropped,
    interactions: known.filter((p) => final.has(p.a) && final.has(p.b) && p.a !== p.b),
    ddiRate: ddiRate(combination, known)
  }
}
