// Settings kept in the patient database: active model, execution-provider preference, threshold and the
// DDI-safe defaults new recommendations start from.
import { percent, timeOfDay } from '../../format'
import { THRESHOLD_RANGE } from '../../../../shared/domain/manifest'
import type { ProviderPreference, AppSettings } from '../../../../shared/domain/settings'
import { BLOCK_SEVERITIES, type BlockSeverity } from '../../../../shared/domain/interaction'
import { useEffect, useState, type FormEvent } from 'react'
import { ProgressBar } from '../../components/ProgressBar'
import { CdsServicePanel } from '../../features/cds-hooks/CdsServicePanel'
import { ErrorState, FormError } from '../../components/StatusMessage'
import { useRecommend } from '../recommend/store'
import { useSettings } from './store'
import '../../screens.css'

const PROVIDERS: Array<{ value: ProviderPreference; label: string }> = [
  { value: 'auto', label: 'Automatic (GPU where available, else CPU)' },
  { value: 'cpu', label: 'CPU only' },
  { value: 'cuda', label: 'NVIDIA CUDA, CPU if unavailable' },
  { value: 'dml', label: 'DirectML (Windows), CPU if unavailable' },
  { value: 'coreml', label: 'Core ML (macOS), CPU if unavailable' }
]


export function SettingsView() {
  const { settings, settingsStatus, settingsError, models, loadSettings, loadModels, save, saving, saveError, savedAt } = useSettings()
  const [draft, setDraft] = useState<AppSettings | null>(settings)

  useEffect(() => {
    void loadSettings()
    void loadModels()
  }, [loadSettings, loadModels])
  useEffect(() => setDraft(settings), [settings])

  if (settingsStatus === 'error') return <ErrorState title="The settings could not be loaded." message={settingsError ?? ''} onRetry={() => void loadSettings()} />
  if (!draft) return <ProgressBar label="Loading settings…" />

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const ok = await save({
      activeModelId: draft.activeModelId,
      providerPreference: draft.providerPreference,
      thresholdOverride: draft.thresholdOverride,
      ddiSafe: draft.ddiSafe,
      displayName: draft.displayName?.trim() || null
    })
    // The open patient's next recommendation starts from the new defaults.
    if (ok) useRecommend.setState({ patientId: null, options: null })
  }
  const modelOptions = models?.models ?? []
  const changed = JSON.stringify(draft) !== JSON.stringify(settings)
  return (
    <div className="settings-view">
      <h1>Settings</h1>
      <p className="lead">Saved with the patient database, so the app and the medrec command use the same choices.</p>
      <form className="settings-form" onSubmit={(event) => void submit(event)}>
        <fieldset>
          <legend>Model</legend>
          <label htmlFor="setting-model" className="field-label">
            Active model
          </label>
          <select
            id="setting-model"
            value={draft.activeModelId ?? ''}
            onChange={(event) => setDraft({ ...draft, activeModelId: event.target.value || null })}
          >
            <option value="">Default model{models?.defaultModelId ? ` (${models.defaultModelId})` : modelOptions[0] ? ` (${modelOptions[0].id})` : ''}</option>
            {modelOptions.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id} — {m.family} v{m.version}
              </option>
            ))}
          </select>
          <label htmlFor="setting-provider" className="field-label">
            Execution provider
          </label>
          <select
            id="setting-provider"
            value={draft.providerPreference}
            onChange={(event) => setDraft({ ...draft, providerPreference: event.target.value as ProviderPreference })}
          >
            {PROVIDERS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
          <p className="hint">A provider that cannot load falls back to the CPU; the model card shows which one runs and why others failed.</p>
        </fieldset>

        <fieldset>
          <legend>Audit log</legend>
          <label htmlFor="setting-display-name" className="field-label">
            Display name
          </label>
          <input
            id="setting-display-name"
            type="text"
            maxLength={100}
            value={draft.displayName ?? ''}
            onChange={(event) => setDraft({ ...draft, displayName: event.target.value || null })}
          />
          <p className="hint">Recorded beside your computer account in the audit log; changing it is itself audited.</p>
        </fieldset>

        <fieldset>
          <legend>Threshold</legend>
          <label className="checkbox-label">
            <input
              type="checkbox"
              checked={draft.thresholdOverride === null}
              onChange={(event) => setDraft({ ...draft, thresholdOverride: event.target.checked ? null : 0.5 })}
            />{' '}
            Use each model’s own threshold (chosen on validation data; recommended)
          </label>
          {draft.thresholdOverride !== null ? (
            <div className="inline-field">
              <label htmlFor="setting-threshold">Threshold for every model</label>
              <input
                id="setting-threshold"
                type="number"
                min={THRESHOLD_RANGE.min}
                max={THRESHOLD_RANGE.max}
                step={0.01}
                value={draft.thresholdOverride}
                onChange={(event) =>
                  setDraft({ ...draft, thresholdOverride: Math.min(THRESHOLD_RANGE.max, Math.max(THRESHOLD_RANGE.min, Number(event.target.value) || 0.5)) })
                }
              />
              <span className="muted">{percent(draft.thresholdOverride, 0)}</span>
            </div>
          ) : null}
        </fieldset>

        <fieldset>
          <legend>DDI-safe recommendations</legend>
          <label className="checkbox-label">
            <input
              type="checkbox"
              checked={draft.ddiSafe.enabled}
              onChange={(event) => setDraft({ ...draft, ddiSafe: { ...draft.ddiSafe, enabled: event.target.checked } })}
            />{' '}
            DDI-safe decoding on by default
          </label>
          <div className="inline-field">
            <label htmlFor="setting-block">Never co-recommend two classes interacting at</label>
            <select
              id="setting-block"
              value={draft.ddiSafe.blockSeverity}
              onChange={(event) => setDraft({ ...draft, ddiSafe: { ...draft.ddiSafe, blockSeverity: event.target.value as BlockSeverity } })}
            >
              {BLOCK_SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s === 'Contraindicated' ? 'Contraindicated' : `${s} or worse`}
                </option>
              ))}
            </select>
          </div>
          <div className="inline-field">
            <label htmlFor="setting-rate">Maximum DDI rate</label>
            <select
              id="setting-rate"
              value={draft.ddiSafe.maxDdiRate === null ? '' : String(draft.ddiSafe.maxDdiRate)}
              onChange={(event) =>
                setDraft({ ...draft, ddiSafe: { ...draft.ddiSafe, maxDdiRate: event.target.value === '' ? null : Number(event.target.value) } })
              }
            >
              <option value="">No target</option>
              {[0.5, 0.3, 0.2, 0.1, 0].map((rate) => (
                <option key={rate} value={String(rate)}>
                  {percent(rate, 0)}
                </option>
              ))}
            </select>
          </div>
          <p className="hint">
            Interactions are graded between the drugs chosen for each class and the drugs the patient takes. A blocked drug is first replaced by
            another member of its class; a class is left out only when no member avoids the interaction, and a drug the patient already takes is
            never left out. Warnings are shown either way.
          </p>
        </fieldset>

        <FormError prefix="The settings were not saved" error={saveError} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={saving || !changed}>
            {saving ? 'Saving…' : 'Save settings'}
          </button>
          <button type="button" className="button" disabled={saving || !changed} onClick={() => setDraft(settings)}>
            Discard changes
          </button>
          {savedAt && !changed ? (
            <span className="saved-note" role="status">
              Saved {timeOfDay(new Date(savedAt).toISOString())}
            </span>
          ) : null}
        </div>
      </form>
      <CdsServicePanel />
    </div>
  )
}
