// The choices saved in the patient database: active model, execution provider, threshold, DDI-safe defaults.
// No runtime imports here: the preload bundle and the renderer take these as types and constants.
import type { BlockSeverity } from './interaction'
import type { ProviderReport } from './manifest'

/** The execution providers a user can prefer; 'auto' tries the platform's accelerators, then the CPU. */
export const PROVIDER_PREFERENCES = ['auto', 'cpu', 'cuda', 'dml', 'coreml'] as const satisfies ReadonlyArray<'auto' | ProviderReport['provider']>
export type ProviderPreference = (typeof PROVIDER_PREFERENCES)[number]

export interface DdiSafeSettings {
  /** DDI-safe decoding on by default for new recommendations. */
  enabled: boolean
  /** Never co-recommend two classes interacting at or above this severity. */
  blockSeverity: BlockSeverity
  /** Keep the combination's DDI rate at or under this (0..1); null: no rate target. */
  maxDdiRate: number | null
}

export interface AppSettings {
  /** The model recommendations use; null: the first valid model. */
  activeModelId: string | null
  providerPreference: ProviderPreference
  /** null: each model's own validated threshold. */
  thresholdOverride: number | null
  ddiSafe: DdiSafeSettings
  /** Recorded beside the operating-system account in the audit log; null: the account alone. */
  displayName: string | null
}
