// Why a drug was recommended: modality Shapley values, per-code occlusion and CafeMed causal weights.
// No runtime imports here: the preload bundle and the renderer take these as types.
import type { AtcDrug } from './drug'
import type { ModelModality, ProbabilityScale, ProviderReport } from './manifest'
import type { CodeKind } from './patient'
import type { ModelInputSummary } from './recommendation'

export interface ModalityContribution {
  modalityId: string
  label: string
  side: 'patient' | 'drug'
  /** Exact Shapley value in probability units; a drug's values sum to probability − baseline. */
  shapley: number
}

export interface CodeContribution {
  kind: CodeKind | 'medication'
  system: string | null
  code: string
  title: string | null
  /** Outside the model's vocabulary (fed as 'unknown'). */
  unknown: boolean
  /** Outside the model's vocabulary but fed through its title's text embedding (NLA-MMR cold start). */
  fromTitle?: boolean
  /** p(all codes) − p(this code removed from every visit), in probability units. */
  contribution: number
}

export interface DrugExplanation {
  atc3: string
  name: string | null
  probability: number
  /** p with every modality masked (replaced by the model's learned 'absent' values). */
  baseline: number
  modalities: ModalityContribution[]
  /** Per-code occlusion, for the top drugs only (null for the others). */
  codes: CodeContribution[] | null
  /** CafeMed: the current visit's codes with the largest patient-specific causal weights (null for other models). */
  causalWeights: DrugCausalWeights | null
}

/** The static effect of a code on a drug, estimated from the training visits (the model's causal-effects.json). */
export interface CausalEffectRow {
  /** Risk difference in probability units: how much more likely the drug is in visits with the code because of it. */
  riskDifference: number
  standardError: number
  /** Benjamini–Hochberg q-value over all code–drug pairs. */
  q: number
  /** Training visits with the code. */
  treatedVisits: number
  /** Whether the model uses the effect (q at or below the table's false-discovery level). */
  usedByModel: boolean
}

export interface CausalWeightCode {
  kind: CodeKind
  system: string | null
  code: string
  title: string | null
  /** The code's signed term in the drug's logit (log-odds) for this patient, from CafeMed's causal module. */
  weight: number
  /** The table row behind it; null when the code was not estimated for the drug. */
  effect: CausalEffectRow | null
}

export interface DrugCausalWeights {
  /** Current-visit diagnoses with the largest |weight|, largest first (codes weighing nothing are left out). */
  diagnoses: CausalWeightCode[]
  procedures: CausalWeightCode[]
  /** How many current-visit codes of each kind weigh anything (the lists show the largest of them). */
  weightedDiagnoses: number
  weightedProcedures: number
  /** The sum of every current-visit code's weight: the causal term CafeMed adds to the drug's logit. */
  logitTotal: number
}

/** What an explanation's causal weights mean and where they come from (CafeMed models). */
export interface CausalWeightsInfo {
  /** One line: what a weight and the effect beside it mean. */
  note: string
  /** From causal-effects.json (null when it could not be read). */
  scale: string | null
  estimand: string | null
  estimator: string | null
  falseDiscoveryRate: number | null
  trainingVisits: number | null
  /** Why the causal weights could not be computed, naming the file; null when they were. The rest of the explanation stands. */
  error: string | null
}

export interface ExplanationResult {
  patientId: number
  sourcePatientId: string
  /** The model as run: its ONNX sha256 goes into the audit entry with the result. */
  model: { id: string; version: string; family: string; onnxSha256: string }
  provider: ProviderReport
  /** Whether the explained probabilities are calibrated (the same scale as the recommendation's). */
  probabilities?: ProbabilityScale
  inputHash: string
  createdAt: string
  modalities: ModelModality[]
  drugs: DrugExplanation[]
  /** CafeMed's causal weights: what they mean, or why they are missing; null for models without causal files. */
  causal: CausalWeightsInfo | null
  input: ModelInputSummary
  timing: { shapleyMs: number; occlusionMs: number; totalMs: number; subsetRows: number; occlusionRows: number }
  auditId: number | null
}

export interface ExplanationView {
  /** The explanation of the one drug asked for (drugs has exactly one entry). */
  explanation: ExplanationResult
  members: AtcDrug[]
}
