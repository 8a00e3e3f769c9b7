// Drug–drug interactions: the one severity list (most severe first) and the shapes a check returns.
// No imports here: the preload bundle and the renderer take these as types and constants.

/**
 * The one severity list, most severe first: the knowledge base's words (its CHECK constraint is written from this
 * list), the API's schemas, the screens' order. 'Unknown' (an interaction of unstated severity) ranks lowest.
 */
export const SEVERITIES = ['Contraindicated', 'Major', 'Moderate', 'Minor', 'Unknown'] as const
export type Severity = (typeof SEVERITIES)[number]

/** Severities DDI-safe decoding can block at (blocking 'Unknown' would block every unrated signal). */
export const BLOCK_SEVERITIES = ['Contraindicated', 'Major', 'Moderate', 'Minor'] as const satisfies readonly Severity[]
export type BlockSeverity = (typeof BLOCK_SEVERITIES)[number]

/** 0 for 'Unknown' up to 4 for 'Contraindicated': larger is more severe. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.length - 1 - SEVERITIES.indexOf(severity)
}

export function isAtLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) >= severityRank(threshold)
}

export function mostSevere(severities: Iterable<Severity>): Severity {
  let best: Severity = 'Unknown'
  for (const s of severities) if (severityRank(s) > severityRank(best)) best = s
  return best
}

/** Parses a severity word case-insensitively ("major" → "Major"); null when it is not one. */
export function parseSeverity(text: string): Severity | null {
  const wanted = text.trim().toLowerCase()
  return SEVERITIES.find((s) => s.toLowerCase() === wanted) ?? null
}

/** Sorts most severe first. */
export function bySeverityDescending(a: Severity, b: Severity): number {
  return severityRank(b) - severityRank(a)
}

export interface RecommendationDdiPair {
  a: string
  b: string
  severity: Severity
  /** The knowledge source the warning comes from, always shown to the user. */
  source: string
}

/** How a warning is displayed: Contraindicated/Major interrupt, Moderate inline, Minor/Unknown in details. */
export type DdiTier = 'interrupt' | 'inline' | 'details'

export interface DdiSourceInfo {
  key: string
  kind: 'reference' | 'curated' | 'hospital' | 'signal'
  name: string
  version: string
  license: string
  attribution: string
  url: string
  severityGraded: boolean
  /** What the source claims to cover, in words (e.g. "Only the downloads for ATC groups A, B, … are in this copy"). */
  coverageNote: string
}

/** One drug of the checked set, as the caller gave it and as it was resolved. */
export interface DdiCheckedDrug {
  input: string
  label: string
  kind: 'atc5' | 'atc3' | 'name'
  /** ATC level-5 codes (or the ATC3 class) the input stands for; empty for a name known only to a source. */
  atcCodes: string[]
  /** ATC anatomical groups of those codes; ['?'] when unknown. */
  groups: string[]
}

/** A drug as a member pair shows it: its ATC code (null when unmatched) and name. */
export interface DdiMemberDrug {
  code: string | null
  name: string
}

export interface DdiMemberPair {
  a: DdiMemberDrug
  b: DdiMemberDrug
  severity: Severity
  effect: string | null
  citation: string | null
}

/** What one source says about one checked pair. */
export interface DdiEvidence {
  source: DdiSourceInfo
  /** 'drug-pairs': concrete drug pairs of the source (listed in members); 'class-signal': the source is class-level. */
  basis: 'drug-pairs' | 'class-signal'
  severity: Severity
  /** Member drug pairs per severity (for a class-level warning: how many member pairs justify it). */
  counts: Record<Severity, number>
  /** The member drug pairs behind the evidence, most severe first (empty for a class signal). */
  members: DdiMemberPair[]
}

export interface DdiWarning {
  /** Indexes into DdiCheckResult.drugs. */
  a: number
  b: number
  severity: Severity
  tier: DdiTier
  /** 'drug' when both inputs are drugs; 'class' when either is an ATC3 class. */
  level: 'drug' | 'class'
  evidence: DdiEvidence[]
}

/** A pair of ATC anatomical groups in the checked set that no loaded source claims to cover. */
export interface DdiCoverageGap {
  groupA: string
  groupB: string
  /** The checked pairs (indexes into drugs) that fall into this gap. */
  pairs: Array<[number, number]>
}

export interface DdiCheckResult {
  drugs: DdiCheckedDrug[]
  /** Most severe first. */
  warnings: DdiWarning[]
  /** Every interaction source consulted. */
  checkedSources: DdiSourceInfo[]
  notCovered: DdiCoverageGap[]
  /** One paragraph naming the sources checked and the gaps; never says "safe". */
  statement: string
  elapsedMs: number
}

