// Models: every model the registry found (valid ones, and refused ones with every reason) and the model
// card of the chosen one: family and paper, training data and licenses, benchmark metrics with 95%
// confidence intervals, threshold, modalities, the execution provider its session runs on.
import { milliseconds, percent, providerText } from '../../format'
import type { ModelCard, MetricValue } from '../../../../shared/domain/manifest'
import { useEffect, useState } from 'react'
import { api, errorText } from '../../api'
import { ProgressBar } from '../../components/ProgressBar'
import { EvaluatePanel } from './EvaluatePanel'
import { Empty, ErrorState, FormError } from '../../components/StatusMessage'
import { useSettings } from '../settings/store'
import '../../screens.css'

export function ModelsView() {
  const { models, modelsStatus, modelsError, loadModels } = useSettings()
  const [chosen, setChosen] = useState<string | null>(null)

  useEffect(() => {
    void loadModels()
  }, [loadModels])

  const list = models?.models ?? []
  const shown = chosen ?? models?.activeModelId ?? models?.defaultModelId ?? list[0]?.id ?? null
  return (
    <div className="models-view">
      <nav className="models-list" aria-label="Models">
        <h1>Models</h1>
        {modelsStatus === 'error' ? (
          <ErrorState title="The models could not be listed." message={modelsError ?? ''} onRetry={() => void loadModels()} />
        ) : !models ? (
          <ProgressBar label="Checking the models (hashes, ONNX inputs and outputs)…" />
        ) : list.length === 0 ? (
          <Empty>
            No valid model was found. Train and export one with the training pipeline (python -m medrec_training.benchmark), which
            writes models/&lt;id&gt;/.
          </Empty>
        ) : (
          <ul className="model-choices">
            {list.map((model) => (
              <li key={model.id}>
                <button type="button" className="model-choice" aria-current={model.id === shown ? 'true' : undefined} onClick={() => setChosen(model.id)}>
                  <span className="model-choice-id">{model.id}</span>
                  <span className="model-choice-meta">
                    {model.family} v{model.version}
                    {model.id === models.activeModelId || (models.activeModelId === null && model.id === (models.defaultModelId ?? list[0]?.id)) ? ' · active' : ''}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {models && models.refused.length > 0 ? (
          <section className="refused-models" aria-label="Refused models">
            <h2>Refused ({models.refused.length})</h2>
            <ul>
              {models.refused.map((r) => (
                <li key={r.directory}>
                  <strong>{r.id ?? r.directory}</strong>
                  <ul>
                    {r.reasons.map((reason) => (
                      <li key={reason} className="refused-reason">
                        {reason}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </nav>
      {/* Focusable because it scrolls on its own (keyboard users scroll it with the arrow keys). */}
      <section className="model-card-area" tabIndex={0} aria-label="Model card">
        {shown ? <ModelCardPanel key={shown} modelId={shown} /> : null}
      </section>
    </div>
  )
}

function ModelCardPanel({ modelId }: { modelId: string }) {
  const [state, setState] = useState<{ status: 'loading' | 'ready' | 'error'; card: ModelCard | null; error: string | null }>({
    status: 'loading',
    card: null,
    error: null
  })
  const [attempt, setAttempt] = useState(0)
  const { save, saving, saveError } = useSettings()

  useEffect(() => {
    let current = true
    api()['models:card'](modelId)
      .then((card) => current && setState({ status: 'ready', card, error: null }))
      .catch((error: unknown) => current && setState({ status: 'error', card: null, error: errorText(error) }))
    return () => {
      current = false
    }
  }, [modelId, attempt])

  if (state.status === 'loading') return <ProgressBar label={`Loading the card of ${modelId}…`} />
  if (state.status === 'error' || !state.card)
    return <ErrorState title={`The card of ${modelId} could not be loaded.`} message={state.error ?? ''} onRetry={() => setAttempt((n) => n + 1)} />
  const card = state.card
  const { summary } = card
  return (
    <article className="model-card" aria-labelledby="model-card-title">
      <header className="model-card-header">
        <h1 id="model-card-title">
          {summary.id} <span className="muted">v{summary.version}</span>
        </h1>
        {card.active ? (
          <span className="status-badge status-taking">Active model</span>
        ) : (
          <button
            type="button"
            className="button"
            disabled={saving}
            onClick={() => void save({ activeModelId: summary.id }).then((ok) => ok && setAttempt((n) => n + 1))}
          >
            Make active
          </button>
        )}
      </header>
      <FormError error={saveError} />
      {summary.description ? <p className="lead">{summary.description}</p> : null}
      <dl className="facts">
        <dt>Family</dt>
        <dd>{summary.family}</dd>
        <dt>Paper</dt>
        <dd>
          {card.paper.title}
          {card.paper.reference ? <span className="muted"> — {card.paper.reference}</span> : null}
        </dd>
        <dt>Created</dt>
        <dd>{summary.createdAt}</dd>
        <dt>Benchmark</dt>
        <dd className="headline-metrics">{headline(card)}</dd>
        <dt>Decision threshold</dt>
        <dd>
          {percent(summary.threshold, 0)}
          {card.thresholdChosenOn ? <span className="muted"> — chosen on {card.thresholdChosenOn}</span> : null}
        </dd>
        <dt>Probabilities</dt>
        <dd>
          {summary.probabilities?.calibrated
            ? `calibrated (${summary.probabilities.method}), fitted on ${summary.probabilities.fittedOn}`
            : 'the model’s raw outputs (no calibration)'}
        </dd>
        <dt>Predicts</dt>
        <dd>{summary.medicationCount} ATC level-3 classes</dd>
        <dt>Reads</dt>
        <dd>
          up to {card.limits.maxVisits} visits, {card.limits.maxDiagnoses} diagnoses, {card.limits.maxProcedures} procedures and {card.limits.maxMedications}{' '}
          medication classes per visit
        </dd>
        <dt>Execution provider</dt>
        <dd>
          {providerText(card.provider)}; session loaded in {milliseconds(card.loadMs)}
          {card.provider.failed.length > 0 ? (
            <ul className="provider-failures">
              {card.provider.failed.map((f) => (
                <li key={f.provider}>
                  {f.provider}: {f.error}
                </li>
              ))}
            </ul>
          ) : null}
        </dd>
        <dt>ONNX sha256</dt>
        <dd>
          <code className="path">{card.onnxSha256}</code>
        </dd>
      </dl>

      <h2>Modalities</h2>
      <p className="hint">Each can be masked, so every recommendation is explained by exact Shapley values over these.</p>
      <ul className="modality-list">
        {card.modalities.map((m) => (
          <li key={m.id}>
            <strong>{m.label}</strong> <span className="muted">({m.side === 'drug' ? 'drug side' : 'patient side'})</span>
          </li>
        ))}
      </ul>

      <h2>Benchmark</h2>
      {card.metrics.evaluation ? <p>{card.metrics.evaluation}</p> : null}
      {card.metrics.cohort ? <p className="muted">Cohort: {card.metrics.cohort}</p> : null}
      {card.metrics.error ? <p className="form-error">{card.metrics.error}</p> : null}
      {card.metrics.groups.map((group) => (
        <MetricTable key={group.id} title={group.title} metrics={group.metrics} />
      ))}
      {card.metrics.groundTruth.length > 0 ? (
        <p className="muted">
          Ground truth for comparison:{' '}
          {card.metrics.groundTruth.map((g) => `${g.label} ${g.key === 'meds' ? g.value.toFixed(1) : percent(g.value)}`).join(' · ')}
        </p>
      ) : null}

      <EvaluatePanel modelId={summary.id} />

      <h2>Training data and licenses</h2>
      <p>
        Split: {summary.provenance.split}. Trained on {summary.provenance.trainedOn}.
        {summary.provenance.textEncoder ? ` Text encoder: ${summary.provenance.textEncoder}.` : ''}
      </p>
      <ul className="attributions">
        {summary.provenance.sources.map((source) => (
          <li key={source.name} className="attribution">
            <h3>{source.name}</h3>
            <p className="license">License: {source.license}</p>
            <p>{source.attribution}</p>
            {source.url ? (
              <p className="source-url">
                <code>{source.url}</code>
              </p>
            ) : null}
          </li>
        ))}
      </ul>
    </article>
  )
}

/** "Jaccard 0.402 (95% CI 0.389–0.415) · F1 … · PR-AUC …" from the first metric group. */
function headline(card: ModelCard): string {
  const metrics = card.metrics.groups[0]?.metrics ?? []
  const parts = ['jaccard', 'f1', 'prauc']
    .map((key) => metrics.find((m) => m.key === key))
    .filter((m): m is MetricValue => m !== undefined)
    .map((m) => `${m.label} ${formatMetric(m, m.mean)}${m.ci95 ? ` (95% CI ${formatMetric(m, m.ci95[0])}–${formatMetric(m, m.ci95[1])})` : ''}`)
  return parts.length > 0 ? parts.join(' · ') : (card.metrics.error ?? 'no evaluation recorded')
}

function formatMetric(metric: MetricValue, value: number): string {
  if (metric.format === 'count') return value.toFixed(value >= 100 ? 0 : 1)
  if (metric.format === 'rate') return percent(value)
  return value.toFixed(3)
}

function MetricTable({ title, metrics }: { title: string; metrics: MetricValue[] }) {
  return (
    <table className="metric-table">
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Metric</th>
          <th scope="col">Mean</th>
          <th scope="col">95% confidence interval</th>
          <th scope="col">Per fold</th>
        </tr>
      </thead>
      <tbody>
        {metrics.map((metric) => (
          <tr key={metric.key} data-metric={metric.key}>
            <th scope="row" title={metric.description ?? undefined}>
              {metric.label}
              {metric.description ? <span className="metric-description">{metric.description}</span> : null}
            </th>
            <td className="number">{formatMetric(metric, metric.mean)}</td>
            <td className="number">{metric.ci95 ? `${formatMetric(metric, metric.ci95[0])} – ${formatMetric(metric, metric.ci95[1])}` : 'n/a (one fold)'}</td>
            <td className="number folds">{metric.folds.map((v) => formatMetric(metric, v)).join(' · ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
