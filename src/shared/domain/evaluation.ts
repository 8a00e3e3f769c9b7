// `medrec evaluate` as the app shows it: a background job, its progress and its per-model figures.
// No runtime imports here: the preload bundle and the renderer take these as types.

export interface EvaluationIntervalView {
  value: number
  low: number | null
  high: number | null
}

export interface EvaluationRowView {
  label: string
  kind: 'model' | 'baseline'
  visits: number
  patients: number
  /** jaccard, f1, prauc, recall, drugs, ece, ddi:<matrix>. */
  metrics: Record<string, EvaluationIntervalView>
}

export interface EvaluationModelView {
  id: string
  version: string
  sha256: string
  threshold: number
  rows: EvaluationRowView[]
  /**
   * At drug level (ATC5): the model and "repeat the previous visit's drugs" on the visits with a prescription resolved
   * to a drug; metrics jaccard, f1, precision, recall, drugs, ddi:major-or-contraindicated (with the knowledge base).
   */
  drugRows: EvaluationRowView[]
  /** Scored visits without a prescription resolved to a drug, left out of drugRows. */
  visitsWithoutDrug: number
  unknownDiagnosisShare: number | null
  unknownProcedureShare: number | null
}

export interface EvaluationJobStatus {
  jobId: string
  state: 'running' | 'done' | 'failed'
  /** 0–1 over all models. */
  fraction: number
  /** What is being done now, for the progress bar's label. */
  label: string
  startedAt: string
  elapsedMs: number
  error: string | null
  result: {
    databaseFingerprint: string
    createdAt: string
    durationMs: number
    replicates: number
    seed: number
    models: EvaluationModelView[]
  } | null
}
