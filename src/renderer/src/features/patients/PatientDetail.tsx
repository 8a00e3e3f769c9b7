// The open patient: a header and one tab per patient tool. Recommend and Review tabs are added
// to PATIENT_TABS when those services exist.
import type { PatientTimeline } from '../../../../shared/domain/patient'
import { useState, type ComponentType } from 'react'
import { Empty, ErrorState, Loading } from '../../components/StatusMessage'
import { formatDate, plural, sourceLabel } from '../../format'
import { usePatients } from './store'
import { RecommendTab } from '../recommend/RecommendTab'
import { ReviewTab } from '../review/ReviewTab'
import { Timeline } from './Timeline'

interface PatientTab {
  id: string
  label: string
  Component: ComponentType<{ timeline: PatientTimeline }>
}

const PATIENT_TABS: readonly PatientTab[] = [
  { id: 'timeline', label: 'Visit history', Component: Timeline },
  { id: 'recommend', label: 'Recommend', Component: RecommendTab },
  { id: 'review', label: 'Pharmacist review', Component: ReviewTab }
]

export function PatientDetail() {
  const selectedId = usePatients((s) => s.selectedId)
  const timeline = usePatients((s) => s.timeline)
  const status = usePatients((s) => s.timelineStatus)
  const error = usePatients((s) => s.timelineError)
  const reloadTimeline = usePatients((s) => s.reloadTimeline)
  const [tabId, setTabId] = useState(PATIENT_TABS[0]?.id)

  let body
  if (selectedId === null) body = <Empty>Select a patient to see their visits, diagnoses, procedures and medications.</Empty>
  else if (status === 'error') body = <ErrorState title="This patient could not be opened." message={error ?? ''} onRetry={() => void reloadTimeline()} />
  else if (status === 'loading' || !timeline) body = <Loading>Loading patient…</Loading>
  else {
    const { patient } = timeline
    const tab = PATIENT_TABS.find((candidate) => candidate.id === tabId) ?? PATIENT_TABS[0]
    body = (
      <>
        <div className="patient-sticky">
          <header className="patient-header">
            <h1>
              Patient {patient.sourcePatientId} <span className={`source-tag source-${patient.source}`}>{sourceLabel(patient.source)}</span>
            </h1>
            <p className="patient-facts">
              {patient.sex ? `Sex ${patient.sex} · ` : ''}
              {plural(patient.visitCount, 'visit')}
              {patient.firstVisit ? ` · ${formatDate(patient.firstVisit)} to ${formatDate(patient.lastVisit)}` : ''}
            </p>
            {patient.source !== 'eicu' && patient.firstVisit ? (
              <p className="patient-note">Dates are shifted for de-identification; intervals between visits are real.</p>
            ) : null}
          </header>
          <div className="tabs" role="tablist" aria-label="Patient tools">
            {PATIENT_TABS.map((candidate) => (
              <button
                key={candidate.id}
                type="button"
                role="tab"
                id={`tab-${candidate.id}`}
                aria-selected={candidate.id === tab?.id}
                aria-controls={`tabpanel-${candidate.id}`}
                className="tab"
                onClick={() => setTabId(candidate.id)}
              >
                {candidate.label}
              </button>
            ))}
          </div>
        </div>
        {tab ? (
          <div role="tabpanel" id={`tabpanel-${tab.id}`} aria-labelledby={`tab-${tab.id}`} className="tabpanel">
            <tab.Component timeline={timeline} />
          </div>
        ) : null}
      </>
    )
  }

  return (
    <section className="patient-detail" aria-label="Patient">
      {body}
    </section>
  )
}
