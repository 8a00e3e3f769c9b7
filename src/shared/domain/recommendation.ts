// A recommendation: the model's classes resolved to drugs, with warnings, substitutions and the screens' view of it.
// No runtime imports here: the preload bundle and the renderer take these as types.
import type { AtcDrug } from './drug'
import type { DdiCheckResult, RecommendationDdiPair, Severity } from './interaction'
import type { ProbabilityScale, ProviderReport } from './manifest'
import type { CodeKind, CurrentMedications } from './patient'

export interface CodeCounts {
  diagnosis: number
  procedure: number
  medication: number
}

export interface ModelInputSummary {
  /** Where the current visit's codes came from. */
  currentVisit: { from: 'stored'; visitId: number; sourceVisitId: string } | { from: 'caller' }
  visitsUsed: number
  /** Older visits beyond the model's maxVisits, left out. */
  visitsLeftOut: number
  codesUsed: CodeCounts
  /** Codes outside the model's vocabulary: fed as index 1 ('unknown'). */
  unknownCodes: CodeCounts
  unknownCodeList: Array<{ kind: CodeKind | 'medication'; system: string | null; code: string }>
  /** Codes beyond the model's per-visit limits, left out. */
  truncatedCodes: CodeCounts
  /** Medication rows without an ATC3 class, which the model cannot see. */
  unmappedMedications: number
  /** Only for a model that ships a cold-start graph (NLA-MMR): how its unknownCodeList was fed. */
  coldStart?: ColdStartSummary
}

/**
 * NLA-MMR cold start (services/recommend/cold-start-runner.ts): codes outside the model's vocabulary that
 * have a title in the patient store are fed through the text embedding of that title instead of as
 * 'unknown'; the rest of unknownCodeList still counts as 'unknown'.
 */
export interface ColdStartSummary {
  embedded: Array<{ kind: CodeKind; system: string | null; code: string; title: string }>
  unknown: Array<{ kind: CodeKind | 'medication'; system: string | null; code: string }>
}

export interface RecommendedDrug {
  atc3: string
  name: string | null
  probability: number
  inCombination: boolean
}

export interface RecommendationResult {
  patientId: number
  sourcePatientId: string
  /** The model as run: its ONNX sha256 goes into the audit entry with the result. */
  model: { id: string; version: string; family: string; onnxSha256: string }
  provider: ProviderReport
  threshold: number
  /** Whether the probabilities are calibrated, and by which method (the manifest's calibration). */
  probabilities?: ProbabilityScale
  /** Set when the threshold came from a guaranteed miss rate (conformal, on the model's validation patients). */
  missRate?: { alpha: number; assumption: string } | null
  /** sha256 of the canonical model inputs and options (see services/recommend/input-hash.ts). */
  inputHash: string
  createdAt: string
  /** Every medication of the model's vocabulary, most probable first. */
  drugs: RecommendedDrug[]
  /** The recommended ATC3 classes, most probable first. */
  combination: string[]
  /** The combination resolved to drugs (same order): the drug(s) taken, else the within-class model's choice. */
  classes: ClassWithDrugs[]
  /** Drug-level warnings (interactions, duplications, allergies) and class-level notes, interrupting first. */
  warnings: DrugWarning[]
  /** DDI-safe decoding: classes whose chosen drug was replaced by another member of the class. */
  substituted: SubstitutedDrug[]
  /** DDI-safe decoding: classes left out because no member avoided the conflict. */
  dropped: DroppedClass[]
  ddi: {
    checked: boolean
    source: string | null
    safeDecoding: { blockSeverity: Severity; maxDdiRate: number | null } | null
    /** Drug pairs (ATC5) among the final combination's drugs, one per source. */
    interactions: RecommendationDdiPair[]
    /** Interacting drug pairs / all pairs of the final combination's drugs (0 with fewer than 2); null if unchecked. */
    ddiRate: number | null
  }
  /** The within-class drug choice used (models/drug-choice), or why there was none. */
  drugChoice: { version: string; sha256: string } | { unavailable: string }
  input: ModelInputSummary
  timing: { encodeMs: number; inferenceMs: number; decodeMs: number; totalMs: number }
  auditId: number | null
}

export interface RecommendedClass {
  atc3: string
  name: string | null
  probability: number
  /** 'already-taking' when one of its drugs is on the current visit. */
  status: 'already-taking' | 'new'
  /** The drug(s) chosen for the class (empty: none could be chosen, see noDrugReason). */
  drugs: ChosenDrug[]
  /** The next members of the class by the within-class model. */
  alternatives: AlternativeDrug[]
  noDrugReason: string | null
  /** A drug the patient takes that interacts at or above the blocking severity: kept, for review. */
  review: ClassWithDrugs['review']
  /** DDI-safe decoding replaced this drug (ATC5) by the one shown; null when it did not. */
  substitutedFrom: string | null
  /** WHO ATC level-5 members of the class. */
  members: AtcDrug[]
}

export interface RecommendationView {
  recommendation: RecommendationResult
  /** The combination, most probable first. */
  classes: RecommendedClass[]
  /** The most probable classes that did not make it (below threshold or dropped), for context. */
  nearMisses: Array<{ atc3: string; name: string | null; probability: number }>
  currentMedications: CurrentMedications
  /**
   * The tiered DDI check between the recommended drugs (ATC5) and the current drugs, drug-pair evidence only.
   * null when no knowledge base is loaded (ddiUnavailable says why).
   */
  ddiCheck: DdiCheckResult | null
  /** Class-level notes for classes without a chosen drug (never interrupting). */
  classNotes: DrugWarning[]
  /** Stable key per ddiCheck warning (same order), used to acknowledge it. */
  warningKeys: string[]
  /**
   * Per ddiCheck warning (same order): 'new' when at least one drug is not on the current visit (the
   * recommendation would introduce it), 'existing' when the patient already takes both (an existing
   * co-prescription, shown for information; the recommendation does not change it).
   */
  warningScopes: Array<'new' | 'existing'>
  ddiUnavailable: string | null
  /** Milliseconds loading the model session, paid once per model and provider. */
  modelLoadMs: number
  /** The model's own validated threshold (the result's threshold is the one used, which may be overridden). */
  modelThreshold: number
}

export interface AcknowledgeResult {
  auditId: number
  createdAt: string
  userName: string
}

/** Where a class's drug comes from: the current visit, the most recent earlier visit, or the within-class model. */
export type DrugSource = 'current' | 'history' | 'model'

export interface ChosenDrug {
  atc5: string
  /** The WHO ingredient name (null when the index lacks it). */
  name: string | null
  source: DrugSource
  /** For source 'model': the within-class probability of this member; null for a drug the patient takes or took. */
  probability: number | null
}

export interface AlternativeDrug {
  atc5: string
  name: string | null
  probability: number
}

export interface ClassWithDrugs {
  atc3: string
  name: string | null
  /** The class model's probability. */
  probability: number
  /** The drug(s) for this class; empty when none could be chosen (see warnings of kind 'class-note'). */
  drugs: ChosenDrug[]
  /** Other members, most probable first (the within-class model), the first few. */
  alternatives: AlternativeDrug[]
  /** Why drugs is empty, when it is. */
  noDrugReason: string | null
  /** A drug the patient already takes that interacts at or above the blocking severity: kept, for review. */
  review: { conflictsWith: string[]; severity: Severity } | null
}

export interface SubstitutedDrug {
  atc3: string
  from: string
  to: string
  /** The drugs (ATC5) `from` interacts with at or above the blocking severity. */
  conflictsWith: string[]
  severity: Severity
  reason: string
}

export interface DroppedClass {
  atc3: string
  probability: number
  /** The drug the class last had (ATC5), null when it had none. */
  drug: string | null
  reason: 'severity' | 'ddi-rate'
  /** The drugs (ATC5) it conflicted with. */
  conflictsWith: string[]
  /** Members tried as substitutes before dropping, each with what it conflicted with. */
  triedMembers: string[]
  explanation: string
}

export type DrugWarningKind = 'interaction' | 'duplication' | 'allergy' | 'class-note'

export interface DrugWarning {
  kind: DrugWarningKind
  severity: Severity
  /**
   * Interrupting: an interaction or allergy at Major/Contraindicated that involves a newly recommended drug.
   * Everything else is shown inline (Moderate, and Major pairs the patient is already on) or collapsed.
   */
  interrupting: boolean
  tier: 'interrupt' | 'inline' | 'details'
  /** 'new': involves a drug the recommendation would introduce; 'existing': only drugs the patient already takes. */
  scope: 'new' | 'existing'
  /** The ATC5 codes concerned (an ATC3 class for a class-level note's class without a drug). */
  drugs: string[]
  names: string[]
  sources: string[]
  /** One line for the user: what, between which drugs, and for a class note that it is class-level. */
  detail: string
}
