// A pharmacist's review of a proposed prescription: the check, the decisions on its warnings, the record.
// No runtime imports here: the preload bundle and the renderer take these as types.
import type { DdiCheckResult, Severity, DdiTier } from './interaction'
import type { CurrentMedications } from './patient'

/** Why a pharmacist proceeds despite a warning (the CDS Hooks override reasons are these, as codings). */
export const OVERRIDE_REASONS = ['will-monitor', 'will-adjust-dose', 'previously-tolerated', 'other'] as const
export type OverrideReason = (typeof OVERRIDE_REASONS)[number]

export type ProposedDrugFlag = 'expected' | 'possible' | 'unusual' | 'not-in-model' | 'no-model'

export interface ProposedDrugAssessment {
  input: string
  label: string
  atcCodes: string[]
  /** ATC3 classes the model scores for this drug. */
  atc3: string[]
  /** The model's probability for the drug's class (the highest of its classes); null without a score. */
  probability: number | null
  flag: ProposedDrugFlag
  /** Already on the current medication list (same ATC5 drug, or the same class for a class input). */
  alreadyTaking: boolean
}

export interface ReviewWarningView {
  key: string
  /** Drug labels of the pair. */
  drugs: [string, string]
  /** Which side is proposed or current. */
  roles: ['proposed' | 'current', 'proposed' | 'current']
  severity: Severity
  tier: DdiTier
  /** A decision must be recorded before the review is saved (interrupt and inline tiers). */
  decisionRequired: boolean
}

export interface ReviewCheck {
  patientId: number
  sourcePatientId: string
  proposed: ProposedDrugAssessment[]
  currentMedications: CurrentMedications
  /** Current medications the knowledge base does not know (not checked), with the reason. */
  notChecked: Array<{ input: string; reason: string }>
  ddi: DdiCheckResult | null
  ddiUnavailable: string | null
  /** One per ddi.warnings entry, same order. */
  warnings: ReviewWarningView[]
  /** Classes the model recommends that neither the proposal nor the current list covers, with the drug it would choose. */
  likelyMissing: Array<{ atc3: string; name: string | null; probability: number; drugs: Array<{ atc5: string; name: string | null }> }>
  model: { id: string; version: string; family: string; threshold: number; unusualBelow: number } | null
  modelError: string | null
}


/** A decision on one warning as the review record keeps it (the request's shape: api/review.ts WarningDecision). */
export interface RecordedDecision {
  warningKey: string
  /** accept: follow the warning (the prescription will be changed); override: proceed, with a reason. */
  action: 'accept' | 'override'
  reason?: OverrideReason
  reasonText?: string
}

export type ReviewOutcome = 'approved' | 'approved-with-overrides' | 'changes-required'

export interface ReviewRecord {
  auditId: number
  createdAt: string
  userName: string
  patientId: number
  sourcePatientId: string
  proposed: Array<{ input: string; label: string; flag: ProposedDrugFlag; probability: number | null }>
  outcome: ReviewOutcome
  decisions: Array<
    RecordedDecision & { drugs: [string, string]; severity: Severity; tier: DdiTier; sources: string[] }
  >
  likelyMissing: string[]
  note: string | null
  model: { id: string; version: string } | null
}
