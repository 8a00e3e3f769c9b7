// Batch scoring: a whole ward or cohort scored in batches, for screening and evaluation (no audit entry: a
// recommendation shown to a clinician goes through recommend(), which records it). Per batch: the patients
// read with one query per table (patient-batch.ts), encoded straight into reused input tensors
// (batch-encoder.ts), one model run, and the combination at the threshold decoded into flat typed arrays
// without an object per drug. Probabilities and combinations equal recommendMany's without DDI-safe
// decoding (checked by a test). A model with a cold-start graph (NLA-MMR) runs the patients that need it
// through that graph, as recommend() does, via the per-patient encoding the graph reads.
// Patients are batched with others of as many fed visits, and the results put back in the order asked: the
// knowledge models' graphs drop the visit and code slots that are padding in every row of a batch
// (trim_padding in training/medrec_training/models/base.py), so one long record no longer pads 255 short ones.
// (Except for NLA-MMR's cold-start graph: see scoreBatch.)
import type { ModelInputSummary } from '../../../shared/domain/recommendation'
import type { ServiceContext } from '../service-context'
import { BatchEncoder } from '../inference/batch-encoder'
import { encodePatient, hasAnyCode } from '../inference/encode'
import { MAX_ROWS_PER_RUN } from '../inference/session'
import { ColdStartModel } from '../inference/text/cold-start'
import { ModelRunner } from './cold-start-runner'
import { loadPatientInputs, storedVisitCounts } from './patient-batch'
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
  // Not for a cold-start model: its text graph's results move by up to 2.6e-5 with the batch's composition
  // (measured on the demo), far above the last-bit differences the trimmed graphs show.
  const order = coldStart ? patients.map((_, i) => i) : batchingOrder(ctx, patients, manifest.limits.maxVisits, batchSize)
  const encoder = new BatchEncoder(model.vocab, manifest.limits, batchSize)
  const decoder = new CombinationDecoder(medications)
  const probabilities = new Float32Array(patients.length * k)
  const combinationStart = new Uint32Array(patients.length + 1)
  let combinationColumns = new Uint16Array(patients.length * 8)
  /** Index in `patients` of each scored row and each skipped patient, in the order they were run. */
  const scored: number[] = []
  const skipped: Array<{ asked: number; patient: number; reason: string }> = []
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
    const askedIndexes = order.slice(start, start + batchSize)
    const read = loadPatientInputs(ctx.db, askedIndexes.map((i) => patients[i]!), { titles: coldStart })
    // inputs and missing each keep the batch's order, and every asked patient is in exactly one of them.
    const askedOfInput = new Map<PatientModelInput, number>()
    let nextInput = 0
    let nextMissing = 0
    for (const asked of askedIndexes) {
      const input = read.inputs[nextInput]
      if (input !== undefined && input.patient.id === patients[asked]) askedOfInput.set(read.inputs[nextInput++]!, asked)
      else skipped.push({ asked, ...read.missing[nextMissing++]! })
    }
    lap('readMs')
    let rows: PatientModelInput[]
    let batchProbabilities: Float32Array
    if (coldStart) {
      // NLA-MMR: the cold-start graph reads each patient's fed codes and titles (ModelRunner), as recommend() does.
      const prepared: PreparedInput[] = []
      for (const input of read.inputs) {
        const encoded = encodePatient(model.vocab, manifest.limits, input.visits)
        if (!hasAnyCode(encoded)) skipped.push({ asked: askedOfInput.get(input)!, patient: input.patient.id, reason: emptyReason(input) })
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
          skipped.push({ asked: askedOfInput.get(input)!, patient: input.patient.id, reason: emptyReason(input) })
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
      scored.push(askedOfInput.get(rows[r]!)!)
      combinationStart[scored.length] = written
    }
    lap('decodeMs')
  }
  const inAskedOrder = askedOrder(scored, k, probabilities, combinationStart, combinationColumns.subarray(0, written))
  skipped.sort((a, b) => a.asked - b.asked)
  return {
    model: { id: manifest.id, version: manifest.version },
    threshold,
    medications,
    patients: inAskedOrder.rows.map((asked) => patients[asked]!),
    probabilities: inAskedOrder.probabilities,
    combinationStart: inAskedOrder.combinationStart,
    combinationColumns: inAskedOrder.combinationColumns,
    skipped: skipped.map(({ patient, reason }) => ({ patient, reason })),
    timing: { ...timing, totalMs: performance.now() - started }
  }
}

/**
 * Indexes into `patients` in the order to run them: stably sorted by the visits the model is fed (stored
 * visits, at most maxVisits), one query over the visits index. A single batch keeps the order asked.
 */
function batchingOrder(ctx: ServiceContext, patients: readonly number[], maxVisits: number, batchSize: number): number[] {
  const indexes = patients.map((_, i) => i)
  if (patients.length <= batchSize) return indexes
  const counts = storedVisitCounts(ctx.db, patients)
  const fed = (i: number): number => Math.min(counts.get(patients[i]!) ?? 0, maxVisits)
  return indexes.sort((a, b) => fed(a) - fed(b) || a - b)
}

/** The scored rows (given by their index in the asked list, in run order) rearranged into the order asked. */
function askedOrder(
  runRows: readonly number[],
  k: number,
  probabilities: Float32Array,
  combinationStart: Uint32Array,
  combinationColumns: Uint16Array
): { rows: number[]; probabilities: Float32Array; combinationStart: Uint32Array; combinationColumns: Uint16Array } {
  const rowCount = runRows.length
  if (runRows.every((asked, run) => run === 0 || runRows[run - 1]! < asked)) {
    // Run in the order asked (one batch, or a cold-start model): nothing to move.
    return { rows: [...runRows], probabilities: probabilities.subarray(0, rowCount * k), combinationStart: combinationStart.subarray(0, rowCount + 1), combinationColumns }
  }
  const byAsked = runRows.map((_, run) => run).sort((a, b) => runRows[a]! - runRows[b]!)
  const sorted = { probabilities: new Float32Array(rowCount * k), combinationStart: new Uint32Array(rowCount + 1), combinationColumns: new Uint16Array(combinationColumns.length) }
  let written = 0
  byAsked.forEach((run, row) => {
    sorted.probabilities.set(probabilities.subarray(run * k, (run + 1) * k), row * k)
    const columns = combinationColumns.subarray(combinationStart[run]!, combinationStart[run + 1]!)
    sorted.combinationColumns.set(columns, written)
    written += columns.length
    sorted.combinationStart[row + 1] = written
  })
  return { rows: byAsked.map((run) => runRows[run]!), ...sorted }
}
