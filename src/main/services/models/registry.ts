// The model registry: finds models/*/manifest.json, validates each manifest, checks the sha256 of the ONNX
// file and every extra file, loads the ONNX session once and checks its real inputs and outputs against
// the manifest. A model failing any check is refused with every reason (which file, what mismatch); the
// others stay usable.
import type { ManifestTensor, ModelList, ModelManifest, ModelSummary, RefusedModel } from '../../../shared/domain/manifest'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InferenceSession } from 'onnxruntime-node'
import type { EncodedPatient } from '../inference/encode'
import { AuxiliarySessions } from '../inference/auxiliary-sessions'
import { type Calibration, loadCalibration, probabilityScale } from '../inference/calibration'
import { ModelSession } from '../inference/session'
import { providerOrder, type ProviderName, type SessionTuning } from '../inference/providers'
import { NotFoundError, RefusedError } from '../errors'
import { modelsDir } from '../paths'
import { checkManifest, expectedInputDims, PROBABILITIES_OUTPUT } from './manifest'
import { loadTrustedKeys, type SignatureCheck, verifyModelFolder, type TrustedKey } from './signature'
import { type ModelVocabularies, VOCAB_OFFSET, vocabulariesOf } from '../inference/vocabulary'

export interface RegisteredModel {
  manifest: ModelManifest
  directory: string
  summary: ModelSummary
  vocab: ModelVocabularies
  session: ModelSession
  /** Sessions of the secondary graphs the folder ships (causal weights), on the main session's provider; released with it. */
  auxiliarySessions: AuxiliarySessions
  /** The trusted key whose signature the folder carries. */
  signedBy: string
}

/** The API answers it as 'not-found' (a NotFoundError). */
export class ModelNotFoundError extends NotFoundError {}

/** A model that exists but failed a check (signature, hashes, ranges, ONNX shapes): a refusal by rule, with every reason. */
export class ModelRefusedError extends RefusedError {
  constructor(
    message: string,
    readonly reasons: readonly string[]
  ) {
    super(message)
  }
}

export interface RegistryOptions {
  /** Execution providers to try, in order (the CPU is always the last resort). */
  providers?: readonly ProviderName[]
  tuning?: SessionTuning
  /** Public keys whose signatures are accepted; default: the project's and the hospital's (signature.ts). */
  trustedKeys?: readonly TrustedKey[]
  /**
   * The knowledge base's name of an ATC class, or null when it does not know the code. Given, a medication
   * entry titled differently from its code's name (labels swapped between classes) refuses the model.
   */
  atcName?: (code: string) => string | null
}

interface Scan {
  models: RegisteredModel[]
  refused: RefusedModel[]
}

/** A models folder may name its default model in this file (one id). */
export const DEFAULT_MODEL_FILE = 'DEFAULT'

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

function summaryOf(manifest: ModelManifest, directory: string): ModelSummary {
  return {
    id: manifest.id,
    family: manifest.family,
    version: manifest.version,
    description: manifest.description ?? null,
    paperTitle: manifest.paper.title,
    createdAt: manifest.createdAt,
    directory,
    modalities: manifest.modalities,
    medicationCount: manifest.vocabularies.medication.entries.length,
    threshold: manifest.threshold,
    probabilities: probabilityScale(manifest),
    provenance: manifest.provenance
  }
}


const describeShape = (shape: ReadonlyArray<number | string>): string => `[${shape.join(', ')}]`

/** Differences between what the manifest declares and what the ONNX graph really takes and returns. */
export function ioMismatches(
  declared: readonly ManifestTensor[],
  actual: readonly InferenceSession.ValueMetadata[],
  what: 'input' | 'output'
): string[] {
  const problems: string[] = []
  for (const tensor of declared) {
    const meta = actual.find((m) => m.name === tensor.name)
    if (!meta) {
      problems.push(`${what} "${tensor.name}" is declared in manifest.json but the ONNX model has no such ${what} (it has ${actual.map((m) => `"${m.name}"`).join(', ')})`)
      continue
    }
    if (!meta.isTensor) {
      problems.push(`${what} "${tensor.name}" is not a tensor in the ONNX model`)
      continue
    }
    if (meta.type !== tensor.dtype) problems.push(`${what} "${tensor.name}" is ${meta.type} in the ONNX model but ${tensor.dtype} in manifest.json`)
    // An empty shape means the graph does not declare one; nothing to compare then.
    if (meta.shape.length > 0 && meta.shape.length !== tensor.shape.length) {
      problems.push(`${what} "${tensor.name}" has rank ${meta.shape.length} ${describeShape(meta.shape)} in the ONNX model but rank ${tensor.shape.length} ${describeShape(tensor.shape)} in manifest.json`)
    } else {
      meta.shape.forEach((size, axis) => {
        const declaredSize = tensor.shape[axis]
        if (typeof size === 'number' && typeof declaredSize === 'number' && size !== declaredSize) {
          problems.push(`${what} "${tensor.name}" dimension ${axis} is ${size} in the ONNX model but ${declaredSize} in manifest.json`)
        }
      })
    }
  }
  if (what === 'input') {
    // Every graph input must be fed, so an undeclared one makes the model unusable.
    for (const meta of actual) {
      if (!declared.some((t) => t.name === meta.name)) problems.push(`input "${meta.name}" of the ONNX model is not declared in manifest.json`)
    }
  }
  return problems
}

/**
 * Fixed sizes in the ONNX graph that differ from what the app will feed (limits, modality count), which
 * a manifest with symbolic dimensions would not reveal until the first run failed.
 */
export function fedSizeMismatches(manifest: ModelManifest, actual: readonly InferenceSession.ValueMetadata[]): string[] {
  const problems: string[] = []
  for (const [name, dims] of Object.entries(expectedInputDims(manifest))) {
    const meta = actual.find((m) => m.name === name)
    if (!meta?.isTensor || meta.shape.length !== dims.length) continue
    meta.shape.forEach((size, axis) => {
      const fed = dims[axis]
      if (typeof size === 'number' && fed !== null && fed !== undefined && size !== fed) {
        problems.push(`input "${name}" dimension ${axis} is ${size} in the ONNX model but the manifest's limits/modalities make it ${fed}`)
      }
    })
  }
  return problems
}

/** The ONNX graph's real number of output columns, when fixed, must equal the medication vocabulary's size. */
export function outputSizeMismatches(manifest: ModelManifest, actual: readonly InferenceSession.ValueMetadata[]): string[] {
  const meta = actual.find((m) => m.name === PROBABILITIES_OUTPUT)
  const columns = meta?.isTensor ? meta.shape[1] : undefined
  const count = manifest.vocabularies.medication.entries.length
  return typeof columns === 'number' && columns !== count
    ? [`output "${PROBABILITIES_OUTPUT}" has ${columns} columns in the ONNX model but the medication vocabulary has ${count} entries`]
    : []
}

/**
 * One run with the highest index of every vocabulary in the first visit: a vocabulary longer than the
 * model's embedding table fails here (index out of bounds) instead of on the first patient with a rare
 * code, and the output must be one probability in [0, 1] per medication entry.
 */
export async function vocabularyProbeProblems(manifest: ModelManifest, session: ModelSession): Promise<string[]> {
  const { limits, vocabularies } = manifest
  const probe = {
    diagnoses: new BigInt64Array(limits.maxVisits * limits.maxDiagnoses),
    procedures: new BigInt64Array(limits.maxVisits * limits.maxProcedures),
    medications: new BigInt64Array(limits.maxVisits * limits.maxMedications),
    visitMask: new Float32Array(limits.maxVisits),
    fed: [],
    summary: {} as EncodedPatient['summary']
  } satisfies EncodedPatient
  const highest = (count: number): bigint => BigInt(count - 1 + VOCAB_OFFSET)
  if (vocabularies.diagnosis.entries.length > 0) probe.diagnoses[0] = highest(vocabularies.diagnosis.entries.length)
  if (vocabularies.procedure.entries.length > 0) probe.procedures[0] = highest(vocabularies.procedure.entries.length)
  probe.medications[0] = highest(vocabularies.medication.entries.length)
  probe.visitMask[0] = 1
  let output: Float32Array
  try {
    output = await session.predict([probe])
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
    return [
      `a run with the highest index of each vocabulary (diagnosis ${vocabularies.diagnosis.entries.length}, procedure ${vocabularies.procedure.entries.length}, medication ${vocabularies.medication.entries.length} entries) fails: the vocabularies do not fit the model (${message})`
    ]
  }
  const count = vocabularies.medication.entries.length
  if (output.length !== count) return [`a probe run returned ${output.length} probabilities for ${count} medication entries`]
  const bad = output.findIndex((p) => !(p >= 0 && p <= 1))
  return bad >= 0 ? [`a probe run returned ${output[bad]} for medication entry ${bad}, not a probability`] : []
}

/**
 * Medication entries whose title is not the knowledge base's name of their code: labels swapped or edited.
 * One name containing the other passes (WHO revisions append qualifiers such as "(GORD)").
 */
export function labelProblems(manifest: ModelManifest, atcName: ((code: string) => string | null) | undefined): string[] {
  if (!atcName) return []
  const normalize = (text: string): string => text.trim().replace(/\s+/g, ' ').toLowerCase()
  const problems: string[] = []
  manifest.vocabularies.medication.entries.forEach((entry, i) => {
    const known = atcName(entry.code)
    if (known === null || entry.title === undefined) return
    const [own, title] = [normalize(known), normalize(entry.title)]
    if (!own.includes(title) && !title.includes(own)) {
      problems.push(`medication entry ${i} "${entry.code}" is titled "${entry.title}" but the knowledge base names ${entry.code} "${known}" (vocabulary labels swapped or edited)`)
    }
  })
  return problems
}

export class ModelRegistry {
  private scanning: Promise<Scan> | null = null
  private keys: readonly TrustedKey[] | null = null
  /** The DEFAULT file's model id, once read (undefined: not read since the last scan was dropped). */
  private defaultId: string | null | undefined = undefined

  constructor(
    readonly directory: string = modelsDir(),
    private readonly options: RegistryOptions = {}
  ) {}

  /** Scans once; later calls reuse the result (and its sessions) until rescan(). */
  scan(): Promise<Scan> {
    this.scanning ??= this.scanAll()
    return this.scanning
  }

  async rescan(): Promise<Scan> {
    await this.close()
    return this.scan()
  }

  async list(activeModelId: string | null = null): Promise<ModelList> {
    const { models, refused } = await this.scan()
    const stored = activeModelId !== null && (models.some((m) => m.manifest.id === activeModelId) || refused.some((r) => r.id === activeModelId))
    return {
      models: models.map((m) => m.summary),
      refused,
      // A refused active model stays the active choice (recommending stops and says why); an unknown id is dropped.
      activeModelId: stored ? activeModelId : null,
      defaultModelId: this.defaultModelId()
    }
  }

  /**
   * The model used when nobody chose one: the id in the folder's DEFAULT file (models/DEFAULT for the shipped
   * models; the README names the same one), else null (then the first valid model by id).
   */
  defaultModelId(): string | null {
    // Read once and kept like the scan (every recommendation without a chosen model asks); rescan() re-reads it.
    if (this.defaultId === undefined) {
      const path = join(this.directory, DEFAULT_MODEL_FILE)
      this.defaultId = existsSync(path) ? readFileSync(path, 'utf8').trim() || null : null
    }
    return this.defaultId
  }

  /** A valid model by id; a refused or absent one is an error that says why. */
  async get(id: string): Promise<RegisteredModel> {
    const { models, refused } = await this.scan()
    const model = models.find((m) => m.manifest.id === id)
    if (model) return model
    const rejection = refused.find((r) => r.id === id)
    if (rejection) throw new ModelRefusedError(`Model "${id}" was refused:\n  ${rejection.reasons.join('\n  ')}`, rejection.reasons)
    const known = models.map((m) => m.manifest.id)
    throw new ModelNotFoundError(
      `No model "${id}" in ${this.directory}.` + (known.length > 0 ? ` Valid models: ${known.join(', ')}.` : ' There is no valid model.')
    )
  }

  /**
   * The model to use: the one asked for, else the user's active choice, else the folder's default, else the
   * first valid model by id. An active or default model that is refused is an error naming the reasons,
   * never a silent switch to another model: recommending stops until someone chooses one.
   */
  async resolve(requestedId: string | null | undefined, activeModelId: string | null): Promise<RegisteredModel> {
    if (requestedId) return this.get(requestedId)
    const chosen = activeModelId ?? this.defaultModelId()
    if (chosen) {
      try {
        return await this.get(chosen)
      } catch (error) {
        if (!(error instanceof ModelRefusedError || error instanceof ModelNotFoundError)) throw error
        const role = activeModelId ? 'The active model' : `The default model (${join(this.directory, DEFAULT_MODEL_FILE)})`
        const next = 'Recommending stops until another model is chosen (medrec models --activate <id>, or the Models view).'
        if (error instanceof ModelRefusedError) throw new ModelRefusedError(`${role} "${chosen}" was refused:\n  ${error.reasons.join('\n  ')}\n${next}`, error.reasons)
        throw new ModelRefusedError(`${role} "${chosen}" is not in ${this.directory}. ${next}`, [])
      }
    }
    const { models, refused } = await this.scan()
    const first = models[0]
    if (!first) {
      const why = refused.map((r) => `  ${r.id ?? r.directory}: ${r.reasons[0] ?? ''}`).join('\n')
      throw new ModelNotFoundError(`No valid model in ${this.directory}.` + (why ? `\nRefused:\n${why}` : ''))
    }
    return first
  }

  async close(): Promise<void> {
    const scan = this.scanning
    this.scanning = null
    this.defaultId = undefined
    if (scan) await Promise.all((await scan).models.flatMap((m) => [m.session.release(), m.auxiliarySessions.release()]))
  }

  private async scanAll(): Promise<Scan> {
    const models: RegisteredModel[] = []
    const refused: RefusedModel[] = []
    if (!existsSync(this.directory)) return { models, refused }
    const folders = readdirSync(this.directory, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort()
    for (const folder of folders) {
      const result = await this.load(folder)
      if (result === null) continue
      if ('reasons' in result) refused.push(result)
      else models.push(result)
    }
    return { models, refused }
  }

  private async load(folder: string): Promise<RegisteredModel | RefusedModel | null> {
    const directory = join(this.directory, folder)
    const refuse = (id: string | null, reasons: string[]): RefusedModel => ({ directory, id, reasons })
    const manifestPath = join(directory, 'manifest.json')
    if (!existsSync(manifestPath)) return refuse(null, [`${folder}/manifest.json: missing`])

    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(manifestPath, 'utf8'))
    } catch (error) {
      return refuse(null, [`${folder}/manifest.json: not valid JSON (${error instanceof Error ? error.message : String(error)})`])
    }
    // A shared artefact beside the models (models/drug-choice: "artefact" in its manifest) is not a model.
    if (typeof raw === 'object' && raw !== null && typeof (raw as { artefact?: unknown }).artefact === 'string') return null
    const check = checkManifest(raw)
    if (!check.ok) return refuse(check.id, check.problems.map((p) => `${folder}/manifest.json: ${p}`))
    const manifest = check.manifest
    const reasons: string[] = []
    if (manifest.id !== folder) reasons.push(`${folder}/manifest.json: id "${manifest.id}" differs from its folder name "${folder}"`)

    const onnxBytes = this.hashedFile(folder, manifest.onnx.file, manifest.onnx.sha256, reasons)
    for (const extra of manifest.extraFiles ?? []) this.hashedFile(folder, extra.file, extra.sha256, reasons)
    let calibration: Calibration | null = null
    if (manifest.calibration) {
      const bytes = this.hashedFile(folder, manifest.calibration.file, manifest.calibration.sha256, reasons)
      try {
        if (bytes) calibration = loadCalibration(JSON.parse(Buffer.from(bytes).toString('utf8')), manifest.vocabularies.medication.entries.length)
        if (calibration && calibration.method !== manifest.calibration.method) {
          reasons.push(`${folder}/${manifest.calibration.file}: method "${calibration.method}" but manifest.json declares "${manifest.calibration.method}"`)
        }
      } catch (error) {
        reasons.push(`${folder}/${manifest.calibration.file}: not a usable calibration (${error instanceof Error ? error.message : String(error)})`)
      }
    }
    if (!existsSync(join(directory, manifest.metricsFile))) reasons.push(`${folder}/${manifest.metricsFile}: missing (named by manifest.json "metricsFile")`)
    else if (manifest.metricsSha256) this.hashedFile(folder, manifest.metricsFile, manifest.metricsSha256, reasons)
    reasons.push(...labelProblems(manifest, this.options.atcName).map((p) => `${folder}/manifest.json: ${p}`))
    // The signature is checked whatever else failed, so a forged folder is named as such.
    let signature: SignatureCheck
    try {
      signature = verifyModelFolder(directory, folder, manifest.id, this.trustedKeys())
    } catch (error) {
      // A broken trusted-keys folder refuses every model with the reason instead of failing the whole scan.
      signature = { ok: false, problems: [`${folder}: the trusted keys cannot be read: ${error instanceof Error ? error.message : String(error)}`] }
    }
    if (!signature.ok) reasons.push(...signature.problems)
    if (!onnxBytes || reasons.length > 0) return refuse(manifest.id, reasons)

    let session: ModelSession
    try {
      session = await ModelSession.load(onnxBytes, manifest, providerOrder(this.options.providers), this.options.tuning, calibration)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      return refuse(manifest.id, [`${folder}/${manifest.onnx.file}: onnxruntime cannot load it (${message.split('\n')[0]})`])
    }
    const mismatches = [
      ...ioMismatches(manifest.inputs, session.session.inputMetadata, 'input'),
      ...ioMismatches(manifest.outputs, session.session.outputMetadata, 'output'),
      ...fedSizeMismatches(manifest, session.session.inputMetadata),
      ...outputSizeMismatches(manifest, session.session.outputMetadata)
    ]
    if (mismatches.length === 0) mismatches.push(...(await vocabularyProbeProblems(manifest, session)))
    if (mismatches.length > 0) {
      await session.release()
      return refuse(manifest.id, mismatches.map((m) => `${folder}/${manifest.onnx.file}: ${m}`))
    }
    const signedBy = signature.ok ? signature.keyId : ''
    const auxiliarySessions = new AuxiliarySessions([...new Set<ProviderName>([session.provider.provider, 'cpu'])])
    return { manifest, directory, summary: summaryOf(manifest, directory), vocab: vocabulariesOf(manifest), session, auxiliarySessions, signedBy }
  }

  private trustedKeys(): readonly TrustedKey[] {
    this.keys ??= this.options.trustedKeys ?? loadTrustedKeys()
    return this.keys
  }

  /** Reads a file named by the manifest and checks its sha256; returns the bytes that were hashed. */
  private hashedFile(folder: string, file: string, expected: string, reasons: string[]): Uint8Array | null {
    const path = join(this.directory, folder, file)
    if (!existsSync(path)) {
      reasons.push(`${folder}/${file}: missing (named by manifest.json)`)
      return null
    }
    const bytes = readFileSync(path)
    const actual = sha256(bytes)
    if (actual !== expected) {
      reasons.push(`${folder}/${file}: sha256 is ${actual} but manifest.json says ${expected} (the file or the manifest was changed)`)
      return null
    }
    return bytes
  }
}
