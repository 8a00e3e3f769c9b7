// Domain types shared by main, preload, renderer and CLI. No runtime imports here.
import type { ClassWithDrugs, DrugWarning, DroppedClass, SubstitutedDrug } from './domain/drug-recommendation'

export type EhrFormat = 'mimic-iv' | 'mimic-iii' | 'eicu' | 'fhir'

/** Code systems of diagnoses and procedures. ICD-9-CM covers both volumes (diagnoses and procedures). */
export type CodeSystem = 'ICD-9-CM' | 'ICD-10-CM' | 'ICD-10-PCS' | 'other' | 'SNOMED CT' | FhirSystemUri

/** A FHIR coding system kept as written when MedRec has no short name for it (e.g. http://loinc.org). */
export type FhirSystemUri = `http://${string}` | `https://${string}` | `urn:${string}`

export type CodeKind = 'diagnosis' | 'procedure'

/** How a raw medication row was mapped to ATC. 'unmapped' rows are kept and flagged, never dropped. */
export type DrugMappingMethod = 'ndc' | 'gsn' | 'name' | 'unmapped'

export interface PatientSummary {
  id: number
  source: EhrFormat
  sourcePatientId: string
  sex: string | null
  visitCount: number
  firstVisit: string | null
  lastVisit: string | null
}

export interface PatientPage {
  patients: PatientSummary[]
  total: number
  offset: number
  limit: number
}

export interface CodedEntry {
  system: CodeSystem
  code: string
  title: string | null
}

export interface MedicationEntry {
  rawName: string
  ndc: string | null
  gsn: string | null
  otherId: string | null
  atc5: string | null
  atc3: string | null
  atc3Name: string | null
  mappingMethod: DrugMappingMethod
  /** How many source rows (repeated orders of this drug in the visit) this entry stands for. */
  orderCount: number
}

export interface VisitDetail {
  id: number
  sourceVisitId: string
  /** ISO 8601 when the source has absolute times; null for sources with relative offsets only (eICU). */
  admitTime: string | null
  dischargeTime: string | null
  /** Human-readable position where there is no absolute time, e.g. "2015, hospital stay 1, unit visit 2". */
  orderLabel: string
  diagnoses: CodedEntry[]
  procedures: CodedEntry[]
  medications: MedicationEntry[]
}

export interface PatientTimeline {
  patient: PatientSummary
  visits: VisitDetail[]
}

export interface RejectedRow {
  file: string
  line: number
  reason: string
}

export interface ImportReport {
  runId: number
  format: EhrFormat
  sourceDir: string
  /** 'dry-run': nothing was written; `plan` says what the import would change. */
  status: 'completed' | 'skipped-unchanged' | 'dry-run'
  patients: number
  visits: number
  diagnosisCodes: number
  procedureCodes: number
  medicationRows: number
  mappedDrugs: number
  unmappedDrugs: number
  mappedBy: Record<DrugMappingMethod, number>
  rejectedRows: number
  /** The first rejected rows with reasons (all are counted in rejectedRows). */
  rejectedSamples: RejectedRow[]
  durationMs: number
  // Added by the importers (optional so older stored reports still type-check):
  /** sha256 over the input files, the reference tables and the importer version. */
  inputFingerprint?: string
  /** For 'skipped-unchanged': the completed run whose counts this report repeats. */
  previousRunId?: number | null
  /** Rows kept but not entirely as written (e.g. an invalid eICU code token dropped). */
  warnings?: number
  warningSamples?: RejectedRow[]
  /** Rows deliberately left out, by reason (e.g. cancelled eICU medication orders). */
  skippedRows?: Record<string, number>
  /** Imported diagnosis/procedure codes with no title in code_titles (kept, not rejected). */
  codesWithoutTitle?: number
  /** Of mappedBy.name: eICU rows mapped through other rows with the same HICL number. */
  mappedBySharedId?: number
  /** Rows stored in the medications table: all source rows of one drug in one visit fold into one. */
  storedMedicationRows?: number
  /** What the import changes in stored rows (per table, patients affected); with status 'dry-run', what it would change. */
  plan?: ImportPlan
  /** The drug resolver's outcomes over source medication rows (services/drugs). */
  drugResolution?: {
    resolved: number
    combination: number
    nonDrug: number
    ambiguous: number
    unresolved: number
    /** Of unresolved: rows with no drug name (only a HICL number). */
    noName?: number
    byPath: Record<string, number>
  }
  /** Code titles this import did not write because the stored title is as good or better (never degraded). */
  titleConflicts?: { kept: number; replaced: number; samples: Array<{ code: string; kept: string; offered: string }> }
}

/** One table's rows before and after an import; `removed`/`changed` count stored rows the import removes or alters. */
export interface ImportTableChange {
  before: number
  after: number
  added: number
  removed: number
  changed: number
}

/** What an import does to stored data; `destructive` when it removes or alters any stored row (needs replace). */
export interface ImportPlan {
  tables: Record<'patients' | 'visits' | 'diagnoses' | 'procedures' | 'medications', ImportTableChange>
  /** Stored patients whose rows the import removes or alters. */
  patientsAffected: number
  storedPatients: number
  destructive: boolean
}

export interface ImportProgress {
  phase: string
  file: string | null
  rowsRead: number
  /** 0..1 where the total is known (bytes of compressed input read), else null. */
  fraction: number | null
}

export interface AppInfo {
  version: string
  databasePath: string
  patientCount: number
  dataAttributions: DataAttribution[]
}

export interface DataAttribution {
  name: string
  license: string
  attribution: string
  url: string
}

// ---- Models, recommendations, explanations (services/models, inference, recommend, explain) ----

export type TensorDtype = 'int64' | 'float32'

export interface ManifestTensor {
  name: string
  dtype: TensorDtype
  /** A number is a fixed size; a string is a symbolic (free) dimension such as "batch". */
  shape: Array<number | string>
}

export interface ManifestHashedFile {
  file: string
  sha256: string
  purpose?: string
}

export interface ModelVocabularyEntry {
  system?: string
  code: string
  title?: string
}

export interface ModelModality {
  id: string
  label: string
  side: 'patient' | 'drug'
}

/** models/<id>/manifest.json, as described by models/manifest.schema.json. */
export interface ModelManifest {
  schemaVersion: 1
  id: string
  family: string
  version: string
  createdAt: string
  description?: string
  paper: { title: string; reference?: string }
  onnx: ManifestHashedFile
  extraFiles?: ManifestHashedFile[]
  inputs: ManifestTensor[]
  outputs: ManifestTensor[]
  limits: { maxVisits: number; maxDiagnoses: number; maxProcedures: number; maxMedications: number }
  vocabularies: {
    diagnosis: { entries: ModelVocabularyEntry[] }
    procedure: { entries: ModelVocabularyEntry[] }
    medication: { entries: ModelVocabularyEntry[] }
  }
  modalities: ModelModality[]
  threshold: number
  thresholdChosenOn?: string
  provenance: {
    sources: Array<{ name: string; license: string; attribution: string; url?: string }>
    split: string
    trainedOn: string
    textEncoder?: string
  }
  metricsFile: string
  /** sha256 of the metrics file (written by exports since signing; older folders rely on signature.json alone). */
  metricsSha256?: string
}

export interface ModelSummary {
  id: string
  family: string
  version: string
  description: string | null
  paperTitle: string
  createdAt: string
  directory: string
  modalities: ModelModality[]
  medicationCount: number
  threshold: number
  provenance: ModelManifest['provenance']
}

/** A model folder the registry would not load, with every reason (which file, what mismatch). */
export interface RefusedModel {
  directory: string
  /** The manifest's id when it could be read. */
  id: string | null
  reasons: string[]
}

export interface ModelList {
  models: ModelSummary[]
  refused: RefusedModel[]
  /** The user's chosen model (valid or refused: a refused active model stops recommending until another is chosen), else null. */
  activeModelId: string | null
  /** The model used when none is chosen (models/DEFAULT), else null: the first valid model by id. */
  defaultModelId: string | null
}

/** The execution provider a session actually runs on, and the ones that failed to load first. */
export interface ProviderReport {
  provider: 'cuda' | 'dml' | 'coreml' | 'cpu'
  failed: Array<{ provider: string; error: string }>
}

/** The knowledge base's severity words (services/drugs/knowledge-schema.ts SEVERITIES), most severe first. */
export type RecommendationDdiSeverity = 'Contraindicated' | 'Major' | 'Moderate' | 'Minor' | 'Unknown'

export interface RecommendationDdiPair {
  a: string
  b: string
  severity: RecommendationDdiSeverity
  /** The knowledge source the warning comes from, always shown to the user. */
  source: string
}

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
    safeDecoding: { blockSeverity: RecommendationDdiSeverity; maxDdiRate: number | null } | null
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

// --- DDI check (services/interactions): warnings for any set of drugs, each naming its source ---

export type DdiSeverity = RecommendationDdiSeverity

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
  severity: DdiSeverity
  effect: string | null
  citation: string | null
}

/** What one source says about one checked pair. */
export interface DdiEvidence {
  source: DdiSourceInfo
  /** 'drug-pairs': concrete drug pairs of the source (listed in members); 'class-signal': the source is class-level. */
  basis: 'drug-pairs' | 'class-signal'
  severity: DdiSeverity
  /** Member drug pairs per severity (for a class-level warning: how many member pairs justify it). */
  counts: Record<DdiSeverity, number>
  /** The member drug pairs behind the evidence, most severe first (empty for a class signal). */
  members: DdiMemberPair[]
}

export interface DdiWarning {
  /** Indexes into DdiCheckResult.drugs. */
  a: number
  b: number
  severity: DdiSeverity
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
