// The evaluation part of the API contract (merged into ApiMethods in api.ts): run `medrec evaluate` on the
// app's open database as a background job and poll its progress. No runtime import (preload bundles this
// file); the zod schemas are in evaluate-api-schemas.ts, the request type inferred from them.
import type { EvaluateStartRequest } from './evaluate-api-schemas'

export type { EvaluateStartRequest }

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

export interface EvaluateApiMethods {
  'evaluate:start': { args: [request: EvaluateStartRequest]; result: EvaluationJobStatus }
  'evaluate:status': { args: [jobId: string]; result: EvaluationJobStatus }
}

export const EVALUATE_API_METHODS = ['evaluate:start', 'evaluate:status'] as const satisfies ReadonlyArray<keyof EvaluateApiMethods>
