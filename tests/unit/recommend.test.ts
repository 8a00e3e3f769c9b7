import { canonicalJson } from '../../src/main/services/canonical-json'
import { parseSeverity } from '../../src/shared/domain/interaction'
import type { RecommendationDdiPair } from '../../src/shared/domain/interaction'
import type { ServiceContext } from '../../src/main/services/service-context'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { getPatientTimeline, NotFoundError } from '../../src/main/services/db/patients-repo'
import { setActiveModel } from '../../src/main/services/models/active-model'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { ddiCheckerFromPairs } from '../../src/main/services/interactions/checker'
import { decodeDrugs, drugDdiRate, type SafeDecodingOptions } from '../../src/main/services/recommend/drug-decode'
import { atc3Of, EmptyHistoryError, loadPatientInput } from '../../src/main/services/recommend/patient-input'
import { DdiUnavailableError, recommend, recommendMany } from '../../src/main/services/recommend/recommend'
import { ReferenceModel } from '../fixtures/models/reference-model'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'

const pair = (a: string, b: string, severity: RecommendationDdiPair['severity'], source = 'test'): RecommendationDdiPair => ({ a, b, severity, source })
const drugs = (entries: Record<string, number>) => Object.entries(entries).map(([atc3, probability]) => ({ atc3, probability }))
const ddiRate = drugDdiRate

/**
 * Drug-level decoding of classes that each hold one new drug (named like the class) and no other member: with
 * nothing to substitute, it must reduce to the greedy class-dropping rule these cases were written for.
 */
function decodeCombination(
  probabilities: Array<{ atc3: string; probability: number }>,
  threshold: number,
  interactions: RecommendationDdiPair[],
  safe: SafeDecodingOptions | null
) {
  const classes = probabilities
    .filter((p) => p.probability >= threshold)
    .sort((a, b) => b.probability - a.probability || (a.atc3 < b.atc3 ? -1 : 1))
    .map((p) => ({
      ...p,
      name: null,
      drugs: [{ atc5: p.atc3, name: null, source: 'model' as const, probability: 1 }],
      alternatives: [],
      noDrugReason: null,
      review: null,
      ranked: [{ atc5: p.atc3, name: null, probability: 1 }]
    }))
  const result = decodeDrugs(classes, [], ddiCheckerFromPairs('test', interactions), safe)
  const combination = result.classes.map((c) => c.atc3)
  const final = new Set(combination)
  return {
    combination,
    dropped: result.dropped,
    interactions: result.pairs.filter((p) => final.has(p.a) && final.has(p.b)),
    ddiRate: drugDdiRate(combination, result.pairs)
  }
}

describe('combination decoding (classes with a single member: nothing to substitute)', () => {
  it('without DDI-safe decoding takes every drug at or above the threshold, most probable first', () => {
    const result = decodeCombination(drugs({ A: 0.9, B: 0.5, C: 0.49, D: 0.7 }), 0.5, [pair('A', 'B', 'Major')], null)
    expect(result.combination).toEqual(['A', 'D', 'B'])
    expect(result.dropped).toEqual([])
    expect(result.interactions).toEqual([pair('A', 'B', 'Major')])
    expect(result.ddiRate).toBeCloseTo(1 / 3)
  })

  it('drops the less probable drug of a blocked pair', () => {
    const result = decodeCombination(drugs({ A: 0.9, B: 0.6, C: 0.8 }), 0.5, [pair('A', 'B', 'Major')], { blockSeverity: 'Major', maxDdiRate: null })
    expect(result.combination).toEqual(['A', 'C'])
    expect(result.dropped).toMatchObject([{ atc3: 'B', probability: 0.6, drug: 'B', reason: 'severity', conflictsWith: ['A'], triedMembers: [] }])
    expect(result.ddiRate).toBe(0)
  })

  it('drops a drug that conflicts with several others when that loses less expected benefit than dropping its partners', () => {
    // Dropping A loses 0.8; dropping B and C would lose 1.0. A costs 0.4 per conflict, B and C 0.5.
    const hub = decodeCombination(drugs({ A: 0.8, B: 0.5, C: 0.5 }), 0.5, [pair('A', 'B', 'Major'), pair('A', 'C', 'Contraindicated')], {
      blockSeverity: 'Major',
      maxDdiRate: null
    })
    expect(hub.combination).toEqual(['B', 'C'])
    expect(hub.dropped.map((d) => d.atc3)).toEqual(['A'])
    expect(hub.dropped[0]!.conflictsWith).toEqual(['B', 'C'])
    // With a stronger hub the partners go instead, one at a time.
    const strong = decodeCombination(drugs({ A: 0.95, B: 0.35, C: 0.4 }), 0.3, [pair('A', 'B', 'Major'), pair('A', 'C', 'Major')], {
      blockSeverity: 'Major',
      maxDdiRate: null
    })
    expect(strong.combination).toEqual(['A'])
    expect(strong.dropped.map((d) => d.atc3)).toEqual(['B', 'C'])
  })

  it('blocks only at or above the chosen severity', () => {
    const interactions = [pair('A', 'B', 'Moderate'), pair('C', 'D', 'Major'), pair('A', 'D', 'Unknown')]
    const probabilities = drugs({ A: 0.9, B: 0.8, C: 0.7, D: 0.6 })
    expect(decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Major', maxDdiRate: null }).combination).toEqual(['A', 'B', 'C'])
    expect(decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Moderate', maxDdiRate: null }).combination).toEqual(['A', 'C'])
    expect(decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Contraindicated', maxDdiRate: null }).combination).toEqual([
      'A',
      'B',
      'C',
      'D'
    ])
  })

  it('keeps the DDI rate at or under the target, counting every interaction whatever its severity', () => {
    // 4 drugs, 6 pairs, 2 interacting: rate 1/3.
    const interactions = [pair('A', 'B', 'Minor'), pair('C', 'D', 'Unknown')]
    const probabilities = drugs({ A: 0.9, B: 0.55, C: 0.7, D: 0.6 })
    const loose = decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Contraindicated', maxDdiRate: 0.34 })
    expect(loose.combination).toHaveLength(4)
    const tight = decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Contraindicated', maxDdiRate: 0.2 })
    // Dropping B (the least probable drug in an interacting pair) leaves A, C, D: 1 of 3 pairs, still over 0.2;
    // then D goes: A, C with no interaction.
    expect(tight.dropped.map((d) => [d.atc3, d.reason])).toEqual([
      ['B', 'ddi-rate'],
      ['D', 'ddi-rate']
    ])
    expect(tight.combination).toEqual(['A', 'C'])
    expect(tight.ddiRate).toBe(0)
    const zero = decodeCombination(probabilities, 0.5, interactions, { blockSeverity: 'Major', maxDdiRate: 0 })
    expect(zero.ddiRate).toBe(0)
  })

  it('never co-recommends a blocked pair, and always meets the rate target, on random cases', () => {
    let seed = 7
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const severities = ['Unknown', 'Minor', 'Moderate', 'Major', 'Contraindicated'] as const
    for (let trial = 0; trial < 200; trial++) {
      const codes = Array.from({ length: 8 }, (_, i) => `D${i}`)
      const probabilities = codes.map((atc3) => ({ atc3, probability: random() }))
      const interactions: RecommendationDdiPair[] = []
      for (let i = 0; i < codes.length; i++)
        for (let j = i + 1; j < codes.length; j++) if (random() < 0.3) interactions.push(pair(codes[i]!, codes[j]!, severities[Math.floor(random() * 5)]!))
      const target = random() * 0.5
      const result = decodeCombination(probabilities, 0.3, interactions, { blockSeverity: 'Moderate', maxDdiRate: target })
      expect(result.ddiRate).toBeLessThanOrEqual(target)
      const inResult = new Set(result.combination)
      for (const p of interactions) {
        if (['Moderate', 'Major', 'Contraindicated'].includes(p.severity)) expect(inResult.has(p.a) && inResult.has(p.b)).toBe(false)
      }
      const expected = probabilities.filter((p) => p.probability >= 0.3).length
      expect(result.combination.length + result.dropped.length).toBe(expected)
    }
  })

  it('computes the DDI rate over distinct pairs and rejects a target outside 0..1', () => {
    expect(ddiRate(['A'], [])).toBe(0)
    expect(ddiRate(['A', 'B', 'C'], [pair('A', 'B', 'Minor'), pair('B', 'A', 'Major', 'other source')])).toBeCloseTo(1 / 3)
    expect(() => decodeCombination(drugs({ A: 0.9 }), 0.5, [], { blockSeverity: 'Major', maxDdiRate: 1.5 })).toThrow('between 0 and 1')
    expect(parseSeverity('major')).toBe('Major')
    expect(parseSeverity('severe')).toBeNull()
  })
})

describe('recommendation service', () => {
  const seeded = seededDatabase()
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  const reference = new ReferenceModel(join(FIXTURE_MODELS_DIR, 'fixture-linear'))
  // No within-class model here: a class gets the drug the patient takes or took, or none (see drug-level.test.ts).
  const ctx: ServiceContext = { db: seeded.db, registry, ddi: null, drugChoice: null }
  const auditCount = () => (seeded.db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n
  beforeAll(async () => {
    await setActiveModel(seeded.db, registry, 'fixture-linear')
  })
  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  // Patient 10001 by hand (vocabulary index = entry + 2): visit 1 diagnoses 4019, 25000 → 2, 3; procedure 3893 → 2;
  // drugs B01A, C07A → 2, 3. Visit 2: 4280, 42731, V5861 (unknown) → 4, 5, 1; 9604 → 3; A02B (from its ATC5
  // A02BC01), N02B → 5, 4. Current visit 3: 4019, 5849 → 2, 6; 3995 → 4; its drugs are not inputs.
  const patient10001 = [
    { diagnoses: [2, 3], procedures: [2], medications: [2, 3] },
    { diagnoses: [4, 5, 1], procedures: [3], medications: [5, 4] },
    { diagnoses: [2, 6], procedures: [4], medications: [] }
  ]
  const codes = ['B01A', 'C07A', 'N02B', 'A02B', 'C03C', 'A10B', 'C10A', 'M01A']

  it('recommends from the stored history with the model threshold, and reports model, provider, timing and hash', async () => {
    const result = await recommend(ctx, '10001')
    const expected = reference.probabilities(patient10001, [1, 1, 1, 1])
    for (const drug of result.drugs) expect(drug.probability).toBeCloseTo(expected[codes.indexOf(drug.atc3)]!, 5)
    const expectedCombination = codes
      .map((code, i) => ({ code, p: expected[i]! }))
      .filter((d) => d.p >= 0.5)
      .sort((a, b) => b.p - a.p)
      .map((d) => d.code)
    expect(expectedCombination.length).toBeGreaterThan(0)
    expect(result.combination).toEqual(expectedCombination)
    expect(result.drugs.filter((d) => d.inCombination).map((d) => d.atc3)).toEqual(expectedCombination)
    // The model hash is shown and audited with the result (issue 15: "the model hash is never recorded").
    const onnxSha256 = (JSON.parse(readFileSync(join(FIXTURE_MODELS_DIR, 'fixture-linear', 'manifest.json'), 'utf8')) as { onnx: { sha256: string } }).onnx.sha256
    expect(result.model).toEqual({ id: 'fixture-linear', version: '1.0.0-fixture', family: 'logistic', onnxSha256 })
    expect((listAudit(seeded.db, { limit: 1 })[0]!.outputs as { model: { onnxSha256: string } }).model.onnxSha256).toBe(onnxSha256)
    expect(result.provider.provider).toBe('cpu')
    expect(result.threshold).toBe(0.5)
    expect(result.inputHash).toMatch(/^[0-9a-f]{64}$/)
    expect(result.timing.totalMs).toBeGreaterThan(0)
    expect(result.input).toMatchObject({
      currentVisit: { from: 'stored', sourceVisitId: '10001-3' },
      visitsUsed: 3,
      unknownCodes: { diagnosis: 1, procedure: 0, medication: 0 },
      unknownCodeList: [{ kind: 'diagnosis', system: 'ICD-9-CM', code: 'V5861' }],
      unmappedMedications: 1
    })
    expect(result.ddi).toMatchObject({ checked: false, ddiRate: null, interactions: [] })
    expect(result.dropped).toEqual([])
    const [entry] = listAudit(seeded.db, { patientId: result.patientId, limit: 1 })
    expect(entry).toMatchObject({ id: result.auditId, kind: 'recommendation', userName: currentUserName(), inputsHash: result.inputHash, modelId: 'fixture-linear' })
    expect((entry!.outputs as { combination: string[] }).combination).toEqual(result.combination)
  })

  it('gives the same input hash for the same inputs and a different one when the threshold or codes change', async () => {
    const a = await recommend(ctx, '10001', { audit: false })
    const b = await recommend(ctx, '10001', { audit: false })
    const c = await recommend(ctx, '10001', { audit: false, threshold: 0.3 })
    const d = await recommend(ctx, '10001', { audit: false, currentVisit: { diagnoses: [{ system: 'ICD-9-CM', code: '4019' }], procedures: [] } })
    expect(a.inputHash).toBe(b.inputHash)
    expect(new Set([a.inputHash, c.inputHash, d.inputHash]).size).toBe(3)
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 0 }] })).toBe('{"a":[2,{"c":0,"d":1}],"b":1}')
  })

  it("uses the caller's threshold", async () => {
    const low = await recommend(ctx, '10001', { audit: false, threshold: 0.05 })
    const high = await recommend(ctx, '10001', { audit: false, threshold: 0.95 })
    expect(low.combination.length).toBeGreaterThan(high.combination.length)
    expect(low.combination).toEqual(low.drugs.filter((d) => d.probability >= 0.05).map((d) => d.atc3))
  })

  it("takes the current visit from the caller: every stored visit becomes history", async () => {
    const result = await recommend(ctx, '10001', {
      audit: false,
      currentVisit: { diagnoses: [{ system: 'ICD-10-CM', code: 'I10' }], procedures: [{ system: 'ICD-10-PCS', code: '02HV33Z' }] }
    })
    const expected = reference.probabilities(
      [
        patient10001[0]!,
        patient10001[1]!,
        { diagnoses: [2, 6], procedures: [4], medications: [6] }, // stored visit 3 is history now: its C03C counts
        { diagnoses: [7], procedures: [5], medications: [] }
      ],
      [1, 1, 1, 1]
    )
    for (const drug of result.drugs) expect(drug.probability).toBeCloseTo(expected[codes.indexOf(drug.atc3)]!, 5)
    expect(result.input.currentVisit).toEqual({ from: 'caller' })
    expect(result.input.visitsUsed).toBe(4)
  })

  it('DDI-safe decoding checks the drugs of the classes, drops by the greedy rule when no member can substitute, and reports the interactions that remain', async () => {
    const plain = await recommend(ctx, '10001', { audit: false, threshold: 0.05 })
    // Classes whose drug comes from an earlier visit: new to the current visit, so DDI-safe may act on them.
    const [first, second, third] = plain.classes.filter((c) => c.drugs.length === 1 && c.drugs[0]!.source === 'history')
    expect(third).toBeDefined()
    const drug = (cls: typeof first) => cls!.drugs[0]!.atc5
    const checker = ddiCheckerFromPairs('test source', [
      pair(drug(first), drug(second), 'Major', 'test source'),
      pair(drug(first), drug(third), 'Minor', 'test source')
    ])
    const safe = await recommend({ ...ctx, ddi: checker }, '10001', { threshold: 0.05, ddiSafe: { blockSeverity: 'Major', maxDdiRate: null } })
    expect(safe.combination).toEqual(plain.combination.filter((c) => c !== second!.atc3))
    expect(safe.ddi).toMatchObject({
      checked: true,
      source: 'test source',
      safeDecoding: { blockSeverity: 'Major', maxDdiRate: null },
      interactions: [pair(drug(first), drug(third), 'Minor', 'test source')]
    })
    expect(safe.dropped).toMatchObject([{ atc3: second!.atc3, drug: drug(second), reason: 'severity', conflictsWith: [drug(first)], triedMembers: [] }])
    expect(safe.substituted).toEqual([])
    expect(safe.ddi.ddiRate).toBeGreaterThan(0)
    const unchecked = await recommend({ ...ctx, ddi: checker }, '10001', { audit: false, threshold: 0.05 })
    expect(unchecked.combination).toEqual(plain.combination)
    expect(unchecked.ddi.interactions).toHaveLength(2)
    // Without DDI-safe the Major pair between two drugs new to this visit interrupts; the Minor one is collapsed.
    expect(unchecked.warnings.filter((w) => w.kind === 'interaction').map((w) => [w.severity, w.interrupting, w.tier])).toEqual([
      ['Major', true, 'interrupt'],
      ['Minor', false, 'details']
    ])
  })

  it('runs a batch of patients in one call with the same results as one by one', async () => {
    const batch = await recommendMany(ctx, [{ patient: '10001' }, { patient: '10002' }, { patient: '10005' }], { audit: false })
    expect(batch.map((r) => r.sourcePatientId)).toEqual(['10001', '10002', '10005'])
    for (const result of batch) {
      const single = await recommend(ctx, result.sourcePatientId, { audit: false })
      expect(result.inputHash).toBe(single.inputHash)
      expect(result.drugs).toEqual(single.drugs)
    }
    expect(batch[2]!.input).toMatchObject({ visitsUsed: 4, visitsLeftOut: 2, truncatedCodes: { diagnosis: 2, procedure: 0, medication: 0 } })
  })

  it("reads the same visits and codes as the patient repository's timeline", () => {
    for (const sourceId of ['10001', '10002', '10004', '10005']) {
      const input = loadPatientInput(seeded.db, sourceId)
      const timeline = getPatientTimeline(seeded.db, seeded.ids.get(sourceId)!)
      expect(input.patient).toEqual({ id: timeline.patient.id, sourcePatientId: sourceId })
      expect(input.visits).toEqual(
        timeline.visits.map((v) => ({
          diagnoses: v.diagnoses.map((d) => ({ system: d.system, code: d.code })),
          procedures: v.procedures.map((d) => ({ system: d.system, code: d.code })),
          medications: [...new Set(v.medications.map((m) => atc3Of(m)).filter((c): c is string => c !== null))].sort()
        }))
      )
    }
  })

  it("orders a visit's codes as training does: by seq, ties by code", () => {
    const db = seeded.db
    const patient = Number(db.prepare(`INSERT INTO patients (source, source_patient_id) VALUES ('eicu', 'tie-1')`).run().lastInsertRowid)
    const visit = Number(
      db.prepare(`INSERT INTO visits (patient_id, source, source_visit_id, sort_key, order_label) VALUES (?, 'eicu', 'tie-1-1', 'a', 'stay 1')`).run(patient)
        .lastInsertRowid
    )
    for (const [seq, code] of [[2, 'Z9'], [1, 'M2'], [1, 'A1'], [2, 'B5']] as const) {
      db.prepare(`INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (?, ?, 'other', ?)`).run(visit, seq, code)
    }
    expect(loadPatientInput(db, 'tie-1').visits[0]!.diagnoses.map((d) => d.code)).toEqual(['A1', 'M2', 'B5', 'Z9'])
  })

  it('refuses bad input with a clear error and writes nothing', async () => {
    const before = auditCount()
    await expect(recommend(ctx, '99999')).rejects.toThrow(NotFoundError)
    await expect(recommend(ctx, '99999')).rejects.toThrow('No patient with id 99999.')
    await expect(recommend(ctx, 'P-17')).rejects.toThrow('No patient with id or source id "P-17".')
    await expect(recommend(ctx, '10003')).rejects.toThrow(EmptyHistoryError)
    await expect(recommend(ctx, '10003')).rejects.toThrow(/has no stored visits/)
    await expect(recommend(ctx, '10004')).rejects.toThrow(/has no diagnosis, procedure or medication codes/)
    await expect(recommend(ctx, '10001', { threshold: 1.2 })).rejects.toThrow('The threshold must lie strictly between 0 and 1, got 1.2.')
    await expect(recommend(ctx, '10001', { modelId: 'fixture-mismatched-io' })).rejects.toThrow(/was refused/)
    await expect(recommend(ctx, '10001', { ddiSafe: { blockSeverity: 'Major', maxDdiRate: null } })).rejects.toThrow(DdiUnavailableError)
    await expect(recommend(ctx, '10001', { currentVisit: { diagnoses: [], procedures: [] } })).rejects.toThrow(/no diagnosis or procedure codes/)
    // One bad patient in a batch fails the whole batch before anything is written.
    await expect(recommendMany(ctx, [{ patient: '10001' }, { patient: '10003' }])).rejects.toThrow(EmptyHistoryError)
    expect(auditCount()).toBe(before)
  })
})
