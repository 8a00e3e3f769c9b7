// A patient's visits in time order with coded diagnoses and procedures and the medications given.
import { type CodedEntry, formatAge, type MedicationEntry, type PatientTimeline, TIMELINE_PAGE_VISITS, type VisitDetail } from '../../../../shared/domain/patient'
import { Empty, FormError } from '../../components/StatusMessage'
import { formatDateTime, lengthOfStay, plural } from '../../format'
import { usePatients } from './store'

export function Timeline({ timeline }: { timeline: PatientTimeline }) {
  const { visits, earlierVisits } = timeline
  if (visits.length === 0) return <Empty>No visits are recorded for this patient.</Empty>
  const count = earlierVisits + visits.length
  return (
    <>
      {earlierVisits > 0 ? <EarlierVisits count={earlierVisits} /> : null}
      <ol className="timeline" aria-label="Visits, oldest first" start={earlierVisits + 1}>
        {visits.map((visit, index) => (
          <li key={visit.id} className="timeline-item">
            <VisitCard visit={visit} number={earlierVisits + index + 1} count={count} />
          </li>
        ))}
      </ol>
    </>
  )
}

/** The record opens on its most recent visits; the earlier ones load a page at a time. */
function EarlierVisits({ count }: { count: number }) {
  const status = usePatients((s) => s.earlierStatus)
  const error = usePatients((s) => s.earlierError)
  const loadEarlierVisits = usePatients((s) => s.loadEarlierVisits)
  return (
    <div className="timeline-earlier">
      <button type="button" className="button" onClick={() => void loadEarlierVisits()} disabled={status === 'loading'} aria-busy={status === 'loading'}>
        {status === 'loading' ? 'Loading earlier visits…' : `Show ${plural(Math.min(count, TIMELINE_PAGE_VISITS), 'earlier visit')}`}
      </button>{' '}
      <span className="count">({plural(count, 'earlier visit')} not shown)</span>
      <FormError prefix="Earlier visits could not be loaded" error={status === 'error' ? error : null} />
    </div>
  )
}

function visitWhen(visit: VisitDetail): string {
  if (!visit.admitTime) return visit.orderLabel
  const stay = lengthOfStay(visit.admitTime, visit.dischargeTime)
  const discharge = visit.dischargeTime ? ` to ${formatDateTime(visit.dischargeTime)}` : ''
  return `${formatDateTime(visit.admitTime)}${discharge}${stay ? ` (${stay})` : ''}`
}

function VisitCard({ visit, number, count }: { visit: VisitDetail; number: number; count: number }) {
  const headingId = `visit-${visit.id}-heading`
  return (
    <article className="visit" aria-labelledby={headingId} data-visit-id={visit.sourceVisitId}>
      <header className="visit-header">
        <h2 id={headingId}>
          Visit {number} of {count}
        </h2>
        <span className="visit-when">{visitWhen(visit)}</span>
        {visit.ageAtAdmission !== null ? (
          <span className="visit-age" title="Age at the visit, in years (90+: 90 or older, as the sources record it)">
            {formatAge(visit.ageAtAdmission)} y
          </span>
        ) : null}
        <span className="visit-source-id" title={visit.orderLabel}>
          Source visit {visit.sourceVisitId}
        </span>
      </header>
      <div className="visit-codes">
        <CodeSection title="Diagnoses" entries={visit.diagnoses} />
        <CodeSection title="Procedures" entries={visit.procedures} />
      </div>
      <MedicationSection medications={visit.medications} />
    </article>
  )
}

function CodeSection({ title, entries }: { title: string; entries: CodedEntry[] }) {
  return (
    <details className="visit-section" open>
      <summary>
        {title} <span className="count">({entries.length})</span>
      </summary>
      {entries.length === 0 ? (
        <p className="none">None recorded.</p>
      ) : (
        <ul className="code-list">
          {entries.map((entry) => (
            <li key={`${entry.system}:${entry.code}`}>
              <code className="code" title={entry.system}>
                {entry.code}
              </code>
              <span className={entry.title ? 'code-title' : 'code-title missing'}>{entry.title ?? 'No title in the code dictionary'}</span>
            </li>
          ))}
        </ul>
      )}
    </details>
  )
}

interface MedicationGroup {
  medication: MedicationEntry
  orders: number
}

/** Repeated orders of the same drug in one visit are shown once with their count. */
function groupMedications(medications: MedicationEntry[]): MedicationGroup[] {
  const groups = new Map<string, MedicationGroup>()
  for (const medication of medications) {
    // Rows without a name are told apart by the source's own drug code (eICU HICL).
    const nameOrCode = medication.rawName.trim() || `code:${medication.otherId ?? ''}`
    const key = [nameOrCode, medication.atc5, medication.atc3, medication.mappingMethod].join('\u0000')
    const group = groups.get(key)
    if (group) group.orders += medication.orderCount
    else groups.set(key, { medication, orders: medication.orderCount })
  }
  return [...groups.values()]
}

const MAPPED_BY: Record<MedicationEntry['mappingMethod'], string> = {
  ndc: 'by NDC',
  gsn: 'by GSN',
  name: 'by name',
  unmapped: ''
}

function MedicationSection({ medications }: { medications: MedicationEntry[] }) {
  const groups = groupMedications(medications)
  const unmapped = groups.filter((group) => group.medication.mappingMethod === 'unmapped').length
  const orders = groups.reduce((sum, group) => sum + group.orders, 0)
  return (
    <details className="visit-section medications" open>
      <summary>
        Medications <span className="count">({plural(groups.length, 'drug')}{orders !== groups.length ? `, ${plural(orders, 'order')}` : ''}{unmapped ? `, ${unmapped} unmapped` : ''})</span>
      </summary>
      {groups.length === 0 ? (
        <p className="none">None recorded.</p>
      ) : (
        <table className="medication-table">
          <colgroup>
            <col className="col-name" />
            <col className="col-class" />
            <col className="col-code" />
            <col className="col-mapping" />
          </colgroup>
          <thead>
            <tr>
              <th scope="col">Medication as recorded</th>
              <th scope="col">ATC class</th>
              <th scope="col">ATC code</th>
              <th scope="col">Mapped</th>
            </tr>
          </thead>
          <tbody>
            {groups.map(({ medication, orders }, index) => (
              <tr key={index} className={medication.mappingMethod === 'unmapped' ? 'is-unmapped' : undefined}>
                <td>
                  {medication.rawName.trim() || (
                    <span className="missing">no name recorded{medication.otherId ? ` (source drug code ${medication.otherId})` : ''}</span>
                  )}
                  {orders > 1 ? <span className="orders"> ×{orders}</span> : null}
                </td>
                <td>
                  {medication.atc3 ? (
                    <>
                      <code className="code">{medication.atc3}</code> {medication.atc3Name ?? <span className="missing">name not in ATC index</span>}
                    </>
                  ) : (
                    <span className="missing">—</span>
                  )}
                </td>
                <td>{medication.atc5 ? <code className="code">{medication.atc5}</code> : <span className="missing">—</span>}</td>
                <td>
                  {medication.mappingMethod === 'unmapped' ? (
                    <span className="badge badge-unmapped" title="No ATC class could be assigned from the NDC, GSN or drug name.">
                      unmapped
                    </span>
                  ) : (
                    MAPPED_BY[medication.mappingMethod]
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </details>
  )
}
