// A model folder as the registry reads it (manifest.json, the model contract) and how the screens summarise it.
// Types only, and one constant.

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

export interface ModelCalibrationEntry {
  file: string
  sha256: string
  method: 'temperature' | 'platt' | 'isotonic'
  fittedOn: string
}

/** What a result says about its probabilities: calibrated (and how, on which patients) or the model's raw output. */
export interface ProbabilityScale {
  calibrated: boolean
  method: ModelCalibrationEntry['method'] | null
  fittedOn: string | null
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
  /** Post-hoc calibration applied to every output probability (the threshold is on the calibrated scale). */
  calibration?: ModelCalibrationEntry
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
  probabilities: ProbabilityScale
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

/**
 * The decision thresholds a model manifest may carry and a saved threshold override may take. Thresholds
 * are chosen on validation data; one outside this range is damaged or forged (0.01 recommends all 136
 * classes of the shipped models, 0.99 almost none).
 */
export const THRESHOLD_RANGE = { min: 0.05, max: 0.95 } as const
