// Evaluations started from the app run as background jobs on the main process's event loop (the model runs
// between database batches, so other API calls are answered meanwhile); the renderer polls their progress.
// One at a time: a second start while one runs is refused with the running job's id.
import type { EvaluateStartRequest } from '../../../shared/api/evaluate'
import type { EvaluationJobStatus, EvaluationModelView, EvaluationRowView } from '../../../shared/domain/evaluation'
import { randomUUID } from 'node:crypto'
import { InvalidRequestError, NotFoundError } from '../errors'
import { type EvaluationContext, type EvaluationProgress, type EvaluationReport, evaluateDatabase } from './evaluate'
import type { DrugLevelSummary } from './drug-level'

const PHASE_LABEL: Record<EvaluationProgress['phase'], string> = {
  fingerprint: 'Fingerprinting the database',
  counting: 'Counting prescriptions for the baselines',
  scoring: 'Scoring visits',
  summarising: 'Computing bootstrap intervals',
  done: 'Done'
}

/** Share of the whole evaluation done: each model is an equal part; within it scoring is what takes time. */
export function progressFraction(p: EvaluationProgress): number {
  if (p.phase === 'done') return 1
  const within = p.phase === 'scoring' ? 0.05 + 0.85 * (p.patientsTotal ? p.patientsDone / p.patientsTotal : 0) : p.phase === 'summarising' ? 0.9 : 0
  return Math.min(1, (p.modelIndex + within) / Math.max(1, p.modelCount))
}

const rowOf = (label: string, kind: EvaluationRowView['kind'], summary: DrugLevelSummary): EvaluationRowView => ({
  label,
  kind,
  visits: summary.visits,
  patients: summary.patients,
  metrics: summary.metrics
})

export function reportView(report: EvaluationReport): NonNullable<EvaluationJobStatus['result']> {
  return {
    databaseFingerprint: report.database.fingerprint.sha256,
    createdAt: report.createdAt,
    durationMs: report.durationMs,
    replicates: report.options.bootstrap.replicates,
    seed: report.options.bootstrap.seed,
    models: report.models.map(
      (m): EvaluationModelView => ({
        id: m.model.id,
        version: m.model.version,
        sha256: m.model.sha256,
        threshold: m.model.threshold,
        rows: [rowOf(m.model.id, 'model', m.summary), ...m.baselines.map((b) => rowOf(b.label, 'baseline', b.summary))],
        drugRows: [rowOf(m.model.id, 'model', m.drugLevel.summary), ...m.drugLevel.baselines.map((b) => rowOf(b.label, 'baseline', b.summary))],
        visitsWithoutDrug: m.drugLevel.visits.withoutDrug,
        unknownDiagnosisShare: m.unknown.diagnosisCodes.share,
        unknownProcedureShare: m.unknown.procedureCodes.share
      })
    )
  }
}

interface Job {
  status: EvaluationJobStatus
  started: number
}

export class EvaluationJobs {
  private readonly jobs = new Map<string, Job>()
  private running: string | null = null

  constructor(private readonly context: () => EvaluationContext) {}

  start(request: EvaluateStartRequest): EvaluationJobStatus {
    if (this.running) throw new InvalidRequestError(`An evaluation is already running (job ${this.running}); wait for it to finish.`)
    const jobId = randomUUID()
    const job: Job = {
      started: performance.now(),
      status: { jobId, state: 'running', fraction: 0, label: 'Starting', startedAt: new Date().toISOString(), elapsedMs: 0, error: null, result: null }
    }
    this.jobs.set(jobId, job)
    this.running = jobId
    const run = async (): Promise<void> => {
      try {
        const report = await evaluateDatabase(this.context(), {
          modelIds: request.modelIds,
          since: request.since,
          bootstrap: { replicates: request.replicates },
          onProgress: (p) => {
            job.status.fraction = progressFraction(p)
            job.status.label = `${PHASE_LABEL[p.phase]} · ${p.modelId} (${p.modelIndex + 1} of ${p.modelCount})${p.phase === 'scoring' ? ` · ${p.patientsDone} of ${p.patientsTotal} patients` : ''}`
          }
        })
        job.status = { ...job.status, state: 'done', fraction: 1, label: PHASE_LABEL.done, result: reportView(report) }
      } catch (error) {
        job.status = { ...job.status, state: 'failed', error: error instanceof Error ? error.message : String(error) }
      } finally {
        this.running = null
      }
    }
    // Started on the next turn so the caller gets the job id before the first batch runs.
    setImmediate(() => void run())
    return this.status(jobId)
  }

  status(jobId: string): EvaluationJobStatus {
    const job = this.jobs.get(jobId)
    if (!job) {
      throw new NotFoundError(`No evaluation job "${jobId}".`)
    }
    return { ...job.status, elapsedMs: Math.round(performance.now() - job.started) }
  }
}
