// What recommendation needs from the DDI service: the known interactions among a set of ATC3 classes,
// each with a severity and the source that reports it. Kept this small so decoding is testable with
// hand-built interaction lists and the knowledge base stays pluggable.
import type { RecommendationDdiPair, RecommendationDdiSeverity } from '../../../shared/types'

export interface DdiChecker {
  /** The knowledge source named on every warning (e.g. "DDInter (open copy, …)"). */
  readonly source: string
  /** Interactions between any two of `atc3Codes` (each unordered pair at most once per source). */
  check(atc3Codes: readonly string[]): RecommendationDdiPair[]
}

/** Least to most severe; 'Unknown' (an interaction of unstated severity) ranks lowest. */
export const SEVERITY_ASCENDING: readonly RecommendationDdiSeverity[] = ['Unknown', 'Minor', 'Moderate', 'Major', 'Contraindicated']

export function severityRank(severity: RecommendationDdiSeverity): number {
  return SEVERITY_ASCENDING.indexOf(severity)
}

export function isAtLeast(severity: RecommendationDdiSeverity, threshold: RecommendationDdiSeverity): boolean {
  return severityRank(severity) >= severityRank(threshold)
}

/** Parses a severity word case-insensitively ("major" → "Major"); null when it is not one. */
export function parseSeverityWord(text: string): RecommendationDdiSeverity | null {
  const wanted = text.trim().toLowerCase()
  return SEVERITY_ASCENDING.find((s) => s.toLowerCase() === wanted) ?? null
}

/** A checker over a fixed list of pairs: for tests and for callers that already hold the interactions. */
export function ddiCheckerFromPairs(source: string, pairs: readonly RecommendationDdiPair[]): DdiChecker {
  return {
    source,
    check(atc3Codes) {
      const wanted = new Set(atc3Codes)
      return pairs.filter((p) => p.a !== p.b && wanted.has(p.a) && wanted.has(p.b))
    }
  }
}

/** The part of the DDI service (services/ddi) that decoding uses: ATC3 class pairs, one entry per source. */
export interface ClassInteractionService {
  classInteractions(atc3Codes: readonly string[]): Array<{ a: string; b: string; severity: RecommendationDdiSeverity; source: { name: string } }>
  sources(): Array<{ name: string }>
}

/** Adapts the DDI service to the checker recommendation needs; every pair keeps its source's name. */
export function ddiCheckerFromService(service: ClassInteractionService): DdiChecker {
  return {
    source: service.sources().map((s) => s.name).join('; '),
    check: (atc3Codes) =>
      service.classInteractions(atc3Codes).map((p) => ({ a: p.a, b: p.b, severity: p.severity, source: p.source.name }))
  }
}
