// Why one class is recommended: each modality's exact Shapley contribution as a signed bar, stacked from
// the baseline (the probability with every modality masked) to the class's probability, so the sum is
// visible; the diagnoses, procedures and history drugs whose removal changes the probability most, by
// title; for CafeMed, the current visit's codes with the largest patient-specific causal weights
// (CausalWeights.tsx); and the member molecules drawn by RDKit (SVG rendered in main, shown as an image).
import { atcName, milliseconds, percent, signedPoints } from '../../format'
import type { ClassMolecules } from '../../../../shared/domain/drug'
import type { CodeContribution, DrugExplanation } from '../../../../shared/domain/explanation'
import { useState } from 'react'
import { ProgressBar } from '../../components/ProgressBar'
import { CausalWeights } from './CausalWeights'
import { Empty, ErrorState } from '../../components/StatusMessage'
import { useRecommend } from './store'

const CODES_PER_KIND = 5
/** Contributions smaller than this (in probability) are shown as "no effect". */
const NEGLIGIBLE = 0.0005

export function ExplanationPanel() {
  const { explanation, molecules, selected } = useRecommend()
  const { select } = useRecommend.getState()
  let body
  if (!selected) body = <Empty>Select a recommended class to see what its probability rests on.</Empty>
  else if (explanation.status === 'error')
    body = <ErrorState title={`The explanation of ${selected} could not be computed.`} message={explanation.error ?? ''} onRetry={() => select(selected)} />
  else if (explanation.status !== 'ready' || !explanation.data)
    body = <ProgressBar label={`Explaining ${selected}…`} detail="Exact Shapley values: the model runs once for every subset of modalities, then once per code left out." />
  else {
    const view = explanation.data
    const drug = view.explanation.drugs[0]
    body = drug ? (
      <>
        <h2 className="explain-title">
          Why <code className="code">{drug.atc3}</code> {atcName(drug.name)}? <span className="explain-probability">{percent(drug.probability)}</span>
        </h2>
        <ModalityWaterfall drug={drug} />
        <p className="hint">
          Exact Shapley values over {view.explanation.modalities.length} modalities ({view.explanation.timing.subsetRows} model runs,{' '}
          {milliseconds(view.explanation.timing.totalMs)}). A masked modality is replaced by what the model learned for “absent”.
          {view.explanation.auditId !== null ? ` Audit #${view.explanation.auditId}.` : ''}
        </p>
        <CodeContributions codes={drug.codes} />
        <CausalWeights info={view.explanation.causal} weights={drug.causalWeights} atc3={drug.atc3} />
      </>
    ) : (
      <Empty>The model returned no explanation for {selected}.</Empty>
    )
  }
  return (
    // Focusable because it scrolls on its own (keyboard users scroll it with the arrow keys).
    <aside className="explanation-panel" aria-label="Explanation of the selected class" tabIndex={0}>
      {body}
      {selected ? <MoleculePanel key={selected} state={molecules} atc3={selected} /> : null}
    </aside>
  )
}

/** A signed bar per modality, each starting where the previous ended: baseline → … → probability. */
export function ModalityWaterfall({ drug }: { drug: DrugExplanation }) {
  let running = drug.baseline
  const steps = drug.modalities.map((m) => {
    const start = running
    running += m.shapley
    return { ...m, start, end: running }
  })
  const position = (value: number) => `${Math.max(0, Math.min(1, value)) * 100}%`
  const bar = (from: number, to: number) => ({ left: position(Math.min(from, to)), width: `${Math.max(Math.abs(to - from) * 100, 0.3)}%` })
  return (
    <figure className="waterfall" aria-label="Contribution of each modality, from the baseline to the probability">
      <table className="waterfall-table">
        <thead className="visually-hidden">
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Contribution</th>
            <th scope="col">Chart</th>
          </tr>
        </thead>
        <tbody>
          <tr className="waterfall-baseline">
            <th scope="row">Baseline (no modality)</th>
            <td className="waterfall-number">{percent(drug.baseline)}</td>
            <td className="waterfall-track">
              <span className="waterfall-bar is-baseline" style={bar(0, drug.baseline)} />
            </td>
          </tr>
          {steps.map((step) => (
            <tr key={step.modalityId} data-modality={step.modalityId}>
              <th scope="row">
                {step.label} <span className="modality-side">{step.side === 'drug' ? 'drug side' : 'patient side'}</span>
              </th>
              <td className={`waterfall-number ${step.shapley >= 0 ? 'is-positive' : 'is-negative'}`}>{signedPoints(step.shapley)}</td>
              <td className="waterfall-track">
                <span className={`waterfall-bar ${step.shapley >= 0 ? 'is-positive' : 'is-negative'}`} style={bar(step.start, step.end)} />
              </td>
            </tr>
          ))}
          <tr className="waterfall-total">
            <th scope="row">Probability (all modalities)</th>
            <td className="waterfall-number">{percent(drug.probability)}</td>
            <td className="waterfall-track">
              <span className="waterfall-bar is-total" style={bar(0, drug.probability)} />
            </td>
          </tr>
        </tbody>
      </table>
      <figcaption className="waterfall-sum">
        {percent(drug.baseline)} baseline {drug.modalities.map((m) => `${m.shapley >= 0 ? '+' : '−'} ${percent(Math.abs(m.shapley))}`).join(' ')} ={' '}
        {percent(drug.probability)}
      </figcaption>
    </figure>
  )
}

const KIND_TITLES: Record<CodeContribution['kind'], string> = {
  diagnosis: 'Diagnoses',
  procedure: 'Procedures',
  medication: 'Medication history'
}

function CodeContributions({ codes }: { codes: CodeContribution[] | null }) {
  if (!codes) return null
  const kinds: CodeContribution['kind'][] = ['diagnosis', 'procedure', 'medication']
  const largest = Math.max(NEGLIGIBLE, ...codes.map((c) => Math.abs(c.contribution)))
  return (
    <section className="code-contributions" aria-labelledby="codes-heading">
      <h3 id="codes-heading">What in the record moves it most</h3>
      <p className="hint">Each code left out of every visit in turn: the change in probability without it.</p>
      {kinds.map((kind) => {
        const top = codes.filter((c) => c.kind === kind).slice(0, CODES_PER_KIND)
        const effective = top.filter((c) => Math.abs(c.contribution) >= NEGLIGIBLE)
        return (
          <div key={kind} className="code-kind">
            <h4>{KIND_TITLES[kind]}</h4>
            {top.length === 0 ? (
              <p className="none">None in the visits the model read.</p>
            ) : effective.length === 0 ? (
              <p className="none">No single code changes the probability by more than {signedPoints(NEGLIGIBLE)}.</p>
            ) : (
              <ul className="contribution-list">
                {effective.map((code) => (
                  <li key={`${code.system ?? ''}:${code.code}`}>
                    <span className="contribution-title" title={`${code.system ?? 'ATC'} ${code.code}: ${code.title ?? 'no title'}`}>
                      <code className="code">{code.code}</code>
                      {code.title ?? <span className="missing">no title</span>}
                      {code.unknown ? <span className="badge badge-unknown"> not in model vocabulary</span> : null}
                      {code.fromTitle ? <span className="badge badge-unknown"> new to the model, read from its title</span> : null}
                    </span>
                    <span className="contribution-bar-track" aria-hidden="true">
                      <span
                        className={`contribution-bar ${code.contribution >= 0 ? 'is-positive' : 'is-negative'}`}
                        style={{ width: `${(Math.abs(code.contribution) / largest) * 50}%` }}
                      />
                    </span>
                    <span className={`contribution-value ${code.contribution >= 0 ? 'is-positive' : 'is-negative'}`}>{signedPoints(code.contribution)}</span>
                  </li>
                ))}
              </ul>
            )}
          </div>
        )
      })}
    </section>
  )
}

function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`
}

function MoleculePanel({ state, atc3 }: { state: { status: string; data: ClassMolecules | null; error: string | null }; atc3: string }) {
  const [index, setIndex] = useState(0)
  const data = state.data
  let body
  if (state.status === 'error') body = <p className="form-error">{state.error}</p>
  else if (!data || state.status !== 'ready') body = <ProgressBar label="Drawing member molecules…" />
  else if (data.molecules.length === 0) body = <p className="none">No structure of a member drug of {atc3} is in the knowledge base.</p>
  else {
    const shown = Math.min(index, data.molecules.length - 1)
    const molecule = data.molecules[shown]!
    body = (
      <>
        {molecule.svg ? (
          <img className="molecule-image" src={svgDataUrl(molecule.svg)} alt={`Structure of a member of ${atc3}, SMILES ${molecule.smiles}`} width={260} height={190} />
        ) : (
          <p className="form-error">{molecule.error}</p>
        )}
        <div className="molecule-nav">
          <button type="button" className="button button-small" disabled={shown === 0} onClick={() => setIndex(shown - 1)} aria-label="Previous structure">
            ‹
          </button>
          <span>
            Structure {shown + 1} of {data.molecules.length}
            {data.total > data.molecules.length ? ` (of ${data.total} known)` : ''}
          </span>
          <button
            type="button"
            className="button button-small"
            disabled={shown >= data.molecules.length - 1}
            onClick={() => setIndex(shown + 1)}
            aria-label="Next structure"
          >
            ›
          </button>
        </div>
        <code className="smiles" title="SMILES">
          {molecule.smiles}
        </code>
        {data.source ? (
          <p className="source-line">
            {data.source.name}. License: {data.source.license}. Drawn with RDKit. These are the structures the models
            learned from: a research mapping of drugs to ATC3 classes, not checked drug by drug against WHO ATC membership.
          </p>
        ) : null}
      </>
    )
  }
  return (
    <section className="molecule-panel" aria-labelledby="molecule-heading">
      <h3 id="molecule-heading">Member molecules</h3>
      {body}
    </section>
  )
}
