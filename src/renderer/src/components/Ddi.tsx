// Pieces every DDI warning shows, in the recommendation and in the pharmacist review: the severity, the
// evidence per source (license, member drug pairs behind a class-level warning, effect and citation),
// and the coverage statement that says which sources were checked and what they do not cover.
import { drugLabel, severityClass } from '../format'
import { type DdiCheckResult, type DdiEvidence, type DdiWarning, SEVERITIES, type Severity } from '../../../shared/domain/interaction'

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span className={`severity-badge ${severityClass(severity)}`}>{severity === 'Unknown' ? 'Unrated' : severity}</span>
}

function memberCountText(evidence: DdiEvidence): string | null {
  const total = Object.values(evidence.counts).reduce((sum, n) => sum + n, 0)
  if (evidence.basis === 'class-signal') return 'class-level signal (no drug pairs listed)'
  if (total <= 1) return null
  const graded = SEVERITIES
    .filter((s) => evidence.counts[s] > 0)
    .map((s) => `${evidence.counts[s]} ${s === 'Unknown' ? 'unrated' : s.toLowerCase()}`)
  return `${total} member drug pairs: ${graded.join(', ')}`
}

/** Each source's evidence for one warning. */
export function EvidenceList({ warning }: { warning: DdiWarning }) {
  return (
    <ul className="evidence-list">
      {warning.evidence.map((evidence, index) => {
        const counts = memberCountText(evidence)
        return (
          <li key={`${evidence.source.key}-${index}`} className="evidence">
            <div className="evidence-source">
              <SeverityBadge severity={evidence.severity} /> <strong>{evidence.source.name}</strong>{' '}
              <span className="license">License: {evidence.source.license}</span>
            </div>
            {counts ? <div className="evidence-counts">{counts}</div> : null}
            {evidence.members.length > 0 ? (
              <ul className="member-pairs" aria-label="Member drug pairs">
                {evidence.members.map((member, m) => (
                  <li key={m}>
                    <span className="member-pair">
                      {member.a.name}
                      {member.a.code ? <code className="code"> {member.a.code}</code> : null} + {member.b.name}
                      {member.b.code ? <code className="code"> {member.b.code}</code> : null}
                    </span>{' '}
                    <span className={`member-severity ${severityClass(member.severity)}`}>{member.severity === 'Unknown' ? 'unrated' : member.severity.toLowerCase()}</span>
                    {member.effect ? <span className="member-effect"> — {member.effect}</span> : null}
                    {member.citation ? <span className="member-citation"> ({member.citation})</span> : null}
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        )
      })}
    </ul>
  )
}

/** "Warfarin (B01AA03) + Ibuprofen (M01AE01)" */
export function pairText(check: DdiCheckResult, warning: DdiWarning): string {
  return `${drugLabel(check.drugs[warning.a]?.label ?? '?')} + ${drugLabel(check.drugs[warning.b]?.label ?? '?')}`
}

/** Which sources were checked, their licenses, and what none of them covers. Never says "safe". */
export function CoverageNote({ check, title = 'Sources checked' }: { check: DdiCheckResult; title?: string }) {
  return (
    <section className="coverage-note" aria-label="Interaction sources and coverage">
      <h3>{title}</h3>
      <ul className="source-list">
        {check.checkedSources.map((source) => (
          <li key={source.key}>
            <strong>{source.name}</strong> — <span className="license">{source.license}</span>
            {source.severityGraded ? '' : ' (signals, not severity-graded)'}
            <div className="source-coverage">{source.coverageNote}</div>
          </li>
        ))}
      </ul>
      {check.notCovered.length > 0 ? (
        <p className="coverage-gaps">
          <strong>Not covered by any complete source:</strong>{' '}
          {check.notCovered.map((gap) => `${gap.groupA}×${gap.groupB} (${gap.pairs.length} pair${gap.pairs.length === 1 ? '' : 's'})`).join(', ')}.
          An interaction between these drug groups may exist without any warning here.
        </p>
      ) : null}
      <p className="coverage-not-safe">
        {check.warnings.length === 0 ? 'No interaction was found in these sources. ' : ''}The absence of a warning is not proof that a combination is
        safe.
      </p>
      <details className="coverage-full">
        <summary>Full statement of the check</summary>
        <p className="coverage-statement">{check.statement}</p>
      </details>
    </section>
  )
}
