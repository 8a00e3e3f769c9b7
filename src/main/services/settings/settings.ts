// The workspace's persisted settings: active model (the registry's own key, see models/active-model.ts),
// execution-provider preference, threshold override and DDI-safe defaults. They live in the patient
// database's settings table (migration 2) so the app and the CLI read the same choices.
import type { SettingsPatch } from '../../../shared/api/settings'
import type { DdiSafeSettings, ProviderPreference, AppSettings } from '../../../shared/domain/settings'
import { BLOCK_SEVERITIES, type BlockSeverity } from '../../../shared/domain/interaction'
import { PROVIDER_PREFERENCES } from '../../../shared/domain/settings'
import { auditSettingsChange, getDisplayName, setDisplayName } from '../audit/audit'
import { writeWhenFree } from '../db/busy'
import type { Db } from '../db/database'
import { clearActiveModel, getActiveModelId, setActiveModel } from '../models/active-model'
import type { ModelRegistry } from '../models/registry'

const PROVIDER_KEY = 'workspace.provider-preference'
const THRESHOLD_KEY = 'workspace.threshold-override'
const DDI_SAFE_KEY = 'workspace.ddi-safe'


/**
 * DDI-safe decoding is on by default and blocks contraindicated drug pairs (substituting within the class first,
 * never dropping a drug the patient takes); Major pairs with a new drug stay as interrupting warnings for the
 * clinician to weigh, since most are managed rather than avoided. The user can block at Major:
 * npm run bench:alerts shows that at drug level this drops no class a demo patient takes.
 */
export const DEFAULT_DDI_SAFE: DdiSafeSettings = { enabled: true, blockSeverity: 'Contraindicated', maxDdiRate: null }

function readValue(db: Db, key: string): string | null {
  const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined
  return row?.value ?? null
}

function writeValue(db: Db, key: string, value: string | null): void {
  if (value === null) {
    db.prepare('DELETE FROM settings WHERE key = ?').run(key)
    return
  }
  db.prepare(
    `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
  ).run(key, value, new Date().toISOString())
}

function parseDdiSafe(text: string | null): DdiSafeSettings {
  if (text === null) return { ...DEFAULT_DDI_SAFE }
  try {
    const value = JSON.parse(text) as Partial<DdiSafeSettings>
    const rate = value.maxDdiRate
    return {
      enabled: typeof value.enabled === 'boolean' ? value.enabled : DEFAULT_DDI_SAFE.enabled,
      blockSeverity: (BLOCK_SEVERITIES as readonly string[]).includes(String(value.blockSeverity)) ? (value.blockSeverity as BlockSeverity) : DEFAULT_DDI_SAFE.blockSeverity,
      maxDdiRate: typeof rate === 'number' && rate >= 0 && rate <= 1 ? rate : null
    }
  } catch {
    // A hand-edited or damaged value falls back to the defaults rather than breaking every recommendation.
    return { ...DEFAULT_DDI_SAFE }
  }
}

export function getSettings(db: Db): AppSettings {
  const provider = readValue(db, PROVIDER_KEY)
  const threshold = Number(readValue(db, THRESHOLD_KEY) ?? Number.NaN)
  return {
    activeModelId: getActiveModelId(db),
    providerPreference: (PROVIDER_PREFERENCES as readonly string[]).includes(String(provider)) ? (provider as ProviderPreference) : 'auto',
    thresholdOverride: threshold > 0 && threshold < 1 ? threshold : null,
    ddiSafe: parseDdiSafe(readValue(db, DDI_SAFE_KEY)),
    displayName: getDisplayName(db)
  }
}

/**
 * Applies the patch. The active model goes first: the registry checks it (a refused or unknown model is
 * an error naming why, and nothing is written; an accepted one is audited as a model activation); the
 * other fields are then written, with one audit entry holding the settings before and after, in one
 * transaction.
 */
export async function updateSettings(db: Db, registry: ModelRegistry, patch: SettingsPatch): Promise<AppSettings> {
  if (patch.activeModelId) await setActiveModel(db, registry, patch.activeModelId)
  const { activeModelId: _handledAbove, ...rest } = patch
  await writeWhenFree(db, 'Saving the settings', () => {
    const before = getSettings(db)
    if (patch.activeModelId === null) clearActiveModel(db)
    if (patch.displayName !== undefined) setDisplayName(db, patch.displayName)
    if (patch.providerPreference !== undefined) writeValue(db, PROVIDER_KEY, patch.providerPreference === 'auto' ? null : patch.providerPreference)
    if (patch.thresholdOverride !== undefined) writeValue(db, THRESHOLD_KEY, patch.thresholdOverride === null ? null : String(patch.thresholdOverride))
    if (patch.ddiSafe !== undefined) writeValue(db, DDI_SAFE_KEY, JSON.stringify(patch.ddiSafe))
    if (Object.keys(rest).length > 0 || patch.activeModelId === null) auditSettingsChange(db, { patch, before, after: getSettings(db) })
  })
  return getSettings(db)
}
