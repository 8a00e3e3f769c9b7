// CafeMed's causal explanations. A CafeMed model folder ships two extra files (hashed in its manifest):
//   causal-effects.json  format "medrec-causal-effects" v1 (training/medrec_training/causal/table.py): for each
//                        estimated diagnosis / procedure (by manifest vocabulary position) its effect on each drug
//                        (risk difference, standard error, q-value, crude association, whether the model uses it)
//   causal-weights.onnx  the model's five inputs -> diagnosis_weights [batch, maxDiagnoses, medications] and
//                        procedure_weights [batch, maxProcedures, medications]: each current-visit code slot's
//                        patient-specific contribution to each drug's logit.
// This module reads both: the static table (what the training data say about a code and a drug) and, for one
// patient, the codes of the current visit that push a recommended drug most.
import type { ModelManifest } from '../../../shared/domain/manifest'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { type AuxiliarySession, type AuxiliarySessions, runForPatient } from '../inference/auxiliary-sessions'
import type { EncodedPatient } from '../inference/encode'

export const CAUSAL_EFFECTS_FILE = 'causal-effects.json'
export const CAUSAL_WEIGHTS_FILE = 'causal-weights.onnx'
const INDEX_OFFSET = 2 // input index = vocabulary entry + 2 (0 = padding, 1 = unknown code)

export type CausalCodeKind = 'diagnosis' | 'procedure'

const numbers = z.array(z.number())
const codeSchema = z.object({
  entry: z.number().int().nonnegative(),
  treatedVisits: z.number().int().nonnegative(),
  adjustment: z.array(z.object({ kind: z.enum(['diagnosis', 'procedure']), entry: z.number().int().nonnegative() })),
  drugs: z.array(z.number().int().nonnegative()),
  effect: numbers,
  standardError: numbers,
  q: numbers,
  crude: numbers,
  used: z.array(z.union([z.literal(0), z.literal(1)]))
})
const blockSchema = z.object({ entries: z.number().int().nonnegative(), codes: z.array(codeSchema) })
const documentSchema = z.object({
  format: z.literal('medrec-causal-effects'),
  formatVersion: z.literal(1),
  scale: z.string(),
  estimand: z.string(),
  estimator: z.string(),
  assumptions: z.array(z.string()),
  settings: z.record(z.string(), z.unknown()),
  visits: z.number().int().nonnegative(),
  medications: z.number().int().positive(),
  diagnosis: blockSchema,
  procedure: blockSchema
})
export type CausalEffectsDocument = z.infer<typeof documentSchema>

export interface CodeEffect {
  kind: CausalCodeKind
  /** Position in the manifest vocabulary of that kind. */
  entry: number
  system: string | null
  code: string
  title: string | null
  /** Risk difference: how much more likely the drug is in visits with the code because of it. */
  effect: number
  standardError: number
  q: number
  /** Unadjusted difference of the drug's frequency with and without the code. */
  crude: number
  /** Whether the model uses this effect (q at or below the table's false-discovery level). */
  used: boolean
  treatedVisits: number
}

export interface PatientCausalCode {
  kind: CausalCodeKind
  entry: number
  /** The code's slot in the current visit's input row (the order the codes were fed in). */
  slot: number
  system: string | null
  code: string
  title: string | null
  /** The code's contribution to the drug's logit for this patient (static effect × patient-specific CWG factor × drug scale). */
  weight: number
  /** The static effect from the table, when the code was estimated. */
  effect: number | null
}

export class CausalEffectsError extends Error {
  override name = 'CausalEffectsError'
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Reads a file named in manifest.extraFiles and checks its sha256 (the registry does too; this keeps the reader safe alone). */
// Reading and hashing both files (3.4 MB for CafeMed) took ~5 ms of every explanation. A file whose size,
// modification time, change time and inode are those it had when it was last hashed is not read again; any
// write to it changes its change time, so it is then read and hashed as before.
interface HashedFile {
  bytes: Uint8Array
  sha256: string
  stamp: string
}
const hashedFiles = new Map<string, HashedFile>()

function readHashed(directory: string, manifest: ModelManifest, file: string): { bytes: Uint8Array; sha256: string; path: string } | null {
  const listed = manifest.extraFiles?.find((f) => f.file === file)
  if (!listed) return null
  const path = join(directory, file)
  if (!existsSync(path)) throw new CausalEffectsError(`${path}: listed in manifest.json but missing`)
  const stat = statSync(path, { bigint: true })
  const stamp = `${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.ino}:${stat.dev}`
  let hashed = hashedFiles.get(path)
  if (hashed?.stamp !== stamp) {
    const bytes = readFileSync(path)
    hashed = { bytes, sha256: sha256(bytes), stamp }
    hashedFiles.set(path, hashed)
    while (hashedFiles.size > 2 * CACHED_FILES) hashedFiles.delete(hashedFiles.keys().next().value as string)
  }
  if (hashed.sha256 !== listed.sha256) throw new CausalEffectsError(`${path}: sha256 is ${hashed.sha256} but manifest.json says ${listed.sha256}`)
  return { bytes: hashed.bytes, sha256: hashed.sha256, path }
}

// Parsing the effect table and creating the weights session cost ~50 ms per explanation; both are kept per
// (file, verified sha256): the table here, the session by the model's AuxiliarySessions (inference/). Every call still checks the files (readHashed), so a file changed after loading is
// caught as before, and a changed file simply misses the cache.
const CACHED_FILES = 4
const parsedTables = new Map<string, CausalEffectTable>()

function remember<T>(cache: Map<string, T>, key: string, make: () => T, evicted?: (value: T) => void): T {
  const found = cache.get(key)
  if (found !== undefined) {
    cache.delete(key) // most recently used last
    cache.set(key, found)
    return found
  }
  const value = make()
  cache.set(key, value)
  while (cache.size > CACHED_FILES) {
    const [oldestKey, oldest] = cache.entries().next().value as [string, T]
    cache.delete(oldestKey)
    evicted?.(oldest)
  }
  return value
}

export class CausalEffectTable {
  private constructor(
    readonly document: CausalEffectsDocument,
    private readonly manifest: ModelManifest
  ) {}

  /** The table of a model folder; null when the model ships none (every family but CafeMed). */
  static load(directory: string, manifest: ModelManifest): CausalEffectTable | null {
    const file = readHashed(directory, manifest, CAUSAL_EFFECTS_FILE)
    if (!file) return null
    // The key includes the manifest's medication vocabulary size, which parse() checks the table against.
    const key = `${file.path}\n${file.sha256}\n${manifest.id}\n${manifest.vocabularies.medication.entries.length}`
    return remember(parsedTables, key, () => CausalEffectTable.parse(Buffer.from(file.bytes).toString('utf8'), manifest, file.path))
  }

  /** Parses and checks a document against the manifest's vocabularies; errors name the file and the field. */
  static parse(text: string, manifest: ModelManifest, source = CAUSAL_EFFECTS_FILE): CausalEffectTable {
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch (error) {
      throw new CausalEffectsError(`${source}: not JSON (${(error as Error).message})`)
    }
    const parsed = documentSchema.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new CausalEffectsError(`${source}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`)
    }
    const document = parsed.data
    const drugs = manifest.vocabularies.medication.entries.length
    if (document.medications !== drugs) {
      throw new CausalEffectsError(`${source}: ${document.medications} medication columns, but the model predicts ${drugs}`)
    }
    for (const kind of ['diagnosis', 'procedure'] as const) {
      const block = document[kind]
      const size = manifest.vocabularies[kind].entries.length
      if (block.entries !== size) throw new CausalEffectsError(`${source}: ${kind}.entries is ${block.entries}, the manifest's ${kind} vocabulary has ${size}`)
      block.codes.forEach((code, i) => {
        const lengths = [code.effect, code.standardError, code.q, code.crude, code.used].map((a) => a.length)
        if (code.entry >= size || code.drugs.some((m) => m >= drugs) || lengths.some((n) => n !== code.drugs.length)) {
          throw new CausalEffectsError(`${source}: ${kind}.codes[${i}] (entry ${code.entry}) has an entry or drug out of range or arrays of unequal length`)
        }
      })
    }
    return new CausalEffectTable(document, manifest)
  }

  private describe(kind: CausalCodeKind, entry: number): { system: string | null; code: string; title: string | null } {
    const item = this.manifest.vocabularies[kind].entries[entry]
    return { system: item?.system ?? null, code: item?.code ?? `#${entry}`, title: item?.title ?? null }
  }

  private column(drug: string): number {
    const column = this.manifest.vocabularies.medication.entries.findIndex((e) => e.code.toUpperCase() === drug.trim().toUpperCase())
    if (column < 0) throw new CausalEffectsError(`Model ${this.manifest.id} has no medication "${drug}"`)
    return column
  }

  /** Static effects of every estimated code on `drug`, largest |effect| first (only the ones the model uses unless `all`). */
  effectsOn(drug: string, options: { all?: boolean } = {}): CodeEffect[] {
    const column = this.column(drug)
    const found: CodeEffect[] = []
    for (const kind of ['diagnosis', 'procedure'] as const) {
      for (const code of this.document[kind].codes) {
        const at = code.drugs.indexOf(column)
        if (at < 0) continue
        if (code.used[at] !== 1 && !options.all) continue
        found.push(this.rowAt(kind, code, at))
      }
    }
    return found.sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect))
  }

  /** The static effect of one code on one drug, or null when it was not estimated. */
  effectOf(kind: CausalCodeKind, entry: number, column: number): number | null {
    return this.rowOf(kind, entry, column)?.effect ?? null
  }

  /** The whole table row of one code on one drug (effect, standard error, q, …), or null when it was not estimated. */
  rowOf(kind: CausalCodeKind, entry: number, column: number): CodeEffect | null {
    const code = this.document[kind].codes.find((c) => c.entry === entry)
    const at = code ? code.drugs.indexOf(column) : -1
    return code && at >= 0 ? this.rowAt(kind, code, at) : null
  }

  private rowAt(kind: CausalCodeKind, code: CausalEffectsDocument[CausalCodeKind]['codes'][number], at: number): CodeEffect {
    return {
      kind,
      entry: code.entry,
      ...this.describe(kind, code.entry),
      effect: code.effect[at] ?? 0,
      standardError: code.standardError[at] ?? 0,
      q: code.q[at] ?? 1,
      crude: code.crude[at] ?? 0,
      used: code.used[at] === 1,
      treatedVisits: code.treatedVisits
    }
  }

  /**
   * The current visit's codes ranked by their patient-specific causal weight on `drug` (largest |weight| first,
   * zero weights left out), from causal-weights.onnx run on the patient's encoded input.
   */
  async patientCodes(sessions: AuxiliarySessions, directory: string, patient: EncodedPatient, drug: string, limit = 5): Promise<PatientCausalCode[]> {
    const weights = await runCausalWeights(sessions, directory, this.manifest, patient)
    return this.rankCodes(weights, patient, drug).slice(0, limit)
  }

  /** Every current-visit code with a non-zero weight on `drug` in `weights` (one causal-weights.onnx run), largest |weight| first. */
  rankCodes(weights: CausalWeights, patient: EncodedPatient, drug: string): PatientCausalCode[] {
    const column = this.column(drug)
    const { maxDiagnoses, maxProcedures } = this.manifest.limits
    const current = Math.max(0, patient.visitMask.reduce((n, v) => n + (v > 0 ? 1 : 0), 0) - 1)
    const drugs = this.manifest.vocabularies.medication.entries.length
    const ranked: PatientCausalCode[] = []
    const collect = (kind: CausalCodeKind, indices: BigInt64Array, width: number, values: Float32Array): void => {
      for (let slot = 0; slot < width; slot++) {
        const index = Number(indices[current * width + slot] ?? 0n)
        const weight = values[slot * drugs + column] ?? 0
        if (index < INDEX_OFFSET || weight === 0) continue
        const entry = index - INDEX_OFFSET
        ranked.push({ kind, entry, slot, ...this.describe(kind, entry), weight, effect: this.effectOf(kind, entry, column) })
      }
    }
    collect('diagnosis', patient.diagnoses, maxDiagnoses, weights.diagnosis)
    collect('procedure', patient.procedures, maxProcedures, weights.procedure)
    return ranked.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
  }
}

/** causal-weights.onnx outputs for one patient: [slots × medications] of the current visit, row-major. */
export interface CausalWeights {
  diagnosis: Float32Array
  procedure: Float32Array
}

/** Runs causal-weights.onnx for one patient (all modalities present): per-slot weights [slots × medications] of each kind. */
export async function runCausalWeights(sessions: AuxiliarySessions, directory: string, manifest: ModelManifest, patient: EncodedPatient): Promise<CausalWeights> {
  const file = readHashed(directory, manifest, CAUSAL_WEIGHTS_FILE)
  if (!file) throw new CausalEffectsError(`Model ${manifest.id} ships no ${CAUSAL_WEIGHTS_FILE}`)
  const { path } = file
  const { maxDiagnoses, maxProcedures } = manifest.limits
  let session: AuxiliarySession
  try {
    session = await sessions.get(`${path}\n${file.sha256}`, file.bytes)
  } catch (error) {
    // onnxruntime's own messages do not say which file; this does.
    throw new CausalEffectsError(`${path}: onnxruntime cannot load it (${firstLine(error)})`)
  }
  try {
    const outputs = await runForPatient(session, manifest.limits, manifest.modalities.length, patient, ['diagnosis_weights', 'procedure_weights']).catch(
      (error: unknown) => {
        throw new CausalEffectsError(`${path}: onnxruntime cannot run it on the model's inputs (${firstLine(error)})`)
      }
    )
    const diagnosis = outputs.diagnosis_weights
    const procedure = outputs.procedure_weights
    if (!(diagnosis instanceof Float32Array) || !(procedure instanceof Float32Array)) {
      throw new CausalEffectsError(`${path}: no float32 diagnosis_weights / procedure_weights output`)
    }
    const drugs = manifest.vocabularies.medication.entries.length
    if (diagnosis.length !== maxDiagnoses * drugs || procedure.length !== maxProcedures * drugs) {
      throw new CausalEffectsError(
        `${path}: outputs hold ${diagnosis.length} and ${procedure.length} values, expected [1, ${maxDiagnoses}, ${drugs}] and [1, ${maxProcedures}, ${drugs}]`
      )
    }
    return { diagnosis, procedure }
  } catch (error) {
    if (error instanceof CausalEffectsError) throw error
    throw new CausalEffectsError(`${path}: ${firstLine(error)}`)
  }
}
