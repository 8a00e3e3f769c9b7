// Patient → Recommend: the recommended combination of ATC3 classes with probabilities, already taking or
// new, member drugs; the threshold and DDI-safe controls; which model and provider produced it and how
// long it took; DDI warnings tiered by severity (major/contraindicated interrupt and need an
// acknowledgement, moderate inline beside the class, minor in a collapsed panel) with sources and
// licenses; and the explanation of the selected class.
import { atcName, drugLabel, milliseconds, percent, providerText, timeOfDay } from '../../format'
import type { RecommendedClass, RecommendationView } from '../../../../shared/domain/recommendation'
import { BLOCK_SEVERITIES, type BlockSeverity } from '../../../../shared/domain/interaction'
import type { ColdStartSummary } from '../../../../shared/domain/recommendation'
import type { DdiWarning } from '../../../../shared/domain/interaction'
import type { PatientTimeline } from '../../../../shared/domain/patient'
import { useEffect, useRef, useState, type KeyboardEvent } from 'react'
import { CoverageNote, EvidenceList, pairText, SeverityBadge } from '../../components/Ddi'
import { ProgressBar } from '../../components/ProgressBar'
import { Empty, ErrorState, FormError } from '../../components/StatusMessage'
import { optionsFromSettings, useRecommend, type RecommendOptions } from './store'
import { useSettings } from '../settings/store'
import { ExplanationPanel } from './ExplanationPanel'
import '../../screens.css'

const RATE_TARGETS: Array<number | null> = [null, 0.5, 0.3, 0.2, 0.1, 0]
const OPTION_DELAY_MS = 400
/** The miss rates the shipped models carry a conformal threshold for (calibration.json), offered next to the threshold. */
const MISS_RATES: Array<number | null> = [null, 0.05, 0.1, 0.2]

interface IndexedWarning {
  warning: DdiWarning
  key: string
  scope: 'new' | 'existing'
}

function indexedWarnings(result: RecommendationView): IndexedWarning[] {
  const check = result.ddiCheck
  if (!check) return []
  return check.warnings.map((warning, i) => ({ warning, key: result.warningKeys[i] ?? '', scope: result.warningScopes[i] ?? 'new' }))
}

export function RecommendTab({ timeline }: { timeline: PatientTimeline }) {
  const patientId = timeline.patient.id
  const { status, result, error, options } = useRecommend()
  const { openPatient, run } = useRecommend.getState()

  useEffect(() => {
    let current = true
    const settings = useSettings.getState()
    const ready = settings.settings ? Promise.resolve(settings.settings) : settings.loadSettings()
    void ready.then((loaded) => {
      if (current) openPatient(patientId, optionsFromSettings(loaded))
    })
    return () => {
      current = false
    }
  }, [patientId, openPatient])

  if (!options || useRecommend.getState().patientId !== patientId) {
    return <ProgressBar label="Loading recommendation settings…" />
  }

  return (
    <div className="recommend-tab">
      <RecommendControls options={options} modelThreshold={result?.modelThreshold ?? null} busy={status === 'loading'} />
      {status === 'error' ? (
        <ErrorState title="No recommendation could be made for this patient." message={error ?? ''} onRetry={() => void run()} />
      ) : !result ? (
        <ProgressBar label="Running the model on this patient’s visits…" detail="The first run loads the model (a few seconds); later runs take milliseconds." />
      ) : (
        <RecommendationBody result={result} refreshing={status === 'loading'} />
      )}
    </div>
  )
}

function RecommendControls({ options, modelThreshold, busy }: { options: RecommendOptions; modelThreshold: number | null; busy: boolean }) {
  const { setOptions, run } = useRecommend.getState()
  const [draft, setDraft] = useState(options)
  const first = useRef(true)

  useEffect(() => setDraft(options), [options])

  // Apply changes once the user pauses, so dragging the threshold does not start a run per step.
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    if (JSON.stringify(draft) === JSON.stringify(useRecommend.getState().options)) return
    const timer = setTimeout(() => {
      setOptions(draft)
      void run()
    }, OPTION_DELAY_MS)
    return () => clearTimeout(timer)
  }, [draft, setOptions, run])

  const shownThreshold = draft.threshold ?? modelThreshold ?? 0.5
  const byMissRate = draft.missRate !== null
  return (
    <form className="recommend-controls" aria-label="Recommendation options" onSubmit={(event) => event.preventDefault()}>
      <div className="control-group">
        <label htmlFor="threshold-range">Threshold</label>
        <input
          id="threshold-range"
          type="range"
          min={0.05}
          max={0.95}
          step={0.01}
          disabled={byMissRate}
          value={shownThreshold}
          aria-valuetext={`${percent(shownThreshold, 0)}${draft.threshold === null ? ', the model’s own threshold' : ''}`}
          onChange={(event) => setDraft({ ...draft, threshold: Number(event.target.value) })}
        />
        <output htmlFor="threshold-range" className="threshold-value">
          {byMissRate ? 'set by the miss rate' : draft.threshold === null && modelThreshold === null ? '—' : percent(shownThreshold, 0)}
        </output>
        {byMissRate ? null : draft.threshold === null ? (
          <span className="muted">model’s own</span>
        ) : (
          <button
            type="button"
            className="button button-small"
            aria-label={`Use the model’s own threshold${modelThreshold !== null ? `, ${percent(modelThreshold, 0)}` : ''}`}
            onClick={() => setDraft({ ...draft, threshold: null })}
          >
            Model’s {modelThreshold !== null ? percent(modelThreshold, 0) : ''}
          </button>
        )}
      </div>
      <div className="control-group">
        <label htmlFor="miss-rate">Miss at most</label>
        <select
          id="miss-rate"
          value={draft.missRate === null ? '' : String(draft.missRate)}
          aria-describedby="miss-rate-guarantee"
          onChange={(event) => setDraft({ ...draft, missRate: event.target.value === '' ? null : Number(event.target.value) })}
        >
          {MISS_RATES.map((rate) => (
            <option key={String(rate)} value={rate === null ? '' : String(rate)}>
              {rate === null ? 'off (use the threshold)' : `${percent(rate, 0)} of prescribed classes`}
            </option>
          ))}
        </select>
        <span id="miss-rate-guarantee" className="muted">
          {byMissRate
            ? `On average over patients, at most ${percent(draft.missRate!, 0)} of the classes that will be prescribed are missing from the recommendation — if this patient is like the model's validation patients (exchangeable). Not a guarantee for one patient.`
            : 'A guaranteed average miss rate instead of a threshold.'}
        </span>
      </div>
      <div className="control-group">
        <input
          id="ddi-safe"
          type="checkbox"
          checked={draft.ddiSafe}
          onChange={(event) => setDraft({ ...draft, ddiSafe: event.target.checked })}
        />
        <label htmlFor="ddi-safe">DDI-safe</label>
        <label htmlFor="block-severity" className="sub-label">
          block at
        </label>
        <select
          id="block-severity"
          value={draft.blockSeverity}
          disabled={!draft.ddiSafe}
          onChange={(event) => setDraft({ ...draft, blockSeverity: event.target.value as BlockSeverity })}
        >
          {BLOCK_SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {s === 'Contraindicated' ? 'Contraindicated' : `${s} or worse`}
            </option>
          ))}
        </select>
        <label htmlFor="max-ddi-rate" className="sub-label">
          max DDI rate
        </label>
        <select
          id="max-ddi-rate"
          value={draft.maxDdiRate === null ? '' : String(draft.maxDdiRate)}
          disabled={!draft.ddiSafe}
          onChange={(event) => setDraft({ ...draft, maxDdiRate: event.target.value === '' ? null : Number(event.target.value) })}
        >
          {RATE_TARGETS.map((rate) => (
            <option key={String(rate)} value={rate === null ? '' : String(rate)}>
              {rate === null ? 'no target' : percent(rate, 0)}
            </option>
          ))}
        </select>
      </div>
      <button type="button" className="button" disabled={busy} onClick={() => void run()}>
        {busy ? 'Running…' : 'Run again'}
      </button>
    </form>
  )
}

function RecommendationBody({ result, refreshing }: { result: RecommendationView; refreshing: boolean }) {
  const { acknowledgement } = useRecommend()
  const warnings = indexedWarnings(result)
  const interrupting = warnings.filter((w) => w.warning.tier === 'interrupt' && w.scope === 'new')
  const blocked = interrupting.length > 0 && !acknowledgement
  const rec = result.recommendation
  return (
    <div className={`recommendation${refreshing ? ' is-refreshing' : ''}`} aria-busy={refreshing}>
      <p className="recommend-meta">
        <strong>{rec.model.id}</strong> v{rec.model.version}
        {rec.model.family !== rec.model.id ? ` (${rec.model.family})` : ''} on {providerText(rec.provider)} ·{' '}
        {milliseconds(rec.timing.totalMs)} (encode {milliseconds(rec.timing.encodeMs)}, model {milliseconds(rec.timing.inferenceMs)}, decode{' '}
        {milliseconds(rec.timing.decodeMs)}
        {result.modelLoadMs > 0 ? `; model load ${milliseconds(result.modelLoadMs)}, once` : ''}) · threshold {percent(rec.threshold, 0)}
        {rec.missRate ? ` (from a miss rate ≤ ${percent(rec.missRate.alpha, 0)}, assuming ${rec.missRate.assumption})` : ''} ·{' '}
        {rec.probabilities?.calibrated
          ? `probabilities calibrated (${rec.probabilities.method}, on ${rec.probabilities.fittedOn})`
          : 'raw model probabilities (not calibrated)'}{' '}
        ·{' '}
        {rec.input.visitsUsed} visit{rec.input.visitsUsed === 1 ? '' : 's'} read
        {rec.auditId !== null ? ` · audit #${rec.auditId}` : ''}
      </p>
      <ColdStartNote summary={rec.input.coldStart} />
      {interrupting.length > 0 ? <InterruptBanner result={result} warnings={interrupting} /> : null}
      <div className="recommend-grid" inert={blocked}>
        <div className="recommend-main">
          <CombinationTable result={result} warnings={warnings} />
          <DroppedAndNearMisses result={result} />
          <DetailsPanels result={result} warnings={warnings} />
        </div>
        <ExplanationPanel />
      </div>
    </div>
  )
}

/** NLA-MMR: codes new to the model that counted through their titles (cold start), and those that could not. */
function ColdStartNote({ summary }: { summary: ColdStartSummary | undefined }) {
  if (!summary || (summary.embedded.length === 0 && summary.unknown.length === 0)) return null
  return (
    <p className="recommend-meta cold-start-note">
      {summary.embedded.length > 0 ? (
        <>
          Cold start: {summary.embedded.length} code{summary.embedded.length === 1 ? '' : 's'} new to the model counted through{' '}
          {summary.embedded.length === 1 ? 'its title' : 'their titles'}:{' '}
          {summary.embedded.map((c, i) => (
            <span key={`${c.kind}:${c.system ?? ''}:${c.code}`} title={c.title}>
              {i > 0 ? ', ' : ''}
              {c.code}
            </span>
          ))}
        </>
      ) : (
        'No code new to the model has a title'
      )}
      {summary.unknown.length > 0 ? ` · ${summary.unknown.length} without a title counted as unknown` : ''}
    </p>
  )
}

function InterruptBanner({ result, warnings }: { result: RecommendationView; warnings: IndexedWarning[] }) {
  const { acknowledgement, ackSaving, ackError, acknowledge } = useRecommend()
  const check = result.ddiCheck!
  const contraindicated = warnings.filter((w) => w.warning.severity === 'Contraindicated').length
  const headingId = 'interrupt-heading'
  if (acknowledgement) {
    return (
      <details className="interrupt-banner is-acknowledged">
        <summary>
          {warnings.length} major or contraindicated interaction{warnings.length === 1 ? '' : 's'} acknowledged by {acknowledgement.userName} at{' '}
          {timeOfDay(acknowledgement.createdAt)} (audit #{acknowledgement.auditId}) — show
        </summary>
        <InterruptList check={check} warnings={warnings} />
      </details>
    )
  }
  return (
    <section className="interrupt-banner" role="alertdialog" aria-modal="false" aria-labelledby={headingId} aria-describedby="interrupt-explainer">
      <h2 id={headingId}>
        Interaction warning: {warnings.length} major{contraindicated > 0 ? ` (${contraindicated} contraindicated)` : ''} interaction
        {warnings.length === 1 ? '' : 's'} involving newly recommended classes
      </h2>
      <p id="interrupt-explainer" className="interrupt-explainer">
        Class-level: a pair is listed when at least one member drug pair of the two classes is graded major or contraindicated by a
        source. Whether it applies depends on the drugs chosen within each class; the member pairs are shown. Read them, then
        acknowledge to continue.
      </p>
      <InterruptList check={check} warnings={warnings} />
      <FormError prefix="The acknowledgement was not saved" error={ackError} />
      <button type="button" className="button button-danger" disabled={ackSaving} onClick={() => void acknowledge(warnings.map((w) => w.key))}>
        {ackSaving ? 'Saving…' : `I have read ${warnings.length === 1 ? 'this warning' : `these ${warnings.length} warnings`} — acknowledge`}
      </button>
    </section>
  )
}

function InterruptList({ check, warnings }: { check: NonNullable<RecommendationView['ddiCheck']>; warnings: IndexedWarning[] }) {
  return (
    <ul className="interrupt-list">
      {warnings.map(({ warning, key }) => (
        <li key={key} className="interrupt-item">
          <details>
            <summary>
              <SeverityBadge severity={warning.severity} /> <span className="pair">{pairText(check, warning)}</span>{' '}
              <span className="muted">
                — {[...new Set(warning.evidence.map((e) => e.source.name.replace(/ \(.*$/, '')))].join(', ')}
              </span>
            </summary>
            <EvidenceList warning={warning} />
          </details>
        </li>
      ))}
    </ul>
  )
}

/** Moderate warnings that involve this class's drugs, shown inline in its row. */
function InlineWarnings({ result, warnings, cls }: { result: RecommendationView; warnings: IndexedWarning[]; cls: RecommendedClass }) {
  const check = result.ddiCheck
  if (!check) return null
  const own = new Set(cls.drugs.map((d) => d.atc5))
  const isOwn = (index: number) => own.has(check.drugs[index]?.input ?? '')
  const mine = warnings.filter(({ warning }) => warning.tier === 'inline' && (isOwn(warning.a) || isOwn(warning.b)))
  if (mine.length === 0) return null
  const partner = (warning: DdiWarning) => check.drugs[isOwn(warning.a) ? warning.b : warning.a]
  return (
    <details className="inline-warning">
      <summary>
        <SeverityBadge severity="Moderate" /> with {mine.length === 1 ? drugLabel(partner(mine[0]!.warning)?.label ?? '') : `${mine.length} drugs`}
      </summary>
      <ul className="inline-warning-list">
        {mine.map(({ warning, key }) => (
          <li key={key}>
            <span className="pair">{pairText(check, warning)}</span>
            <EvidenceList warning={warning} />
          </li>
        ))}
      </ul>
    </details>
  )
}

function MemberTip({ cls }: { cls: RecommendedClass }) {
  const id = `members-${cls.atc3}`
  const shown = cls.members.slice(0, 24)
  return (
    <span className="has-tip">
      <span className="class-name" tabIndex={0} aria-describedby={id}>
        {atcName(cls.name)}
      </span>
      <span className="tip" role="tooltip" id={id}>
        {cls.members.length === 0
          ? 'No member drugs listed in the ATC index.'
          : `${cls.members.length} member drug${cls.members.length === 1 ? '' : 's'}: ${shown.map((m) => m.name).join(', ')}${cls.members.length > shown.length ? ', …' : ''}`}
      </span>
    </span>
  )
}

const SOURCE_TEXT = { current: 'taking now', history: 'taken before', model: 'within-class choice' } as const

/** The drug(s) chosen for a class (ingredient + ATC5), where each came from, and the next members of the class. */
function ClassDrugs({ cls }: { cls: RecommendedClass }) {
  return (
    <div className="class-drugs">
      {cls.drugs.length === 0 ? (
        <p className="class-drug is-none">No drug chosen: {cls.noDrugReason ?? 'unknown reason'}</p>
      ) : (
        <ul className="class-drug-list" aria-label={`Drugs for ${cls.atc3}`}>
          {cls.drugs.map((d) => (
            <li key={d.atc5} className="class-drug" data-atc5={d.atc5}>
              <strong>{d.name ?? d.atc5}</strong> <code className="code">{d.atc5}</code>{' '}
              <span className="muted">
                {SOURCE_TEXT[d.source]}
                {d.probability !== null ? ` ${percent(d.probability)}` : ''}
              </span>
              {cls.substitutedFrom ? <span className="substituted-note"> · substituted for {cls.substitutedFrom} (interaction)</span> : null}
            </li>
          ))}
        </ul>
      )}
      {cls.review ? (
        <p className="review-flag" role="note">
          Kept for review: interacts ({cls.review.severity}) with {cls.review.conflictsWith.join(', ')}
        </p>
      ) : null}
      {cls.alternatives.length > 0 ? (
        <details className="alternatives">
          <summary>Alternatives ({cls.alternatives.length})</summary>
          <ul>
            {cls.alternatives.map((a) => (
              <li key={a.atc5}>
                {a.name ?? a.atc5} <code className="code">{a.atc5}</code> <span className="muted">{percent(a.probability)}</span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  )
}

function CombinationTable({ result, warnings }: { result: RecommendationView; warnings: IndexedWarning[] }) {
  const { selected, select } = useRecommend()
  const rows = result.classes
  if (rows.length === 0) {
    return (
      <Empty>
        No class reaches the threshold of {percent(result.recommendation.threshold, 0)} for this patient
        {result.recommendation.dropped.length > 0 ? ', after DDI-safe decoding' : ''}. Lower the threshold to see more.
      </Empty>
    )
  }
  const onKeyDown = (event: KeyboardEvent<HTMLTableSectionElement>) => {
    const index = rows.findIndex((r) => r.atc3 === selected)
    const next = event.key === 'ArrowDown' ? index + 1 : event.key === 'ArrowUp' ? index - 1 : null
    if (next === null) return
    const target = rows[Math.max(0, Math.min(rows.length - 1, next))]
    if (!target) return
    event.preventDefault()
    select(target.atc3)
    document.getElementById(`explain-${target.atc3}`)?.focus()
  }
  const newCount = rows.filter((r) => r.status === 'new').length
  return (
    <section aria-labelledby="combination-heading">
      <h2 id="combination-heading" className="section-heading">
        Recommended combination <span className="muted">({rows.length} classes, {newCount} new)</span>
      </h2>
      <table className="combination-table">
        <thead>
          <tr>
            <th scope="col">Class</th>
            <th scope="col">Probability</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody onKeyDown={onKeyDown}>
          {rows.map((cls) => (
            <tr key={cls.atc3} className={cls.atc3 === selected ? 'is-selected' : undefined} data-atc3={cls.atc3}>
              <td>
                <div className="class-cell">
                  <button
                    type="button"
                    id={`explain-${cls.atc3}`}
                    className="class-code-button"
                    aria-pressed={cls.atc3 === selected}
                    aria-label={`Explain ${cls.atc3} ${atcName(cls.name)}`}
                    onClick={() => select(cls.atc3)}
                  >
                    {cls.atc3}
                  </button>
                  <MemberTip cls={cls} />
                </div>
                <ClassDrugs cls={cls} />
                <InlineWarnings result={result} warnings={warnings} cls={cls} />
              </td>
              <td>
                <ProbabilityBar probability={cls.probability} threshold={result.recommendation.threshold} />
              </td>
              <td>
                {cls.status === 'already-taking' ? (
                  <span className="status-badge status-taking" title="On the latest visit’s medication list">
                    Already taking
                  </span>
                ) : (
                  <span className="status-badge status-new">New</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">Select a class code to see why it is recommended (↑/↓ move between classes). Hover or focus a name for its member drugs.</p>
    </section>
  )
}

export function ProbabilityBar({ probability, threshold }: { probability: number; threshold?: number }) {
  return (
    <div className="probability">
      <div className="probability-track" aria-hidden="true">
        <div className="probability-fill" style={{ width: `${Math.max(0, Math.min(1, probability)) * 100}%` }} />
        {threshold !== undefined ? <div className="probability-threshold" style={{ left: `${threshold * 100}%` }} /> : null}
      </div>
      <span className="probability-value">{percent(probability)}</span>
    </div>
  )
}

function DroppedAndNearMisses({ result }: { result: RecommendationView }) {
  const dropped = result.recommendation.dropped
  const names = new Map(result.recommendation.drugs.map((d) => [d.atc3, d.name]))
  return (
    <>
      {dropped.length > 0 ? (
        <section className="dropped" aria-labelledby="dropped-heading">
          <h3 id="dropped-heading">Left out by DDI-safe decoding ({dropped.length})</h3>
          <ul>
            {dropped.map((d) => (
              <li key={d.atc3}>
                <code className="code">{d.atc3}</code> {atcName(names.get(d.atc3))} ({percent(d.probability)}) —{' '}
                {d.reason === 'severity'
                  ? d.explanation
                  : `kept the DDI rate under ${percent(result.recommendation.ddi.safeDecoding?.maxDdiRate ?? 0, 0)} (interacts with ${d.conflictsWith.join(', ')})`}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {result.nearMisses.length > 0 ? (
        <details className="near-misses">
          <summary>Next most probable classes, not recommended ({result.nearMisses.length})</summary>
          <ul>
            {result.nearMisses.map((d) => (
              <li key={d.atc3}>
                <code className="code">{d.atc3}</code> {atcName(d.name)} <ProbabilityBar probability={d.probability} threshold={result.recommendation.threshold} />
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </>
  )
}

function DetailsPanels({ result, warnings }: { result: RecommendationView; warnings: IndexedWarning[] }) {
  const check = result.ddiCheck
  if (!check) {
    return (
      <section className="coverage-note is-unavailable" role="note">
        <h3>Interactions were not checked</h3>
        <p>{result.ddiUnavailable ?? 'No interaction source is loaded.'} The absence of warnings here says nothing about safety.</p>
      </section>
    )
  }
  const minor = warnings.filter((w) => w.warning.tier === 'details')
  const existingMajor = warnings.filter((w) => w.warning.tier === 'interrupt' && w.scope === 'existing')
  const current = result.currentMedications
  return (
    <>
      <details className="details-panel">
        <summary>
          Minor and unrated interactions ({minor.length}){minor.length === 0 ? ' — none found in the sources checked' : ''}
        </summary>
        {minor.length > 0 ? <WarningList check={check} warnings={minor} /> : null}
      </details>
      <details className="details-panel">
        <summary>Existing co-prescriptions: major interactions between drugs the patient already takes ({existingMajor.length})</summary>
        <p className="hint">Not introduced by this recommendation; listed so that the full picture is at hand.</p>
        {existingMajor.length > 0 ? <WarningList check={check} warnings={existingMajor} /> : null}
      </details>
      <DuplicationPanel result={result} />
      {result.classNotes.length > 0 ? (
        <details className="details-panel">
          <summary>Class-level notes for classes without a chosen drug ({result.classNotes.length})</summary>
          <p className="hint">Lifted from member drug pairs of the two classes: a signal to check once a drug is chosen, not a drug-level warning.</p>
          <ul className="warning-list">
            {result.classNotes.map((note) => (
              <li key={note.drugs.join('+')}>
                <SeverityBadge severity={note.severity} /> {note.detail} <span className="muted">({note.sources.join('; ')})</span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <details className="details-panel">
        <summary>
          Current medications ({current.classes.length} class{current.classes.length === 1 ? '' : 'es'}
          {current.visit ? `, visit ${current.visit.sourceVisitId}` : ''})
        </summary>
        {current.classes.length === 0 ? (
          <p className="hint">No mapped medication is recorded for this patient.</p>
        ) : (
          <ul className="current-list">
            {current.classes.map((c) => (
              <li key={c.atc3}>
                <code className="code">{c.atc3}</code> {atcName(c.name)}: {c.drugs.map((d) => d.recordedName).join(', ')}
              </li>
            ))}
          </ul>
        )}
      </details>
      <CoverageNote check={check} />
    </>
  )
}

/** Two drugs of one ATC level-4 group or one ingredient among the recommended and current drugs; open when the recommendation adds one. */
function DuplicationPanel({ result }: { result: RecommendationView }) {
  const duplications = result.recommendation.warnings.filter((w) => w.kind === 'duplication')
  if (duplications.length === 0) return null
  const introduced = duplications.filter((w) => w.scope === 'new').length
  return (
    <details className="details-panel" open={introduced > 0}>
      <summary>
        Therapeutic duplication ({duplications.length}
        {introduced > 0 ? `, ${introduced} introduced by this recommendation` : ''})
      </summary>
      <ul className="warning-list">
        {duplications.map((w) => (
          <li key={w.drugs.join('+')}>
            <SeverityBadge severity={w.severity} /> {w.detail}
            {w.scope === 'existing' ? ' (both already taken)' : ''} <span className="muted">({w.sources.join('; ')})</span>
          </li>
        ))}
      </ul>
    </details>
  )
}

function WarningList({ check, warnings }: { check: NonNullable<RecommendationView['ddiCheck']>; warnings: IndexedWarning[] }) {
  return (
    <ul className="warning-list">
      {warnings.map(({ warning, key }) => (
        <li key={key}>
          <SeverityBadge severity={warning.severity} /> <span className="pair">{pairText(check, warning)}</span>
          <EvidenceList warning={warning} />
        </li>
      ))}
    </ul>
  )
}
