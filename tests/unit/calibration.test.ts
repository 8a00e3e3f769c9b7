// Calibration maps (src/main/services/inference/calibration.ts) on synthetic inputs with known answers, parity with
// the Python side (tests/fixtures/calibration/parity.json, written by `python -m medrec_training.calibration` and
// checked against Python in training/tests/test_calibration.py), and refusal of broken calibration files.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { interpolate, loadCalibration, missRateThreshold } from '../../src/main/services/inference/calibration'

const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'calibration', 'parity.json'), 'utf8')) as {
  tolerance: number
  cases: Array<{ document: { method: string; medications: number; epsilon: number; parameters: object }; raw: number[][]; calibrated: number[][] }>
}

const file = (method: string, medications: number, parameters: object, extra: object = {}): object => ({
  method,
  medications,
  epsilon: 1e-7,
  fittedOn: 'validation patients (test)',
  parameters,
  ...extra
})

describe('calibration maps', () => {
  it('temperature T = 2 halves the logit: 0.8 (logit ln 4) becomes sigmoid(ln 2) = 2/3', () => {
    const calibration = loadCalibration(file('temperature', 2, { temperature: 2 }), 2)
    const out = calibration.apply(Float32Array.from([0.8, 0.5]))
    expect(out[0]).toBeCloseTo(2 / 3, 6)
    expect(out[1]).toBeCloseTo(0.5, 6)
  })

  it('Platt applies each drug its own slope and intercept', () => {
    const calibration = loadCalibration(file('platt', 2, { slope: [1, 0], intercept: [Math.log(3), 0] }), 2)
    const out = calibration.apply(Float32Array.from([0.5, 0.99, 0.25, 0.01]))
    expect(out[0]).toBeCloseTo(0.75, 6) // logit 0 + ln 3 -> 3/4
    expect(out[1]).toBeCloseTo(0.5, 6) // slope 0: always sigmoid(0)
    expect(out[2]).toBeCloseTo(0.5, 6) // logit(1/4) = -ln 3, + ln 3 -> 1/2
    expect(out[3]).toBeCloseTo(0.5, 6)
  })

  it('isotonic interpolates between knots and clips outside them, like numpy.interp', () => {
    expect(interpolate(0.35, [0.1, 0.2, 0.4], [0, 0.5, 1])).toBeCloseTo(0.875, 12)
    expect(interpolate(0.05, [0.1, 0.2, 0.4], [0, 0.5, 1])).toBe(0)
    expect(interpolate(0.9, [0.1, 0.2, 0.4], [0, 0.5, 1])).toBe(1)
    expect(interpolate(0.2, [0.1, 0.2, 0.4], [0, 0.5, 1])).toBe(0.5)
    const calibration = loadCalibration(file('isotonic', 1, { knots: [{ x: [0.1, 0.4], y: [0.2, 0.8] }] }), 1)
    expect(Array.from(calibration.apply(Float32Array.from([0.25, 0, 1])))).toEqual([expect.closeTo(0.5, 6), expect.closeTo(0.2, 6), expect.closeTo(0.8, 6)])
  })

  it('matches the Python application on the same inputs to 1e-6 (every method)', () => {
    expect(fixture.cases.map((c) => c.document.method)).toEqual(['temperature', 'platt', 'isotonic'])
    for (const c of fixture.cases) {
      const calibration = loadCalibration({ ...c.document, fittedOn: 'fixture' }, c.document.medications)
      const ours = calibration.apply(Float32Array.from(c.raw.flat()))
      const expected = c.calibrated.flat()
      const worst = expected.reduce((max, value, i) => Math.max(max, Math.abs(value - ours[i]!)), 0)
      expect(worst, c.document.method).toBeLessThanOrEqual(1e-6)
    }
  })
})

describe('calibration files are checked before use', () => {
  it('refuses a file for another vocabulary size, a missing parameter, a decreasing isotonic map, a failing check', () => {
    expect(() => loadCalibration(file('temperature', 3, { temperature: 1.5 }), 4)).toThrow(/calibrates 3 medications but the model's vocabulary has 4/)
    expect(() => loadCalibration(file('platt', 2, { slope: [1, 1] }), 2)).toThrow(/slope and parameters.intercept are required/)
    expect(() => loadCalibration(file('isotonic', 1, { knots: [{ x: [0.1, 0.2], y: [0.9, 0.1] }] }), 1)).toThrow(/y decreases/)
    expect(() => loadCalibration(file('sigmoid', 1, {}), 1)).toThrow(/^method:/)
    const check = { raw: [0.8], calibrated: [[0.7]] } // T = 2 gives 2/3, not 0.7
    expect(() => loadCalibration(file('temperature', 1, { temperature: 2 }, { check }), 1)).toThrow(/check row 0, medication 0/)
    expect(() => loadCalibration(file('temperature', 1, { temperature: 2 }, { check: { raw: [0.8], calibrated: [[2 / 3]] } }), 1)).not.toThrow()
  })

  it('gives the stored miss-rate threshold for an alpha and refuses one it does not have', () => {
    const thresholds = [0.2, 0.1, 0.05].map((alpha) => ({ alpha, threshold: alpha / 2 }))
    const calibration = loadCalibration(file('temperature', 1, { temperature: 1 }, { missRate: { assumption: 'exchangeable', guarantee: 'g', thresholds } }), 1)
    expect(missRateThreshold(calibration, 0.1)).toBe(0.05)
    expect(() => missRateThreshold(calibration, 0.15)).toThrow(/no miss-rate threshold for alpha 0.15/)
    expect(() => missRateThreshold(null, 0.1)).toThrow(/no miss-rate thresholds/)
  })
})
