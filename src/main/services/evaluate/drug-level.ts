// Drug-level figures of `medrec evaluate`. Each scored visit's recommended classes are resolved to drugs (ATC level 5)
// by the recommendation's own drug choice (recommend/drug-choice.ts: patientDrugsOf + chooseDrugs), as a
// recommendation for that visit makes it when the visit is given by its codes and only the earlier visits are stored:
// per class, the drug(s) of the most recent earlier visit with the class, else the within-class choice conditioned on
// the visit's codes. The visit's own drugs are the answer, never an input; later visits are never read. Scored against
// the visit's prescriptions resolved to drugs (its distinct ATC5 codes, any class), with metrics.ts's set scores, the
// share of drug pairs the app's interaction checker rates Major or Contraindicated, and summary.ts's patient-level
// bootstrap. PRAUC and ECE do not apply: the models give probabilities per class, not per drug.
import { isAtLeast, type Severity } from '../../../shared/domain/interaction'
import type { DdiChecker } from '../interactions/checker'
import { ATC5, chooseDrugs, patientDrugsOf } from '../recommend/drug-choice'
import { type DrugChoiceModel, visitCodeKeys } from '../recommend/drug-choice-model'
import type { BootstrapOptions, Interval } from './bootstrap'
import { setScores } from './metrics'
import type { StoredPatient, StoredVisit } from './stored-visits'
import { type MetricSummary, OutcomeTable, summarize } from './summary'

/** Drug pairs at or above this severity count as interacting (the app's interrupting tier, interactions/ddi-service.ts tierFor). */
export const DRUG_DDI_SEVERITY: Severity = 'Major'
export const DRUG_DDI_NAME = 'major-or-contraindicated'
const DRUG_DDI_KEY = `ddi:${DRUG_DDI_NAME}`
/** The figures reported at drug level, in order ("drugs": drugs per visit; the DDI share when a checker is loaded). */
const DRUG_METRICS = ['jaccard', 'f1', 'precision', 'recall', 'drugs', DRUG_DDI_KEY]

export const DRUG_IDENTITY =
  'ATC level-5 code: the medication row’s atc5 trimmed and upper-cased; a row without a well-formed ATC5 code has no drug (the same reading as the recommendation’s drug choice)'
export const DRUG_RULE =
  'per recommended class, the drug(s) of the most recent earlier visit with that class, else the within-class choice’s most probable member given the visit’s diagnosis and procedure codes (recommend/drug-choice.ts, as a recommendation for the visit given by its codes with only the earlier visits stored); no DDI-safe substitution'
export const DRUG_NOT_APPLICABLE = {
  prauc: 'not at drug level: the models give a probability per class, and a drug taken from history has none',
  ece: 'not at drug level: calibration concerns the per-class probabilities (see the class-level ECE)'
} as const

export interface DrugLevelSummary {
  visits: number
  patients: number
  /** jaccard, f1, precision, recall, drugs (drugs per visit), ddi:major-or-contraindicated (with a checker). */
  metrics: Record<string, Interval>
}

export interface DrugLevelEvaluation {
  visits: {
    evaluated: number
    patients: number
    /** Visits scored at class level without any prescription resolved to a drug: left out here. */
    withoutDrug: number
  }
  summary: DrugLevelSummary
  baselines: Array<{ id: 'previous-visit'; label: string; rule: string; summary: DrugLevelSummary }>
  /** The visits' own prescriptions: drugs per visit and their DDI share, beside the recommended ones. */
  recorded: DrugLevelSummary
  /** How the recommended classes of the scored visits got their drugs. */
  choices: { classes: number; fromHistory: number; fromModel: number; withoutDrug: number }
}

/** Per-visit drug-level scores (kept with --per-visit). */
export interface VisitDrugScore {
  jaccard: number
  f1: number
  precision: number
  recall: number
  predicted: string[]
  actual: string[]
}

/** The visit's prescriptions resolved to drugs: its distinct ATC5 codes, sorted. */
export function prescribedDrugs(visit: StoredVisit): string[] {
  const drugs = new Set<string>()
  for (const row of visit.drugRows) if (row.atc5 && ATC5.test(row.atc5)) drugs.add(row.atc5)
  return [...drugs].sort()
}

export interface RecommendedDrugs {
  drugs: string[]
  fromHistory: number
  fromModel: number
  withoutDrug: number
}

/**
 * The drugs a recommendation for the visit at `position` gives for `classes`: the drug choice over the patient's
 * earlier visits only (none is the current one), conditioned on the visit's own codes.
 */
export function recommendedDrugs(
  patient: StoredPatient,
  position: number,
  classes: ReadonlyArray<{ atc3: string; probability: number }>,
  model: DrugChoiceModel | null
): RecommendedDrugs {
  const visit = patient.visits[position]
  if (!visit) throw new RangeError(`Patient ${patient.id} has no visit at position ${position}.`)
  const earlier = patient.visits.slice(0, position)
  const taken = patientDrugsOf(
    earlier.flatMap((v) => v.drugRows),
    earlier.map((v) => v.id),
    null
  )
  const chosen = chooseDrugs({
    classes: classes.map((c) => ({ atc3: c.atc3, name: null, probability: c.probability })),
    patient: taken,
    model,
    codeKeys: visitCodeKeys(visit.codes),
    nameOf: () => null
  })
  const drugs = new Set<string>()
  const counts = { fromHistory: 0, fromModel: 0, withoutDrug: 0 }
  for (const cls of chosen) {
    for (const d of cls.drugs) drugs.add(d.atc5)
    if (cls.drugs.length === 0) counts.withoutDrug++
    else if (cls.drugs[0]!.source === 'history') counts.fromHistory++
    else counts.fromModel++
  }
  return { drugs: [...drugs].sort(), ...counts }
}

/** "Repeat the previous visit's drugs": the drugs of the patient's most recent earlier visit that has any. */
export function previousVisitDrugs(patient: StoredPatient, position: number): string[] {
  for (let p = position - 1; p >= 0; p--) {
    const drugs = prescribedDrugs(patient.visits[p]!)
    if (drugs.length > 0) return drugs
  }
  return []
}

/**
 * Drug pairs the checker rates Major or Contraindicated (any source). The checker looks at each pair on its own, so
 * each distinct pair is asked once and remembered in a triangular table over the drug codes met (a byte per pair of
 * the drugs the store and the drug choice hold): the same lists recur across visits, predictors and models.
 */
export class SevereDrugPairs {
  private readonly codeIds = new Map<string, number>()
  /** known[high][low] for two code ids low < high: 0 not asked yet, 1 not severe, 2 severe. */
  private readonly known: Uint8Array[] = []
  /** Sources of the severe pairs met. */
  readonly sources = new Set<string>()

  constructor(private readonly checker: DdiChecker) {}

  /** The severe unordered pairs among `drugs` (distinct ATC5 codes). */
  count(drugs: readonly string[]): number {
    const codes = [...new Set(drugs)]
    const ids = codes.map((code) => this.idOf(code))
    let pairs = 0
    for (let i = 0; i < codes.length; i++) {
      for (let j = i + 1; j < codes.length; j++) {
        const [low, high] = ids[i]! < ids[j]! ? [ids[i]!, ids[j]!] : [ids[j]!, ids[i]!]
        const state = this.known[high]![low] || this.ask(codes[i]!, codes[j]!, low, high)
        if (state === 2) pairs++
      }
    }
    return pairs
  }

  private idOf(code: string): number {
    let id = this.codeIds.get(code)
    if (id === undefined) {
      id = this.codeIds.size
      this.codeIds.set(code, id)
      this.known.push(new Uint8Array(id))
    }
    return id
  }

  private ask(a: string, b: string, low: number, high: number): number {
    const severe = this.checker.checkDrugs([a, b]).filter((p) => p.a !== p.b && isAtLeast(p.severity, DRUG_DDI_SEVERITY))
    for (const p of severe) this.sources.add(p.source)
    const state = severe.length > 0 ? 2 : 1
    this.known[high]![low] = state
    return state
  }
}

/** Set scores of two drug lists (metrics.ts's definitions). */
export function drugSetScores(predicted: readonly string[], actual: readonly string[]) {
  const union = [...new Set([...predicted, ...actual])]
  const p = new Set(predicted)
  const a = new Set(actual)
  return setScores(
    union.map((d) => (a.has(d) ? 1 : 0)),
    union.map((d) => (p.has(d) ? 1 : 0))
  )
}

// Drug tables keep no calibration (OutcomeTable(…, false)).
const NO_CALIBRATION = new Float64Array(0)

/** The drug-level outcome tables of one model: the model, the previous-visit baseline and the recorded prescriptions. */
export class DrugLevelTables {
  readonly model: OutcomeTable
  readonly previous: OutcomeTable
  readonly recorded: OutcomeTable
  readonly choices = { classes: 0, fromHistory: 0, fromModel: 0, withoutDrug: 0 }
  visitsWithoutDrug = 0

  /** `severe`: the DDI share's pair counter (one per evaluation, shared by its models); null: no checker. */
  constructor(private readonly severe: SevereDrugPairs | null) {
    const names = severe ? [DRUG_DDI_NAME] : []
    // No calibration: the drugs have no probabilities of their own.
    this.model = new OutcomeTable(names, false)
    this.previous = new OutcomeTable(names, false)
    this.recorded = new OutcomeTable(names, false)
  }

  private outcome(patientKey: number, predicted: readonly string[], actual: readonly string[]) {
    const scores = drugSetScores(predicted, actual)
    const ddiPairs = this.severe ? [this.severe.count(predicted)] : []
    return { outcome: { patientKey, scores: { ...scores, prauc: 0 }, predictedCount: predicted.length, ddiPairs, calibration: NO_CALIBRATION }, scores }
  }

  /** Counts a scored visit without any prescription resolved to a drug (left out of the drug-level figures). */
  leaveOut(): null {
    this.visitsWithoutDrug++
    return null
  }

  /** Adds one scored visit: `actual` its prescribed drugs (at least one), `recommended` the model's, `previous` the baseline's. */
  add(patientKey: number, actual: readonly string[], recommended: RecommendedDrugs, previous: readonly string[]): VisitDrugScore {
    if (actual.length === 0) throw new RangeError('A visit without prescribed drugs is left out (leaveOut), not scored.')
    const { outcome, scores } = this.outcome(patientKey, recommended.drugs, actual)
    this.model.add(outcome)
    this.choices.classes += recommended.fromHistory + recommended.fromModel + recommended.withoutDrug
    this.choices.fromHistory += recommended.fromHistory
    this.choices.fromModel += recommended.fromModel
    this.choices.withoutDrug += recommended.withoutDrug
    this.previous.add(this.outcome(patientKey, previous, actual).outcome)
    this.recorded.add(this.outcome(patientKey, actual, actual).outcome)
    return { ...scores, predicted: [...recommended.drugs], actual: [...actual] }
  }

  evaluation(bootstrap: BootstrapOptions): DrugLevelEvaluation {
    const summary = drugSummary(summarize(this.model, bootstrap))
    const recorded = drugSummary(summarize(this.recorded, bootstrap))
    recorded.metrics = Object.fromEntries(Object.entries(recorded.metrics).filter(([name]) => name === 'drugs' || name === DRUG_DDI_KEY))
    return {
      visits: { evaluated: summary.visits, patients: summary.patients, withoutDrug: this.visitsWithoutDrug },
      summary,
      baselines: [
        {
          id: 'previous-visit',
          label: "Repeat the previous visit's drugs",
          rule: "the drugs (ATC5) of the patient's most recent earlier visit that had any; none before: predicts nothing",
          summary: drugSummary(summarize(this.previous, bootstrap))
        }
      ],
      recorded,
      choices: { ...this.choices }
    }
  }
}

/** A summary's drug-level figures only (PRAUC and ECE do not apply). */
function drugSummary(summary: MetricSummary): DrugLevelSummary {
  const metrics: Record<string, Interval> = {}
  for (const name of DRUG_METRICS) if (summary.metrics[name]) metrics[name] = summary.metrics[name]
  return { visits: summary.visits, patients: summary.patients, metrics }
}
