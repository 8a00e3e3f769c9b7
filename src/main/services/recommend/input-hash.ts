// The inputs hash recorded with every result and audit entry: sha256 of a canonical JSON text of the
// model (id, version, ONNX sha256), the codes actually fed per visit (after de-duplication, truncation and
// the maxVisits window, as "SYSTEM|CODE"), and the options that shape the output. Same inputs, same hash,
// whatever the key order of the objects passed in.
import type { ModelManifest } from '../../../shared/domain/manifest'
import { createHash } from 'node:crypto'
import type { FedVisit } from '../inference/encode'

/** JSON with object keys sorted at every level; arrays keep their order (it is meaningful). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`Cannot hash the number ${value}.`)
    return JSON.stringify(value ?? null)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export function inputsHash(manifest: ModelManifest, fed: readonly FedVisit[], options: Record<string, unknown>): string {
  const canonical = canonicalJson({
    model: { id: manifest.id, version: manifest.version, onnxSha256: manifest.onnx.sha256 },
    visits: fed,
    options
  })
  return createHash('sha256').update(canonical).digest('hex')
}
