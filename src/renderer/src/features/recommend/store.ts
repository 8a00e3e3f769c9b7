// The open patient's recommendation, its warning acknowledgement, and the explanation and molecules of
// the selected class. Each request is tagged; a superseded answer (another patient, newer options) is
// dropped.
import type { AppSettings } from '../../../../shared/domain/settings'
import type { ExplanationView } from '../../../../shared/domain/explanation'
import type { RecommendationView } from '../../../../shared/domain/recommendation'
import type { BlockSeverity } from '../../../../shared/domain/interaction'
import type { ClassMolecules } from '../../../../shared/domain/drug'
import { create } from 'zustand'
import { api, errorText } from '../../api'
import type { LoadStatus } from '../patients/store'

export interface RecommendOptions {
  /** null: the model's threshold. */
  threshold: number | null
  /** A guaranteed miss rate (the model's conformal threshold) instead of the threshold; null: not used. */
  missRate: number | null
  ddiSafe: boolean
  blockSeverity: BlockSeverity
  maxDdiRate: number | null
}

export function optionsFromSettings(settings: AppSettings | null): RecommendOptions {
  return {
    threshold: settings?.thresholdOverride ?? null,
    missRate: null,
    ddiSafe: settings?.ddiSafe.enabled ?? true,
    blockSeverity: settings?.ddiSafe.blockSeverity ?? 'Contraindicated',
    maxDdiRate: settings?.ddiSafe.maxDdiRate ?? null
  }
}

interface Acknowledgement {
  auditId: number
  createdAt: string
  userName: string
  keys: string[]
}

interface Loadable<T> {
  status: LoadStatus
  data: T | null
  error: string | null
  /** The class it is for. */
  atc3: string | null
}

const idle = <T,>(): Loadable<T> => ({ status: 'idle', data: null, error: null, atc3: null })

interface RecommendState {
  patientId: number | null
  options: RecommendOptions | null
  status: LoadStatus
  result: RecommendationView | null
  error: string | null
  acknowledgement: Acknowledgement | null
  ackSaving: boolean
  ackError: string | null
  selected: string | null
  explanation: Loadable<ExplanationView>
  molecules: Loadable<ClassMolecules>

  /** Opens a patient: resets everything when it is another patient. */
  openPatient(patientId: number, defaults: RecommendOptions): void
  setOptions(options: RecommendOptions): void
  run(): Promise<void>
  acknowledge(keys: string[]): Promise<void>
  select(atc3: string): void
}

let latestRun = 0
let latestExplain = 0
let latestMolecules = 0

export const useRecommend = create<RecommendState>((set, get) => ({
  patientId: null,
  options: null,
  status: 'idle',
  result: null,
  error: null,
  acknowledgement: null,
  ackSaving: false,
  ackError: null,
  selected: null,
  explanation: idle(),
  molecules: idle(),

  openPatient(patientId, defaults) {
    if (get().patientId === patientId && get().options) return
    latestRun++
    latestExplain++
    latestMolecules++
    set({
      patientId,
      options: defaults,
      status: 'idle',
      result: null,
      error: null,
      acknowledgement: null,
      ackError: null,
      selected: null,
      explanation: idle(),
      molecules: idle()
    })
    void get().run()
  },

  setOptions(options) {
    set({ options })
  },

  async run() {
    const { patientId, options } = get()
    if (patientId === null || !options) return
    const request = ++latestRun
    set({ status: 'loading', error: null })
    try {
      const result = await api()['recommend:run']({
        patientId,
        ...(options.missRate !== null ? { threshold: null, missRate: options.missRate } : { threshold: options.threshold }),
        ddiSafe: options.ddiSafe ? { blockSeverity: options.blockSeverity, maxDdiRate: options.maxDdiRate } : null
      })
      if (request !== latestRun) return
      const selected = get().selected
      const keep = selected !== null && result.classes.some((c) => c.atc3 === selected)
      set({ result, status: 'ready', acknowledgement: null, ackError: null })
      const first = result.classes[0]?.atc3 ?? null
      if (!keep && first) get().select(first)
      if (!keep && !first) set({ selected: null, explanation: idle(), molecules: idle() })
    } catch (error) {
      if (request !== latestRun) return
      set({ status: 'error', error: errorText(error), result: null })
    }
  },

  async acknowledge(keys) {
    const { result, patientId } = get()
    if (!result || patientId === null) return
    const recommendationAuditId = result.recommendation.auditId
    // Recommendations shown in the workspace are always audited; an acknowledgement cites that entry.
    if (recommendationAuditId === null) {
      set({ ackError: 'This recommendation was not recorded in the audit log, so its warnings cannot be acknowledged. Run it again.' })
      return
    }
    set({ ackSaving: true, ackError: null })
    try {
      const ack = await api()['recommend:acknowledge']({
        patientId,
        recommendationAuditId,
        combination: result.recommendation.combination,
        drugs: result.recommendation.classes.flatMap((c) => c.drugs.map((d) => d.atc5)),
        warningKeys: keys
      })
      if (get().result !== result) return
      set({ acknowledgement: { ...ack, keys }, ackSaving: false })
    } catch (error) {
      set({ ackSaving: false, ackError: errorText(error) })
    }
  },

  select(atc3) {
    const { patientId, options, result } = get()
    if (patientId === null) return
    set({ selected: atc3 })
    // With a miss rate, the explanation uses the threshold that rate gave the recommendation.
    const threshold = options?.missRate != null ? (result?.recommendation.threshold ?? null) : (options?.threshold ?? null)
    const explainRequest = ++latestExplain
    set({ explanation: { status: 'loading', data: null, error: null, atc3 } })
    api()['explain:drug']({ patientId, atc3, threshold })
      .then((data) => {
        if (explainRequest === latestExplain) set({ explanation: { status: 'ready', data, error: null, atc3 } })
      })
      .catch((error: unknown) => {
        if (explainRequest === latestExplain) set({ explanation: { status: 'error', data: null, error: errorText(error), atc3 } })
      })
    const moleculeRequest = ++latestMolecules
    set({ molecules: { status: 'loading', data: null, error: null, atc3 } })
    api()['drugs:molecules']({ atc3, limit: 4 })
      .then((data) => {
        if (moleculeRequest === latestMolecules) set({ molecules: { status: 'ready', data, error: null, atc3 } })
      })
      .catch((error: unknown) => {
        if (moleculeRequest === latestMolecules) set({ molecules: { status: 'error', data: null, error: errorText(error), atc3 } })
      })
  }
}))
