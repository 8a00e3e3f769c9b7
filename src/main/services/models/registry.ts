// The model registry: finds models/*/manifest.json, validates each manifest, checks the sha256 of the ONNX
// file and every extra file, loads the ONNX session once and checks its real inputs and outputs against
// the manifest. A model failing any check is refused with every reason (which file, what mismatch); the
// others stay usable.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InferenceSession } from 'onnxruntime-node'
import type { ManifestTensor, ModelList, ModelManifest, ModelSummary, RefusedModel } from '../../../shared/types'
import { ModelSession } from '../inference/session'
import { providerOrder, type ProviderName, type SessionTuning } from '../inference/providers'
import { modelsDir } from '../paths'
import { checkManifest, expectedInputDims } from './manifest'
import { type ModelVocabularies, vocabulariesOf } from './vocabulary'

export interface RegisteredModel {
  manifest: ModelManifest
  directory: string
  summary: ModelSummary
  vocab: ModelVocabularies
  session: ModelSession
}

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError'
}

export interface RegistryOptions {
  /** Execution providers to try, in order (the CPU is always the last resort). */
  providers?: readonly ProviderName[]
  tuning?: SessionTuning
}

interface Scan {
  models: RegisteredModel[]
  refused: RefusedModel[]
}

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

export class ModelRegistry {
  private scanning: Promise<Scan> | null = null

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
    const active = models.some((m) => m.manifest.id === activeModelId) ? activeModelId : null
    return { models: models.map((m) => m.summary), refused, activeModelId: active }
  }

  /** A valid model by id; a refused or absent one is an error that says why. */
  async get(id: string): Promise<RegisteredModel> {
    const { models, refused } = await this.scan()
    const model = models.find((m) => m.manifest.id === id)
    if (model) return model
    const rejection = refused.find((r) => r.id === id)
    if (rejection) throw new ModelNotFoundError(`Model "${id}" was refused:\n  ${rejection.reasons.join('\n  ')}`)
    const known = models.map((m) => m.manifest.id)
    throw new ModelNotFoundError(
      `No model "${id}" in ${this.directory}.` + (known.length > 0 ? ` Valid models: ${known.join(', ')}.` : ' There is no valid model.')
    )
  }

  /**
   * The model to use: the one asked for, else the user's active choice, else the first valid model by id.
   * An active choice that is no longer valid is an error rather than a silent switch to another model.
   */
  async resolve(requestedId: string | null | undefined, activeModelId: string | null): Promise<RegisteredModel> {
    if (requestedId) return this.get(requestedId)
    if (activeModelId) return this.get(activeModelId)
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
    if (scan) await Promise.all((await scan).models.map((m) => m.session.release()))
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
    if (!existsSync(join(directory, manifest.metricsFile))) reasons.push(`${folder}/${manifest.metricsFile}: missing (named by manifest.json "metricsFile")`)
    if (!onnxBytes || reasons.length > 0) return refuse(manifest.id, reasons)

    let session: ModelSession
    try {
      session = await ModelSession.load(onnxBytes, manifest, providerOrder(this.options.providers), this.options.tuning)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      return refuse(manifest.id, [`${folder}/${manifest.onnx.file}: onnxruntime cannot load it (${message.split('\n')[0]})`])
    }
    const mismatches = [
      ...ioMismatches(manifest.inputs, session.session.inputMetadata, 'input'),
      ...ioMismatches(manifest.outputs, session.session.outputMetadata, 'output'),
      ...fedSizeMismatches(manifest, session.session.inputMetadata)
    ]
    if (mismatches.length > 0) {
      await session.release()
      return refuse(manifest.id, mismatches.map((m) => `${folder}/${manifest.onnx.file}: ${m}`))
    }
    return { manifest, directory, summary: summaryOf(manifest, directory), vocab: vocabulariesOf(manifest), session }
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
