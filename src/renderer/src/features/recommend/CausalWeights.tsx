// CafeMed's patient-specific causal weights for the explained class: the current visit's diagnoses and
// procedures whose causal term in the class's logit is largest, each as a signed bar with its value, beside
// the effect estimated from the training visits (risk difference ± standard error, q-value). Shown only for
// models that ship causal files; an unusable causal file shows why instead, and the rest of the panel stands.
import { signedPoints } from '../../format'
import type { CausalWeightCode, CausalWeightsInfo, DrugCausalWeights } from '../../../../shared/domain/explanation'
import './causal-weights.css'

/** Logit terms with two decimals, signed: "+0.78", "−0.12". */
function signedLogit(value: number): string {
  const text = Math.abs(value).toFixed(2)
  if (Number(text) === 0) return `±${text}`
  return `${value > 0 ? '+' : '−'}${text}`
}

/** q-values: two significant digits, small ones in scientific notation ("4.0e-5"). */
function qValue(q: number): string {
  return q < 0.001 ? q.toExponential(1) : q.toPrecision(2)
}

export function CausalWeights({ info, weights, atc3 }: { info: CausalWeightsInfo | null; weights: DrugCausalWeights | null; atc3: string }) {
  if (!info) return null
  const shown = weights ? weights.diagnoses.length + weights.procedures.length : 0
  return (
    <section className="causal-weights" aria-labelledby="causal-heading" data-atc3={atc3}>
      <h3 id="causal-heading">Causal weights (CafeMed)</h3>
      {info.error ? (
        <p className="form-error">Causal weights unavailable: {info.error}</p>
      ) : !weights || shown === 0 ? (
        <p className="none">No diagnosis or procedure of the current visit has a causal weight on {atc3}.</p>
      ) : (
        <>
          <CausalTable caption="Diagnoses" codes={weights.diagnoses} weighted={weights.weightedDiagnoses} />
          <CausalTable caption="Procedures" codes={weights.procedures} weighted={weights.weightedProcedures} />
          <p className="hint">
            All current-visit codes together add {signedLogit(weights.logitTotal)} to the log-odds of {atc3}.
          </p>
        </>
      )}
      <p className="hint causal-note">{info.note}</p>
      {info.estimator ? (
        <details className="causal-estimator hint">
          <summary>How the effects were estimated</summary>
          {info.estimand ? <p>Estimand: {info.estimand}.</p> : null}
          <p>
            Estimator: {info.estimator}
            {info.trainingVisits !== null ? `; ${info.trainingVisits} training visits` : ''}
            {info.falseDiscoveryRate !== null ? `; the model uses effects with q ≤ ${info.falseDiscoveryRate}` : ''}.
          </p>
        </details>
      ) : null}
    </section>
  )
}

function CausalTable({ caption, codes, weighted }: { caption: string; codes: CausalWeightCode[]; weighted: number }) {
  if (codes.length === 0) return null
  const largest = Math.max(...codes.map((c) => Math.abs(c.weight)))
  return (
    <table className="causal-table">
      <caption>
        {caption}
        {weighted > codes.length ? <span className="muted"> (largest {codes.length} of {weighted})</span> : null}
      </caption>
      <thead>
        <tr>
          <th scope="col">Code</th>
          <th scope="col">Weight</th>
          <th scope="col">Effect ± SE</th>
          <th scope="col">q</th>
        </tr>
      </thead>
      <tbody>
        {codes.map((c) => {
          const sign = c.weight >= 0 ? 'is-positive' : 'is-negative'
          const label = `${c.system ?? ''} ${c.code}: ${c.title ?? 'no title'}`.trim()
          return (
            <tr key={`${c.kind}:${c.system ?? ''}:${c.code}`} data-code={c.code}>
              <th scope="row" className="causal-code" title={label}>
                <code className="code">{c.code}</code>
                {c.title ?? <span className="missing">no title</span>}
              </th>
              <td>
                <span className="causal-weight">
                  <span className="causal-bar-track" aria-hidden="true">
                    {/* Width set through the DOM (React's style prop), which the CSP's style-src 'self' allows. */}
                    <span className={`causal-bar ${sign}`} style={{ width: `${(Math.abs(c.weight) / largest) * 100}%` }} />
                  </span>
                  <span className={`causal-value ${sign}`}>{signedLogit(c.weight)}</span>
                </span>
              </td>
              <td className="causal-effect">
                {c.effect ? (
                  <>
                    {signedPoints(c.effect.riskDifference)} ± {(c.effect.standardError * 100).toFixed(1)}
                    <span className="visually-hidden"> percentage points, from {c.effect.treatedVisits} training visits with the code</span>
                  </>
                ) : (
                  'not estimated'
                )}
              </td>
              <td className="causal-q">{c.effect ? qValue(c.effect.q) : '–'}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}
