// "Evaluate on this database": runs `medrec evaluate` for one model on the open patient database as a
// background job (evaluate:start), polls its progress (evaluate:status) for a determinate progress bar,
// and shows the headline figures beside the two baselines, at class level and at drug level (the recommended classes
// resolved to drugs as recommendations resolve them). The full report (per class, subgroups, unknown
// codes, HTML to file) comes from the command line: medrec evaluate --out report.html.
import type { EvaluationIntervalView, EvaluationJobStatus, EvaluationRowView } from '../../../../shared/domain/evaluation'
import { type ReactNode, useEffect, useRef, useState } from 'react'
import { api, errorText } from '../../api'
import './evaluate.css'
import { FormError } from '../../components/StatusMessage'

const POLL_MS = 400
interface MetricColumn {
  key: string
  label: string
  digits: number
}
const COLUMNS: MetricColumn[] = [
  { key: 'jaccard', label: 'Jaccard', digits: 3 },
  { key: 'f1', label: 'F1', digits: 3 },
  { key: 'prauc', label: 'PRAUC', digits: 3 },
  { key: 'recall', label: 'Recall', digits: 3 },
  { key: 'drugs', label: '#classes', digits: 1 },
  { key: 'ece', label: 'ECE', digits: 3 }
]
// PRAUC and ECE do not apply to drugs (probabilities are per class); the DDI share counts Major/contraindicated drug pairs.
const DRUG_COLUMNS: MetricColumn[] = [
  { key: 'jaccard', label: 'Jaccard', digits: 3 },
  { key: 'f1', label: 'F1', digits: 3 },
  { key: 'recall', label: 'Recall', digits: 3 },
  { key: 'drugs', label: '#drugs', digits: 1 },
  { key: 'ddi:major-or-contraindicated', label: 'Major+ DDI share', digits: 3 }
]

function IntervalCell({ interval, digits }: { interval: EvaluationIntervalView | undefined; digits: number }) {
  if (!interval) return <td className="number">–</td>
  return (
    <td className="number">
      {interval.value.toFixed(digits)}
      {interval.low !== null && interval.high !== null ? (
        <span className="evaluate-ci">
          {' '}
          ({interval.low.toFixed(digits)}–{interval.high.toFixed(digits)})
        </span>
      ) : null}
    </td>
  )
}

/** One table of predictors (rows) by metrics (columns), each cell a value with its 95% interval. */
function MetricTable({ className, caption, columns, rows }: { className: string; caption: ReactNode; columns: MetricColumn[]; rows: EvaluationRowView[] }) {
  return (
    <table className={`metric-table ${className}`}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Predictor</th>
          {columns.map((c) => (
            <th key={c.key} scope="col">
              {c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.label} data-kind={row.kind}>
            <th scope="row">{row.label}</th>
            {columns.map((c) => (
              <IntervalCell key={c.key} interval={row.metrics[c.key]} digits={c.digits} />
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function EvaluatePanel({ modelId }: { modelId: string }) {
  const [status, setStatus] = useState<EvaluationJobStatus | null>(null)
  const [error, setError] = useState<string | null>(null)
  const polling = useRef<ReturnType<typeof setTimeout> | null>(null)

  useEffect(
    () => () => {
      if (polling.current) clearTimeout(polling.current)
    },
    []
  )

  const poll = (jobId: string): void => {
    polling.current = setTimeout(() => {
      const client = api()
      client['evaluate:status'](jobId)
        .then((next) => {
          setStatus(next)
          if (next.state === 'running') poll(jobId)
        })
        .catch((e: unknown) => setError(errorText(e)))
    }, POLL_MS)
  }

  const start = (): void => {
    setError(null)
    const client = api()
    client['evaluate:start']({ modelIds: [modelId], since: null, replicates: 1000 })
      .then((first) => {
        setStatus(first)
        poll(first.jobId)
      })
      .catch((e: unknown) => setError(errorText(e)))
  }

  const running = status?.state === 'running'
  const model = status?.result?.models[0]
  return (
    <section className="evaluate-panel" aria-labelledby="evaluate-title">
      <h2 id="evaluate-title">Evaluate on this database</h2>
      <p className="hint">
        Scores every visit with a medication class the model knows, from that patient’s earlier visits only, beside two baselines, with 95% intervals
        from a patient-level bootstrap. Reads the database without changing it. If the model was trained on these patients the figures are optimistic.
      </p>
      <button type="button" className="button button-primary" disabled={running} onClick={start}>
        {running ? 'Evaluating…' : status ? 'Evaluate again' : 'Evaluate on this database'}
      </button>
      <FormError error={error} />
      {running && status ? (
        <div className="progress" role="status" aria-live="polite">
          <div className="progress-label">
            <span>{status.label}</span>
            <span className="progress-elapsed">{(status.elapsedMs / 1000).toFixed(1)} s</span>
          </div>
          <progress className="evaluate-progress" max={1} value={status.fraction} aria-label="Evaluation progress">
            {Math.round(status.fraction * 100)}%
          </progress>
        </div>
      ) : null}
      <FormError prefix="The evaluation failed" error={status?.state === 'failed' ? status.error : null} />
      {model && status?.result ? (
        <>
          <MetricTable
            className="evaluate-table"
            columns={COLUMNS}
            rows={model.rows}
            caption={
              <>
                {model.id} v{model.version} at threshold {model.threshold} on {model.rows[0]?.visits ?? 0} visits of {model.rows[0]?.patients ?? 0} patients (95%
                intervals)
              </>
            }
          />
          <MetricTable
            className="evaluate-drug-table"
            columns={DRUG_COLUMNS}
            rows={model.drugRows}
            caption={
              <>
                At drug level (ATC5): {model.drugRows[0]?.visits ?? 0} visits with a prescription resolved to a drug
                {model.visitsWithoutDrug > 0 ? ` (${model.visitsWithoutDrug} without one left out)` : ''}; each recommended class gets the drug of the
                patient’s most recent earlier visit with it, else the within-class choice
              </>
            }
          />
          <p className="muted">
            Unknown to the model: {model.unknownDiagnosisShare === null ? '–' : `${(100 * model.unknownDiagnosisShare).toFixed(1)}%`} of diagnosis codes,{' '}
            {model.unknownProcedureShare === null ? '–' : `${(100 * model.unknownProcedureShare).toFixed(1)}%`} of procedure codes. Took{' '}
            {(status.result.durationMs / 1000).toFixed(1)} s · database fingerprint <code className="path">{status.result.databaseFingerprint.slice(0, 16)}…</code> ·{' '}
            bootstrap {status.result.replicates} replicates, seed {status.result.seed}. For the full report to file: <code>medrec evaluate --out report.html</code>.
          </p>
        </>
      ) : null}
    </section>
  )
}
