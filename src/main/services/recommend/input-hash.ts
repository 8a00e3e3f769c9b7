// The inputs hash recorded with every result and audit entry: sha256 of a canonical JSON text of the
// model (id, version, ONNX sha256), the codes actually fed per visit (after de-duplication, truncation and
// the maxVisits window, as "SYSTEM|CODE"), and the options that shape the output. Same inputs, same hash,
// whatever the key order of the objects passed in.
import type { ModelManifest } from '../../../shared/domain/manifest'
import { createHash } from 'node:crypto'
import type { FedVisit } from '../inference/encode'
import { canonicalJson } from '../canonical-json'

export function inputsHash(manifest: ModelManifest, fed: readonly FedVisit[], options: Record<string, unknown>): string {
  const canonical = canonicalJson({
    model: { id: manifest.id, version: manifest.version, onnxSha256: manifest.onnx.sha256 },
    visits: fed,
    options
  })
  return createHash('sha256').update(canonical).digest('hex')
}
