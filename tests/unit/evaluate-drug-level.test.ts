// `medrec evaluate` at drug level on a small seeded database whose figures are worked out by hand below: each scored
// visit's recommended classes (the fixture model's, checked first) resolved to drugs by the recommendation's drug
// choice over the earlier visits only, against the visit's ATC5 prescriptions; the previous-visit baseline, the
// recorded prescriptions, the Major+ DDI share from a hand-made interaction table. Then no leakage: the current
// visit's own drugs never change its recommended drugs, deleting a later visit changes no earlier result, and every
// visit's drugs are those `recommend` gives for that visit's codes when only the earlier visits are stored.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RecommendationDdiPair } from '../../src/shared/domain/interaction'
import { evaluateDatabase, type EvaluationReport, type VisitScore } from '../../src/main/services/evaluate/evaluate'
import { ddiCheckerFromPairs } from '../../src/main/services/interactions/checker'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { loadDrugChoice } from '../../src/main/services/recommend/drug-choice-model'
import { recommend } from '../../src/main/services/recommend/recommend'
import type { Db } from '../../src/main/services/db/database'
import { FIXTURE_MODELS_DIR, seededDatabase, seedPatients } from '../fixtures/models/seed-patients'

const pair = (a: string, b: string, severity: RecommendationDdiPair['severity'], source: string): RecommendationDdiPair => ({ a, b, severity, source })

// Two hand-made interaction tables. Counted: Major or Contraindicated; a pair listed twice counts once.
const checker = ddiCheckerFromPairs('table one; table two', [
  pair('A10BA02', 'C10AA05', 'Major', 'table one'),
  pair('A10BA02', 'C10AA05', 'Moderate', 'table two'),
  pair('A10BB01', 'C10AA05', 'Contraindicated', 'table two'),
  pair('A10BB01', 'M01AE01', 'Major', 'table one'),
  pair('C10AA05', 'N02BE01', 'Moderate', 'table one'),
  pair('A10BA02', 'N02BE01', 'Minor', 'table one')
])

// The fixture drug choice (tests/fixtures/models/drug-choice): A10B {A10BA02: 4, A10BB01: 2}, and given the code
// d:ICD-10-CM:E119 {A10BB01: 4, A10BA02: 1}; C10A {C10AA05}; N02B {N02BE01}; M01A; nothing for B01A or A02B.
const PATIENTS = [
  {
    sourceId: 'A',
    visits: [
      { diagnoses: [['ICD-9-CM', '4019']], medications: [['C07A', 'C07AB02'], ['N02B', 'N02BE01']] },
      { diagnoses: [['ICD-9-CM', '25000']], medications: [['A10B', 'A10BA02'], ['C07A', 'C07AB03']] },
      { diagnoses: [['ICD-10-CM', 'E119'], ['ICD-9-CM', '4280']], medications: [['A10B', 'A10BB01'], ['M01A', 'M01AE01'], ['C07A', 'c07ab03 ']] }
    ]
  },
  {
    sourceId: 'B',
    visits: [{ diagnoses: [['ICD-9-CM', '42731'], ['ICD-9-CM', '5849']], procedures: [['ICD-9-CM', '3995']], medications: [['B01A', 'B01AC06'], ['C03C', null]] }]
  },
  // Prescriptions without an ATC5 code: scored at class level, left out at drug level.
  { sourceId: 'C', visits: [{ diagnoses: [['ICD-9-CM', '4280']], medications: [['C03C', null]] }] },
  {
    sourceId: 'D',
    visits: [
      { diagnoses: [['ICD-9-CM', '25000']], medications: [['C03C', null]] },
      { diagnoses: [['ICD-10-CM', 'E119'], ['ICD-9-CM', '25000']], medications: [['A10B', 'A10BB01'], ['M01A', 'M01AB05']] }
    ]
  }
] satisfies NonNullable<Parameters<typeof seedPatients>[1]>

describe('evaluate at drug level', () => {
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  const drugChoice = loadDrugChoice(join(FIXTURE_MODELS_DIR, 'drug-choice'))
  let seeded: ReturnType<typeof seededDatabase>
  let db: Db
  let report: EvaluationReport

  const evaluate = (replicates = 0): Promise<EvaluationReport> =>
    evaluateDatabase(
      { db, databasePath: seeded.path, registry, knowledgeBasePath: null, ddi: checker, drugChoice },
      { modelIds: ['fixture-linear'], keepVisits: true, bootstrap: { replicates, seed: 5 }, batchSize: 2 }
    )
  const byVisit = (r: EvaluationReport): Map<string, VisitScore> => new Map(r.models[0]!.visitScores!.map((v) => [v.sourceVisitId, v]))

  beforeAll(async () => {
    seeded = seededDatabase()
    db = seeded.db
    db.prepare('DELETE FROM patients').run()
    seedPatients(db, PATIENTS)
    report = await evaluate()
  })

  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  it('resolves each visit’s classes to drugs by history, else the code-conditioned choice, never the visit’s own drugs', () => {
    const visits = byVisit(report)
    // The fixture model's classes at its threshold (what the drugs below rest on).
    expect(Object.fromEntries([...visits].map(([id, v]) => [id, v.predicted]))).toEqual({
      'A-1': ['B01A', 'C10A'],
      'A-2': ['N02B', 'A10B', 'C10A'],
      'A-3': ['N02B', 'A02B', 'A10B'],
      'B-1': ['B01A', 'N02B'],
      'C-1': ['B01A', 'C07A', 'N02B', 'A02B'],
      'D-1': ['N02B', 'C10A'],
      'D-2': ['A10B', 'C10A']
    })
    const drugs = Object.fromEntries([...visits].map(([id, v]) => [id, v.drugLevel && { predicted: v.drugLevel.predicted, actual: v.drugLevel.actual }]))
    expect(drugs).toEqual({
      // B01A: no member in the drug choice and no earlier visit → no drug; C10A by the choice.
      'A-1': { predicted: ['C10AA05'], actual: ['C07AB02', 'N02BE01'] },
      // N02B from A-1; A10B by the choice's prior (25000 has no counts); C10A by the choice.
      'A-2': { predicted: ['A10BA02', 'C10AA05', 'N02BE01'], actual: ['A10BA02', 'C07AB03'] },
      // A10B from A-2 (A10BA02), not the visit's own A10BB01 nor the choice given E119 (A10BB01); N02B from A-1.
      // The stored " c07ab03 " is read as C07AB03.
      'A-3': { predicted: ['A10BA02', 'N02BE01'], actual: ['A10BB01', 'C07AB03', 'M01AE01'] },
      'B-1': { predicted: ['N02BE01'], actual: ['B01AC06'] },
      'C-1': null,
      'D-1': null,
      // A10B: D-1's C03C row has no ATC5, so the choice given E119 picks A10BB01 (its prior would pick A10BA02).
      'D-2': { predicted: ['A10BB01', 'C10AA05'], actual: ['A10BB01', 'M01AB05'] }
    })
    expect(visits.get('A-2')!.drugLevel).toMatchObject({ jaccard: 1 / 4, precision: 1 / 3, recall: 1 / 2, f1: 0.4 })
    expect(visits.get('D-2')!.drugLevel).toMatchObject({ jaccard: 1 / 3, precision: 1 / 2, recall: 1 / 2, f1: 0.5 })
    expect(visits.get('A-3')!.drugLevel).toMatchObject({ jaccard: 0, precision: 0, recall: 0, f1: 0 })
  })

  it('gives the hand-computed figures: per-patient means, pooled drugs and DDI share, the baseline and the recorded drugs', () => {
    const drug = report.models[0]!.drugLevel
    expect(report.models[0]!.visits.evaluated).toBe(7)
    expect(drug.visits).toEqual({ evaluated: 5, patients: 3, withoutDrug: 2 })
    const value = (m: Record<string, { value: number }>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.value]))
    // Patients A (0, 1/4, 0), B (0), D (1/3): mean over each patient's visits, then over patients.
    const model = value(drug.summary.metrics)
    expect(Object.keys(model)).toEqual(['jaccard', 'f1', 'precision', 'recall', 'drugs', 'ddi:major-or-contraindicated'])
    expect(model.jaccard).toBeCloseTo((1 / 12 + 0 + 1 / 3) / 3, 12)
    expect(model.f1).toBeCloseTo((0.4 / 3 + 0 + 0.5) / 3, 12)
    expect(model.precision).toBeCloseTo((1 / 9 + 0 + 1 / 2) / 3, 12)
    expect(model.recall).toBeCloseTo((1 / 6 + 0 + 1 / 2) / 3, 12)
    // Drugs per visit, pooled: 1 + 3 + 2 + 1 + 2 over 5 visits.
    expect(model.drugs).toBeCloseTo(9 / 5, 12)
    // Pairs: A-2 three (A10BA02–C10AA05 Major counts; C10AA05–N02BE01 Moderate does not), A-3 one (Minor), D-2 one
    // (A10BB01–C10AA05 Contraindicated): 2 of 5.
    expect(model['ddi:major-or-contraindicated']).toBeCloseTo(2 / 5, 12)

    const [previous] = drug.baselines
    expect(previous!.id).toBe('previous-visit')
    // Only A-3 scores: A-2's drugs {A10BA02, C07AB03} against {A10BB01, C07AB03, M01AE01}; D-1 had no drug.
    const p = value(previous!.summary.metrics)
    expect(p.jaccard).toBeCloseTo(1 / 4 / 3 / 3, 12)
    expect(p.precision).toBeCloseTo(1 / 2 / 3 / 3, 12)
    expect(p.recall).toBeCloseTo(1 / 3 / 3 / 3, 12)
    expect(p.f1).toBeCloseTo(0.4 / 3 / 3, 12)
    expect(p.drugs).toBeCloseTo(4 / 5, 12)
    expect(p['ddi:major-or-contraindicated']).toBe(0)

    // The recorded prescriptions: 2 + 2 + 3 + 1 + 2 drugs; of their 6 pairs, A10BB01–M01AE01 is Major.
    expect(value(drug.recorded.metrics)).toEqual({ drugs: 2, 'ddi:major-or-contraindicated': expect.closeTo(1 / 6, 12) })
    // Classes of the 5 visits: 3 from an earlier visit (N02B twice, A10B once), 6 by the choice, 3 without a drug.
    expect(drug.choices).toEqual({ classes: 12, fromHistory: 3, fromModel: 6, withoutDrug: 3 })

    expect(report.drugLevel.ddi).toEqual({ checked: 'table one; table two', severities: ['Contraindicated', 'Major'], foundIn: ['table one', 'table two'] })
    expect(report.drugLevel.drugChoice).toEqual({ version: '0.0.1-fixture', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(Object.keys(report.drugLevel.notApplicable)).toEqual(['prauc', 'ece'])
  })

  it('has patient-level bootstrap intervals around the same estimates', async () => {
    const withIntervals = await evaluate(300)
    const drug = withIntervals.models[0]!.drugLevel
    for (const [name, interval] of Object.entries(drug.summary.metrics)) {
      expect(interval.value, name).toBe(report.models[0]!.drugLevel.summary.metrics[name]!.value)
      expect(interval.low!, name).toBeLessThanOrEqual(interval.value + 1e-12)
      expect(interval.high!, name).toBeGreaterThanOrEqual(interval.value - 1e-12)
    }
    // Resampling patients: a replicate without patient D has Jaccard (1/12)/… ≠ the estimate, so the interval has width.
    expect(drug.summary.metrics.jaccard!.high! - drug.summary.metrics.jaccard!.low!).toBeGreaterThan(0)
  })

  it('does not read the visit’s own drugs nor later visits', async () => {
    const before = byVisit(report)
    // The visit's own drugs changed (a recommendation for a stored visit would take its N02B and C10A drugs): only
    // the answer changes.
    const a3 = db.prepare(`SELECT id FROM visits WHERE source_visit_id = 'A-3'`).pluck().get() as number
    db.prepare(`INSERT INTO medications (visit_id, raw_name, atc5, atc3, mapping_method) VALUES (?, 'x', 'N02BE05', 'N02B', 'name')`).run(a3)
    const changedOwn = byVisit(await evaluate())
    expect(changedOwn.get('A-3')!.drugLevel!.predicted).toEqual(before.get('A-3')!.drugLevel!.predicted)
    expect(changedOwn.get('A-3')!.drugLevel!.actual).toEqual(['A10BB01', 'C07AB03', 'M01AE01', 'N02BE05'])

    // A later visit deleted: the earlier visits' results stay exactly as they were.
    db.prepare('DELETE FROM visits WHERE id = ?').run(a3)
    const cut = byVisit(await evaluate())
    expect(cut.has('A-3')).toBe(false)
    for (const id of ['A-1', 'A-2']) expect(cut.get(id)).toEqual(before.get(id))

    // Control: deleting an earlier visit does change a later one (A-2 loses N02B's history drug).
    db.prepare(`DELETE FROM visits WHERE source_visit_id = 'A-1'`).run()
    const control = byVisit(await evaluate())
    expect(control.get('A-2')!.drugLevel!.predicted).not.toEqual(before.get('A-2')!.drugLevel!.predicted)
  })

  it('gives each visit the drugs `recommend` gives for its codes with only the earlier visits stored', async () => {
    // A fresh copy of the fixture; each patient's visits are removed latest first and recommended for by their codes.
    db.prepare('DELETE FROM patients').run()
    seedPatients(db, PATIENTS)
    const evaluated = byVisit(await evaluate())
    const codes = (visitId: number, table: 'diagnoses' | 'procedures') =>
      (db.prepare(`SELECT code_system AS system, code FROM ${table} WHERE visit_id = ? ORDER BY seq, code`).all(visitId) as Array<{ system: string; code: string }>)
    let compared = 0
    for (const patient of PATIENTS) {
      const visits = db
        .prepare(`SELECT v.id, v.source_visit_id FROM visits v JOIN patients p ON p.id = v.patient_id WHERE p.source_patient_id = ? ORDER BY v.sort_key DESC, v.id DESC`)
        .all(patient.sourceId) as Array<{ id: number; source_visit_id: string }>
      for (const visit of visits) {
        const currentVisit = { diagnoses: codes(visit.id, 'diagnoses'), procedures: codes(visit.id, 'procedures') }
        db.prepare('DELETE FROM visits WHERE id = ?').run(visit.id)
        const result = await recommend({ db, registry, ddi: checker, drugChoice }, patient.sourceId, { modelId: 'fixture-linear', currentVisit, audit: false })
        const ours = evaluated.get(visit.source_visit_id)!
        expect([...result.combination].sort(), visit.source_visit_id).toEqual([...ours.predicted].sort())
        const drugs = [...new Set(result.classes.flatMap((c) => c.drugs.map((d) => d.atc5)))].sort()
        if (ours.drugLevel) {
          expect(drugs, visit.source_visit_id).toEqual(ours.drugLevel.predicted)
          compared++
        }
      }
    }
    expect(compared).toBe(5)
  })

  it('says why the DDI share is missing without a checker, and keeps the other figures', async () => {
    const without = await evaluateDatabase(
      { db, databasePath: seeded.path, registry, knowledgeBasePath: null, drugChoice },
      { modelIds: ['fixture-linear'], bootstrap: { replicates: 0 } }
    )
    expect(without.drugLevel.ddi).toEqual({ unavailable: expect.stringContaining('no drug knowledge base') })
    expect(Object.keys(without.models[0]!.drugLevel.summary.metrics)).toEqual(['jaccard', 'f1', 'precision', 'recall', 'drugs'])
  })
})
