// Validation of models/<id>/manifest.json against models/manifest.schema.json (JSON Schema 2020-12),
// plus the parts of the model contract a schema cannot say (input names, ranks, sizes that must agree).
import { THRESHOLD_RANGE } from '../../../shared/domain/manifest'
import type { ManifestTensor, ModelManifest, TensorDtype } from '../../../shared/domain/manifest'
import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { manifestSchemaPath } from '../paths'
import { normalizeCode } from '../inference/vocabulary'

// ajv-formats is CommonJS: depending on the loader its default export arrives as the plugin itself or
// wrapped in { default }.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule)


let compiled: ValidateFunction | null = null

/** Compiled once per process: compiling a schema costs far more than validating with it. */
function schemaValidator(): ValidateFunction {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(manifestSchemaPath(), 'utf8')) as object
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false }) // the schema leaves some 'type's implicit (allOf + required)
    addFormats(ajv)
    compiled = ajv.compile(schema)
  }
  return compiled
}

function describeSchemaError(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(top level)' : error.instancePath
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'additionalProperties') return `${where}: unexpected property "${String(params.additionalProperty)}"`
  if (error.keyword === 'enum') return `${where}: ${error.message} (${JSON.stringify(params.allowedValues)})`
  return `${where}: ${error.message ?? error.keyword}`
}

/** The inputs every model takes: name → dtype, rank (models/manifest.schema.json, "inputs"). */
export const CONTRACT_INPUTS: ReadonlyArray<{ name: string; dtype: TensorDtype; rank: number }> = [
  { name: 'diagnoses', dtype: 'int64', rank: 3 },
  { name: 'procedures', dtype: 'int64', rank: 3 },
  { name: 'medications', dtype: 'int64', rank: 3 },
  { name: 'visit_mask', dtype: 'float32', rank: 2 },
  { name: 'modality_mask', dtype: 'float32', rank: 2 }
]
export const PROBABILITIES_OUTPUT = 'probabilities'

/** A fixed dimension must equal what the rest of the manifest implies; a symbolic one accepts anything. */
function checkDims(tensor: ManifestTensor, expected: Array<number | null>, problems: string[]): void {
  expected.forEach((size, axis) => {
    const actual = tensor.shape[axis]
    if (size !== null && typeof actual === 'number' && actual !== size) {
      problems.push(`input "${tensor.name}" dimension ${axis} is ${actual}, but the manifest implies ${size}`)
    }
  })
}

/** The sizes the app will feed, by input name (null: free, the batch), from limits and modalities. */
export function expectedInputDims(manifest: ModelManifest): Record<string, Array<number | null>> {
  const { limits } = manifest
  return {
    diagnoses: [null, limits.maxVisits, limits.maxDiagnoses],
    procedures: [null, limits.maxVisits, limits.maxProcedures],
    medications: [null, limits.maxVisits, limits.maxMedications],
    visit_mask: [null, limits.maxVisits],
    modality_mask: [null, manifest.modalities.length]
  }
}

function contractProblems(manifest: ModelManifest): string[] {
  const problems: string[] = []
  const expectedDims = expectedInputDims(manifest)
  for (const required of CONTRACT_INPUTS) {
    const tensor = manifest.inputs.find((t) => t.name === required.name)
    if (!tensor) {
      problems.push(`input "${required.name}" is missing (the contract needs ${CONTRACT_INPUTS.map((i) => i.name).join(', ')})`)
      continue
    }
    if (tensor.dtype !== required.dtype) problems.push(`input "${required.name}" must be ${required.dtype}, the manifest says ${tensor.dtype}`)
    if (tensor.shape.length !== required.rank) {
      problems.push(`input "${required.name}" must have rank ${required.rank}, the manifest's shape is [${tensor.shape.join(', ')}]`)
    } else checkDims(tensor, expectedDims[required.name] ?? [], problems)
  }
  const extra = manifest.inputs.filter((t) => !CONTRACT_INPUTS.some((c) => c.name === t.name))
  if (extra.length > 0) problems.push(`inputs ${extra.map((t) => `"${t.name}"`).join(', ')} are not part of the model contract`)
  const names = manifest.inputs.map((t) => t.name)
  const duplicates = names.filter((n, i) => names.indexOf(n) !== i)
  if (duplicates.length > 0) problems.push(`inputs ${[...new Set(duplicates)].join(', ')} are listed twice`)

  const output = manifest.outputs[0]
  const medicationCount = manifest.vocabularies.medication.entries.length
  if (output) {
    if (output.name !== PROBABILITIES_OUTPUT) problems.push(`the first output must be "${PROBABILITIES_OUTPUT}", it is "${output.name}"`)
    if (output.dtype !== 'float32') problems.push(`output "${output.name}" must be float32, the manifest says ${output.dtype}`)
    if (output.shape.length !== 2) problems.push(`output "${output.name}" must have rank 2 [batch, medications]`)
    else if (typeof output.shape[1] === 'number' && output.shape[1] !== medicationCount) {
      problems.push(`output "${output.name}" has ${output.shape[1]} columns but the medication vocabulary has ${medicationCount} entries`)
    }
  }
  if (medicationCount === 0) problems.push('the medication vocabulary is empty')
  if (manifest.threshold < THRESHOLD_RANGE.min || manifest.threshold > THRESHOLD_RANGE.max) {
    problems.push(
      `threshold ${manifest.threshold} is outside ${THRESHOLD_RANGE.min}–${THRESHOLD_RANGE.max}: a decision threshold that far out recommends (almost) every class or none`
    )
  }
  for (const kind of ['diagnosis', 'procedure', 'medication'] as const) {
    const codes = manifest.vocabularies[kind].entries.map((e) => `${e.system ?? ''}|${normalizeCode(e.code)}`)
    const twice = codes.filter((c, i) => codes.indexOf(c) !== i)
    if (twice.length > 0) problems.push(`the ${kind} vocabulary lists ${[...new Set(twice)].slice(0, 5).join(', ')} more than once`)
  }
  const modalityIds = manifest.modalities.map((m) => m.id)
  const repeated = modalityIds.filter((id, i) => modalityIds.indexOf(id) !== i)
  if (repeated.length > 0) problems.push(`modalities ${[...new Set(repeated)].join(', ')} are listed twice`)
  return problems
}

export type ManifestCheck = { ok: true; manifest: ModelManifest } | { ok: false; id: string | null; problems: string[] }

/** Schema validation, then the contract checks; every problem is reported, not just the first. */
export function checkManifest(value: unknown): ManifestCheck {
  const validate = schemaValidator()
  const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id : null
  if (!validate(value)) {
    return { ok: false, id, problems: (validate.errors ?? []).map(describeSchemaError) }
  }
  const manifest = value as ModelManifest
  const problems = contractProblems(manifest)
  return problems.length > 0 ? { ok: false, id, problems } : { ok: true, manifest }
}
