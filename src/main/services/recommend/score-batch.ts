// Batch scoring: a whole ward or cohort scored in batches, for screening and evaluation (no audit entry: a
// recommendation shown to a clinician goes through recommend(), which records it). Per batch: the patients
// read with one query per table (patient-batch.ts), encoded straight into reused input tensors
// (batch-encoder.ts), one model run, and the combination at the threshold decoded into flat typed arrays
// without an object per drug. Probabilities and combinations equal recommendMany's without DDI-safe
// decoding (checked by a test). A model with a cold-start graph (NLA-MMR) runs the patients that need it
// through that graph, as recommend() does, via the per-patient encoding the graph reads.
import type { ModelInputSummary } from '../../../shared/domain/recommendation'
import type { ServiceContext } from '../service-context'
import { BatchEncoder } from '../inference/batch-encoder'
import { encodePatient, hasAnyCode } from '../inference/encode'
import { MAX_ROWS_PER_RUN } from '../inference/session'
import { ColdStartModel } from '../inference/text/cold-start'
import { ModelRunner } from './cold-start-runner'
import { loadPatientInputs } from './patient-batch'
import type { PatientModelInput } from './patient-input'
import { checkThreshold, chooseModel, type PreparedInput } from './prepare'

export interface ScoreBatchOptions {
  modelId?: string | null
  threshold?: number
  /** Patients per read and model run (default and maximum: the session's 256 rows per run). */
  batchSize?: number
}

export interface StageTimes {
  readMs: number
  encodeMs: number
  modelMs: number
  decodeMs: number
}

export interface BatchScores {
  model: { id: string; version: string }
  threshold: number
  /** Output column i is medications[i] (ATC3). */
  medications: readonly string[]
  /** The scored patients (app ids), row order. */
  patients: number[]
  /** rows × medications, row-major. */
  probabilities: Float32Array
  /** Row r's combination is columns[combinationStart[r] … combinationStart[r + 1]), most probable first. */
  combinationStart: Uint32Array
  combinationColumns: Uint16Array
  /** Patients not scored, with the reason (unknown id, no visit, no code the model reads). */
  skipped: Array<{ patient: number; reason: string }>
  timing: StageTimes & { totalMs: number }
}

/** Decoding state reused across rows: no allocation per drug. */
class CombinationDecoder {
  private readonly scratch: Uint16Array
  /** Rank of each column's code in code order (ties of probability go to the code that sorts first). */
  private readonly codeRank: Uint16Array

  constructor(codes: readonly string[]) {
    this.scratch = new Uint16Array(codes.length)
    this.codeRank = new Uint16Array(codes.length)
    codes
      .map((code, column) => ({ code, column }))
      .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
      .forEach((entry, rank) => (this.codeRank[entry.column] = rank))
  }

  /** Writes row's columns at or above `threshold`, most probable first, into `out` at `at`; returns how many. */
  decode(probabilities: Float32Array, offset: number, k: number, threshold: number, out: Uint16Array, at: number): number {
    const chosen = this.scratch
    let count = 0
    for (let i = 0; i < k; i++) if (probabilities[offset + i]! >= threshold) chosen[count++] = i
    // Insertion sort: a combination holds a handful of drugs.
    for (let i = 1; i < count; i++) {
      const column = chosen[i]!
      const p = probabilities[offset + column]!
      let j = i - 1
      while (j >= 0) {
        const other = chosen[j]!
        const q = probabilities[offset + other]!
        if (q > p || (q === p && this.codeRank[other]! < this.codeRank[column]!)) break
        chosen[j + 1] = other
        j--
      }
      chosen[j + 1] = column
    }
    out.set(chosen.subarray(0, count), at)
    return count
  }
}

function emptyReason(input: PatientModelInput): string {
  return `Patient ${input.patient.sourcePatientId} (id ${input.patient.id}) has no diagnosis, procedure or medication codes in the visits the model reads: nothing to recommend from.`
}

/** Scores `patients` (app ids) in batches. */
export async function scoreBatch(ctx: ServiceContext, patients: readonly number[], options: ScoreBatchOptions = {}): Promise<BatchScores> {
  const model = await chooseModel(ctx, options.modelId)
  const { manifest } = model
  const threshold = checkThreshold(options.threshold ?? manifest.threshold)
  const batchSize = options.batchSize ?? MAX_ROWS_PER_RUN
  if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_ROWS_PER_RUN)) {
    throw new RangeError(`batchSize must be an integer from 1 to ${MAX_ROWS_PER_RUN}, got ${batchSize}.`)
  }
  const medications = manifest.vocabularies.medication.entries.map((e) => e.code)
  const k = medications.length
  const coldStart = ColdStartModel.supports(manifest)
  const encoder = new BatchEncoder(model.vocab, manifest.limits, batchSize)
  const decoder = new CombinationDecoder(medications)
  const probabilities = new Float32Array(patients.length * k)
  const combinationStart = new Uint32Array(patients.length + 1)
  let combinationColumns = new Uint16Array(patients.length * 8)
  const scored: number[] = []
  const skipped: BatchScores['skipped'] = []
  const timing: StageTimes = { readMs: 0, encodeMs: 0, modelMs: 0, decodeMs: 0 }
  const started = performance.now()
  let written = 0

  for (let start = 0; start < patients.length; start += batchSize) {
    let at = performance.now()
    const lap = (stage: keyof StageTimes): void => {
      const now = performance.now()
      timing[stage] += now - at
      at = now
    }
    const read = loadPatientInputs(ctx.db, patients.slice(start, start + batchSize), { titles: coldStart })
    skipped.push(...read.missing)
    lap('readMs')
    let rows: PatientModelInput[]
    let batchProbabilities: Float32Array
    if (coldStart) {
      // NLA-MMR: the cold-start graph reads each patient's fed codes and titles (ModelRunner), as recommend() does.
      const prepared: PreparedInput[] = []
      for (const input of read.inputs) {
        const encoded = encodePatient(model.vocab, manifest.limits, input.visits)
        if (!hasAnyCode(encoded)) skipped.push({ patient: input.patient.id, reason: emptyReason(input) })
        else {
          const summary: ModelInputSummary = { ...encoded.summary, currentVisit: input.currentVisit, unmappedMedications: input.unmappedMedications }
          prepared.push({ model, input, encoded, summary })
        }
      }
      rows = prepared.map((p) => p.input)
      lap('encodeMs')
      const runner = await ModelRunner.open(ctx, model, prepared)
      try {
        batchProbabilities = await runner.predictEach(prepared.map((p) => p.encoded))
      } finally {
        await runner.release()
      }
      timing.modelMs -= runner.loadMs // a first cold-start load happens once per model, as in recommend()
    } else {
      encoder.clear(read.inputs.length)
      rows = []
      for (const input of read.inputs) {
        if (encoder.encode(rows.length, input.visits) === 0) {
          encoder.clearRow(rows.length) // the row is reused by the next patient
          skipped.push({ patient: input.patient.id, reason: emptyReason(input) })
        } else rows.push(input)
      }
      lap('encodeMs')
      batchProbabilities = await model.session.runTensors(rows.length, encoder)
    }
    lap('modelMs')
    probabilities.set(batchProbabilities, scored.length * k)
    for (let r = 0; r < rows.length; r++) {
      if (combinationColumns.length < written + k) {
        const grown = new Uint16Array(Math.max(combinationColumns.length * 2, written + k))
        grown.set(combinationColumns)
        combinationColumns = grown
      }
      written += decoder.decode(batchProbabilities, r * k, k, threshold, combinationColumns, written)
      scored.push(rows[r]!.patient.id)
      combinationStart[scored.length] = written
    }
    lap('decodeMs')
  }
  return {
    model: { id: manifest.id, version: manifest.version },
    threshold,
    medications,
    patients: scored,
    probabilities: probabilities.subarray(0, scored.length * k),
    combinationStart: combinationStart.subarray(0, scored.length + 1),
    combinationColumns: combinationColumns.subarray(0, written),
    skipped,
    timing: { ...timing, totalMs: performance.now() - started }
  }
}
