// The workspace API methods through the real dispatcher and handlers: every argument is validated before
// a service runs (with a message naming the argument and field), and the services answer from a seeded
// patient database, the fixture models and a knowledge base built from the fixture files.
import { API_METHODS, type ApiResponse } from '../../src/shared/api/methods'
import type { AppSettings } from '../../src/shared/domain/settings'
import type { ReviewCheck, ReviewRecord } from '../../src/shared/domain/review'
import type { ExplanationView } from '../../src/shared/domain/explanation'
import type { RecommendationView } from '../../src/shared/domain/recommendation'
import type { ClassMolecules, DrugSearchHit } from '../../src/shared/domain/drug'
import type { ModelCard } from '../../src/shared/domain/manifest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HAS_OPEN_DATA } from './import-helpers'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApiDispatcher, type ApiDispatcher, type ApiHandlers } from '../../src/main/api/dispatcher'
import { createApiHandlers } from '../../src/main/api/handlers'
import { currentUserName } from '../../src/main/services/audit/audit'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { readMetrics } from '../../src/main/services/models/model-card'
import { sanitiseSvg } from '../../src/main/services/molecules/molecules'
import { MedrecServices } from '../../src/main/services/open-services'
import { apiArgSchemas } from '../../src/shared/api'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

const knowledgeFixtures = join(__dirname, '..', 'fixtures', 'knowledge')

function expectError(response: ApiResponse, code: string, ...fragments: Array<string | RegExp>): string {
  expect(response.ok, JSON.stringify(response)).toBe(false)
  if (response.ok) throw new Error('unreachable')
  expect(response.error.code).toBe(code)
  for (const fragment of fragments) {
    if (typeof fragment === 'string') expect(response.error.message).toContain(fragment)
    else expect(response.error.message).toMatch(fragment)
  }
  return response.error.message
}

function resultOf<T>(response: ApiResponse): T {
  expect(response.ok, JSON.stringify(response)).toBe(true)
  if (!response.ok) throw new Error('unreachable')
  return response.result as T
}

describe('workspace API', () => {
  let seeded: ReturnType<typeof seededDatabase>
  let kbDir: string
  let workspace: MedrecServices
  let dispatcher: ApiDispatcher
  let spies: Record<string, ReturnType<typeof vi.fn>>
  let patient: number

  beforeAll(() => {
    seeded = seededDatabase()
    kbDir = mkdtempSync(join(tmpdir(), 'medrec-workspace-kb-'))
    const kbPath = join(kbDir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, knowledgeFixtures, { curatedTablePath: join(knowledgeFixtures, 'curated.csv') })
    workspace = new MedrecServices(seeded.db, { modelsDirectory: FIXTURE_MODELS_DIR, knowledgeBasePath: kbPath })
    const real = createApiHandlers({ db: seeded.db, databasePath: seeded.path, appVersion: '1', services: workspace })
    spies = Object.fromEntries(API_METHODS.map((method) => [method, vi.fn(real[method] as (...args: unknown[]) => unknown)]))
    dispatcher = createApiDispatcher(spies as unknown as ApiHandlers, { onInternalError: () => {} })
    patient = seeded.ids.get('10001')!
  })
  afterAll(async () => {
    await workspace.close()
    seeded.cleanup()
    rmSync(kbDir, { recursive: true, force: true })
  })

  const call = (method: string, ...args: unknown[]) => dispatcher.dispatch(method, args)

  describe('validation: bad arguments are refused before a service runs, naming the argument', () => {
    const cases: Array<[method: string, args: unknown[], fragment: string | RegExp]> = [
      ['recommend:run', [{ patientId: -1 }], 'argument 1 (patientId): Too small'],
      ['recommend:run', [{ patientId: 1, threshold: 1 }], 'argument 1 (threshold): the threshold must lie strictly between 0 and 1'],
      ['recommend:run', [{ patientId: 1, threshold: 0 }], 'argument 1 (threshold): the threshold must lie strictly between 0 and 1'],
      ['recommend:run', [{ patientId: 1, ddiSafe: { blockSeverity: 'Unknown', maxDdiRate: null } }], 'argument 1 (ddiSafe.blockSeverity)'],
      ['recommend:run', [{ patientId: 1, ddiSafe: { blockSeverity: 'Major', maxDdiRate: 1.5 } }], 'argument 1 (ddiSafe.maxDdiRate): Too big'],
      ['recommend:run', [{ patientId: 1, userName: 'x' }], /Unrecognized key.*userName/],
      ['recommend:run', [{ patientId: 1, modelId: '../etc' }], 'argument 1 (modelId): a model id is letters, digits'],
      ['recommend:acknowledge', [{ patientId: 1, recommendationAuditId: null, combination: ['B01A'], drugs: [], warningKeys: [] }], 'name at least one warning'],
      ['recommend:acknowledge', [{ patientId: 1, recommendationAuditId: null, combination: ['B01'], drugs: [], warningKeys: ['a'] }], 'argument 1 (combination.0): an ATC level-3 class'],
      ['recommend:acknowledge', [{ patientId: 1, recommendationAuditId: null, combination: ['B01A'], drugs: ['B01A'], warningKeys: ['a'] }], 'argument 1 (drugs.0): an ATC level-5 code'],
      ['explain:drug', [{ patientId: 1, atc3: 'N02' }], 'argument 1 (atc3): an ATC level-3 class is a letter, two digits and a letter'],
      ['explain:drug', [{ patientId: 1 }], 'argument 1 (atc3)'],
      ['drugs:molecules', [{ atc3: 'N02B', limit: 7 }], 'argument 1 (limit): Too big'],
      ['drugs:search', [{ text: '   ', limit: 5 }], 'argument 1 (text): type at least one character'],
      ['drugs:search', [{ text: 'warfarin', limit: 51 }], 'argument 1 (limit): Too big'],
      ['review:check', [{ patientId: 1, proposed: [] }], 'argument 1 (proposed): propose at least one drug'],
      ['review:check', [{ patientId: 1, proposed: Array.from({ length: 31 }, (_, i) => `drug ${i}`) }], 'at most 30 proposed drugs'],
      ['review:check', [{ patientId: 1, proposed: ['warfarin', ' '] }], 'argument 1 (proposed.1): an empty drug was given'],
      ['review:submit', [{ patientId: 1, proposed: ['B01AA03'], decisions: [{ warningKey: 'A + B', action: 'override' }] }], 'argument 1 (decisions.0.reason): an override needs a reason'],
      [
        'review:submit',
        [{ patientId: 1, proposed: ['B01AA03'], decisions: [{ warningKey: 'A + B', action: 'override', reason: 'other', reasonText: '  ' }] }],
        'argument 1 (decisions.0.reasonText): the reason "other" needs a written explanation'
      ],
      [
        'review:submit',
        [{ patientId: 1, proposed: ['B01AA03'], decisions: [{ warningKey: 'A + B', action: 'accept', reason: 'will-monitor' }] }],
        'argument 1 (decisions.0.reason): accepting a warning takes no override reason'
      ],
      [
        'review:submit',
        [{ patientId: 1, proposed: ['B01AA03'], decisions: [{ warningKey: 'A + B', action: 'accept' }, { warningKey: 'A + B', action: 'accept' }] }],
        'argument 1 (decisions): each warning may be decided once'
      ],
      ['review:submit', [{ patientId: 1, proposed: ['B01AA03'], decisions: [{ warningKey: 'A + B', action: 'ignore' }] }], 'argument 1 (decisions.0.action)'],
      ['review:submit', [{ patientId: 1, proposed: ['B01AA03'], decisions: [], note: 'x'.repeat(2001) }], 'argument 1 (note): Too big'],
      ['review:history', [0], 'argument 1: Too small'],
      ['settings:update', [{ providerPreference: 'gpu' }], 'argument 1 (providerPreference)'],
      ['settings:update', [{ thresholdOverride: 0 }], 'argument 1 (thresholdOverride): a saved threshold override lies between 0.05 and 0.95'],
      // Before: accepted (and not audited); every later recommendation would list every class.
      ['settings:update', [{ thresholdOverride: 1e-300 }], 'argument 1 (thresholdOverride): a saved threshold override lies between 0.05 and 0.95'],
      ['settings:update', [{ displayName: '' }], 'argument 1 (displayName)'],
      ['recommend:acknowledge', [{ patientId: 1, recommendationAuditId: 1, combination: ['B01A'], warningKeys: ['a'], userName: 'x' }], /Unrecognized key.*userName/],
      ['review:submit', [{ patientId: 1, proposed: ['B01AA03'], decisions: [], userName: 'pharmacist A' }], /Unrecognized key.*userName/],
      ['settings:update', [{ ddiSafe: { enabled: true, blockSeverity: 'Major' } }], 'argument 1 (ddiSafe.maxDdiRate)'],
      ['settings:update', [{ theme: 'dark' }], /Unrecognized key.*theme/],
      ['models:card', [''], 'argument 1: Too small'],
      ['models:list', ['extra'], 'expected 0 arguments, got 1']
    ]
    it.each(cases)('%s %j', async (method, args, fragment) => {
      const response = await call(method, ...args)
      expectError(response, 'invalid', `Invalid arguments for ${method}`, fragment)
      expect(spies[method]).not.toHaveBeenCalled()
    })

    it('normalises what it accepts: an ATC3 class in lower case reaches the service upper-cased', async () => {
      const response = await call('explain:drug', { patientId: patient, atc3: ' n02b ' })
      const view = resultOf<ExplanationView>(response)
      expect(view.explanation.drugs.map((d) => d.atc3)).toEqual(['N02B'])
      expect(spies['explain:drug']).toHaveBeenLastCalledWith({ patientId: patient, atc3: 'N02B' })
    })

    it('the runtime method list names exactly the methods the schemas define', () => {
      expect([...API_METHODS].sort()).toEqual(Object.keys(apiArgSchemas).sort())
    })
  })

  describe('settings', () => {
    it('start from the defaults, persist a change, and refuse an unknown model without writing anything', async () => {
      const defaults = resultOf<AppSettings>(await call('settings:get'))
      expect(defaults).toEqual({
        activeModelId: null,
        providerPreference: 'auto',
        thresholdOverride: null,
        ddiSafe: { enabled: true, blockSeverity: 'Contraindicated', maxDdiRate: null },
        displayName: null
      })
      const saved = resultOf<AppSettings>(
        await call('settings:update', { providerPreference: 'cpu', thresholdOverride: 0.3, ddiSafe: { enabled: false, blockSeverity: 'Major', maxDdiRate: 0.2 } })
      )
      expect(resultOf<AppSettings>(await call('settings:get'))).toEqual(saved)
      expect(saved).toMatchObject({ providerPreference: 'cpu', thresholdOverride: 0.3, ddiSafe: { enabled: false, blockSeverity: 'Major', maxDdiRate: 0.2 } })

      expectError(await call('settings:update', { activeModelId: 'no-such-model', providerPreference: 'auto' }), 'not-found', 'No model "no-such-model"', 'fixture-linear')
      expect(resultOf<AppSettings>(await call('settings:get'))).toEqual(saved)
      expectError(await call('settings:update', { activeModelId: 'fixture-mismatched-io' }), 'refused', 'Model "fixture-mismatched-io" was refused')

      const active = resultOf<AppSettings>(await call('settings:update', { activeModelId: 'fixture-linear', providerPreference: 'auto', thresholdOverride: null }))
      expect(active.activeModelId).toBe('fixture-linear')
      resultOf(await call('settings:update', { ddiSafe: { enabled: true, blockSeverity: 'Contraindicated', maxDdiRate: null } }))
    })
  })

  describe('recommendation and acknowledgement', () => {
    it('returns the combination with status, members, a tiered DDI check with a key and scope per warning', async () => {
      const result = resultOf<RecommendationView>(await call('recommend:run', { patientId: patient, threshold: 0.05, ddiSafe: null }))
      const { recommendation } = result
      expect(result.classes.map((c) => c.atc3)).toEqual(recommendation.combination)
      expect(recommendation.threshold).toBe(0.05)
      expect(result.modelThreshold).toBe(0.5)
      // The last visit's drug (furosemide, C03C) is "already taking"; the others are new.
      expect(result.currentMedications.classes.map((c) => c.atc3)).toEqual(['C03C'])
      for (const cls of result.classes) expect(cls.status).toBe(cls.atc3 === 'C03C' ? 'already-taking' : 'new')
      const b01a = result.classes.find((c) => c.atc3 === 'B01A')
      expect(b01a?.members.map((m) => m.code)).toEqual(['B01AA03', 'B01AC06'])
      expect(result.ddiCheck).not.toBeNull()
      expect(result.warningKeys).toHaveLength(result.ddiCheck!.warnings.length)
      expect(result.warningScopes).toHaveLength(result.ddiCheck!.warnings.length)
      expect(result.ddiCheck!.checkedSources.map((s) => s.key)).toContain('ddinter')
      expect(result.ddiCheck!.statement).toContain('Absence of a warning is not proof that a combination is safe.')
      // Classes resolve to drugs: B01A to the aspirin of an earlier visit, M01A to ibuprofen (the fixture
      // drug-choice model); the check runs between those drugs and the furosemide taken now.
      const drugsOf = (atc3: string) => result.classes.find((c) => c.atc3 === atc3)?.drugs.map((d) => [d.atc5, d.source])
      expect(drugsOf('B01A')).toEqual([['B01AC06', 'history']])
      expect(drugsOf('M01A')).toEqual([['M01AE01', 'model']])
      expect(result.ddiCheck!.drugs.map((d) => d.input)).toEqual(expect.arrayContaining(['B01AC06', 'M01AE01']))
      for (const drug of result.ddiCheck!.drugs) expect(drug.input).toMatch(/^[A-Z]\d\d[A-Z]{2}\d\d$/)
      // B01A with M01A is a Major class pair in the fixtures (warfarin + ibuprofen), but aspirin + ibuprofen is no
      // listed drug pair: at drug level nothing interrupts.
      const interrupt = result.warningKeys.find((_, i) => result.ddiCheck!.warnings[i]!.tier === 'interrupt')
      expect(interrupt).toBeUndefined()
      expect(result.recommendation.warnings.filter((w) => w.interrupting)).toEqual([])
    })

    it('acknowledges interrupting warnings into the audit log, and refuses keys that are not interrupting warnings of the combination', async () => {
      // The patient takes warfarin now: the recommended ibuprofen (M01A) is a Major drug pair with it.
      const currentVisit = seeded.db.prepare(`SELECT id FROM visits WHERE source_visit_id = '10001-3'`).pluck().get() as number
      const warfarin = seeded.db
        .prepare(`INSERT INTO medications (visit_id, raw_name, atc5, atc3, mapping_method) VALUES (?, 'warfarin', 'B01AA03', 'B01A', 'name')`)
        .run(currentVisit).lastInsertRowid
      try {
        await acknowledgeWarfarinIbuprofen()
      } finally {
        seeded.db.prepare('DELETE FROM medications WHERE id = ?').run(warfarin)
      }
    })

    async function acknowledgeWarfarinIbuprofen(): Promise<void> {
      const result = resultOf<RecommendationView>(await call('recommend:run', { patientId: patient, threshold: 0.05, ddiSafe: null }))
      const combination = result.recommendation.combination
      const drugs = result.recommendation.classes.flatMap((c) => c.drugs.map((d) => d.atc5))
      expect(result.classes.find((c) => c.atc3 === 'B01A')).toMatchObject({ status: 'already-taking', drugs: [{ atc5: 'B01AA03', source: 'current' }] })
      const interrupting = result.warningKeys.filter((_, i) => result.ddiCheck!.warnings[i]!.tier === 'interrupt' && result.warningScopes[i] === 'new')
      expect(interrupting).toEqual(['B01AA03 + M01AE01'])
      const moderate = result.warningKeys.find((_, i) => result.ddiCheck!.warnings[i]!.tier === 'inline')
      if (moderate) {
        expectError(
          await call('recommend:acknowledge', { patientId: patient, recommendationAuditId: result.recommendation.auditId, combination, drugs, warningKeys: [moderate] }),
          'refused',
          'only interrupting warnings are acknowledged'
        )
      }
      expectError(
        await call('recommend:acknowledge', { patientId: patient, recommendationAuditId: result.recommendation.auditId, combination, drugs, warningKeys: ['B01A + M01A'] }),
        'invalid',
        '"B01A + M01A" is not a warning of this combination'
      )
      const before = (seeded.db.prepare(`SELECT count(*) AS n FROM audit_log WHERE kind = 'warning-acknowledgement'`).get() as { n: number }).n
      const ack = resultOf<{ auditId: number; userName: string }>(
        await call('recommend:acknowledge', {
          patientId: patient,
          recommendationAuditId: result.recommendation.auditId,
          combination,
          drugs,
          warningKeys: ['B01AA03 + M01AE01']
        })
      )
      expect(ack.userName).toBe(currentUserName())
      const row = seeded.db.prepare('SELECT kind, user_name, patient_id, outputs_json FROM audit_log WHERE id = ?').get(ack.auditId) as {
        kind: string
        user_name: string
        patient_id: number
        outputs_json: string
      }
      expect(row).toMatchObject({ kind: 'warning-acknowledgement', user_name: currentUserName(), patient_id: patient })
      const outputs = JSON.parse(row.outputs_json) as { recommendationAuditId: number; warnings: Array<{ key: string; severity: string; sources: string[] }> }
      expect(outputs.recommendationAuditId).toBe(result.recommendation.auditId)
      expect(outputs.warnings).toEqual([expect.objectContaining({ key: 'B01AA03 + M01AE01', severity: 'Major' })])
      expect(outputs.warnings[0]!.sources.length).toBeGreaterThan(0)
      expect((seeded.db.prepare(`SELECT count(*) AS n FROM audit_log WHERE kind = 'warning-acknowledgement'`).get() as { n: number }).n).toBe(before + 1)
    }

    it('a patient id that does not exist is not-found, naming the id', async () => {
      expectError(await call('recommend:run', { patientId: 999_999 }), 'not-found', '999999')
      expectError(await call('review:history', 999_999), 'not-found', 'No patient with id 999999')
    })
  })

  describe('explanation, molecules and drug search', () => {
    it('explains one class: the modality contributions add up from the baseline to the probability', async () => {
      const view = resultOf<ExplanationView>(await call('explain:drug', { patientId: patient, atc3: 'B01A' }))
      const [drug] = view.explanation.drugs
      expect(drug?.atc3).toBe('B01A')
      const sum = drug!.baseline + drug!.modalities.reduce((s, m) => s + m.shapley, 0)
      expect(sum).toBeCloseTo(drug!.probability, 6)
      expect(drug!.codes?.length).toBeGreaterThan(0)
      expect(view.members.map((m) => m.name)).toEqual(['warfarin', 'acetylsalicylic acid'])
    })

    it('draws member molecules as sanitised SVG with the source and license', async () => {
      const molecules = resultOf<ClassMolecules>(await call('drugs:molecules', { atc3: 'N02B', limit: 2 }))
      expect(molecules.total).toBe(2)
      expect(molecules.molecules).toHaveLength(2)
      for (const m of molecules.molecules) {
        expect(m.svg).toMatch(/^<svg[\s\S]*<\/svg>$/)
        expect(m.svg).not.toMatch(/<script|on\w+=|href=/i)
      }
      expect(molecules.source?.license).toBeTruthy()
      const none = resultOf<ClassMolecules>(await call('drugs:molecules', { atc3: 'C07A', limit: 3 }))
      expect(none).toMatchObject({ total: 0, molecules: [] })
    })

    it('finds drugs by name prefix, US alias and ATC code: exact code first, then drugs before classes, by name', async () => {
      const byName = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'warf', limit: 5 }))
      expect(byName[0]).toMatchObject({ code: 'B01AA03', name: 'warfarin', level: 5, atc3: 'B01A', matchedAlias: null })
      const byAlias = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'acetaminophen', limit: 5 }))
      expect(byAlias[0]).toMatchObject({ code: 'N02BE01', name: 'paracetamol' })
      expect(byAlias[0]?.matchedAlias?.toLowerCase()).toBe('acetaminophen')
      const byCode = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'b01a', limit: 5 }))
      expect(byCode.map((h) => h.code)).toEqual(['B01A', 'B01AC06', 'B01AA03'])
      const byWord = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'antithrombotic', limit: 5 }))
      expect(byWord.map((h) => [h.code, h.level])).toEqual([['B01A', 3]])
      expect(resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'zzzz', limit: 5 }))).toEqual([])
    })

    // The drug resolver reads the WHO index from the open data folder.
    it.skipIf(!HAS_OPEN_DATA)('finds brands and ward abbreviations through the drug resolver, labelled with what was typed', async () => {
      const byBrand = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'Tylenol 325 mg', limit: 5 }))
      expect(byBrand[0]).toMatchObject({ code: 'N02BE01', matchedAlias: 'Tylenol 325 mg' })
      const byAbbreviation = resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'APAP', limit: 5 }))
      expect(byAbbreviation[0]).toMatchObject({ code: 'N02BE01', matchedAlias: 'APAP' })
      // A container is not offered as a drug.
      expect(resultOf<DrugSearchHit[]>(await call('drugs:search', { text: 'Insulin Syringe', limit: 5 })).map((h) => h.code)).not.toContain('A10AB01')
    })
  })

  describe('pharmacist review', () => {
    const proposed = ['B01AA03', 'M01AE01', 'N02BE01']

    it('checks the proposal against itself and the current medications, with the model’s view of each drug', async () => {
      const check = resultOf<ReviewCheck>(await call('review:check', { patientId: patient, proposed }))
      expect(check.proposed.map((p) => p.input)).toEqual(proposed)
      expect(check.proposed.map((p) => p.atc3)).toEqual([['B01A'], ['M01A'], ['N02B']])
      for (const p of check.proposed) {
        expect(p.probability).not.toBeNull()
        const expected = p.probability! >= check.model!.threshold ? 'expected' : p.probability! < check.model!.unusualBelow ? 'unusual' : 'possible'
        expect(p.flag).toBe(expected)
      }
      // furosemide (C03CA01) is not in the fixture WHO index: reported as not checked, never silently dropped.
      expect(check.notChecked).toEqual([expect.objectContaining({ input: 'C03CA01' })])
      const keys = check.warnings.map((w) => w.key)
      expect(keys).toContain('B01AA03 + M01AE01')
      expect(keys).toContain('B01AA03 + N02BE01')
      const major = check.warnings.find((w) => w.key === 'B01AA03 + M01AE01')!
      expect(major).toMatchObject({ severity: 'Major', tier: 'interrupt', decisionRequired: true, roles: ['proposed', 'proposed'] })
      expect(check.warnings.find((w) => w.key === 'B01AA03 + N02BE01')).toMatchObject({ severity: 'Moderate', tier: 'inline', decisionRequired: true })
      expect(check.likelyMissing.every((m) => !['B01A', 'M01A', 'N02B', 'C03C'].includes(m.atc3))).toBe(true)
      expectError(await call('review:check', { patientId: patient, proposed: ['warfarn'] }), 'invalid', '"warfarn" is neither an ATC code nor a drug name', 'Did you mean: Warfarin?')
    })

    it('requires a decision on every major and moderate warning, records the review in the audit log and lists it in the history', async () => {
      const missing = expectError(await call('review:submit', { patientId: patient, proposed, decisions: [] }), 'refused', 'A decision (accept or override with a reason) is required')
      expect(missing).toContain('B01AA03 + M01AE01 (Major)')
      expect(missing).toContain('B01AA03 + N02BE01 (Moderate)')
      expectError(
        await call('review:submit', {
          patientId: patient,
          proposed,
          decisions: [{ warningKey: 'B01AA03 + C07AA06', action: 'accept' }]
        }),
        'invalid',
        'Decision for "B01AA03 + C07AA06", which is not a warning of this prescription'
      )
      expect(resultOf<ReviewRecord[]>(await call('review:history', patient))).toEqual([])

      const check = resultOf<ReviewCheck>(await call('review:check', { patientId: patient, proposed }))
      const decisions = check.warnings
        .filter((w) => w.decisionRequired)
        .map((w) =>
          w.key === 'B01AA03 + M01AE01'
            ? { warningKey: w.key, action: 'override', reason: 'other', reasonText: 'INR monitored daily' }
            : { warningKey: w.key, action: 'override', reason: 'will-monitor' }
        )
      const record = resultOf<ReviewRecord>(await call('review:submit', { patientId: patient, proposed, decisions, note: ' first review ' }))
      expect(record).toMatchObject({ outcome: 'approved-with-overrides', userName: currentUserName(), note: 'first review', patientId: patient })
      expect(record.decisions.find((d) => d.warningKey === 'B01AA03 + M01AE01')).toMatchObject({
        action: 'override',
        reason: 'other',
        reasonText: 'INR monitored daily',
        severity: 'Major'
      })
      const row = seeded.db.prepare('SELECT kind, user_name, outputs_json FROM audit_log WHERE id = ?').get(record.auditId) as {
        kind: string
        user_name: string
        outputs_json: string
      }
      expect(row.kind).toBe('review')
      expect(row.user_name).toBe(currentUserName())
      const stored = JSON.parse(row.outputs_json) as { record: ReviewRecord; check: { warnings: unknown[]; statement: string } }
      expect(stored.record.decisions).toHaveLength(decisions.length)
      expect(stored.check.statement).toContain('not proof')

      // Accepting a warning means the prescription must change.
      const second = resultOf<ReviewRecord>(
        await call('review:submit', {
          patientId: patient,
          proposed,
          decisions: decisions.map((d) => (d.warningKey === 'B01AA03 + M01AE01' ? { warningKey: d.warningKey, action: 'accept' } : d))
        })
      )
      expect(second.outcome).toBe('changes-required')
      const history = resultOf<ReviewRecord[]>(await call('review:history', patient))
      expect(history.map((r) => r.auditId)).toEqual([second.auditId, record.auditId])
      expect(history[1]).toEqual(record)
    })
  })

  describe('model card', () => {
    it('describes the model, its provider and says when metrics.json holds no evaluation', async () => {
      const card = resultOf<ModelCard>(await call('models:card', 'fixture-linear'))
      expect(card.summary).toMatchObject({ id: 'fixture-linear', family: 'logistic' })
      expect(card.modalities.map((m) => m.id)).toEqual(['diagnoses', 'procedures', 'medication-history', 'molecule'])
      expect(card.provider.provider).toBe('cpu')
      expect(card.metrics.groups).toEqual([])
      expect(card.metrics.error).toBe('No evaluation: test fixture: no evaluation.')
      expectError(await call('models:card', 'nope'), 'not-found', 'No model "nope"')
    })

    it('reads the pipeline’s metrics.json: groups of metrics with 95% intervals and per-fold values', () => {
      const metrics = readMetrics(
        JSON.stringify({
          evaluation: 'patient-level 5-fold cross-validation',
          cohort: '100 patients',
          crossValidation: {
            model: 'x',
            parameters: 10,
            summary: {
              jaccard: { mean: 0.4, ci95: [0.38, 0.42], folds: [0.39, 0.41] },
              'ddi_ddinter-atc3': { mean: 0.8, ci95: null, folds: [0.8] }
            },
            folds: [{ fold: 0 }]
          },
          groundTruth: { meds: 15.2 },
          ddiMatrices: { 'ddinter-atc3': 'DDInter lifted to ATC3' }
        })
      )
      expect(metrics.error).toBeNull()
      expect(metrics.groups).toHaveLength(1)
      expect(metrics.groups[0]!.title).toBe('All evaluated visits')
      expect(metrics.groups[0]!.metrics).toEqual([
        expect.objectContaining({ key: 'jaccard', label: 'Jaccard', mean: 0.4, ci95: [0.38, 0.42], folds: [0.39, 0.41], format: 'score' }),
        expect.objectContaining({ key: 'ddi_ddinter-atc3', label: 'DDI rate (ddinter-atc3)', description: 'DDInter lifted to ATC3', ci95: null, format: 'rate' })
      ])
      expect(metrics.groundTruth).toEqual([{ key: 'meds', label: 'Classes per combination', value: 15.2 }])
      expect(readMetrics('{not json').error).toMatch(/^metrics.json is not valid JSON/)
    })
  })

  describe('audit of what users see, change and acknowledge (issue 15)', () => {
    const latest = (kind: string) =>
      seeded.db.prepare('SELECT id, user_name, display_name, patient_id, model_id, outputs_json FROM audit_log WHERE kind = ? ORDER BY id DESC LIMIT 1').get(kind) as
        | { id: number; user_name: string; display_name: string | null; patient_id: number | null; model_id: string | null; outputs_json: string }
        | undefined

    it('an acknowledgement must cite a recommendation of the same patient (before: any id, or none, was accepted)', async () => {
      const other = seeded.ids.get('10002')!
      const theirs = resultOf<RecommendationView>(await call('recommend:run', { patientId: other, threshold: 0.05 }))
      const mine = resultOf<RecommendationView>(await call('recommend:run', { patientId: patient, threshold: 0.05, ddiSafe: null }))
      const ask = (recommendationAuditId: unknown) =>
        call('recommend:acknowledge', { patientId: patient, recommendationAuditId, combination: mine.recommendation.combination, drugs: [], warningKeys: ['B01A + M01A'] })
      expectError(await ask(theirs.recommendation.auditId), 'refused', 'that recommendation was for another patient')
      expectError(await ask(999_999), 'invalid', 'recommendationAuditId 999999: no such audit entry')
      expectError(await ask(null), 'invalid', 'argument 1 (recommendationAuditId)')
      const settingsRow = latest('settings-change')
      if (settingsRow) expectError(await ask(settingsRow.id), 'invalid', 'is of kind "settings-change", not a recommendation')
      // The patient's own recommendation passes the citation check: what is left to refuse is the warning key, which at
      // drug level names no warning of this combination (class keys such as B01A + M01A are gone).
      expectError(await ask(mine.recommendation.auditId), 'invalid', '"B01A + M01A" is not a warning of this combination')
    })

    it('settings changes are audited with the values before and after, under the configured display name', async () => {
      resultOf(await call('settings:update', { displayName: 'Dr. Grey' }))
      resultOf(await call('settings:update', { ddiSafe: { enabled: false, blockSeverity: 'Contraindicated', maxDdiRate: null }, thresholdOverride: 0.05 }))
      const row = latest('settings-change')!
      expect(row).toMatchObject({ user_name: currentUserName(), display_name: 'Dr. Grey' })
      const change = JSON.parse(row.outputs_json) as { before: AppSettings; after: AppSettings }
      expect(change.before.ddiSafe.enabled).toBe(true)
      expect(change.after).toMatchObject({ ddiSafe: { enabled: false }, thresholdOverride: 0.05 })
      resultOf(await call('settings:update', { ddiSafe: { enabled: true, blockSeverity: 'Contraindicated', maxDdiRate: null }, thresholdOverride: null, displayName: null }))
    })

    it('opening a record, checking a review and activating a model (with its sha256) are audited', async () => {
      resultOf(await call('patients:timeline', patient))
      expect(latest('record-view')).toMatchObject({ patient_id: patient, user_name: currentUserName() })
      resultOf(await call('review:check', { patientId: patient, proposed: ['B01AA03', 'M01AE01'] }))
      const check = latest('review-check')!
      expect(check.patient_id).toBe(patient)
      expect(JSON.parse(check.outputs_json)).toMatchObject({ proposed: [expect.objectContaining({ input: 'B01AA03' }), expect.objectContaining({ input: 'M01AE01' })] })
      resultOf(await call('settings:update', { activeModelId: 'fixture-symmetric' }))
      const activation = latest('model-activation')!
      expect(activation.model_id).toBe('fixture-symmetric')
      const manifest = JSON.parse(readFileSync(join(FIXTURE_MODELS_DIR, 'fixture-symmetric', 'manifest.json'), 'utf8')) as { onnx: { sha256: string } }
      expect(JSON.parse(activation.outputs_json)).toMatchObject({ modelId: 'fixture-symmetric', onnxSha256: manifest.onnx.sha256, signedBy: expect.stringMatching(/^ed25519:/) })
      resultOf(await call('settings:update', { activeModelId: null }))
    })
  })

  describe('molecule SVG sanitising', () => {
    it('keeps a plain drawing and refuses anything active or external', () => {
      const plain = "<?xml version='1.0'?>\n<!-- END OF HEADER -->\n<svg xmlns='http://www.w3.org/2000/svg'><path d='M 0,0 L 1,1'/></svg>"
      expect(sanitiseSvg(plain)).toBe("<svg xmlns='http://www.w3.org/2000/svg'><path d='M 0,0 L 1,1'/></svg>")
      for (const bad of [
        "<svg><script>alert(1)</script></svg>",
        "<svg><rect onload='x()'/></svg>",
        "<svg><image href='http://example.org/x.png'/></svg>",
        "<svg><a xlink:href='javascript:x'>t</a></svg>",
        "<svg><rect style='fill:url(http://x)'/></svg>",
        "<svg><foreignObject><div/></foreignObject></svg>",
        '<div>not svg</div>'
      ]) {
        expect(() => sanitiseSvg(bad), bad).toThrow()
      }
    })
  })
})
