// Patient list (paged on the server, so 100k patients cost one page at a time) and the open
// patient's timeline. Each load tags its request so a slow, superseded answer is dropped.
import { type PatientPage, type PatientTimeline, TIMELINE_PAGE_VISITS } from '../../../../shared/domain/patient'
import { create } from 'zustand'
import { api, errorText } from '../../api'

export const PAGE_SIZE = 50

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error'

interface PatientsState {
  search: string
  offset: number
  page: PatientPage | null
  listStatus: LoadStatus
  listError: string | null
  /** Row of the current page that keyboard navigation is on. */
  activeIndex: number

  selectedId: number | null
  timeline: PatientTimeline | null
  timelineStatus: LoadStatus
  timelineError: string | null
  /** Loading the page of visits before the first one shown ("Show earlier visits"). */
  earlierStatus: LoadStatus
  earlierError: string | null

  loadList(): Promise<void>
  setSearch(search: string): void
  goToOffset(offset: number): void
  setActiveIndex(index: number): void
  openPatient(patientId: number): Promise<void>
  reloadTimeline(): Promise<void>
  loadEarlierVisits(): Promise<void>
}

let latestListRequest = 0
let latestTimelineRequest = 0

export const usePatients = create<PatientsState>((set, get) => ({
  search: '',
  offset: 0,
  page: null,
  listStatus: 'idle',
  listError: null,
  activeIndex: 0,
  selectedId: null,
  timeline: null,
  timelineStatus: 'idle',
  timelineError: null,
  earlierStatus: 'idle',
  earlierError: null,

  async loadList() {
    const request = ++latestListRequest
    const { search, offset } = get()
    set({ listStatus: 'loading', listError: null })
    try {
      const page = await api()['patients:list']({ search: search || undefined, offset, limit: PAGE_SIZE })
      if (request !== latestListRequest) return
      const activeIndex = Math.min(get().activeIndex, Math.max(page.patients.length - 1, 0))
      set({ page, listStatus: 'ready', activeIndex })
    } catch (error) {
      if (request !== latestListRequest) return
      set({ listStatus: 'error', listError: errorText(error) })
    }
  },

  setSearch(search) {
    if (search === get().search) return
    set({ search, offset: 0, activeIndex: 0 })
    void get().loadList()
  },

  goToOffset(offset) {
    const total = get().page?.total ?? 0
    const clamped = Math.max(0, Math.min(offset, Math.max(total - 1, 0)))
    const pageStart = clamped - (clamped % PAGE_SIZE)
    if (pageStart === get().offset && get().listStatus === 'ready') return
    set({ offset: pageStart, activeIndex: 0 })
    void get().loadList()
  },

  setActiveIndex(index) {
    set({ activeIndex: index })
  },

  async openPatient(patientId) {
    const request = ++latestTimelineRequest
    set({ selectedId: patientId, timelineStatus: 'loading', timelineError: null, earlierStatus: 'idle', earlierError: null })
    try {
      // The most recent visits first; earlier ones on request, so a long record opens as fast as a short one.
      const timeline = await api()['patients:timeline'](patientId, { latest: TIMELINE_PAGE_VISITS })
      if (request !== latestTimelineRequest) return
      set({ timeline, timelineStatus: 'ready' })
    } catch (error) {
      if (request !== latestTimelineRequest) return
      set({ timeline: null, timelineStatus: 'error', timelineError: errorText(error) })
    }
  },

  async reloadTimeline() {
    const { selectedId } = get()
    if (selectedId !== null) await get().openPatient(selectedId)
  },

  async loadEarlierVisits() {
    const shown = get().timeline
    const first = shown?.visits[0]
    if (!shown || !first || shown.earlierVisits === 0 || get().earlierStatus === 'loading') return
    const request = latestTimelineRequest // another patient opened meanwhile: drop this answer
    set({ earlierStatus: 'loading', earlierError: null })
    try {
      const earlier = await api()['patients:timeline'](shown.patient.id, { latest: TIMELINE_PAGE_VISITS, beforeVisitId: first.id })
      if (request !== latestTimelineRequest || get().timeline !== shown) return
      set({
        timeline: { patient: shown.patient, visits: [...earlier.visits, ...shown.visits], earlierVisits: earlier.earlierVisits },
        earlierStatus: 'ready'
      })
    } catch (error) {
      if (request !== latestTimelineRequest) return
      set({ earlierStatus: 'error', earlierError: errorText(error) })
    }
  }
}))
