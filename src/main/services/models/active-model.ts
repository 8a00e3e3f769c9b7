// The user's chosen model, kept in the patient database's settings table (migration 2) so the app and the
// CLI agree on it.
import type { Db } from '../db/database'
import type { ModelRegistry } from './registry'

const ACTIVE_MODEL_KEY = 'active-model-id'

export function getActiveModelId(db: Db): string | null {
  const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(ACTIVE_MODEL_KEY) as { value: string } | undefined
  return row?.value ?? null
}

/** Only a model the registry accepts can become active; a refused one is an error naming the reasons. */
export async function setActiveModel(db: Db, registry: ModelRegistry, modelId: string): Promise<void> {
  await registry.get(modelId)
  db.prepare(
    `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
  ).run(ACTIVE_MODEL_KEY, modelId, new Date().toISOString())
}

export function clearActiveModel(db: Db): void {
  db.prepare('DELETE FROM settings WHERE key = ?').run(ACTIVE_MODEL_KEY)
}
