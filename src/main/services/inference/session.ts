// One onnxruntime session per model file (and a one-thread twin for small runs and busy machines), created once
// and reused by every recommendation and explanation. predict() takes many patients (and per-row modality masks)
// in a single run.
import type { ModelManifest, ProviderReport } from '../../../shared/domain/manifest'
import ort from 'onnxruntime-node'
import { availableParallelism, loadavg } from 'node:os'
import type { Calibration } from './calibration'
import type { EncodedPatient, ModelLimits } from './encode'
import { createSessionWithFallback, type ProviderName, type SessionTuning } from './providers'

/**
 * Rows per onnxruntime run. Explanations of up to 8 modalities (256 coalitions) and batches up to this
 * size run in one call; larger requests (12 modalities = 4096 coalitions) are split so the model's
 * intermediate tensors (rows × visits × codes × embedding) stay bounded in memory.
 */
export const MAX_ROWS_PER_RUN = 256

/**
 * Runs of at most this many rows (one recommendation, a small batch) go to a second, one-thread session on the
 * CPU: waking a second thread costs more than it saves on so little work (logistic, one patient, idle 2-core
 * machine: 0.22 -> 0.19 ms; cafemed 0.53 -> 0.44 ms). Larger runs keep onnxruntime's threads unless the machine
 * is busy (machineBusy): then a two-thread run waits for whichever thread is descheduled (256 rows under load
 * 6 on 2 cores: cafemed 80 ms with two threads, 47 ms with one; logistic 20 -> 16 ms; idle, two threads win:
 * 38 vs 46 ms, 9.2 vs 10.3 ms). Both sessions give identical probabilities for the same rows.
 */
export const SMALL_RUN_ROWS = 64

const cores = availableParallelism()

/** Whether the 1-minute load average already fills every core (always false where the OS reports none, e.g. Windows). */
function machineBusy(): boolean {
  return loadavg()[0]! >= cores
}

export class ModelSession {
  /** The one-thread session for small runs, created on the first one (null: not made yet or not wanted). */
  private smallRuns: Promise<ort.InferenceSession> | null = null

  private constructor(
    readonly session: ort.InferenceSession,
    /** Creates the one-thread session for small runs; null where none is wanted (not the CPU, or one thread already). */
    private readonly createSmallRunSession: (() => Promise<ort.InferenceSession>) | null,
    readonly provider: ProviderReport,
    /** Milliseconds to create the session (including failed provider attempts). */
    readonly loadMs: number,
    readonly limits: ModelLimits,
    readonly modalityCount: number,
    readonly medicationCount: number,
    /** The manifest's calibration, applied to every probability this session returns (null: raw outputs). */
    readonly calibration: Calibration | null
  ) {}

  static async load(
    modelBytes: Uint8Array,
    manifest: ModelManifest,
    order: readonly ProviderName[],
    tuning: SessionTuning = {},
    calibration: Calibration | null = null
  ): Promise<ModelSession> {
    const started = performance.now()
    const { session, report } = await createSessionWithFallback(modelBytes, order, tuning)
    const oneThread = report.provider === 'cpu' && tuning.intraOpNumThreads !== 1
    return new ModelSession(
      session,
      oneThread ? async () => (await createSessionWithFallback(modelBytes, ['cpu'], { ...tuning, intraOpNumThreads: 1 })).session : null,
      report,
      performance.now() - started,
      manifest.limits,
      manifest.modalities.length,
      manifest.vocabularies.medication.entries.length,
      calibration
    )
  }

  /** Calibrates model outputs produced elsewhere (NLA-MMR's cold-start graph) in place, as run() does its own. */
  calibrate(probabilities: Float32Array): Float32Array {
    return this.calibration ? this.calibration.apply(probabilities) : probabilities
  }

  /**
   * Probabilities for `rows` in one run: a flat Float32Array of rows × medications (row r, column i at
   * r * medicationCount + i). `modalityMasks` (rows × modalities, 1 = present) defaults to all present.
   * A row may repeat a patient (explanations run one patient under many masks). `rowsPerRun` caps one run.
   */
  async predict(rows: readonly EncodedPatient[], modalityMasks?: Float32Array, rowsPerRun = MAX_ROWS_PER_RUN): Promise<Float32Array> {
    const n = rows.length
    const m = this.modalityCount
    if (modalityMasks && modalityMasks.length !== n * m) {
      throw new Error(`modality masks hold ${modalityMasks.length} values, expected ${n} rows × ${m} modalities`)
    }
    if (n <= rowsPerRun) return this.run(rows, modalityMasks)
    const out = new Float32Array(n * this.medicationCount)
    for (let start = 0; start < n; start += rowsPerRun) {
      const end = Math.min(n, start + rowsPerRun)
      const part = await this.run(rows.slice(start, end), modalityMasks?.subarray(start * m, end * m))
      out.set(part, start * this.medicationCount)
    }
    return out
  }

  private async run(rows: readonly EncodedPatient[], modalityMasks?: Float32Array): Promise<Float32Array> {
    const n = rows.length
    if (n === 0) return new Float32Array(0)
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.limits
    const diagnoses = new BigInt64Array(n * maxVisits * maxDiagnoses)
    const procedures = new BigInt64Array(n * maxVisits * maxProcedures)
    const medications = new BigInt64Array(n * maxVisits * maxMedications)
    const visitMask = new Float32Array(n * maxVisits)
    rows.forEach((row, r) => {
      diagnoses.set(row.diagnoses, r * row.diagnoses.length)
      procedures.set(row.procedures, r * row.procedures.length)
      medications.set(row.medications, r * row.medications.length)
      visitMask.set(row.visitMask, r * maxVisits)
    })
    return this.runTensors(n, { diagnoses, procedures, medications, visitMask }, modalityMasks)
  }

  /**
   * Probabilities for the first `n` rows of tensors already laid out as the model takes them (rows ×
   * visits × codes; e.g. a BatchEncoder's, which may hold more rows than n).
   */
  async runTensors(
    n: number,
    tensors: { diagnoses: BigInt64Array; procedures: BigInt64Array; medications: BigInt64Array; visitMask: Float32Array },
    modalityMasks?: Float32Array
  ): Promise<Float32Array> {
    if (n === 0) return new Float32Array(0)
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.limits
    const m = this.modalityCount
    const feeds: Record<string, ort.Tensor> = {
      diagnoses: new ort.Tensor('int64', tensors.diagnoses.subarray(0, n * maxVisits * maxDiagnoses), [n, maxVisits, maxDiagnoses]),
      procedures: new ort.Tensor('int64', tensors.procedures.subarray(0, n * maxVisits * maxProcedures), [n, maxVisits, maxProcedures]),
      medications: new ort.Tensor('int64', tensors.medications.subarray(0, n * maxVisits * maxMedications), [n, maxVisits, maxMedications]),
      visit_mask: new ort.Tensor('float32', tensors.visitMask.subarray(0, n * maxVisits), [n, maxVisits]),
      modality_mask: new ort.Tensor('float32', modalityMasks ?? new Float32Array(n * m).fill(1), [n, m])
    }
    const oneThread = this.createSmallRunSession !== null && (n <= SMALL_RUN_ROWS || machineBusy())
    const session = oneThread ? await (this.smallRuns ??= this.createSmallRunSession!()) : this.session
    const outputs = await session.run(feeds, ['probabilities'])
    const probabilities = outputs.probabilities
    if (!probabilities || !(probabilities.data instanceof Float32Array)) {
      throw new Error('The model returned no float32 "probabilities" output.')
    }
    const expected = n * this.medicationCount
    if (probabilities.data.length !== expected) {
      throw new Error(`The model returned ${probabilities.data.length} probabilities, expected ${n} × ${this.medicationCount}.`)
    }
    // Calibrated here, once, so recommendations, batch scoring, explanations and evaluation all see the same scale.
    return this.calibrate(probabilities.data)
  }

  async release(): Promise<void> {
    const small = this.smallRuns
    this.smallRuns = null
    await Promise.all([this.session.release(), small?.then((s) => s.release())])
  }
}
