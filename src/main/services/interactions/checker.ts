import type { RecommendationDdiPair, Severity } from '../../../shared/domain/interaction'
// What recommendation needs from the DDI service: the known interactions among a set of ATC3 classes,
// each with a severity and the source that reports it. Kept this small so decoding is testable with
// hand-built interaction lists and the knowledge base stays pluggable.

export interface DdiChecker {
  /** The knowledge source named on every warning (e.g. "DDInter (open copy, …)"). */
  readonly source: string
  /**
   * Class pairs between any two of `atc3Codes`, lifted from their member drug pairs (each unordered pair at most
   * once per source): only for the note on a class for which no drug could be chosen.
   */
  check(atc3Codes: readonly string[]): RecommendationDdiPair[]
  /** Drug pairs between any two of `atc5Codes` (each unordered pair at most once per source): what warnings and DDI-safe decoding use. */
  checkDrugs(atc5Codes: readonly string[]): RecommendationDdiPair[]
  /**
   * Whether a loaded source lists every interaction of this drug pair, so that no pair means none is known. A
   * substitute must be covered with the drugs its predecessor conflicted with: a gap in the sources is no escape.
   */
  coversDrugPair(atc5A: string, atc5B: string): boolean
}

/**
 * A checker over a fixed list of pairs (class pairs with ATC3 codes, drug pairs with ATC5 codes): for tests and for
 * callers that already hold the interactions.
 */
export function ddiCheckerFromPairs(
  source: string,
  pairs: readonly RecommendationDdiPair[],
  coversDrugPair: (a: string, b: string) => boolean = () => true
): DdiChecker {
  const among = (codes: readonly string[]): RecommendationDdiPair[] => {
    const wanted = new Set(codes)
    return pairs.filter((p) => p.a !== p.b && wanted.has(p.a) && wanted.has(p.b))
  }
  return { source, check: among, checkDrugs: among, coversDrugPair }
}

type SourcedPair = { a: string; b: string; severity: Severity; source: { name: string } }

/** The part of the DDI service (services/interactions) that recommendation uses: drug pairs, and class pairs for notes. */
export interface ClassInteractionService {
  classInteractions(atc3Codes: readonly string[]): SourcedPair[]
  drugInteractions(atc5Codes: readonly string[]): SourcedPair[]
  coversDrugPair(atc5A: string, atc5B: string): boolean
  sources(): Array<{ name: string }>
}

/** Adapts the DDI service to the checker recommendation needs; every pair keeps its source's name. */
export function ddiCheckerFromService(service: ClassInteractionService): DdiChecker {
  const plain = (pairs: SourcedPair[]): RecommendationDdiPair[] => pairs.map((p) => ({ a: p.a, b: p.b, severity: p.severity, source: p.source.name }))
  return {
    source: service.sources().map((s) => s.name).join('; '),
    check: (atc3Codes) => plain(service.classInteractions(atc3Codes)),
    checkDrugs: (atc5Codes) => plain(service.drugInteractions(atc5Codes)),
    coversDrugPair: (a, b) => service.coversDrugPair(a, b)
  }
}
