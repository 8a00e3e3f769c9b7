import { afterAll, describe, expect, it } from 'vitest'
import { coalitionMasks, shapleyValues } from '../../src/main/services/explain/shapley'
import { explain } from '../../src/main/services/explain/explain'
import { encodePatient } from '../../src/main/services/inference/encode'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { loadPatientInput } from '../../src/main/services/recommend/patient-input'
import { shapleyByPermutations } from '../fixtures/models/reference-model'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

describe('exact Shapley values', () => {
  it('lays out coalition s as the bits of s', () => {
    const masks = coalitionMasks(3)
    expect(masks).toHaveLength(8 * 3)
    expect([...masks.subarray(0, 3)]).toEqual([0, 0, 0])
    expect([...masks.subarray(5 * 3, 6 * 3)]).toEqual([1, 0, 1])
    expect([...masks.subarray(7 * 3, 8 * 3)]).toEqual([1, 1, 1])
    expect(() => coalitionMasks(0)).toThrow(RangeError)
    expect(() => coalitionMasks(13)).toThrow('Shapley values need 1 to 12 modalities, got 13.')
  })

  it('gives each player its own weight in an additive game', () => {
    const weights = [0.3, -0.1, 0.25, 0]
    const value = (s: number) => weights.reduce((sum, w, i) => sum + ((s >> i) & 1 ? w : 0), 0)
    shapleyValues(4, value).forEach((phi, i) => expect(phi).toBeCloseTo(weights[i]!, 12))
  })

  it('solves the glove game by hand: one left glove, two right gloves', () => {
    // A pair (player 0 with player 1 or 2) is worth 1. Known values: 2/3, 1/6, 1/6.
    const value = (s: number) => (s & 1 && s & 0b110 ? 1 : 0)
    const phi = shapleyValues(3, value)
    expect(phi[0]).toBeCloseTo(2 / 3, 12)
    expect(phi[1]).toBeCloseTo(1 / 6, 12)
    expect(phi[2]).toBeCloseTo(1 / 6, 12)
  })

  it('agrees with the permutation definition on an arbitrary game of 5 players', () => {
    const table = Array.from({ length: 32 }, (_, s) => Math.sin(s * 1.7) + (s === 0 ? 0 : 0.1 * s))
    const value = (s: number) => table[s]!
    const fast = shapleyValues(5, value)
    shapleyByPermutations(5, value).forEach((phi, i) => expect(fast[i]).toBeCloseTo(phi, 12))
    expect(fast.reduce((a, b) => a + b, 0)).toBeCloseTo(table[31]! - table[0]!, 12)
  })
})

describe('Shapley axioms on the hand-built ONNX model with symmetric and null modalities', () => {
  // fixture-symmetric: modalities diagnoses, procedures (null player: no weights, absent value 0), text and
  // graph (identical effects, absent values and interactions), with interactions text×graph, diagnoses×text
  // and diagnoses×graph, so the game is not additive.
  const seeded = seededDatabase()
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  const ctx = { db: seeded.db, registry, ddi: null }
  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  it('efficiency, symmetry and the null player hold for every drug, with the non-additive part present', async () => {
    const result = await explain(ctx, '10001', { modelId: 'fixture-symmetric', drugs: ['B01A', 'C07A', 'N02B', 'A02B', 'C03C', 'A10B', 'C10A', 'M01A'], audit: false })
    expect(result.timing.subsetRows).toBe(16)
    expect(result.drugs).toHaveLength(8)
    for (const drug of result.drugs) {
      const phi = Object.fromEntries(drug.modalities.map((m) => [m.modalityId, m.shapley]))
      const total = drug.modalities.reduce((sum, m) => sum + m.shapley, 0)
      expect(total).toBeCloseTo(drug.probability - drug.baseline, 6) // efficiency
      expect(phi.text).toBeCloseTo(phi.graph!, 6) // symmetry
      expect(Math.abs(phi.text!)).toBeGreaterThan(1e-3)
      expect(phi.procedures).toBeCloseTo(0, 6) // null player, although the patient has procedures
      expect(Math.abs(phi.diagnoses!)).toBeGreaterThan(1e-3)
    }
  })

  it('matches the permutation definition computed from separate model runs, one coalition per run', async () => {
    const model = await registry.get('fixture-symmetric')
    const input = loadPatientInput(seeded.db, '10001')
    const encoded = encodePatient(model.vocab, model.manifest.limits, input.visits)
    const values: number[][] = []
    for (let s = 0; s < 16; s++) {
      const mask = Float32Array.from([0, 1, 2, 3].map((j) => (s >> j) & 1))
      values.push([...(await model.session.predict([encoded], mask))])
    }
    const result = await explain(ctx, '10001', { modelId: 'fixture-symmetric', drugs: ['N02B', 'A10B'], audit: false })
    for (const drug of result.drugs) {
      const column = model.manifest.vocabularies.medication.entries.findIndex((e) => e.code === drug.atc3)
      const expected = shapleyByPermutations(4, (s) => values[s]![column]!)
      drug.modalities.forEach((m, j) => expect(m.shapley).toBeCloseTo(expected[j]!, 6))
      // Not additive: diagnoses alone is worth something other than its Shapley value.
      expect(Math.abs(values[1]![column]! - values[0]![column]! - expected[0]!)).toBeGreaterThan(1e-3)
    }
  })
})
