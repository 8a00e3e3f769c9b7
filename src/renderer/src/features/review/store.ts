// The open patient's pharmacist review: the proposed drugs, their check (interactions, the model's view), the
// decisions on its warnings, the note, recording it, and the patient's earlier reviews. Like the Recommend tab's
// store, every request is tagged and a superseded answer (another patient, a changed proposal) is dropped.
import { create } from 'zustand'
import type { WarningDecision } from '../../../../shared/api/review'
import type { DrugSearchHit } from '../../../../shared/domain/drug'
import type { OverrideReason, ReviewCheck, ReviewRecord } from '../../../../shared/domain/review'
import { api, errorText } from '../../api'
import { atcName } from '../../format'
import type { LoadStatus } from '../patients/store'

/** The check waits this long after the last change to the proposal (typing several drugs checks once). */
const CHECK_DELAY_MS = 300

export interface ProposedEntry {
  code: string
  name: string
}

export interface DraftDecision {
  action: 'accept' | 'override' | null
  reason: OverrideReason | null
  reasonText: string
}

export const emptyDecision: DraftDecision = { action: null, reason: null, reasonText: '' }

/** Why a warning's draft decision cannot be recorded yet; null when it can. */
export function decisionProblem(decision: DraftDecision | undefined): string | null {
  if (!decision?.action) return 'no decision'
  if (decision.action === 'override' && !decision.reason) return 'override without a reason'
  if (decision.action === 'override' && decision.reason === 'other' && !decision.reasonText.trim()) return '“other” without an explanation'
  return null
}

interface ReviewState {
  patientId: number | null
  proposed: ProposedEntry[]
  check: { status: LoadStatus; data: ReviewCheck | null; error: string | null }
  decisions: Record<string, DraftDecision>
  note: string
  submit: { saving: boolean; error: string | null; saved: ReviewRecord | null }
  history: { status: Exclude<LoadStatus, 'idle'>; records: ReviewRecord[]; error: string | null }

  /** Opens a patient: a new, empty review and its history (kept as it is when it is the same patient). */
  open(patientId: number): void
  add(hit: DrugSearchHit): void
  remove(code: string): void
  setDecision(key: string, change: Partial<DraftDecision>): void
  setNote(note: string): void
  /** Checks the proposal again (after an error). */
  retryCheck(): void
  record(): Promise<void>
  loadHistory(): void
}

let checkTag = 0
let historyTag = 0
let checkTimer: ReturnType<typeof setTimeout> | null = null

const fresh = (patientId: number | null): Pick<ReviewState, 'patientId' | 'proposed' | 'check' | 'decisions' | 'note' | 'submit' | 'history'> => ({
  patientId,
  proposed: [],
  check: { status: 'idle', data: null, error: null },
  decisions: {},
  note: '',
  submit: { saving: false, error: null, saved: null },
  history: { status: 'loading', records: [], error: null }
})

export const useReview = create<ReviewState>((set, get) => {
  /** Any change after a recorded (or failed) review starts a new one, which re-enables Record. */
  const startOver = (): void => {
    const { submit } = get()
    if (submit.saved || submit.error) set({ submit: { saving: false, error: null, saved: null } })
  }

  const scheduleCheck = (): void => {
    const { patientId, proposed } = get()
    const tag = ++checkTag
    if (checkTimer) clearTimeout(checkTimer)
    checkTimer = null
    if (patientId === null || proposed.length === 0) {
      set({ check: { status: 'idle', data: null, error: null } })
      return
    }
    set((s) => ({ check: { status: 'loading', data: s.check.data, error: null } }))
    const codes = proposed.map((p) => p.code)
    checkTimer = setTimeout(() => {
      api()['review:check']({ patientId, proposed: codes })
        .then((data) => tag === checkTag && set({ check: { status: 'ready', data, error: null } }))
        .catch((error: unknown) => tag === checkTag && set({ check: { status: 'error', data: null, error: errorText(error) } }))
    }, CHECK_DELAY_MS)
  }

  return {
    ...fresh(null),

    open(patientId) {
      if (get().patientId === patientId) return
      checkTag++
      if (checkTimer) clearTimeout(checkTimer)
      set(fresh(patientId))
      get().loadHistory()
    },

    add(hit) {
      startOver()
      const { proposed } = get()
      if (proposed.some((p) => p.code === hit.code)) return
      set({ proposed: [...proposed, { code: hit.code, name: hit.level === 3 ? atcName(hit.name) : hit.name }] })
      scheduleCheck()
    },

    remove(code) {
      startOver()
      set((s) => ({ proposed: s.proposed.filter((p) => p.code !== code) }))
      scheduleCheck()
    },

    setDecision(key, change) {
      startOver()
      set((s) => ({ decisions: { ...s.decisions, [key]: { ...emptyDecision, ...s.decisions[key], ...change } } }))
    },

    setNote(note) {
      startOver()
      set({ note })
    },

    retryCheck: scheduleCheck,

    async record() {
      const { patientId, check, decisions, proposed, note } = get()
      const data = check.status === 'ready' ? check.data : null
      if (patientId === null || !data) return
      set({ submit: { saving: true, error: null, saved: null } })
      const chosen: WarningDecision[] = data.warnings
        .filter((w) => decisions[w.key]?.action)
        .map((w) => {
          const d = decisions[w.key]!
          return d.action === 'override'
            ? { warningKey: w.key, action: 'override', reason: d.reason ?? undefined, reasonText: d.reasonText.trim() || undefined }
            : { warningKey: w.key, action: 'accept' }
        })
      try {
        const saved = await api()['review:submit']({ patientId, proposed: proposed.map((p) => p.code), decisions: chosen, note: note.trim() || undefined })
        if (get().patientId !== patientId) return
        set({ submit: { saving: false, error: null, saved } })
        get().loadHistory()
      } catch (error) {
        if (get().patientId === patientId) set({ submit: { saving: false, error: errorText(error), saved: null } })
      }
    },

    loadHistory() {
      const { patientId } = get()
      if (patientId === null) return
      const tag = ++historyTag
      api()['review:history'](patientId)
        .then((records) => tag === historyTag && set({ history: { status: 'ready', records, error: null } }))
        .catch((error: unknown) => tag === historyTag && set({ history: { status: 'error', records: [], error: errorText(error) } }))
    }
  }
})
