// Searchable, paged patient list. Keyboard: ↓ from the search box enters the list; ↑/↓, Home/End
// move; PageUp/PageDown change page; Enter opens the patient.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { Empty, ErrorState, Loading } from '../../components/StatusMessage'
import { formatCount, formatDate, plural, sourceLabel } from '../../format'
import { PAGE_SIZE, usePatients } from './store'

const SEARCH_DELAY_MS = 250
const optionId = (patientId: number) => `patient-option-${patientId}`

export function PatientList() {
  const { search, offset, page, listStatus, listError, activeIndex, selectedId } = usePatients(
    useShallow((s) => ({
      search: s.search,
      offset: s.offset,
      page: s.page,
      listStatus: s.listStatus,
      listError: s.listError,
      activeIndex: s.activeIndex,
      selectedId: s.selectedId
    }))
  )
  const { loadList, setSearch, goToOffset, setActiveIndex, openPatient } = usePatients.getState()
  const [draft, setDraft] = useState(search)
  const listRef = useRef<HTMLDivElement>(null)

  useEffect(() => {
    if (usePatients.getState().listStatus === 'idle') void loadList()
  }, [loadList])

  // Search as the user types, once they pause.
  useEffect(() => {
    const timer = setTimeout(() => setSearch(draft.trim()), SEARCH_DELAY_MS)
    return () => clearTimeout(timer)
  }, [draft, setSearch])

  const patients = page?.patients ?? []
  const total = page?.total ?? 0
  const active = patients[activeIndex]

  useEffect(() => {
    if (active) document.getElementById(optionId(active.id))?.scrollIntoView({ block: 'nearest' })
  }, [active])

  function onListKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    const last = patients.length - 1
    const moves: Record<string, () => void> = {
      ArrowDown: () => setActiveIndex(Math.min(activeIndex + 1, last)),
      ArrowUp: () => setActiveIndex(Math.max(activeIndex - 1, 0)),
      Home: () => setActiveIndex(0),
      End: () => setActiveIndex(Math.max(last, 0)),
      PageDown: () => goToOffset(offset + PAGE_SIZE),
      PageUp: () => goToOffset(offset - PAGE_SIZE),
      Enter: () => active && void openPatient(active.id),
      ' ': () => active && void openPatient(active.id)
    }
    const move = moves[event.key]
    if (move) {
      event.preventDefault()
      move()
    }
  }

  const hasPrevious = offset > 0
  const hasNext = offset + PAGE_SIZE < total
  const pageCount = Math.max(1, Math.ceil(total / PAGE_SIZE))

  return (
    <section className="patient-list-panel" aria-label="Patients">
      <div className="list-toolbar">
        <label className="search-label" htmlFor="patient-search">
          Find patient
        </label>
        <input
          id="patient-search"
          className="search-input"
          type="search"
          placeholder="Patient id, e.g. 10000032"
          autoComplete="off"
          spellCheck={false}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === 'ArrowDown' || event.key === 'Enter') {
              event.preventDefault()
              setSearch(draft.trim())
              listRef.current?.focus()
            }
          }}
          aria-describedby="patient-list-summary"
        />
        <p id="patient-list-summary" className="list-summary" aria-live="polite">
          {page && listStatus !== 'error'
            ? total === 0
              ? 'No patients'
              : `${formatCount(offset + 1)}–${formatCount(offset + patients.length)} of ${plural(total, 'patient')}`
            : '\u00a0'}
        </p>
      </div>

      {listStatus === 'error' ? (
        <ErrorState title="The patient list could not be loaded." message={listError ?? ''} onRetry={() => void loadList()} />
      ) : !page ? (
        <Loading>Loading patients…</Loading>
      ) : total === 0 ? (
        <Empty>
          {search ? (
            <>No patient id starts with “{search}”.</>
          ) : (
            <>The patient database is empty. Build the demo database or import your hospital’s export with the medrec command.</>
          )}
        </Empty>
      ) : (
        <div
          ref={listRef}
          className={`patient-listbox${listStatus === 'loading' ? ' is-refreshing' : ''}`}
          role="listbox"
          tabIndex={0}
          aria-label="Patients, use arrow keys and Enter to open"
          aria-activedescendant={active ? optionId(active.id) : undefined}
          aria-busy={listStatus === 'loading'}
          onKeyDown={onListKeyDown}
        >
          {patients.map((patient, index) => (
            <div
              key={patient.id}
              id={optionId(patient.id)}
              role="option"
              aria-selected={patient.id === selectedId}
              className={`patient-option${index === activeIndex ? ' is-active' : ''}${patient.id === selectedId ? ' is-selected' : ''}`}
              onClick={() => {
                setActiveIndex(index)
                void openPatient(patient.id)
              }}
            >
              <div className="patient-option-main">
                <span className="patient-id">{patient.sourcePatientId}</span>
                <span className={`source-tag source-${patient.source}`}>{sourceLabel(patient.source)}</span>
              </div>
              <div className="patient-option-meta">
                {plural(patient.visitCount, 'visit')}
                {patient.sex ? ` · ${patient.sex}` : ''}
                {patient.firstVisit ? ` · first ${formatDate(patient.firstVisit)}` : ''}
              </div>
            </div>
          ))}
        </div>
      )}

      {page && listStatus !== 'error' && total > 0 ? (
        <nav className="pager" aria-label="Patient list pages">
          <button type="button" className="button" disabled={!hasPrevious} onClick={() => goToOffset(offset - PAGE_SIZE)}>
            ‹ Previous
          </button>
          <span className="pager-position">
            Page {formatCount(Math.floor(offset / PAGE_SIZE) + 1)} of {formatCount(pageCount)}
          </span>
          <button type="button" className="button" disabled={!hasNext} onClick={() => goToOffset(offset + PAGE_SIZE)}>
            Next ›
          </button>
        </nav>
      ) : null}
    </section>
  )
}
