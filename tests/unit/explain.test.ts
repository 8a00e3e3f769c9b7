import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { explain, UnknownDrugError } from '../../src/main/services/explain/explain'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { recommend } from '../../src/main/services/recommend/recommend'
import { ReferenceModel, type ReferenceVisit, shapleyByPermutations } from '../fixtures/models/reference-model'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

describe('explanation service', () => {
  const seeded = seededDatabase()
  seeded.db.prepare(`INSERT INTO code_titles (kind, code_system, code, title) VALUES ('diagnosis', 'ICD-9-CM', '4019', 'Hypertension NOS')`).run()
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  const ctx = { db: seeded.db, registry, ddi: null }
  const reference = new ReferenceModel(join(FIXTURE_MODELS_DIR, 'fixture-linear'))
  const codes = ['B01A', 'C07A', 'N02B', 'A02B', 'C03C', 'A10B', 'C10A', 'M01A']
  // Patient 10001 as code indices (see recommend.test.ts).
  const patient10001: ReferenceVisit[] = [
    { diagnoses: [2, 3], procedures: [2], medications: [2, 3] },
    { diagnoses: [4, 5, 1], procedures: [3], medications: [5, 4] },
    { diagnoses: [2, 6], procedures: [4], medications: [] }
  ]
  const auditCount = () => (seeded.db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n
  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  it('explains each recommended drug by modality, matching Shapley values computed by hand from the weights', async () => {
    const recommendation = await recommend(ctx, '10001', { modelId: 'fixture-linear', audit: false })
    const result = await explain(ctx, '10001', { modelId: 'fixture-linear' })
    expect(result.drugs.map((d) => d.atc3)).toEqual(recommendation.combination)
    expect(result.timing).toMatchObject({ subsetRows: 16 })
    for (const drug of result.drugs) {
      const column = codes.indexOf(drug.atc3)
      const byHand = shapleyByPermutations(4, (s) => reference.probabilities(patient10001, [0, 1, 2, 3].map((j) => (s >> j) & 1))[column]!)
      drug.modalities.forEach((m, j) => expect(m.shapley).toBeCloseTo(byHand[j]!, 5))
      const total = drug.modalities.reduce((sum, m) => sum + m.shapley, 0)
      expect(total).toBeCloseTo(drug.probability - drug.baseline, 6)
      expect(drug.probability).toBeCloseTo(recommendation.drugs.find((d) => d.atc3 === drug.atc3)!.probability, 5)
    }
    expect(result.modalities.map((m) => m.id)).toEqual(['diagnoses', 'procedures', 'medication-history', 'molecule'])
    const [entry] = listAudit(seeded.db, { limit: 1 })
    expect(entry).toMatchObject({ id: result.auditId, kind: 'explanation', userName: currentUserName(), inputsHash: result.inputHash })
  })

  it('gives per-code contributions by occlusion for the top drugs, each checked by hand', async () => {
    const result = await explain(ctx, '10001', { modelId: 'fixture-linear', threshold: 0.05, codeDrugs: 2, audit: false })
    expect(result.drugs.length).toBeGreaterThan(2)
    expect(result.drugs.slice(0, 2).every((d) => d.codes !== null)).toBe(true)
    expect(result.drugs.slice(2).every((d) => d.codes === null)).toBe(true)
    // 7 distinct diagnoses (4019 twice), 3 procedures, 4 history drugs.
    expect(result.timing.occlusionRows).toBe(6 + 3 + 4)
    const top = result.drugs[0]!
    const column = codes.indexOf(top.atc3)
    const full = reference.probabilities(patient10001, [1, 1, 1, 1])[column]!
    const without = (kind: keyof ReferenceVisit, index: number) =>
      full - reference.probabilities(patient10001.map((v) => ({ ...v, [kind]: v[kind].filter((i) => i !== index) })), [1, 1, 1, 1])[column]!
    const find = (kind: string, code: string) => top.codes!.find((c) => c.kind === kind && c.code === code)!
    expect(find('diagnosis', '4019')).toMatchObject({ system: 'ICD-9-CM', title: 'Hypertension NOS', unknown: false })
    expect(find('diagnosis', '4019').contribution).toBeCloseTo(without('diagnoses', 2), 5)
    expect(find('diagnosis', 'V5861')).toMatchObject({ unknown: true })
    expect(find('diagnosis', 'V5861').contribution).toBeCloseTo(without('diagnoses', 1), 5)
    expect(find('procedure', '3995').contribution).toBeCloseTo(without('procedures', 4), 5)
    expect(find('medication', 'A02B').contribution).toBeCloseTo(without('medications', 5), 5)
    // Largest effects first.
    const sizes = top.codes!.map((c) => Math.abs(c.contribution))
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a))
  })

  it('explains the drugs asked for, and refuses a drug the model does not know, writing nothing', async () => {
    const result = await explain(ctx, '10001', { modelId: 'fixture-linear', drugs: ['m01a', 'C10A'], audit: false })
    expect(result.drugs.map((d) => d.atc3).sort()).toEqual(['C10A', 'M01A'])
    const before = auditCount()
    await expect(explain(ctx, '10001', { modelId: 'fixture-linear', drugs: ['Z99X'] })).rejects.toThrow(UnknownDrugError)
    await expect(explain(ctx, '10001', { modelId: 'fixture-linear', drugs: ['Z99X'] })).rejects.toThrow(
      'Model fixture-linear has no medication "Z99X" (it predicts 8 ATC3 classes, e.g. B01A, C07A, N02B, A02B, C03C).'
    )
    await expect(explain(ctx, '10003', { modelId: 'fixture-linear' })).rejects.toThrow(/no stored visits/)
    await expect(explain(ctx, 'nobody', { modelId: 'fixture-linear' })).rejects.toThrow(/No patient/)
    expect(auditCount()).toBe(before)
  })

  it('explains the most probable drug when none reaches the threshold', async () => {
    const result = await explain(ctx, '10001', { modelId: 'fixture-linear', threshold: 0.999, audit: false })
    expect(result.drugs).toHaveLength(1)
    const recommendation = await recommend(ctx, '10001', { modelId: 'fixture-linear', audit: false })
    expect(result.drugs[0]!.atc3).toBe(recommendation.drugs[0]!.atc3)
  })
})
