// The persisted workspace settings and the model list, shared by Settings, Models and the
// recommendation defaults. Loaded once; every save returns the settings as stored.
import type { SettingsPatch } from '../../../../shared/api/settings'
import type { AppSettings } from '../../../../shared/domain/settings'
import type { ModelList } from '../../../../shared/domain/manifest'
import { create } from 'zustand'
import { api, errorText } from '../../api'
import type { LoadStatus } from '../patients/store'

interface SettingsState {
  settings: AppSettings | null
  settingsStatus: LoadStatus
  settingsError: string | null
  models: ModelList | null
  modelsStatus: LoadStatus
  modelsError: string | null
  saving: boolean
  saveError: string | null
  /** When the last save finished (for a "Saved" confirmation). */
  savedAt: number | null

  loadSettings(): Promise<AppSettings | null>
  loadModels(): Promise<void>
  save(patch: SettingsPatch): Promise<boolean>
}

let pendingSettings: Promise<AppSettings | null> | null = null

export const useSettings = create<SettingsState>((set, get) => ({
  settings: null,
  settingsStatus: 'idle',
  settingsError: null,
  models: null,
  modelsStatus: 'idle',
  modelsError: null,
  saving: false,
  saveError: null,
  savedAt: null,

  loadSettings() {
    pendingSettings ??= (async () => {
      set({ settingsStatus: 'loading', settingsError: null })
      try {
        const settings = await api()['settings:get']()
        set({ settings, settingsStatus: 'ready' })
        return settings
      } catch (error) {
        set({ settingsStatus: 'error', settingsError: errorText(error) })
        return null
      } finally {
        pendingSettings = null
      }
    })()
    return pendingSettings
  },

  async loadModels() {
    set({ modelsStatus: 'loading', modelsError: null })
    try {
      const models = await api()['models:list']()
      set({ models, modelsStatus: 'ready' })
    } catch (error) {
      set({ modelsStatus: 'error', modelsError: errorText(error) })
    }
  },

  async save(patch) {
    set({ saving: true, saveError: null })
    try {
      const settings = await api()['settings:update'](patch)
      set({ settings, saving: false, savedAt: Date.now(), settingsStatus: 'ready' })
      if (patch.activeModelId !== undefined || patch.providerPreference !== undefined) void get().loadModels()
      return true
    } catch (error) {
      set({ saving: false, saveError: errorText(error) })
      return false
    }
  }
}))
