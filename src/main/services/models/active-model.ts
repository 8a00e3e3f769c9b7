// The user's chosen model, kept in the patient database's settings table (migration 2) so the app and the
// CLI agree on it. Every activation is audited with the model's hashes and the key that signed it.
import { canonicalJson } from '../canonical-json'
import { createHash } from 'node:crypto'
import { appendAudit } from '../audit/audit'
import { writeWhenFree } from '../db/busy'
import type { Db } from '../db/database'
import type { ModelRegistry } from './registry'
import { perConnection } from '../db/statements'

const ACTIVE_MODEL_KEY = 'active-model-id'

// Read on every recommendation and explanation: prepared once per connection (preparing cost more than the read).
const activeModelStatement = perConnection((db) => db.prepare('SELECT value FROM settings WHERE key = ?').pluck())

export function getActiveModelId(db: Db): string | null {
  return (activeModelStatement(db).get(ACTIVE_MODEL_KEY) as string | undefined) ?? null
}

/** Only a model the registry accepts can become active; a refused one is an error naming the reasons. */
export async function setActiveModel(db: Db, registry: ModelRegistry, modelId: string): Promise<void> {
  const model = await registry.get(modelId)
  const { manifest } = model
  await writeWhenFree(db, 'Activating the model', () => {
    const previous = getActiveModelId(db)
    db.prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
    ).run(ACTIVE_MODEL_KEY, modelId, new Date().toISOString())
    const activation = { modelId, previous, onnxSha256: manifest.onnx.sha256, signedBy: model.signedBy }
    appendAudit(db, {
      kind: 'model-activation',
      patientId: null,
      sourcePatientId: null,
      inputsHash: createHash('sha256').update(canonicalJson(activation)).digest('hex'),
      modelId,
      modelVersion: manifest.version,
      outputs: { ...activation, directory: model.directory, threshold: manifest.threshold }
    })
  })
}

export function clearActiveModel(db: Db): void {
  db.prepare('DELETE FROM settings WHERE key = ?').run(ACTIVE_MODEL_KEY)
}
