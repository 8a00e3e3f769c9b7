// Conformal risk control of the miss rate on synthetic data with known answers, its guarantee checked by
// simulation, and the Python twin (training/medrec_training/conformal.py) giving the same threshold.
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/main/services/evaluate/bootstrap'
import { type CalibrationVisit, missRateThreshold } from '../../src/main/services/evaluate/conformal'
import { runTrainingPython } from './python'

/** 99 patients, one visit each, one prescribed class scoring i/100 (i = 1..99), every other class 0. */
const ladder = (): CalibrationVisit[] =>
  Array.from({ length: 99 }, (_, k) => ({ unit: k, truth: [1, 0, 0], scores: [(k + 1) / 100, 0, 0] }))

/** Exchangeable synthetic patients: 8 classes, prescribed with probability 0.3, scores noisy around the truth. */
function simulate(random: () => number, patients: number, firstUnit = 0): CalibrationVisit[] {
  const visits: CalibrationVisit[] = []
  for (let p = 0; p < patients; p++) {
    const count = 1 + Math.floor(random() * 3)
    for (let v = 0; v < count; v++) {
      const truth = Array.from({ length: 8 }, () => (random() < 0.3 ? 1 : 0))
      const scores = truth.map((t) => Math.min(1, Math.max(0, (t ? 0.6 : 0.3) + 0.25 * (random() + random() + random() - 1.5))))
      visits.push({ unit: firstUnit + p, truth, scores })
    }
  }
  return visits
}

/** Mean over patients of the mean miss rate of their visits at threshold t. */
function missRate(visits: readonly CalibrationVisit[], t: number): number {
  const byUnit = new Map<number | string, number[]>()
  for (const v of visits) {
    let positives = 0
    let missed = 0
    for (let c = 0; c < v.truth.length; c++) {
      if (v.truth[c]) {
        positives++
        if (v.scores[c]! < t) missed++
      }
    }
    if (positives > 0) byUnit.set(v.unit, [...(byUnit.get(v.unit) ?? []), missed / positives])
  }
  const means = [...byUnit.values()].map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length)
  return means.reduce((a, b) => a + b, 0) / means.length
}

describe('conformal miss-rate threshold', () => {
  it('finds the known threshold: at most 100α − 1 of 99 prescribed classes may score below it', () => {
    // α = 0.1: (99 R + 1) / 100 ≤ 0.1 ⇔ at most 9 misses ⇔ t = 0.10 (0.01 … 0.09 are missed).
    const at10 = missRateThreshold(ladder(), 0.1)
    expect(at10.threshold).toBeCloseTo(0.1, 12)
    expect(at10.calibrationMissRate).toBeCloseTo(9 / 99, 12)
    expect(at10.bound).toBeCloseTo(0.1, 12)
    expect(at10.units).toBe(99)
    expect(missRateThreshold(ladder(), 0.2).threshold).toBeCloseTo(0.2, 12)
    expect(missRateThreshold(ladder(), 0.05).threshold).toBeCloseTo(0.05, 12)
    // 1/(n+1) > α: no threshold can be certified; everything is recommended.
    expect(missRateThreshold(ladder(), 0.005)).toMatchObject({ threshold: 0, units: 99 })
  })

  it('treats a patient as one unit: its visits’ miss rates are averaged', () => {
    // Patient 0 has two visits, one missed at t = 0.5 and one not: its loss is 0.5, n = 2.
    const visits: CalibrationVisit[] = [
      { unit: 0, truth: [1], scores: [0.4] },
      { unit: 0, truth: [1], scores: [0.9] },
      { unit: 1, truth: [1], scores: [0.8] },
      { unit: 2, truth: [0], scores: [0.99] }
    ]
    const result = missRateThreshold(visits, 0.5)
    expect(result.units).toBe(2)
    // t = 0.8: R = (0.5 + 0) / 2 = 0.25, bound (2 · 0.25 + 1) / 3 = 0.5 ≤ 0.5.
    expect(result.threshold).toBe(0.8)
    expect(result.calibrationMissRate).toBeCloseTo(0.25, 12)
  })

  it('refuses an α outside (0, 1) and calibration without any prescribed class', () => {
    expect(() => missRateThreshold(ladder(), 0)).toThrow('alpha must lie strictly between 0 and 1, got 0')
    expect(() => missRateThreshold([{ unit: 1, truth: [0], scores: [0.3] }], 0.1)).toThrow('No calibration visit has a prescribed class')
  })

  it('keeps the expected miss rate of new patients at or under α, and close to it (simulation)', () => {
    const random = seededRandom(99)
    for (const alpha of [0.05, 0.1, 0.2]) {
      const rates: number[] = []
      for (let trial = 0; trial < 200; trial++) {
        const calibration = simulate(random, 60)
        const test = simulate(random, 200, 1000)
        rates.push(missRate(test, missRateThreshold(calibration, alpha).threshold))
      }
      const mean = rates.reduce((a, b) => a + b, 0) / rates.length
      // The guarantee is on the mean over calibration draws; CRC is tight to within about 1/(n+1).
      expect(mean, `α = ${alpha}`).toBeLessThanOrEqual(alpha + 0.005)
      expect(mean, `α = ${alpha}`).toBeGreaterThan(alpha - 0.03)
    }
  })

  it('gives the same threshold as the Python twin', () => {
    const visits = simulate(seededRandom(7), 150)
    const script = `
import json, sys
from medrec_training.conformal import miss_rate_threshold
d = json.load(sys.stdin)
out = [miss_rate_threshold(d["truth"], d["scores"], d["units"], a).__dict__ for a in d["alphas"]]
json.dump(out, sys.stdout)`
    const alphas = [0.05, 0.1, 0.2, 0.001]
    const python = JSON.parse(
      runTrainingPython(['-c', script], JSON.stringify({ truth: visits.map((v) => v.truth), scores: visits.map((v) => v.scores), units: visits.map((v) => v.unit), alphas }))
    ) as Array<{ threshold: number; units: number; calibration_miss_rate: number; bound: number }>
    alphas.forEach((alpha, i) => {
      const ours = missRateThreshold(visits, alpha)
      expect(ours.threshold).toBe(python[i]!.threshold)
      expect(ours.units).toBe(python[i]!.units)
      expect(ours.calibrationMissRate).toBeCloseTo(python[i]!.calibration_miss_rate, 12)
      expect(ours.bound).toBeCloseTo(python[i]!.bound, 12)
    })
  })
})
