// NLA-MMR cold start wired into recommendation and explanation, on the real models/nla-mmr folder and a
// temporary copy of the demo database (resources/demo.sqlite is only read; a fresh checkout builds the demo
// from the open data first, as the e2e tests do). Patients are picked at test
// time by what the current model's vocabulary knows, and every expectation is computed here from the
// model files, so a re-exported model keeps these tests meaningful.
import type { RecommendationResult } from '../../src/shared/domain/recommendation'
import { ColdStartModels } from '../../src/main/services/recommend/cold-start-models'
import type { ServiceContext } from '../../src/main/services/service-context'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { explain } from '../../src/main/services/explain/explain'
import { codeKey, encodePatient } from '../../src/main/services/inference/encode'
import { ModelRegistry, type RegisteredModel } from '../../src/main/services/models/registry'
import { dataDir, modelsDir, resourcesDir } from '../../src/main/services/paths'
import { inputsHash } from '../../src/main/services/recommend/input-hash'
import { type PreparedInput, prepareInput, round } from '../../src/main/services/recommend/prepare'
import { recommend, recommendMany } from '../../src/main/services/recommend/recommend'
import { UNKNOWN_INDEX } from '../../src/main/services/inference/vocabulary'
import { ColdStartModel, codeText } from '../../src/main/services/inference/text/cold-start'
import { testDatabase, type TestDatabase } from '../e2e/demo-database'

const nlaDir = join(modelsDir(), 'nla-mmr')
const hasDemo = existsSync(join(resourcesDir(), 'demo.sqlite')) || existsSync(join(dataDir(), 'ehr'))
const ready = hasDemo && existsSync(join(nlaDir, 'manifest.json'))
if (!ready) console.warn('cold-start-recommend.test: needs the demo database (or the open data to build it) and models/nla-mmr; skipped')

/** Titles straight from code_titles, independently of the services' reading of them. */
function storeTitles(db: Db): (kind: 'diagnosis' | 'procedure', key: string) => string | undefined {
  const titles = new Map<string, string>()
  for (const row of db.prepare('SELECT kind, code_system, code, title FROM code_titles').all() as Array<Record<string, string>>) {
    titles.set(`${row.kind}:${codeKey({ system: row.code_system!, code: row.code! })}`, row.title!)
  }
  return (kind, key) => titles.get(`${kind}:${key}`)
}

const titledNewCodes = (p: PreparedInput, titleOf: ReturnType<typeof storeTitles>) =>
  p.summary.unknownCodeList.filter((c) => c.kind !== 'medication' && codeText(titleOf(c.kind, codeKey(c))) !== null)

/** Drug probabilities of a result in the model's medication order. */
function probabilitiesOf(result: RecommendationResult, model: RegisteredModel): number[] {
  const byCode = new Map(result.drugs.map((d) => [d.atc3, d.probability]))
  return model.manifest.vocabularies.medication.entries.map((e) => byCode.get(e.code)!)
}

const largestGap = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let largest = 0
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!))
  return largest
}

describe.skipIf(!ready)('NLA-MMR cold start in recommendation and explanation', () => {
  let dir: string
  let dbPath: string
  let ctx: ServiceContext & { coldStart: ColdStartModels }
  let nla: RegisteredModel
  let titleOf: ReturnType<typeof storeTitles>
  /** A patient with diagnoses or procedures outside the vocabulary that have a title. */
  let titledPatient: number
  /** A patient whose every code the model knows. */
  let knownPatient: number

  let demo: TestDatabase | undefined

  /** True when the patient's stored visits, all taken as history of a new visit, hold only codes the model knows. */
  function allKnownAsHistory(db: Db, id: number): boolean {
    const entry = nla.manifest.vocabularies.diagnosis.entries[0]!
    const visit = { diagnoses: [{ system: entry.system ?? null, code: entry.code }], procedures: [] }
    return prepareInput(nla, db, id, visit).summary.unknownCodeList.length === 0
  }

  beforeAll(async () => {
    demo = await testDatabase()
    dir = mkdtempSync(join(tmpdir(), 'medrec-cold-start-'))
    dbPath = join(dir, 'demo.sqlite')
    const source = openDatabase(demo.path, { readonly: true })
    source.exec(`VACUUM INTO '${dbPath.replace(/'/g, "''")}'`)
    source.close()
    const db = openDatabase(dbPath)
    ctx = { db, registry: new ModelRegistry(modelsDir(), { providers: ['cpu'] }), ddi: null, coldStart: new ColdStartModels() }
    nla = await ctx.registry.get('nla-mmr')
    expect(ColdStartModel.supports(nla.manifest)).toBe(true)
    titleOf = storeTitles(db)
    const ids = (db.prepare('SELECT id FROM patients ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id)
    let titled: number | undefined
    let known: number | undefined
    for (const id of ids) {
      let prepared: PreparedInput
      try {
        prepared = prepareInput(nla, db, id)
      } catch {
        continue // no stored visit or no code
      }
      // Known also with a caller-given current visit, when every stored visit (medications too) is history.
      if (known === undefined && prepared.summary.unknownCodeList.length === 0 && allKnownAsHistory(db, id)) known = id
      if (titled === undefined && titledNewCodes(prepared, titleOf).length > 0) titled = id
      if (titled !== undefined && known !== undefined) break
    }
    if (known === undefined) throw new Error('No demo patient has only codes the model knows.')
    if (titled === undefined) {
      // No demo code is new to this model: give a copy of a known patient's current visit one, with a title.
      const visit = db.prepare('SELECT id FROM visits WHERE patient_id = ? ORDER BY sort_key DESC, id DESC LIMIT 1').get(known) as { id: number }
      db.prepare("INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (?, -1, 'ICD-10-CM', 'ZZ9COLD')").run(visit.id)
      db.prepare("INSERT INTO code_titles (kind, code_system, code, title) VALUES ('diagnosis', 'ICD-10-CM', 'ZZ9COLD', 'Acute kidney failure, unspecified')").run()
      titled = known
      known = ids.find((id) => id !== titled && prepareInput(nla, db, id).summary.unknownCodeList.length === 0)!
      titleOf = storeTitles(db)
    }
    titledPatient = titled
    knownPatient = known
  }, 120_000)

  afterAll(async () => {
    await ctx?.coldStart.close()
    await ctx?.registry.close()
    ctx?.db.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
    demo?.remove()
  })

  it('feeds titled codes new to the model through their titles, reports them, and equals a direct cold-start run', async () => {
    const prepared = prepareInput(nla, ctx.db, titledPatient)
    const expected = titledNewCodes(prepared, titleOf)
    const result = await recommend(ctx, titledPatient, { modelId: 'nla-mmr', audit: false })

    expect(result.input.coldStart?.embedded.map((c) => `${c.kind}:${c.system}|${c.code}`)).toEqual(expected.map((c) => `${c.kind}:${c.system}|${c.code}`))
    expect(result.input.coldStart?.embedded.map((c) => c.title)).toEqual(expected.map((c) => titleOf(c.kind as 'diagnosis', codeKey(c))))
    const untitled = prepared.summary.unknownCodeList.length - expected.length
    expect(result.input.coldStart?.unknown).toHaveLength(untitled)

    const direct = await (await ctx.coldStart.get(nla)).predict([prepared.encoded], titleOf)
    nla.session.calibrate(direct.probabilities) // raw graph output, calibrated as the app does
    expect(direct.plan.newCodes.length).toBe(expected.length)
    expect(probabilitiesOf(result, nla)).toEqual(Array.from(direct.probabilities, (p) => round(p)))
    // model.onnx sees those codes as 'unknown' and gives other probabilities.
    const plain = await nla.session.predict([prepared.encoded])
    expect(largestGap(plain, direct.probabilities)).toBeGreaterThan(1e-6)
    // A changed title changes the output, so the titles are part of the inputs hash.
    const withoutTitles = inputsHash(nla.manifest, prepared.encoded.fed, { threshold: result.threshold, ddiSafe: null })
    expect(result.inputHash).not.toBe(withoutTitles)
  }, 60_000)

  it('loads the cold-start graph once per model and reuses it', async () => {
    const first = await ctx.coldStart.get(nla)
    await recommend(ctx, titledPatient, { modelId: 'nla-mmr', audit: false })
    expect(await ctx.coldStart.get(nla)).toBe(first)
    expect([...ctx.coldStart.loadMs.keys()]).toEqual([nla])
  })

  it('explains the probabilities the recommendation showed, marking the codes fed through their titles', async () => {
    const result = await recommend(ctx, titledPatient, { modelId: 'nla-mmr', audit: false })
    const top = result.drugs[0]!
    const explanation = await explain(ctx, titledPatient, { modelId: 'nla-mmr', drugs: [top.atc3], codeDrugs: 1, audit: false })
    const drug = explanation.drugs[0]!
    // Same graph, one row vs the explanation's batched rows: equal up to float rounding (onnxruntime's kernels
    // sum in a batch-dependent order, ~1e-7) plus the recommendation's 6-decimal rounding.
    expect(Math.abs(drug.probability - top.probability)).toBeLessThanOrEqual(1e-6)
    const shapleySum = drug.modalities.reduce((sum, m) => sum + m.shapley, 0)
    expect(shapleySum).toBeCloseTo(drug.probability - drug.baseline, 6)
    expect(explanation.input.coldStart).toEqual(result.input.coldStart)
    const embedded = new Set(result.input.coldStart!.embedded.map((c) => `${c.kind}:${codeKey(c)}`))
    const fromTitle = drug.codes!.filter((c) => c.fromTitle)
    expect(new Set(fromTitle.map((c) => `${c.kind}:${codeKey(c)}`))).toEqual(embedded)
    expect(fromTitle.every((c) => !c.unknown && c.title !== null)).toBe(true)

    // The contribution of a code fed through its title is the cold-start graph's, not model.onnx's.
    const code = fromTitle[0]!
    const prepared = prepareInput(nla, ctx.db, titledPatient)
    const column = nla.manifest.vocabularies.medication.entries.findIndex((e) => e.code === top.atc3)
    const visits = prepared.input.visits.map((v) => ({
      ...v,
      diagnoses: code.kind === 'diagnosis' ? v.diagnoses.filter((r) => codeKey(r) !== codeKey(code)) : v.diagnoses,
      procedures: code.kind === 'procedure' ? v.procedures.filter((r) => codeKey(r) !== codeKey(code)) : v.procedures
    }))
    const without = await (await ctx.coldStart.get(nla)).predict([encodePatient(nla.vocab, nla.manifest.limits, visits)], titleOf)
    nla.session.calibrate(without.probabilities)
    // one row here, the explanation's batched rows there: float rounding apart (see above)
    expect(Math.abs(code.contribution - (drug.probability - without.probabilities[column]!))).toBeLessThanOrEqual(1e-6)
  }, 60_000)

  it('runs model.onnx unchanged for a patient whose codes are all known', async () => {
    const prepared = prepareInput(nla, ctx.db, knownPatient)
    const result = await recommend(ctx, knownPatient, { modelId: 'nla-mmr', audit: false })
    expect(result.input.coldStart).toEqual({ embedded: [], unknown: [] })
    const plain = await nla.session.predict([prepared.encoded])
    expect(probabilitiesOf(result, nla)).toEqual(Array.from(plain, (p) => round(p)))
    const explanation = await explain(ctx, knownPatient, { modelId: 'nla-mmr', drugs: [result.drugs[0]!.atc3], codeDrugs: 1, audit: false })
    expect(Math.abs(explanation.drugs[0]!.probability - result.drugs[0]!.probability)).toBeLessThanOrEqual(1e-6) // batched vs one row, as above
    expect(explanation.drugs[0]!.codes!.some((c) => c.fromTitle)).toBe(false)
  })

  it('runs each patient of a batch through the graph it needs', async () => {
    const [titled, known] = await recommendMany(ctx, [{ patient: titledPatient }, { patient: knownPatient }], { modelId: 'nla-mmr', audit: false })
    const alone = await recommend(ctx, titledPatient, { modelId: 'nla-mmr', audit: false })
    expect(titled!.drugs).toEqual(alone.drugs)
    const plain = await nla.session.predict([prepareInput(nla, ctx.db, knownPatient).encoded])
    expect(probabilitiesOf(known!, nla)).toEqual(Array.from(plain, (p) => round(p)))
    expect(known!.input.coldStart?.embedded).toEqual([])
  })

  it('leaves a model without a cold-start graph unchanged, with no cold-start field', async () => {
    const { models } = await ctx.registry.scan()
    const other = models.find((m) => !ColdStartModel.supports(m.manifest))
    expect(other, 'a model without a cold-start graph in models/').toBeDefined()
    const prepared = prepareInput(other!, ctx.db, titledPatient)
    const result = await recommend(ctx, titledPatient, { modelId: other!.manifest.id, audit: false })
    expect('coldStart' in result.input).toBe(false)
    const plain = await other!.session.predict([prepared.encoded])
    expect(probabilitiesOf(result, other!)).toEqual(Array.from(plain, (p) => round(p)))
    const explanation = await explain(ctx, titledPatient, { modelId: other!.manifest.id, drugs: [result.drugs[0]!.atc3], audit: false })
    expect('coldStart' in explanation.input).toBe(false)
    expect(explanation.drugs[0]!.codes!.some((c) => 'fromTitle' in c)).toBe(false)
  })

  it('counts a new code without a title as unknown, and embeds a caller-given one that has a title', async () => {
    // A diagnosis title the store has for a code the model never saw.
    const titledCode = (ctx.db.prepare("SELECT code_system AS system, code FROM code_titles WHERE kind = 'diagnosis' ORDER BY code_system, code").all() as Array<{
      system: string
      code: string
    }>).find((c) => nla.vocab.diagnosis.indexOf(c.system, c.code) === UNKNOWN_INDEX)
    const known = nla.manifest.vocabularies.diagnosis.entries[0]!
    const untitled = { system: 'ICD-10-CM', code: 'ZZ9.NOTITLE' }
    const diagnoses = [{ system: known.system ?? null, code: known.code }, untitled]

    // Only an untitled new code: nothing to embed, model.onnx runs, the code is reported as unknown.
    const plainResult = await recommend(ctx, knownPatient, { modelId: 'nla-mmr', currentVisit: { diagnoses, procedures: [] }, audit: false })
    expect(plainResult.input.coldStart).toEqual({ embedded: [], unknown: [{ kind: 'diagnosis', ...untitled }] })
    const prepared = prepareInput(nla, ctx.db, knownPatient, { diagnoses, procedures: [] })
    expect(probabilitiesOf(plainResult, nla)).toEqual(Array.from(await nla.session.predict([prepared.encoded]), (p) => round(p)))

    expect(titledCode, 'a titled diagnosis outside the vocabulary in code_titles').toBeDefined()
    // Beside a titled one: that one is embedded (its title found in code_titles), the untitled stays unknown.
    const caller = { system: titledCode!.system, code: titledCode!.code }
    const mixedVisit = { diagnoses: [...diagnoses, caller], procedures: [] }
    const mixed = await recommend(ctx, knownPatient, { modelId: 'nla-mmr', currentVisit: mixedVisit, audit: false })
    expect(mixed.input.coldStart?.embedded.map((c) => c.code)).toEqual([caller.code])
    expect(mixed.input.coldStart?.unknown).toEqual([{ kind: 'diagnosis', ...untitled }])
    const mixedInput = prepareInput(nla, ctx.db, knownPatient, mixedVisit)
    const direct = await (await ctx.coldStart.get(nla)).predict([mixedInput.encoded], titleOf)
    nla.session.calibrate(direct.probabilities)
    expect(probabilitiesOf(mixed, nla)).toEqual(Array.from(direct.probabilities, (p) => round(p)))
    const explanation = await explain(ctx, knownPatient, {
      modelId: 'nla-mmr',
      drugs: [mixed.drugs[0]!.atc3],
      codeDrugs: 1,
      currentVisit: mixedVisit,
      audit: false
    })
    const byCode = new Map(explanation.drugs[0]!.codes!.map((c) => [c.code, c]))
    expect(byCode.get(untitled.code)).toMatchObject({ unknown: true, title: null })
    expect(byCode.get(untitled.code)?.fromTitle).toBeUndefined()
    expect(byCode.get(caller.code)).toMatchObject({ unknown: false, fromTitle: true })
  }, 60_000)

  it('works from a context without a cold-start cache (loaded for the call and released)', async () => {
    const cached = await recommend(ctx, titledPatient, { modelId: 'nla-mmr', audit: false })
    const bare: ServiceContext = { db: ctx.db, registry: ctx.registry, ddi: null }
    const uncached = await recommend(bare, titledPatient, { modelId: 'nla-mmr', audit: false })
    expect(uncached.drugs).toEqual(cached.drugs)
    expect(uncached.input.coldStart).toEqual(cached.input.coldStart)
  }, 60_000)

  describe('medrec recommend', () => {
    const saved = { kb: process.env.MEDREC_KB, providers: process.env.MEDREC_EXECUTION_PROVIDERS }
    let out: string[] = []
    beforeAll(() => {
      process.env.MEDREC_KB = join(tmpdir(), 'medrec-no-knowledge-base.sqlite')
      process.env.MEDREC_EXECUTION_PROVIDERS = 'cpu'
    })
    afterAll(() => {
      for (const [key, value] of [['MEDREC_KB', saved.kb], ['MEDREC_EXECUTION_PROVIDERS', saved.providers]] as const) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
    })
    afterEach(() => vi.restoreAllMocks())
    const run = async (...args: string[]): Promise<number> => {
      out = []
      vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
      vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
      return main(args)
    }

    it('prints which codes new to the model were embedded from their titles', async () => {
      expect(await run('recommend', '--model', 'nla-mmr', '--db', dbPath, String(titledPatient))).toBe(0)
      const expected = titledNewCodes(prepareInput(nla, ctx.db, titledPatient), titleOf)
      const line = out.find((l) => l.startsWith('Cold start:'))
      expect(line).toMatch(new RegExp(`^Cold start: ${expected.length} code\\(s\\) new to the model embedded from their titles: `))
      expect(line).toContain(`${expected[0]!.code} (`)
    }, 60_000)

    it('prints no cold-start line for a patient the model fully knows', async () => {
      expect(await run('recommend', '--model', 'nla-mmr', '--db', dbPath, String(knownPatient))).toBe(0)
      expect(out.some((l) => l.startsWith('Cold start:'))).toBe(false)
    }, 60_000)
  })
})
