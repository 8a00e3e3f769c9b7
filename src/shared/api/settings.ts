// settings:* — the choices saved in the patient database (active model, provider, threshold, DDI-safe defaults).
import { z } from 'zod'
import { BLOCK_SEVERITIES } from '../domain/interaction'
import { PROVIDER_PREFERENCES, type AppSettings } from '../domain/settings'
import { ddiRateSchema, modelIdSchema, thresholdOverrideSchema } from './common'

/** Fields to change; absent fields keep their value. */
export const settingsPatchSchema = z
  .object({
    activeModelId: modelIdSchema.nullable().optional(),
    providerPreference: z.enum(PROVIDER_PREFERENCES).optional(),
    thresholdOverride: thresholdOverrideSchema.nullable().optional(),
    ddiSafe: z.object({ enabled: z.boolean(), blockSeverity: z.enum(BLOCK_SEVERITIES), maxDdiRate: ddiRateSchema.nullable() }).strict().optional(),
    // Shown beside the operating-system account in the audit log; changing it is audited.
    displayName: z.string().trim().min(1).max(100).nullable().optional()
  })
  .strict()
export type SettingsPatch = z.infer<typeof settingsPatchSchema>

export const settingsArgs = {
  'settings:get': z.tuple([]),
  'settings:update': z.tuple([settingsPatchSchema])
}

export interface SettingsResults {
  'settings:get': AppSettings
  'settings:update': AppSettings
}
