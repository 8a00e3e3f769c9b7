// The evaluation's metric primitives against the training package's metrics.py (the same definitions, run
// in the project's Python on the same seeded data), and the ECE and the patient-level bootstrap on
// synthetic data with known answers.
import { describe, expect, it } from 'vitest'
import { patientBootstrap, quantileSorted, seededRandom } from '../../src/main/services/evaluate/bootstrap'
import { addPatientCounts, emptyCounts, mostFrequentLeavingOut } from '../../src/main/services/evaluate/evaluate'
import {
  addToCalibration,
  allPairs,
  averagePrecision,
  CALIBRATION_BINS,
  DdiMatrix,
  eceFromCalibration,
  expectedCalibrationError,
  interactingPairs,
  reliabilityPoints,
  setScores
} from '../../src/main/services/evaluate/metrics'
import type { StoredPatient } from '../../src/main/services/evaluate/stored-visits'
import { OutcomeTable, summarize } from '../../src/main/services/evaluate/summary'
import { runTrainingPython } from './python'

function normal(random: () => number): number {
  // Box–Muller.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

describe('metric definitions agree with training/medrec_training/metrics.py', () => {
  it('Jaccard, precision, recall, F1, average precision (with ties), DDI rate and ECE on seeded random visits', () => {
    const random = seededRandom(5)
    const visits = 300
    const classes = 24
    // Scores on a coarse grid so that ties occur, as in models whose probabilities saturate.
    const truth = Array.from({ length: visits }, () => Array.from({ length: classes }, () => (random() < 0.25 ? 1 : 0)))
    const scores = Array.from({ length: visits }, () => Array.from({ length: classes }, () => Math.round(random() * 20) / 20))
    const pairs: Array<[number, number]> = Array.from({ length: 40 }, () => [Math.floor(random() * classes), Math.floor(random() * classes)])
    const threshold = 0.45
    const predicted = scores.map((row) => row.map((p) => (p >= threshold ? 1 : 0)))
    const script = `
import json, sys
import numpy as np
from medrec_training import metrics
d = json.load(sys.stdin)
t = np.array(d["truth"]) > 0.5; s = np.array(d["scores"]); p = s >= d["threshold"]
adj = np.zeros((${classes}, ${classes}))
for a, b in d["pairs"]: adj[a, b] = 1
out = {"sets": [metrics.set_scores(t[i], p[i]) for i in range(len(t))],
       "ap": [metrics.average_precision(t[i], s[i]) for i in range(len(t))],
       "ddi": metrics.ddi_rate(p, adj), "ece": metrics.expected_calibration_error(t, s)}
json.dump(out, sys.stdout)`
    const python = JSON.parse(runTrainingPython(['-c', script], JSON.stringify({ truth, scores, pairs, threshold }))) as {
      sets: Array<Record<string, number>>
      ap: number[]
      ddi: number
      ece: number
    }
    const matrix = new DdiMatrix('random', classes, pairs)
    let interacting = 0
    let possible = 0
    for (let i = 0; i < visits; i++) {
      const mine = setScores(truth[i]!, predicted[i]!)
      for (const key of ['jaccard', 'precision', 'recall', 'f1'] as const) expect(mine[key]).toBeCloseTo(python.sets[i]![key]!, 12)
      expect(averagePrecision(truth[i]!, scores[i]!)).toBeCloseTo(python.ap[i]!, 12)
      const columns = predicted[i]!.flatMap((p, c) => (p ? [c] : []))
      interacting += interactingPairs(columns, matrix)
      possible += allPairs(columns.length)
    }
    expect(interacting / possible).toBeCloseTo(python.ddi, 12)
    expect(expectedCalibrationError(truth.flat(), scores.flat())).toBeCloseTo(python.ece, 12)
  })
})

describe('expected calibration error on data with known answers', () => {
  it('is 0 when every bin’s observed rate equals its probability', () => {
    const probabilities = [...Array(100).fill(0.7), ...Array(10).fill(0.2)]
    const truth = [...Array(70).fill(1), ...Array(30).fill(0), ...Array(2).fill(1), ...Array(8).fill(0)]
    expect(expectedCalibrationError(truth, probabilities)).toBeCloseTo(0, 12)
  })

  it('is the weighted gap: 0.9 predicted for events that happen half the time gives 0.4', () => {
    expect(expectedCalibrationError([1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9])).toBeCloseTo(0.4, 12)
    // Two equal bins with gaps 0.05 and 0.25: (0.05 + 0.25) / 2.
    const p = [...Array(20).fill(0.15), ...Array(20).fill(0.85)]
    const y = [...Array(2).fill(1), ...Array(18).fill(0), ...Array(12).fill(1), ...Array(8).fill(0)]
    expect(expectedCalibrationError(y, p)).toBeCloseTo(0.15, 12)
  })

  it('puts 1.0 in the last bin and each bin edge in the bin above it, and gives the diagram’s points', () => {
    const sums = new Float64Array(3 * CALIBRATION_BINS)
    addToCalibration(sums, [1, 0, 1], [1.0, 0.1, 0.95])
    const points = reliabilityPoints(sums)
    expect(points.map((p) => [p.bin, p.count])).toEqual([
      [1, 1],
      [9, 2]
    ])
    expect(points[1]!.meanProbability).toBeCloseTo(0.975, 12)
    expect(points[1]!.observedRate).toBe(1)
    expect(eceFromCalibration(sums)).toBeCloseTo((1 / 3) * 0.1 + (2 / 3) * 0.025, 12)
  })
})

describe('patient-level bootstrap on synthetic data with known answers', () => {
  const meanStatistic = (values: number[]) => (weights: Float64Array) => {
    let s = 0
    let w = 0
    values.forEach((v, i) => {
      s += weights[i]! * v
      w += weights[i]!
    })
    return [s / w]
  }

  it('gives the normal-theory 95% interval of a mean (±1.96 σ/√n) for many patients', () => {
    const random = seededRandom(11)
    const n = 2000
    const values = Array.from({ length: n }, () => 0.4 + 0.1 * normal(random))
    const mean = values.reduce((a, b) => a + b, 0) / n
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n)
    const [interval] = patientBootstrap(n, meanStatistic(values), { replicates: 2000, seed: 3 })
    const halfWidth = (interval!.high! - interval!.low!) / 2
    expect(interval!.value).toBeCloseTo(mean, 12)
    expect(halfWidth / ((1.96 * sd) / Math.sqrt(n))).toBeGreaterThan(0.9)
    expect(halfWidth / ((1.96 * sd) / Math.sqrt(n))).toBeLessThan(1.1)
  })

  it('covers the true mean about 95% of the time over repeated samples', () => {
    const random = seededRandom(23)
    let covered = 0
    const experiments = 300
    for (let e = 0; e < experiments; e++) {
      // Per-patient Jaccard-like values in [0, 1], true mean 0.3 (Beta-free: a clipped uniform mixture).
      const values = Array.from({ length: 150 }, () => (random() < 0.5 ? random() * 0.6 : 0.3))
      const [interval] = patientBootstrap(values.length, meanStatistic(values), { replicates: 400, seed: e })
      if (interval!.low! <= 0.3 && 0.3 <= interval!.high!) covered++
    }
    expect(covered / experiments).toBeGreaterThan(0.9)
    expect(covered / experiments).toBeLessThan(0.985)
  })

  it('is reproducible for a seed and differs for another', () => {
    const values = Array.from({ length: 50 }, (_, i) => (i * 7919) % 13)
    const a = patientBootstrap(50, meanStatistic(values), { replicates: 300, seed: 1 })
    const b = patientBootstrap(50, meanStatistic(values), { replicates: 300, seed: 1 })
    const c = patientBootstrap(50, meanStatistic(values), { replicates: 300, seed: 2 })
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
  })

  it('resamples patients, not visits: ten identical visits per patient give the interval of one visit per patient', () => {
    const random = seededRandom(8)
    const patientValues = Array.from({ length: 200 }, () => random())
    const table = (visitsPerPatient: number) => {
      const t = new OutcomeTable([])
      patientValues.forEach((v, patient) => {
        for (let k = 0; k < visitsPerPatient; k++) {
          t.add({
            patientKey: patient,
            scores: { jaccard: v, f1: v, prauc: v, precision: v, recall: v },
            predictedCount: 1,
            ddiPairs: [],
            calibration: new Float64Array(3 * CALIBRATION_BINS)
          })
        }
      })
      return t
    }
    const options = { replicates: 500, seed: 4 }
    const one = summarize(table(1), options).metrics.jaccard!
    const ten = summarize(table(10), options).metrics.jaccard!
    expect(ten).toEqual(one)
    // Treating the 2000 visits as independent would have shrunk the interval by about √10.
    const asVisits = new OutcomeTable([])
    patientValues.forEach((v, patient) => {
      for (let k = 0; k < 10; k++) {
        asVisits.add({ patientKey: patient * 10 + k, scores: { jaccard: v, f1: v, prauc: v, precision: v, recall: v }, predictedCount: 1, ddiPairs: [], calibration: new Float64Array(30) })
      }
    })
    const independent = summarize(asVisits, options).metrics.jaccard!
    expect((one.high! - one.low!) / (independent.high! - independent.low!)).toBeGreaterThan(2.5)
  })

  it('averages per patient, then over patients, as metrics.py does', () => {
    const t = new OutcomeTable([])
    const add = (patientKey: number, jaccard: number) =>
      t.add({ patientKey, scores: { jaccard, f1: 0, prauc: 0, precision: 0, recall: 0 }, predictedCount: 2, ddiPairs: [], calibration: new Float64Array(30) })
    add(1, 1)
    add(1, 0)
    add(2, 1)
    const summary = summarize(t, { replicates: 0, seed: 1 })
    expect(summary.metrics.jaccard!.value).toBeCloseTo(0.75, 12)
    expect(summary.metrics.jaccard!.low).toBeNull()
    expect(summary.visits).toBe(3)
    expect(summary.patients).toBe(2)
  })

  it('interpolates quantiles as numpy does', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5)
    expect(quantileSorted([0, 10], 0.025)).toBeCloseTo(0.25, 12)
  })
})

describe('most-frequent baseline, leave-patient-out', () => {
  const visit = (id: number, classes: string[]): StoredPatient['visits'][number] => ({
    id,
    sourceVisitId: String(id),
    startsOn: null,
    ageAtAdmission: null,
    codes: { diagnoses: [], procedures: [], medications: classes },
    medicationRows: classes.length,
    unmappedMedicationRows: 0,
    rowsByClass: new Map(classes.map((c) => [c, 1])),
    drugRows: []
  })
  const patient = (id: number, visits: string[][]): StoredPatient => ({ id, sourcePatientId: String(id), source: 'eicu', sex: null, visits: visits.map((v, i) => visit(id * 10 + i, v)) })
  const columnOf = new Map([
    ['A01A', 0],
    ['B01A', 1],
    ['C07A', 2]
  ])

  it("uses only the other patients' visits: a patient's own prescriptions never raise its own baseline", () => {
    // The patient takes C07A at every one of its many visits; nobody else does.
    const self = patient(1, [['C07A'], ['C07A'], ['C07A'], ['C07A'], ['C07A', 'A01A']])
    const others = [patient(2, [['A01A', 'B01A']]), patient(3, [['A01A'], ['A01A', 'B01A'], ['X99X']])]
    const population = emptyCounts(3)
    for (const p of [self, ...others]) addPatientCounts(population, p, columnOf)
    const own = emptyCounts(3)
    addPatientCounts(own, self, columnOf)
    const { frequency, predicted } = mostFrequentLeavingOut(population, own)
    // Others' eligible visits: 3 (the X99X visit has no class the model knows); A01A in 3, B01A in 2, C07A in 0.
    expect(Array.from(frequency)).toEqual([1, 2 / 3, 0])
    // K = round(5 classes / 3 visits) = 2.
    expect(Array.from(predicted)).toEqual([1, 1, 0])
    // Counted with the patient included, C07A would have been the most frequent class.
    const withSelf = mostFrequentLeavingOut(population, emptyCounts(3))
    expect(withSelf.frequency[2]).toBeGreaterThan(withSelf.frequency[1]!)
  })
})
