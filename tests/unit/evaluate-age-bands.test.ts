// `medrec evaluate` by age band on a small seeded database with known ages: each band holds exactly the scored
// visits whose age at the visit falls in it (a patient can be in several bands), its Jaccard is the per-patient
// mean over those visits then over patients (recomputed here from the per-visit scores), with the same
// bootstrap intervals as the sex and source subgroups; visits without an age form their own group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGE_BANDS, ageBandOf, evaluateDatabase, type EvaluationReport, UNKNOWN_AGE_BAND } from '../../src/main/services/evaluate/evaluate'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

describe('age bands', () => {
  it('cuts at 18, 45, 65 and 80; the top code 90 ("90 or older") is in 80+; no age is its own group', () => {
    expect(AGE_BANDS.map((b) => b.label)).toEqual(['<18', '18–44', '45–64', '65–79', '80+'])
    const ages = [0, 17, 18, 44, 45, 64, 65, 79, 80, 89, 90, null]
    expect(ages.map(ageBandOf)).toEqual(['<18', '<18', '18–44', '18–44', '45–64', '45–64', '65–79', '65–79', '80+', '80+', '80+', UNKNOWN_AGE_BAND])
  })
})

describe('evaluate: subgroups by age at the visit', () => {
  const seeded = seededDatabase()
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  // Ages by source visit id; 10005-5 (a scored visit) and 10005-6 keep none.
  const AGES: Record<string, number> = {
    '10001-1': 16,
    '10001-2': 17,
    '10001-3': 18,
    '10002-1': 90,
    '10005-1': 44,
    '10005-2': 45,
    '10005-3': 64,
    '10005-4': 65
  }
  let report: EvaluationReport

  beforeAll(async () => {
    const update = seeded.db.prepare('UPDATE visits SET age_at_admission = ? WHERE source_visit_id = ?')
    for (const [visit, age] of Object.entries(AGES)) update.run(age, visit)
    report = await evaluateDatabase(
      { db: seeded.db, databasePath: seeded.path, registry, knowledgeBasePath: null },
      { modelIds: ['fixture-linear'], keepVisits: true, bootstrap: { replicates: 200, seed: 3 }, batchSize: 2 }
    )
  })

  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  it('puts every scored visit in the band of its age, in band order, and counts the known ages per source', () => {
    const evaluation = report.models[0]!
    const scores = evaluation.visitScores!
    const bandOfVisit = (sourceVisitId: string): string => ageBandOf(AGES[sourceVisitId] ?? null)
    const expectedBands = [...AGE_BANDS.map((b) => b.label), UNKNOWN_AGE_BAND].filter((band) => scores.some((s) => bandOfVisit(s.sourceVisitId) === band))
    expect(evaluation.subgroups.ageBand.map((g) => g.group)).toEqual(expectedBands)
    expect(expectedBands).toEqual(['<18', '18–44', '45–64', '65–79', '80+', UNKNOWN_AGE_BAND])
    expect(evaluation.subgroups.ageBand.reduce((n, g) => n + g.summary.visits, 0)).toBe(evaluation.visits.evaluated)

    for (const group of evaluation.subgroups.ageBand) {
      const members = scores.filter((s) => bandOfVisit(s.sourceVisitId) === group.group)
      const byPatient = new Map<number, number[]>()
      for (const s of members) byPatient.set(s.patientId, [...(byPatient.get(s.patientId) ?? []), s.jaccard])
      const perPatient = [...byPatient.values()].map((js) => js.reduce((a, b) => a + b, 0) / js.length)
      expect(group.summary.visits).toBe(members.length)
      expect(group.summary.patients).toBe(byPatient.size)
      const jaccard = group.summary.metrics.jaccard!
      expect(jaccard.value).toBeCloseTo(perPatient.reduce((a, b) => a + b, 0) / perPatient.length, 12)
      // A band of one patient has no interval (as for any subgroup); otherwise it brackets the estimate.
      if (byPatient.size < 2) expect(jaccard).toMatchObject({ low: null, high: null })
      else {
        expect(jaccard.low!).toBeLessThanOrEqual(jaccard.value + 1e-12)
        expect(jaccard.high!).toBeGreaterThanOrEqual(jaccard.value - 1e-12)
      }
      // The same metrics as the sex and source subgroups.
      expect(Object.keys(group.summary.metrics)).toEqual(Object.keys(evaluation.subgroups.sex[0]!.summary.metrics))
    }
    // Two patients' visits in 18–44: the bootstrap resamples them.
    expect(evaluation.subgroups.ageBand.find((g) => g.group === '18–44')!.summary.patients).toBe(2)
    const known = scores.filter((s) => AGES[s.sourceVisitId] !== undefined).length
    expect(evaluation.subgroups.ageKnown).toEqual([{ source: 'mimic-iv', visits: scores.length, withAge: known, share: known / scores.length }])
  })

  it('the database fingerprint covers the ages (the bands depend on them)', async () => {
    seeded.db.prepare(`UPDATE visits SET age_at_admission = 50 WHERE source_visit_id = '10001-1'`).run()
    const changed = await evaluateDatabase(
      { db: seeded.db, databasePath: seeded.path, registry, knowledgeBasePath: null },
      { modelIds: ['fixture-linear'], bootstrap: { replicates: 0 } }
    )
    expect(changed.database.fingerprint.sha256).not.toBe(report.database.fingerprint.sha256)
    expect(changed.database.fingerprint.method).toContain('age_at_admission')
  })
})
