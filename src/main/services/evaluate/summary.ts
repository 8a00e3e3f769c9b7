// Per-visit outcomes of one predictor (a model or a baseline) and their summary with patient-level
// bootstrap intervals. A visit keeps only a few numbers (scores, counts, calibration sums), never its
// probabilities, so memory grows by a few hundred bytes per evaluated visit.
import { type BootstrapOptions, type Interval, patientBootstrap } from './bootstrap'
import { CALIBRATION_BINS, eceFromCalibration, type ReliabilityPoint, reliabilityPoints } from './metrics'

/** Averaged over a patient's visits, then over patients (metrics.py's PER_PATIENT_METRICS). */
export const PER_PATIENT_METRICS = ['jaccard', 'f1', 'prauc', 'precision', 'recall'] as const
export type PerPatientMetric = (typeof PER_PATIENT_METRICS)[number]

export interface VisitOutcome {
  patientKey: number
  scores: Record<PerPatientMetric, number>
  predictedCount: number
  /** Interacting predicted pairs per DDI matrix, in the table's matrix order. */
  ddiPairs: readonly number[]
  /** [count, Σp, Σy] per calibration bin over the visit's classes; ignored by a table without calibration. */
  calibration: Float64Array
}

const CAL = 3 * CALIBRATION_BINS

/**
 * Outcomes in flat rows: [5 scores, predicted, all pairs, ddi pairs × M, calibration × 30]. Without calibration
 * (drug level: no probability per drug) the rows stop before it and summaries have no ECE.
 */
export class OutcomeTable {
  readonly width: number
  private readonly rows: Float64Array[] = []
  readonly patientKeys: number[] = []

  constructor(
    readonly ddiNames: readonly string[],
    readonly calibrated = true
  ) {
    this.width = PER_PATIENT_METRICS.length + 2 + ddiNames.length + (calibrated ? CAL : 0)
  }

  get size(): number {
    return this.rows.length
  }

  add(outcome: VisitOutcome): void {
    const row = new Float64Array(this.width)
    PER_PATIENT_METRICS.forEach((name, i) => (row[i] = outcome.scores[name]))
    const base = PER_PATIENT_METRICS.length
    row[base] = outcome.predictedCount
    row[base + 1] = (outcome.predictedCount * (outcome.predictedCount - 1)) / 2
    outcome.ddiPairs.forEach((n, m) => (row[base + 2 + m] = n))
    if (this.calibrated) row.set(outcome.calibration, base + 2 + this.ddiNames.length)
    this.rows.push(row)
    this.patientKeys.push(outcome.patientKey)
  }

  row(i: number): Float64Array {
    return this.rows[i]!
  }

  score(i: number, metric: PerPatientMetric): number {
    return this.rows[i]![PER_PATIENT_METRICS.indexOf(metric)]!
  }
}

export interface MetricSummary {
  visits: number
  patients: number
  /** jaccard, f1, prauc, precision, recall, drugs (#classes per visit), ddi:<matrix> per matrix, ece. */
  metrics: Record<string, Interval>
  reliability: ReliabilityPoint[]
}

export function metricNames(ddiNames: readonly string[], calibrated = true): string[] {
  return [...PER_PATIENT_METRICS, 'drugs', ...ddiNames.map((n) => `ddi:${n}`), ...(calibrated ? ['ece'] : [])]
}

/**
 * Summary of the rows `include` accepts (all by default): point estimates as metrics.py computes them
 * and 95% intervals from resampling the patients those rows belong to.
 */
export function summarize(table: OutcomeTable, bootstrap: BootstrapOptions, include?: (row: number) => boolean): MetricSummary {
  const m = table.ddiNames.length
  const p = PER_PATIENT_METRICS.length
  const cal = table.calibrated ? CAL : 0
  // Per-patient sums: [visits, Σ scores × 5, Σ predicted, Σ pairs, Σ ddi × M, calibration × 30].
  const perPatient = new Map<number, Float64Array>()
  const width = 1 + table.width
  for (let i = 0; i < table.size; i++) {
    if (include && !include(i)) continue
    const key = table.patientKeys[i]!
    let sums = perPatient.get(key)
    if (!sums) perPatient.set(key, (sums = new Float64Array(width)))
    sums[0]! += 1
    const row = table.row(i)
    for (let k = 0; k < table.width; k++) sums[1 + k]! += row[k]!
  }
  const patients = [...perPatient.values()]
  const visits = patients.reduce((n, s) => n + s[0]!, 0)
  const calibrationAt = 1 + p + 2 + m
  const statistic = (weights: Float64Array): number[] => {
    let weightSum = 0
    const patientMeans = new Float64Array(p)
    let visitSum = 0
    let predicted = 0
    let pairs = 0
    const ddi = new Float64Array(m)
    const calibration = new Float64Array(cal)
    patients.forEach((sums, j) => {
      const w = weights[j]!
      if (w === 0) return
      weightSum += w
      for (let k = 0; k < p; k++) patientMeans[k]! += (w * sums[1 + k]!) / sums[0]!
      visitSum += w * sums[0]!
      predicted += w * sums[1 + p]!
      pairs += w * sums[2 + p]!
      for (let k = 0; k < m; k++) ddi[k]! += w * sums[3 + p + k]!
      for (let k = 0; k < cal; k++) calibration[k]! += w * sums[calibrationAt + k]!
    })
    return [
      ...Array.from(patientMeans, (s) => (weightSum ? s / weightSum : 0)),
      visitSum ? predicted / visitSum : 0,
      ...Array.from(ddi, (s) => (pairs ? s / pairs : 0)),
      ...(cal ? [eceFromCalibration(calibration)] : [])
    ]
  }
  const intervals = patientBootstrap(patients.length, statistic, bootstrap)
  const metrics: Record<string, Interval> = {}
  metricNames(table.ddiNames, table.calibrated).forEach((name, k) => (metrics[name] = intervals[k]!))
  if (!cal) return { visits, patients: patients.length, metrics, reliability: [] }
  const calibration = new Float64Array(CAL)
  for (const sums of patients) for (let k = 0; k < CAL; k++) calibration[k]! += sums[calibrationAt + k]!
  return { visits, patients: patients.length, metrics, reliability: reliabilityPoints(calibration) }
}
