// Types of the clinical workspace API (recommendation view, DDI warnings, explanations, pharmacist
// review, model card, settings). Kept apart from types.ts so the services' own types stay as they are;
// these wrap them with what the screens need. No runtime imports here.
import type { AlternativeDrug, ChosenDrug, ClassWithDrugs, DrugWarning } from './domain/drug-recommendation'
import type {
  DdiCheckResult,
  DdiSeverity,
  DdiTier,
  ExplanationResult,
  ManifestTensor,
  ModelManifest,
  ModelModality,
  ModelSummary,
  ProviderReport,
  RecommendationResult
} from './types'

// ---- Settings ----------------------------------------------------------------------------------------

export type ProviderPreference = 'auto' | ProviderReport['provider']

/** Severities DDI-safe decoding can block at (blocking 'Unknown' would block every unrated signal). */
export type BlockSeverity = Exclude<DdiSeverity, 'Unknown'>

export interface DdiSafeSettings {
  /** DDI-safe decoding on by default for new recommendations. */
  enabled: boolean
  /** Never co-recommend two classes interacting at or above this severity. */
  blockSeverity: BlockSeverity
  /** Keep the combination's DDI rate at or under this (0..1); null: no rate target. */
  maxDdiRate: number | null
}

export interface WorkspaceSettings {
  /** The model recommendations use; null: the first valid model. */
  activeModelId: string | null
  providerPreference: ProviderPreference
  /** null: each model's own validated threshold. */
  thresholdOverride: number | null
  ddiSafe: DdiSafeSettings
  /** Recorded beside the operating-system account in the audit log; null: the account alone. */
  displayName: string | null
}

/** Fields to change; absent fields keep their value. */
export interface WorkspaceSettingsPatch {
  activeModelId?: string | null
  providerPreference?: ProviderPreference
  thresholdOverride?: number | null
  ddiSafe?: DdiSafeSettings
  displayName?: string | null
}

// ---- Drugs ---------------------------------------------------------------------------------------------

export interface AtcDrug {
  code: string
  name: string
}

export interface DrugSearchHit {
  /** ATC level-5 drug or level-3 class code. */
  code: string
  name: string
  level: 3 | 5
  atc3: string
  atc3Name: string | null
  /** The name the query matched when it is not the WHO name (a source's alias), else null. */
  matchedAlias: string | null
}

export interface MoleculeDrawing {
  smiles: string
  /** Sanitised SVG text drawn by RDKit; null when RDKit cannot parse the SMILES. */
  svg: string | null
  error: string | null
}

export interface ClassMolecules {
  atc3: string
  name: string | null
  /** Member structures of the class known to the knowledge base (drawn: the first few). */
  total: number
  molecules: MoleculeDrawing[]
  /** Where the SMILES come from, with license. */
  source: { name: string; license: string } | null
}

// ---- Current medications -------------------------------------------------------------------------------

export interface CurrentMedicationClass {
  atc3: string
  name: string | null
  /** The drugs recorded in that class (ATC5 where mapped) with the names as recorded. */
  drugs: Array<{ atc5: string | null; recordedName: string }>
}

/** The patient's medications on the latest visit with any mapped medication ("already taking"). */
export interface CurrentMedications {
  visit: { sourceVisitId: string; when: string } | null
  classes: CurrentMedicationClass[]
}

// ---- Recommendation view -------------------------------------------------------------------------------

export interface RecommendRequest {
  patientId: number
  modelId?: string | null
  /** null or absent: the model's threshold. */
  threshold?: number | null
  /** null: plain thresholded combination (its interactions are still checked and shown). */
  ddiSafe?: { blockSeverity: BlockSeverity; maxDdiRate: number | null } | null
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

export interface WorkspaceRecommendation {
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

export interface AcknowledgeRequest {
  patientId: number
  /** The audit entry of the recommendation being acknowledged: a recommendation of the same patient. */
  recommendationAuditId: number
  /** The recommended ATC3 classes as shown. */
  combination: string[]
  /** The recommended drugs (ATC5) as shown: the warnings are checked again between them and the current drugs. */
  drugs: string[]
  warningKeys: string[]
}

export interface AcknowledgeResult {
  auditId: number
  createdAt: string
  userName: string
}

// ---- Explanation view ----------------------------------------------------------------------------------

export interface ExplainRequest {
  patientId: number
  atc3: string
  modelId?: string | null
  threshold?: number | null
}

export interface ExplanationView {
  /** The explanation of the one drug asked for (drugs has exactly one entry). */
  explanation: ExplanationResult
  members: AtcDrug[]
}

// ---- Pharmacist review ---------------------------------------------------------------------------------

export type OverrideReason = 'will-monitor' | 'will-adjust-dose' | 'previously-tolerated' | 'other'

export interface ReviewCheckRequest {
  patientId: number
  /** ATC level-5 codes, ATC3 classes or drug names. */
  proposed: string[]
  modelId?: string | null
  threshold?: number | null
}

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
  severity: DdiSeverity
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

export interface WarningDecision {
  warningKey: string
  /** accept: follow the warning (the prescription will be changed); override: proceed, with a reason. */
  action: 'accept' | 'override'
  reason?: OverrideReason
  reasonText?: string
}

export interface ReviewSubmission {
  patientId: number
  proposed: string[]
  decisions: WarningDecision[]
  note?: string
  modelId?: string | null
  threshold?: number | null
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
    WarningDecision & { drugs: [string, string]; severity: DdiSeverity; tier: DdiTier; sources: string[] }
  >
  likelyMissing: string[]
  note: string | null
  model: { id: string; version: string } | null
}

// ---- Models --------------------------------------------------------------------------------------------

export interface MetricValue {
  /** Key in metrics.json, e.g. "jaccard" or "ddi_ddinter-atc3". */
  key: string
  label: string
  description: string | null
  mean: number
  ci95: [number, number] | null
  folds: number[]
  /** How to show it: a 0..1 score, a count, or a rate. */
  format: 'score' | 'count' | 'rate'
}

export interface MetricGroup {
  id: string
  title: string
  metrics: MetricValue[]
}

export interface ModelCard {
  summary: ModelSummary
  active: boolean
  paper: ModelManifest['paper']
  thresholdChosenOn: string | null
  modalities: ModelModality[]
  inputs: ManifestTensor[]
  limits: ModelManifest['limits']
  onnxSha256: string
  provider: ProviderReport
  loadMs: number
  metrics: {
    evaluation: string | null
    cohort: string | null
    groups: MetricGroup[]
    /** Reference figures of the ground truth (e.g. drugs per visit, DDI rates), by key. */
    groundTruth: Array<{ key: string; label: string; value: number }>
    /** metrics.json could not be read or has no metric groups: why. */
    error: string | null
  }
}
