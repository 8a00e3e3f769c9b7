// A recommendation at drug level: each recommended ATC level-3 class resolved to concrete drugs (ATC level 5),
// warnings between drugs, and what DDI-safe decoding substituted or dropped. No runtime imports here.
import type { RecommendationDdiSeverity } from '../types'

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
  review: { conflictsWith: string[]; severity: RecommendationDdiSeverity } | null
}

export interface SubstitutedDrug {
  atc3: string
  from: string
  to: string
  /** The drugs (ATC5) `from` interacts with at or above the blocking severity. */
  conflictsWith: string[]
  severity: RecommendationDdiSeverity
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
  severity: RecommendationDdiSeverity
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

/** An allergy to check recommended and current drugs against: an ATC code (any level) and/or a substance name. */
export interface AllergyEntry {
  substance: string
  atc: string | null
}
