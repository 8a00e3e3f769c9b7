// Patient → Review: the pharmacist enters a proposed prescription, sees its DDI warnings (among the
// proposed drugs and against the current medications), the model's view of each proposed drug (expected,
// unusual for this patient) and of classes it expects but nobody proposed, decides on each major and
// moderate warning (accept: the prescription will change; override with a reason), and records the
// review in the audit log. The patient's earlier reviews are listed below.
import { atcName, drugLabel, percent, timeOfDay } from '../../format'
import type { OverrideReason, ProposedDrugAssessment, ReviewCheck, ReviewRecord, ReviewWarningView } from '../../../../shared/domain/review'
import type { DdiWarning } from '../../../../shared/domain/interaction'
import type { PatientTimeline } from '../../../../shared/domain/patient'
import { useEffect, useMemo } from 'react'
import { DrugPicker } from './DrugPicker'
import { decisionProblem, type DraftDecision, emptyDecision, useReview } from './store'
import { CoverageNote, EvidenceList, SeverityBadge } from '../../components/Ddi'
import { ProgressBar } from '../../components/ProgressBar'
import { Empty, ErrorState, FormError } from '../../components/StatusMessage'
import { ProbabilityBar } from '../recommend/RecommendTab'
import '../../screens.css'

export const OVERRIDE_REASONS: Record<OverrideReason, string> = {
  'will-monitor': 'Will monitor',
  'will-adjust-dose': 'Will adjust the dose',
  'previously-tolerated': 'Previously tolerated',
  other: 'Other (explain)'
}

const FLAG_TEXT: Record<ProposedDrugAssessment['flag'], string> = {
  expected: 'Expected',
  possible: 'Possible',
  unusual: 'Unusual for this patient',
  'not-in-model': 'Not scored (class not in the model)',
  'no-model': 'No model score'
}

export function ReviewTab({ timeline }: { timeline: PatientTimeline }) {
  return <ReviewPanel key={timeline.patient.id} patientId={timeline.patient.id} />
}

function ReviewPanel({ patientId }: { patientId: number }) {
  const { proposed, check, decisions, note, submit, open, add, remove, setDecision, setNote, retryCheck, record } = useReview()
  useEffect(() => open(patientId), [open, patientId])

  const codes = useMemo(() => proposed.map((p) => p.code), [proposed])
  const data = check.status === 'ready' ? check.data : null
  const required = data?.warnings.filter((w) => w.decisionRequired) ?? []
  const problems = required.map((w) => ({ warning: w, problem: decisionProblem(decisions[w.key]) })).filter((p) => p.problem !== null)

  return (
    <div className="review-tab">
      <section className="review-proposal" aria-labelledby="proposal-heading">
        <h2 id="proposal-heading" className="section-heading">
          Proposed prescription
        </h2>
        <DrugPicker onPick={add} exclude={new Set(codes)} />
        {proposed.length === 0 ? (
          <p className="hint">Add the drugs of the prescription to check them against each other and against the current medications.</p>
        ) : (
          <ul className="proposed-chips" aria-label="Proposed drugs">
            {proposed.map((p) => (
              <li key={p.code} className="chip">
                <code className="code">{p.code}</code> {p.name}
                <button type="button" className="chip-remove" aria-label={`Remove ${p.name}`} onClick={() => remove(p.code)}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>


      {check.status === 'loading' ? <ProgressBar label="Checking interactions and scoring the proposed drugs…" /> : null}
      {check.status === 'error' ? (
        <ErrorState title="The prescription could not be checked." message={check.error ?? ''} onRetry={retryCheck} />
      ) : null}
      {data ? (
        <>
          <ModelAssessment check={data} />
          <WarningsToDecide check={data} decisions={decisions} onDecide={setDecision} />
          <section className="review-record" aria-labelledby="record-heading">
            <h2 id="record-heading" className="section-heading">
              Record the review
            </h2>
            <label htmlFor="review-note" className="field-label">
              Note (optional)
            </label>
            <textarea
              id="review-note"
              className="note-input"
              rows={2}
              maxLength={2000}
              value={note}
              onChange={(event) => setNote(event.target.value)}
            />
            {problems.length > 0 ? (
              <p className="hint" id="record-blocked">
                {problems.length} warning{problems.length === 1 ? '' : 's'} still need{problems.length === 1 ? 's' : ''} a decision:{' '}
                {problems.slice(0, 4).map((p) => `${p.warning.key} (${p.problem})`).join('; ')}
                {problems.length > 4 ? `; and ${problems.length - 4} more.` : '.'}
              </p>
            ) : null}
            <FormError prefix="The review was not recorded" error={submit.error} />
            <button
              type="button"
              className="button button-primary record-button"
              disabled={problems.length > 0 || submit.saving || submit.saved !== null || check.status !== 'ready'}
              aria-describedby={problems.length > 0 ? 'record-blocked' : undefined}
              onClick={() => void record()}
            >
              {submit.saving ? 'Recording…' : submit.saved ? 'Recorded' : 'Record review'}
            </button>
            {submit.saved ? (
              <p className="saved-note" role="status">
                Review recorded: {OUTCOME_TEXT[submit.saved.outcome]} (audit #{submit.saved.auditId}, {submit.saved.userName},{' '}
                {timeOfDay(submit.saved.createdAt)}). It is listed in the review history below.
              </p>
            ) : null}
          </section>
        </>
      ) : null}
      <ReviewHistory />
    </div>
  )
}

function ModelAssessment({ check }: { check: ReviewCheck }) {
  return (
    <section className="model-assessment" aria-labelledby="assessment-heading">
      <h2 id="assessment-heading" className="section-heading">
        The model’s view{check.model ? ` (${check.model.id} v${check.model.version})` : ''}
      </h2>
      {check.modelError ? (
        <p className="form-error" role="note">
          No model score: {check.modelError}
        </p>
      ) : null}
      <table className="assessment-table">
        <thead>
          <tr>
            <th scope="col">Proposed drug</th>
            <th scope="col">Class</th>
            <th scope="col">Model probability</th>
            <th scope="col">Flag</th>
          </tr>
        </thead>
        <tbody>
          {check.proposed.map((p) => (
            <tr key={p.input} data-input={p.input} className={p.flag === 'unusual' ? 'is-unusual' : undefined}>
              <td>
                {drugLabel(p.label)}
                {p.alreadyTaking ? <span className="status-badge status-taking"> already taking</span> : null}
              </td>
              <td>{p.atc3.join(', ') || '—'}</td>
              <td>{p.probability !== null ? <ProbabilityBar probability={p.probability} threshold={check.model?.threshold} /> : '—'}</td>
              <td>
                <span className={`flag flag-${p.flag}`}>{FLAG_TEXT[p.flag]}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {check.model ? (
        <p className="hint">
          Expected: at or above the model’s threshold ({percent(check.model.threshold, 0)}). Unusual: below {percent(check.model.unusualBelow, 0)}, a fifth
          of the threshold — worth a second look, not an error.
        </p>
      ) : null}
      {check.likelyMissing.length > 0 ? (
        <div className="likely-missing">
          <h3>Possibly missing: the model expects these classes, and neither the proposal nor the current list has them</h3>
          <ul>
            {check.likelyMissing.map((m) => (
              <li key={m.atc3}>
                <code className="code">{m.atc3}</code> {atcName(m.name)} ({percent(m.probability)})
                {m.drugs.length > 0 ? (
                  <>
                    {' '}
                    — e.g.{' '}
                    {m.drugs.map((d, i) => (
                      <span key={d.atc5}>
                        {i > 0 ? ', ' : ''}
                        {d.name ?? d.atc5} <code className="code">{d.atc5}</code>
                      </span>
                    ))}
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  )
}

function WarningsToDecide({
  check,
  decisions,
  onDecide
}: {
  check: ReviewCheck
  decisions: Record<string, DraftDecision>
  onDecide(key: string, change: Partial<DraftDecision>): void
}) {
  const ddi = check.ddi
  if (!ddi) {
    return (
      <section className="coverage-note is-unavailable" role="note">
        <h2 className="section-heading">Interactions were not checked</h2>
        <p>{check.ddiUnavailable} Without a check no review can be recorded.</p>
      </section>
    )
  }
  const items = check.warnings.map((view, i) => ({ view, warning: ddi.warnings[i]! }))
  const major = items.filter((x) => x.view.decisionRequired && x.view.tier === 'interrupt')
  const moderate = items.filter((x) => x.view.decisionRequired && x.view.tier === 'inline')
  const minor = items.filter((x) => x.view.tier === 'details' && x.view.roles.includes('proposed'))
  const existing = items.filter((x) => !x.view.roles.includes('proposed'))
  const undecidedModerate = moderate.filter((x) => !decisions[x.view.key]?.action)
  return (
    <section className="review-warnings" aria-labelledby="warnings-heading">
      <h2 id="warnings-heading" className="section-heading">
        Interaction warnings{' '}
        <span className="muted">
          ({major.length} major or contraindicated, {moderate.length} moderate, {minor.length} minor; {check.currentMedications.classes.length} current
          medication classes checked{check.notChecked.length > 0 ? `, ${check.notChecked.length} current drug(s) unknown to the sources` : ''})
        </span>
      </h2>
      {major.length + moderate.length === 0 ? (
        <p className="no-warning-note">
          No major or moderate interaction was found in the sources below. This is not proof that the prescription is safe: check what
          the sources do not cover.
        </p>
      ) : null}
      {major.length > 0 ? (
        <div className="decision-group is-major" role="group" aria-label="Major and contraindicated warnings">
          <h3>Major and contraindicated — decide on each</h3>
          {major.map((x) => (
            <WarningDecisionCard key={x.view.key} view={x.view} warning={x.warning} decision={decisions[x.view.key]} onDecide={onDecide} />
          ))}
        </div>
      ) : null}
      {moderate.length > 0 ? (
        <div className="decision-group is-moderate" role="group" aria-label="Moderate warnings">
          <h3>
            Moderate{' '}
            {undecidedModerate.length > 1 ? (
              <button
                type="button"
                className="button button-small"
                onClick={() => undecidedModerate.forEach((x) => onDecide(x.view.key, { action: 'override', reason: 'will-monitor' }))}
              >
                Mark the {undecidedModerate.length} undecided moderate warnings “override — will monitor”
              </button>
            ) : null}
          </h3>
          {moderate.map((x) => (
            <WarningDecisionCard key={x.view.key} view={x.view} warning={x.warning} decision={decisions[x.view.key]} onDecide={onDecide} />
          ))}
        </div>
      ) : null}
      <details className="details-panel">
        <summary>Minor and unrated interactions with the proposed drugs ({minor.length})</summary>
        <WarningSummaryList items={minor} />
      </details>
      <details className="details-panel">
        <summary>Interactions between current medications only ({existing.length}) — not changed by this prescription</summary>
        <WarningSummaryList items={existing} />
      </details>
      {check.notChecked.length > 0 ? (
        <details className="details-panel">
          <summary>Current drugs not checked ({check.notChecked.length})</summary>
          <ul>
            {check.notChecked.map((n) => (
              <li key={n.input}>{n.reason}</li>
            ))}
          </ul>
        </details>
      ) : null}
      <CoverageNote check={ddi} />
    </section>
  )
}

function roleText(role: 'proposed' | 'current'): string {
  return role === 'proposed' ? 'proposed' : 'current'
}

function WarningDecisionCard({
  view,
  warning,
  decision,
  onDecide
}: {
  view: ReviewWarningView
  warning: DdiWarning
  decision: DraftDecision | undefined
  onDecide(key: string, change: Partial<DraftDecision>): void
}) {
  const id = `decision-${view.key.replace(/[^A-Za-z0-9]/g, '-')}`
  const current = decision ?? emptyDecision
  return (
    <article className={`warning-card tier-${view.tier}`} aria-labelledby={`${id}-title`} data-warning-key={view.key}>
      <h4 id={`${id}-title`}>
        <SeverityBadge severity={view.severity} /> {drugLabel(view.drugs[0])} <span className="role">({roleText(view.roles[0])})</span> +{' '}
        {drugLabel(view.drugs[1])} <span className="role">({roleText(view.roles[1])})</span>
      </h4>
      <details>
        <summary>Evidence and sources</summary>
        <EvidenceList warning={warning} />
      </details>
      <fieldset className="decision">
        <legend className="visually-hidden">Decision on {view.key}</legend>
        <label>
          <input type="radio" name={id} checked={current.action === 'accept'} onChange={() => onDecide(view.key, { action: 'accept', reason: null, reasonText: '' })} />{' '}
          Accept — the prescription will be changed
        </label>
        <label>
          <input type="radio" name={id} checked={current.action === 'override'} onChange={() => onDecide(view.key, { action: 'override' })} /> Override
        </label>
        <label className="visually-hidden" htmlFor={`${id}-reason`}>
          Override reason for {view.key}
        </label>
        <select
          id={`${id}-reason`}
          value={current.reason ?? ''}
          disabled={current.action !== 'override'}
          onChange={(event) => onDecide(view.key, { reason: (event.target.value || null) as OverrideReason | null })}
        >
          <option value="">Reason…</option>
          {(Object.keys(OVERRIDE_REASONS) as OverrideReason[]).map((reason) => (
            <option key={reason} value={reason}>
              {OVERRIDE_REASONS[reason]}
            </option>
          ))}
        </select>
        {current.action === 'override' && current.reason === 'other' ? (
          <>
            <label className="visually-hidden" htmlFor={`${id}-text`}>
              Explain the override of {view.key}
            </label>
            <input
              id={`${id}-text`}
              className="reason-text"
              type="text"
              maxLength={1000}
              placeholder="Explain the reason"
              value={current.reasonText}
              onChange={(event) => onDecide(view.key, { reasonText: event.target.value })}
            />
          </>
        ) : null}
      </fieldset>
    </article>
  )
}

function WarningSummaryList({ items }: { items: Array<{ view: ReviewWarningView; warning: DdiWarning }> }) {
  if (items.length === 0) return <p className="hint">None found in the sources checked.</p>
  return (
    <ul className="warning-list">
      {items.map(({ view, warning }) => (
        <li key={view.key}>
          <SeverityBadge severity={view.severity} /> {drugLabel(view.drugs[0])} + {drugLabel(view.drugs[1])}
          <EvidenceList warning={warning} />
        </li>
      ))}
    </ul>
  )
}

const OUTCOME_TEXT: Record<ReviewRecord['outcome'], string> = {
  approved: 'approved',
  'approved-with-overrides': 'approved with overrides',
  'changes-required': 'changes required'
}

function ReviewHistory() {
  const state = useReview((s) => s.history)
  const loadHistory = useReview((s) => s.loadHistory)
  return (
    <section className="review-history" aria-labelledby="history-heading">
      <h2 id="history-heading" className="section-heading">
        Review history
      </h2>
      {state.status === 'loading' ? (
        <ProgressBar label="Loading earlier reviews…" />
      ) : state.status === 'error' ? (
        <ErrorState title="The review history could not be loaded." message={state.error ?? ''} onRetry={loadHistory} />
      ) : state.records.length === 0 ? (
        <Empty>No review has been recorded for this patient.</Empty>
      ) : (
        <ol className="history-list">
          {state.records.map((record) => (
            <li key={record.auditId} className={`history-item outcome-${record.outcome}`}>
              <div className="history-head">
                <strong>{timeOfDay(record.createdAt)}</strong> · {record.userName} · <span className="outcome">{OUTCOME_TEXT[record.outcome]}</span> · audit #
                {record.auditId}
              </div>
              <div>Proposed: {record.proposed.map((p) => drugLabel(p.label)).join(', ')}</div>
              {record.decisions.length > 0 ? (
                <details>
                  <summary>
                    {record.decisions.length} decision{record.decisions.length === 1 ? '' : 's'} (
                    {record.decisions.filter((d) => d.action === 'override').length} overridden)
                  </summary>
                  <ul>
                    {record.decisions.map((d) => (
                      <li key={d.warningKey}>
                        <SeverityBadge severity={d.severity} /> {drugLabel(d.drugs[0])} + {drugLabel(d.drugs[1])}:{' '}
                        {d.action === 'accept' ? 'accepted (prescription to change)' : `overridden — ${d.reason ? OVERRIDE_REASONS[d.reason] : ''}${d.reasonText ? `: ${d.reasonText}` : ''}`}
                      </li>
                    ))}
                  </ul>
                </details>
              ) : null}
              {record.note ? <div className="history-note">Note: {record.note}</div> : null}
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
