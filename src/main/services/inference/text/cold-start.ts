// Cold start for NLA-MMR: a diagnosis or procedure code the model never saw, but whose title the patient
// store knows (code_titles), still counts through the embedding of that title.
//
// model.onnx takes the five contract inputs and feeds such a code as index 1 ("unknown"). Beside it the
// model folder ships (all hashed in manifest.extraFiles; see training/medrec_training/text/cold_start.py):
//   model_cold_start.onnx  the same model with two more inputs, diagnosis_text_extra float32 [K, T] and
//                          procedure_text_extra float32 [L, T]; a diagnosis index >= vocabulary size + 2
//                          reads row (index - size - 2) of diagnosis_text_extra (procedures likewise)
//   text_encoder.onnx + text_vocab.txt + text_encoder.json   the frozen encoder (text-encoder.ts)
// This module re-addresses the unknown-but-titled codes of encoded patients to extra rows, embeds their
// titles and runs the cold-start graph. Without such codes it gives what model.onnx gives.
import type { ModelManifest } from '../../../../shared/domain/manifest'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import ort from 'onnxruntime-node'
import type { EncodedPatient, ModelLimits } from '../encode'
import { createSessionWithFallback, type ProviderName } from '../providers'
import { MAX_ROWS_PER_RUN } from '../session'
import { UNKNOWN_INDEX, VOCAB_OFFSET } from '../vocabulary'
import { TEXT_ENCODER_CONFIG_FILE, TextEncoder, TextEncoderError } from './text-encoder'

export const COLD_START_FILE = 'model_cold_start.onnx'
export const CONTRACT_INPUTS = ['diagnoses', 'procedures', 'medications', 'visit_mask', 'modality_mask'] as const
export const EXTRA_INPUTS = { diagnosis: 'diagnosis_text_extra', procedure: 'procedure_text_extra' } as const

export type NewCodeKind = keyof typeof EXTRA_INPUTS

/** The title of a code as the patient store has it; `key` is the fed key (inference/encode codeKey). */
export type TitleOf = (kind: NewCodeKind, key: string) => string | null | undefined

/** Python's str.split() whitespace (str.isspace), so the app builds exactly the text training embedded. */
function isPythonWhitespace(codePoint: number): boolean {
  return (
    (codePoint >= 0x09 && codePoint <= 0x0d) ||
    (codePoint >= 0x1c && codePoint <= 0x20) ||
    codePoint === 0x85 ||
    codePoint === 0xa0 ||
    codePoint === 0x1680 ||
    (codePoint >= 0x2000 && codePoint <= 0x200a) ||
    codePoint === 0x2028 ||
    codePoint === 0x2029 ||
    codePoint === 0x202f ||
    codePoint === 0x205f ||
    codePoint === 0x3000
  )
}

/** The text of a code: its title with runs of whitespace collapsed (training: text/building.py code_text). */
export function codeText(title: string | null | undefined): string | null {
  if (title === null || title === undefined) return null
  const words: string[] = []
  let word = ''
  for (const char of title) {
    if (isPythonWhitespace(char.codePointAt(0)!)) {
      if (word) words.push(word)
      word = ''
    } else {
      word += char
    }
  }
  if (word) words.push(word)
  return words.length > 0 ? words.join(' ') : null
}

export interface NewCode {
  kind: NewCodeKind
  key: string
  text: string
  /** Row in the kind's extra table. */
  row: number
}

export interface ColdStartPlan {
  /** Copies of the input rows with every unknown-but-titled code re-addressed to its extra row. */
  rows: EncodedPatient[]
  /** Extra row k's text, per kind (each distinct text once, shared by the whole batch). */
  texts: Record<NewCodeKind, string[]>
  /** Every re-addressed code (once per kind and key). */
  newCodes: NewCode[]
}

/**
 * Finds the codes fed as "unknown" that have a title, gives each distinct title an extra row and rewrites
 * those codes' indices to vocabularyRows + row. Codes without a title stay unknown; inputs are not changed.
 */
export function planNewCodes(
  rows: readonly EncodedPatient[],
  limits: ModelLimits,
  vocabularySizes: Record<NewCodeKind, number>,
  titleOf: TitleOf
): ColdStartPlan {
  const texts: Record<NewCodeKind, string[]> = { diagnosis: [], procedure: [] }
  const rowOfText: Record<NewCodeKind, Map<string, number>> = { diagnosis: new Map(), procedure: new Map() }
  const newCodes: NewCode[] = []
  const seenKeys = new Set<string>()
  const readdress = (kind: NewCodeKind, indices: BigInt64Array, fedKeys: readonly string[], offset: number): void => {
    fedKeys.forEach((key, slot) => {
      if (indices[offset + slot] !== BigInt(UNKNOWN_INDEX)) return
      const text = codeText(titleOf(kind, key))
      if (text === null) return
      let row = rowOfText[kind].get(text)
      if (row === undefined) {
        row = texts[kind].push(text) - 1
        rowOfText[kind].set(text, row)
      }
      indices[offset + slot] = BigInt(vocabularySizes[kind] + VOCAB_OFFSET + row)
      if (!seenKeys.has(`${kind}:${key}`)) {
        seenKeys.add(`${kind}:${key}`)
        newCodes.push({ kind, key, text, row })
      }
    })
  }
  const planned = rows.map((patient) => {
    const copy: EncodedPatient = { ...patient, diagnoses: patient.diagnoses.slice(), procedures: patient.procedures.slice() }
    patient.fed.forEach((visit, v) => {
      readdress('diagnosis', copy.diagnoses, visit.diagnoses, v * limits.maxDiagnoses)
      readdress('procedure', copy.procedures, visit.procedures, v * limits.maxProcedures)
    })
    return copy
  })
  return { rows: planned, texts, newCodes }
}

export interface ColdStartPrediction {
  /** rows × medications, row-major (as ModelSession.predict). */
  probabilities: Float32Array
  plan: ColdStartPlan
}

/**
 * Title embeddings kept per text. Embedding is nearly all of a cold-start run (tens of ms per title on a
 * CPU, against well under a millisecond for the graph), and the same titles come back: a recommendation and
 * its explanation's two batched runs, the next request for the patient, other patients with the code.
 * 4096 texts × 384 floats is about 6 MB; the oldest go first past that.
 */
const MAX_CACHED_EMBEDDINGS = 4096

/** The cold-start graph and the text encoder of one model folder. */
export class ColdStartModel {
  private readonly embeddings = new Map<string, Float32Array>()

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly textEncoder: TextEncoder,
    private readonly manifest: ModelManifest
  ) {}

  /** Whether a manifest ships a cold-start graph (NLA-MMR does; other families do not). */
  static supports(manifest: ModelManifest): boolean {
    const files = new Set((manifest.extraFiles ?? []).map((f) => f.file))
    return files.has(COLD_START_FILE) && files.has(TEXT_ENCODER_CONFIG_FILE)
  }

  /** Loads the cold-start graph and text encoder named by the manifest, checking every file's sha256. */
  static async load(manifest: ModelManifest, directory: string, providers: readonly ProviderName[] = ['cpu']): Promise<ColdStartModel> {
    if (!ColdStartModel.supports(manifest)) {
      throw new TextEncoderError(`Model "${manifest.id}" ships no ${COLD_START_FILE} with a text encoder (family ${manifest.family}).`)
    }
    const expectedHashes = new Map((manifest.extraFiles ?? []).map((f) => [f.file, f.sha256]))
    const graphPath = join(directory, COLD_START_FILE)
    const graphBytes = readFileSync(graphPath)
    const actual = createHash('sha256').update(graphBytes).digest('hex')
    if (actual !== expectedHashes.get(COLD_START_FILE)) {
      throw new TextEncoderError(`${graphPath}: sha256 is ${actual} but manifest.json says ${expectedHashes.get(COLD_START_FILE)}`)
    }
    const { session } = await createSessionWithFallback(graphBytes, providers)
    const expected = [...CONTRACT_INPUTS, EXTRA_INPUTS.diagnosis, EXTRA_INPUTS.procedure]
    if (expected.some((name, i) => session.inputNames[i] !== name) || session.inputNames.length !== expected.length) {
      await session.release()
      throw new TextEncoderError(`${graphPath}: inputs are ${session.inputNames.join(', ')}; expected ${expected.join(', ')}`)
    }
    const textEncoder = await TextEncoder.load(directory, { providers, expectedHashes })
    return new ColdStartModel(session, textEncoder, manifest)
  }

  private get vocabularySizes(): Record<NewCodeKind, number> {
    return { diagnosis: this.manifest.vocabularies.diagnosis.entries.length, procedure: this.manifest.vocabularies.procedure.entries.length }
  }

  /** Probabilities with new codes counted through their titles; `modalityMasks` as in ModelSession.predict. */
  async predict(rows: readonly EncodedPatient[], titleOf: TitleOf, modalityMasks?: Float32Array): Promise<ColdStartPrediction> {
    const plan = planNewCodes(rows, this.manifest.limits, this.vocabularySizes, titleOf)
    const dimension = this.textEncoder.dimension
    const extra = {
      diagnosis: new ort.Tensor('float32', await this.embed(plan.texts.diagnosis), [plan.texts.diagnosis.length, dimension]),
      procedure: new ort.Tensor('float32', await this.embed(plan.texts.procedure), [plan.texts.procedure.length, dimension])
    }
    const medicationCount = this.manifest.vocabularies.medication.entries.length
    const modalities = this.manifest.modalities.length
    if (modalityMasks && modalityMasks.length !== rows.length * modalities) {
      throw new Error(`modality masks hold ${modalityMasks.length} values, expected ${rows.length} rows × ${modalities} modalities`)
    }
    const probabilities = new Float32Array(rows.length * medicationCount)
    for (let start = 0; start < rows.length; start += MAX_ROWS_PER_RUN) {
      const end = Math.min(rows.length, start + MAX_ROWS_PER_RUN)
      const part = await this.run(plan.rows.slice(start, end), extra, modalityMasks?.subarray(start * modalities, end * modalities))
      probabilities.set(part, start * medicationCount)
    }
    return { probabilities, plan }
  }

  /** Embeddings of `texts` (row-major), each text encoded once and then taken from the cache. */
  private async embed(texts: readonly string[]): Promise<Float32Array> {
    const dimension = this.textEncoder.dimension
    const missing = [...new Set(texts.filter((text) => !this.embeddings.has(text)))]
    if (missing.length > 0) {
      const fresh = await this.textEncoder.embed(missing)
      missing.forEach((text, i) => this.embeddings.set(text, fresh.slice(i * dimension, (i + 1) * dimension)))
    }
    const out = new Float32Array(texts.length * dimension)
    texts.forEach((text, i) => out.set(this.embeddings.get(text)!, i * dimension))
    for (const oldest of this.embeddings.keys()) {
      if (this.embeddings.size <= MAX_CACHED_EMBEDDINGS) break
      this.embeddings.delete(oldest)
    }
    return out
  }

  private async run(rows: readonly EncodedPatient[], extra: Record<NewCodeKind, ort.Tensor>, modalityMasks?: Float32Array): Promise<Float32Array> {
    const n = rows.length
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.manifest.limits
    const m = this.manifest.modalities.length
    const stack = (pick: (row: EncodedPatient) => BigInt64Array, width: number): BigInt64Array => {
      const out = new BigInt64Array(n * width)
      rows.forEach((row, r) => out.set(pick(row), r * width))
      return out
    }
    const visitMask = new Float32Array(n * maxVisits)
    rows.forEach((row, r) => visitMask.set(row.visitMask, r * maxVisits))
    const feeds: Record<string, ort.Tensor> = {
      diagnoses: new ort.Tensor('int64', stack((r) => r.diagnoses, maxVisits * maxDiagnoses), [n, maxVisits, maxDiagnoses]),
      procedures: new ort.Tensor('int64', stack((r) => r.procedures, maxVisits * maxProcedures), [n, maxVisits, maxProcedures]),
      medications: new ort.Tensor('int64', stack((r) => r.medications, maxVisits * maxMedications), [n, maxVisits, maxMedications]),
      visit_mask: new ort.Tensor('float32', visitMask, [n, maxVisits]),
      modality_mask: new ort.Tensor('float32', modalityMasks ?? new Float32Array(n * m).fill(1), [n, m]),
      [EXTRA_INPUTS.diagnosis]: extra.diagnosis,
      [EXTRA_INPUTS.procedure]: extra.procedure
    }
    const outputs = await this.session.run(feeds, ['probabilities'])
    const probabilities = outputs.probabilities
    const medicationCount = this.manifest.vocabularies.medication.entries.length
    if (!probabilities || !(probabilities.data instanceof Float32Array) || probabilities.data.length !== n * medicationCount) {
      throw new Error(`The cold-start graph returned no float32 [${n}, ${medicationCount}] "probabilities" output.`)
    }
    return probabilities.data
  }

  async release(): Promise<void> {
    await Promise.all([this.session.release(), this.textEncoder.release()])
  }
}
