// The batched explanation (one model run for all 2^M modality coalitions and every per-code occlusion, the
// occluded inputs built from the encoded tensors) against the reference implementation it replaced (two
// runs, each occluded patient re-encoded from its visits: tests/reference/explain-reference.ts), on the demo
// patients for every shipped model. Shapley values, occlusion deltas, probabilities and baselines agree to
// 1e-6; the drugs and codes listed are the same.
import type { DrugExplanation } from '../../src/shared/domain/explanation'
import { ColdStartModels } from '../../src/main/services/recommend/cold-start-models'
import type { ServiceContext } from '../../src/main/services/service-context'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { explain } from '../../src/main/services/explain/explain'
import { occludeEncoded, type OccludedCode, visitsWithout } from '../../src/main/services/explain/occlusion'
import { codeKey, encodePatient, type EncodedPatient, type VisitCodes } from '../../src/main/services/inference/encode'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { dataDir, modelsDir, resourcesDir } from '../../src/main/services/paths'
import { loadPatientInput } from '../../src/main/services/recommend/patient-input'
import { testDatabase, type TestDatabase } from '../e2e/demo-database'
import { explainReference } from '../reference/explain-reference'

const SHIPPED = ['logistic', 'cafemed', 'mkmed', 'nla-mmr'].filter((id) => existsSync(join(modelsDir(), id, 'manifest.json')))
const hasDemo = existsSync(join(resourcesDir(), 'demo.sqlite')) || existsSync(join(dataDir(), 'ehr'))
const ready = hasDemo && SHIPPED.length > 0
if (!ready) console.warn('explain-batched.test: needs the demo database (or the open data to build it) and the shipped models; skipped')
const PATIENTS_PER_MODEL = 20
const TOLERANCE = 1e-6

function expectSameEncoding(actual: EncodedPatient, expected: EncodedPatient): void {
  expect([...actual.diagnoses]).toEqual([...expected.diagnoses])
  expect([...actual.procedures]).toEqual([...expected.procedures])
  expect([...actual.medications]).toEqual([...expected.medications])
  expect([...actual.visitMask]).toEqual([...expected.visitMask])
  expect(actual.fed).toEqual(expected.fed)
}

/** Every distinct code of the visits, as the explanation occludes them. */
function distinctCodes(visits: readonly VisitCodes[]): OccludedCode[] {
  const seen = new Map<string, OccludedCode>()
  for (const visit of visits) {
    for (const ref of visit.diagnoses) seen.set(`d:${codeKey(ref)}`, { kind: 'diagnosis', ref, key: codeKey(ref) })
    for (const ref of visit.procedures) seen.set(`p:${codeKey(ref)}`, { kind: 'procedure', ref, key: codeKey(ref) })
    for (const code of visit.medications) seen.set(`m:${code}`, { kind: 'medication', ref: { system: null, code }, key: codeKey({ system: null, code }) })
  }
  return [...seen.values()]
}

function expectSameDrugs(actual: DrugExplanation[], expected: DrugExplanation[], label: string): void {
  expect(actual.map((d) => d.atc3), label).toEqual(expected.map((d) => d.atc3))
  actual.forEach((drug, i) => {
    const ref = expected[i]!
    const where = `${label} ${drug.atc3}`
    expect(Math.abs(drug.probability - ref.probability), where).toBeLessThanOrEqual(TOLERANCE)
    expect(Math.abs(drug.baseline - ref.baseline), where).toBeLessThanOrEqual(TOLERANCE)
    expect(drug.modalities.map((m) => m.modalityId), where).toEqual(ref.modalities.map((m) => m.modalityId))
    drug.modalities.forEach((m, j) => expect(Math.abs(m.shapley - ref.modalities[j]!.shapley), `${where} ${m.modalityId}`).toBeLessThanOrEqual(TOLERANCE))
    expect(drug.codes === null, where).toBe(ref.codes === null)
    if (drug.codes && ref.codes) {
      const key = (c: { kind: string; system: string | null; code: string }) => `${c.kind}:${c.system}|${c.code}`
      const expectedByKey = new Map(ref.codes.map((c) => [key(c), c]))
      expect(drug.codes.map(key).sort(), where).toEqual([...expectedByKey.keys()].sort())
      for (const code of drug.codes) {
        const other = expectedByKey.get(key(code))!
        expect(Math.abs(code.contribution - other.contribution), `${where} ${key(code)}`).toBeLessThanOrEqual(TOLERANCE)
        expect({ ...code, contribution: 0 }).toEqual({ ...other, contribution: 0 })
      }
    }
    expect(drug.causalWeights, where).toEqual(ref.causalWeights)
  })
}

describe.skipIf(!ready)('batched explanations equal the reference implementation on the demo patients', () => {
  let demo: TestDatabase
  let db: Db
  let ctx: ServiceContext & { coldStart: ColdStartModels }
  let patients: number[]

  beforeAll(async () => {
    demo = await testDatabase()
    db = openDatabase(demo.path, { readonly: true })
    ctx = { db, registry: new ModelRegistry(modelsDir(), { providers: ['cpu'] }), ddi: null, coldStart: new ColdStartModels() }
    // Patients whose current visit has a diagnosis, spread over the whole demo (MIMIC-IV and eICU).
    const all = (
      db
        .prepare(
          `SELECT v.patient_id AS id FROM visits v
           WHERE v.id = (SELECT id FROM visits w WHERE w.patient_id = v.patient_id ORDER BY sort_key DESC, id DESC LIMIT 1)
             AND EXISTS (SELECT 1 FROM diagnoses d WHERE d.visit_id = v.id)
           ORDER BY v.patient_id`
        )
        .all() as Array<{ id: number }>
    ).map((r) => r.id)
    const step = Math.max(1, Math.floor(all.length / PATIENTS_PER_MODEL))
    patients = all.filter((_, i) => i % step === 0).slice(0, PATIENTS_PER_MODEL)
  })
  afterAll(async () => {
    await ctx?.coldStart.close()
    await ctx?.registry.close()
    db?.close()
    demo?.remove()
  })

  it('builds every occluded input exactly as re-encoding the visits without the code does', async () => {
    const model = await ctx.registry.get(SHIPPED[0]!)
    const tight = { ...model.manifest.limits, maxVisits: 2, maxDiagnoses: 3, maxProcedures: 2, maxMedications: 2 }
    let checked = 0
    for (const limits of [model.manifest.limits, tight]) {
      for (const id of patients) {
        const { visits } = loadPatientInput(db, id)
        const encoded = encodePatient(model.vocab, limits, visits)
        for (const code of distinctCodes(visits)) {
          expectSameEncoding(occludeEncoded(model.vocab, limits, visits, encoded, code), encodePatient(model.vocab, limits, visitsWithout(visits, code)))
          checked++
        }
      }
    }
    // Tight limits truncate codes and drop visits, so both the shortcut and its fallback are exercised.
    expect(checked).toBeGreaterThan(100)
  })

  it.each(SHIPPED)('%s: Shapley values and per-code occlusion deltas equal the two-run reference to 1e-6', async (modelId) => {
    let explainedCodes = 0
    for (const patient of patients) {
      const options = { modelId, threshold: 0.2, codeDrugs: 3 }
      const reference = await explainReference(ctx, patient, options)
      const batched = await explain(ctx, patient, { ...options, audit: false })
      expectSameDrugs(batched.drugs, reference.drugs, `${modelId} patient ${patient}`)
      expect(batched.inputHash).toBe(reference.inputHash)
      expect(batched.timing.subsetRows).toBe(reference.timing.subsetRows)
      expect(batched.timing.occlusionRows).toBe(reference.timing.occlusionRows)
      explainedCodes += batched.timing.occlusionRows
    }
    expect(explainedCodes).toBeGreaterThan(patients.length)
  }, 120_000)
})
