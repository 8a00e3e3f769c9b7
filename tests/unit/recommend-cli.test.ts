// The recommend, explain and models commands, run in-process through the CLI entry (as `medrec …`).
import { createHash } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type { ClassWithDrugs } from '../../src/shared/domain/recommendation'
import type { ExplanationResult } from '../../src/shared/domain/explanation'
import type { RecommendationResult } from '../../src/shared/domain/recommendation'
import type { ModelList } from '../../src/shared/domain/manifest'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { openDatabase } from '../../src/main/services/db/database'
import { getActiveModelId } from '../../src/main/services/models/active-model'
import { signAsTest } from '../fixtures/keys/test-key'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

describe('medrec recommend / explain / models', () => {
  const seeded = seededDatabase()
  seeded.db.close() // the commands open it themselves
  const saved = { models: process.env.MEDREC_MODELS_DIR, kb: process.env.MEDREC_KB, providers: process.env.MEDREC_EXECUTION_PROVIDERS }
  let out: string[] = []
  let err: string[] = []
  beforeAll(() => {
    process.env.MEDREC_MODELS_DIR = FIXTURE_MODELS_DIR
    process.env.MEDREC_KB = join(FIXTURE_MODELS_DIR, 'no-knowledge-base.sqlite')
    process.env.MEDREC_EXECUTION_PROVIDERS = 'cpu'
  })
  afterAll(() => {
    for (const [key, value] of [['MEDREC_MODELS_DIR', saved.models], ['MEDREC_KB', saved.kb], ['MEDREC_EXECUTION_PROVIDERS', saved.providers]] as const) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
    seeded.cleanup()
  })
  const run = async (...args: string[]): Promise<number> => {
    out = []
    err = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')))
    return main(args)
  }
  afterEach(() => vi.restoreAllMocks())
  const auditKinds = () => {
    const db = openDatabase(seeded.path)
    const kinds = listAudit(db).map((e) => e.kind)
    db.close()
    return kinds
  }

  it('models lists valid and refused models, exits 1 because one is refused, and activates a model', async () => {
    expect(await run('models', '--json', '--db', seeded.path)).toBe(1)
    const list = JSON.parse(out.join('\n')) as ModelList & { directory: string }
    expect(list.models.map((m) => m.id)).toEqual(['fixture-linear', 'fixture-symmetric'])
    expect(list.refused.map((r) => r.id)).toEqual(['fixture-mismatched-io'])
    expect(list.activeModelId).toBeNull()

    expect(await run('models', '--activate', 'fixture-symmetric', '--db', seeded.path)).toBe(1)
    expect(out.join('\n')).toMatch(/fixture-symmetric .*\[active\]/)
    const db = openDatabase(seeded.path)
    expect(getActiveModelId(db)).toBe('fixture-symmetric')
    db.close()
    expect(await run('models', '--activate', 'fixture-mismatched-io', '--db', seeded.path)).toBe(1)
    expect(err.join('\n')).toMatch(/was refused:\n {2}fixture-mismatched-io\/model\.onnx: input "diagnoses" is int32/)
  })

  it('recommend prints JSON with the model, provider and combination, and audits it under the OS account (a --user name is refused)', async () => {
    expect(await run('recommend', '10001', '--user', 'dr.grey', '--db', seeded.path)).not.toBe(0)
    expect(err.join('\n')).toMatch(/Unknown option '--user'/)
    expect(await run('recommend', '10001', '--model', 'fixture-linear', '--json', '--db', seeded.path, '--threshold', '0.4')).toBe(0)
    const result = JSON.parse(out.join('\n')) as RecommendationResult
    expect(result).toMatchObject({ sourcePatientId: '10001', model: { id: 'fixture-linear' }, provider: { provider: 'cpu' }, threshold: 0.4 })
    expect(result.combination).toEqual(result.drugs.filter((d) => d.probability >= 0.4).map((d) => d.atc3))
    const db = openDatabase(seeded.path)
    expect(listAudit(db, { limit: 1 })[0]).toMatchObject({ id: result.auditId, userName: currentUserName(), kind: 'recommendation' })
    db.close()
  })

  it('recommend takes the current visit from --diagnosis/--procedure, and prints a readable summary', async () => {
    expect(await run('recommend', '10003', '--model', 'fixture-linear', '--db', seeded.path, '--diagnosis', 'ICD-10-CM:I10', '--procedure', '3893')).toBe(0)
    const text = out.join('\n')
    expect(text).toContain('Patient 10003')
    expect(text).toContain('current visit: codes given on the command line')
    expect(text).toMatch(/Recommended \(\d+\):/)
    expect(text).toContain('DDI: not checked (no knowledge base loaded).')
  })

  it('recommend --visit makes a stored visit current and prints each class with its drug, source and warnings in the JSON fields', async () => {
    expect(await run('recommend', '10001', '--model', 'fixture-linear', '--json', '--db', seeded.path, '--visit', '10001-2', '--threshold', '0.05', '--allergy', 'M01AE01')).toBe(0)
    const result = JSON.parse(out.join('\n')) as RecommendationResult
    expect(result.input.currentVisit).toMatchObject({ from: 'stored', sourceVisitId: '10001-2' })
    const drugsOf = (atc3: string) => result.classes.find((c) => c.atc3 === atc3)?.drugs.map((d) => [d.atc5, d.source, d.probability])
    // Visit 2's drugs are current; visit 1's aspirin is history; visit 3 (furosemide) is the future and is not read.
    expect(drugsOf('N02B')).toEqual([['N02BE01', 'current', null]])
    expect(drugsOf('A02B')).toEqual([['A02BC01', 'current', null]])
    expect(drugsOf('B01A')).toEqual([['B01AC06', 'history', null]])
    expect(drugsOf('M01A')).toEqual([['M01AE01', 'model', expect.any(Number)]])
    expect(result.classes.find((c) => c.atc3 === 'C03C')?.drugs.some((d) => d.source === 'current') ?? false).toBe(false)
    expect(result.warnings).toContainEqual(expect.objectContaining({ kind: 'allergy', drugs: ['M01AE01'], severity: 'Contraindicated', interrupting: true }))
    expect(result).toMatchObject({ dropped: [], substituted: [] })
    out.length = 0
    expect(await run('recommend', '10001', '--model', 'fixture-linear', '--db', seeded.path, '--visit', '10001-2', '--threshold', '0.05')).toBe(0)
    const text = out.join('\n')
    expect(text).toMatch(/B01A .*\n\s+→ B01AC06 .*\(taken before\)/)
    expect(text).toMatch(/M01A .*\n\s+→ M01AE01 .*\(within-class choice 0\.\d+\)/)
    expect(await run('recommend', '10001', '--db', seeded.path, '--visit', '10001-9')).toBe(1)
    expect(err.join('\n')).toContain('Patient 10001 (id 1) has no visit "10001-9"')
    expect(await run('recommend', '10001', '--db', seeded.path, '--visit', '10001-2', '--diagnosis', 'ICD-10-CM:I10')).toBe(2)
  })

  it('explain prints Shapley values that add up, per drug', async () => {
    expect(await run('explain', '10001', '--model', 'fixture-linear', '--json', '--db', seeded.path, '--drug', 'N02B')).toBe(0)
    const result = JSON.parse(out.join('\n')) as ExplanationResult & { classDrugs: ClassWithDrugs[] }
    expect(result.drugs.map((d) => d.atc3)).toEqual(['N02B'])
    // The class resolves to the paracetamol of visit 2 (the current visit 3 has none), as a recommendation would.
    expect(result.classDrugs).toMatchObject([{ atc3: 'N02B', drugs: [{ atc5: 'N02BE01', source: 'history' }] }])
    const drug = result.drugs[0]!
    expect(drug.modalities.reduce((sum, m) => sum + m.shapley, 0)).toBeCloseTo(drug.probability - drug.baseline, 6)
    expect(drug.codes?.length).toBeGreaterThan(0)
  })

  it('recommend --miss-rate uses the calibration file\'s conformal threshold, says what it guarantees and refuses what it cannot', async () => {
    const root = mkdtempSync(join(tmpdir(), 'medrec-miss-rate-'))
    try {
      const dir = join(root, 'fixture-linear')
      cpSync(join(FIXTURE_MODELS_DIR, 'fixture-linear'), dir, { recursive: true })
      const thresholds = [
        { alpha: 0.05, threshold: 0 },
        { alpha: 0.1, threshold: 0.37 },
        { alpha: 0.2, threshold: 0.61 }
      ]
      const assumption = 'the new patient is exchangeable with the validation patients (same population, no drift)'
      const calibration = JSON.stringify({
        method: 'temperature',
        medications: 8,
        epsilon: 1e-7,
        fittedOn: 'validation patients (test)',
        parameters: { temperature: 1.5 },
        missRate: { assumption, guarantee: 'g', thresholds }
      })
      writeFileSync(join(dir, 'calibration.json'), calibration)
      const manifestPath = join(dir, 'manifest.json')
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>
      manifest.calibration = { file: 'calibration.json', sha256: createHash('sha256').update(calibration).digest('hex'), method: 'temperature', fittedOn: 'validation patients (test)' }
      writeFileSync(manifestPath, JSON.stringify(manifest, null, 2))
      signAsTest(dir)
      process.env.MEDREC_MODELS_DIR = root
      expect(await run('recommend', '10001', '--model', 'fixture-linear', '--miss-rate', '0.1', '--json', '--db', seeded.path)).toBe(0)
      const result = JSON.parse(out.join('\n')) as RecommendationResult
      expect(result.threshold).toBe(0.37)
      expect(result.missRate).toEqual({ alpha: 0.1, assumption })
      expect(result.probabilities).toEqual({ calibrated: true, method: 'temperature', fittedOn: 'validation patients (test)' })
      expect(result.combination).toEqual(result.drugs.filter((d) => d.probability >= 0.37).map((d) => d.atc3))
      expect(await run('recommend', '10001', '--model', 'fixture-linear', '--miss-rate', '0.2', '--db', seeded.path)).toBe(0)
      expect(out.join('\n')).toContain(`Threshold 0.61 (guaranteed miss rate ≤ 0.2 on average, assuming ${assumption})`)
      expect(out.join('\n')).toContain('Probabilities: calibrated (temperature, fitted on validation patients (test))')
      expect(await run('recommend', '10001', '--model', 'fixture-linear', '--miss-rate', '0.15', '--db', seeded.path)).toBe(1)
      expect(err.join('\n')).toContain('Miss rate 0.15: no miss-rate threshold for alpha 0.15')
      expect(await run('recommend', '10001', '--model', 'fixture-linear', '--miss-rate', '0.05', '--db', seeded.path)).toBe(1)
      expect(err.join('\n')).toContain('too few to guarantee it with any threshold')
      expect(await run('recommend', '10001', '--miss-rate', '0.1', '--threshold', '0.3', '--db', seeded.path)).toBe(2)
      expect(err.join('\n')).toContain('Give --threshold or --miss-rate, not both.')
      // a model without calibration has no miss-rate thresholds
      process.env.MEDREC_MODELS_DIR = FIXTURE_MODELS_DIR
      expect(await run('recommend', '10001', '--model', 'fixture-symmetric', '--miss-rate', '0.1', '--db', seeded.path)).toBe(1)
      expect(err.join('\n')).toContain('this model carries no miss-rate thresholds')
    } finally {
      process.env.MEDREC_MODELS_DIR = FIXTURE_MODELS_DIR
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('reports bad input clearly with exit codes 2 (usage) and 1 (refused), writing no audit entry', async () => {
    const before = auditKinds().length
    expect(await run('recommend', '--db', seeded.path)).toBe(2)
    expect(err.join('\n')).toContain('medrec recommend: Give one patient id.')
    expect(await run('recommend', '10001', '--threshold', '1.5', '--db', seeded.path)).toBe(2)
    expect(err.join('\n')).toContain('--threshold must be a number strictly between 0 and 1, got "1.5".')
    expect(await run('recommend', '10001', '--max-ddi-rate', '0.2', '--db', seeded.path)).toBe(2)
    expect(err.join('\n')).toContain('--block-severity and --max-ddi-rate apply with --ddi-safe.')
    expect(await run('recommend', '10001', '--ddi-safe', '--block-severity', 'severe', '--db', seeded.path)).toBe(2)
    expect(await run('recommend', 'nobody', '--db', seeded.path)).toBe(1)
    expect(err.join('\n')).toContain('No patient with id or source id "nobody".')
    expect(await run('recommend', '10004', '--model', 'fixture-linear', '--db', seeded.path)).toBe(1)
    expect(err.join('\n')).toMatch(/has no diagnosis, procedure or medication codes/)
    expect(await run('recommend', '10001', '--ddi-safe', '--db', seeded.path)).toBe(1)
    expect(err.join('\n')).toMatch(/DDI-safe decoding needs the drug interaction knowledge base, not found at .*no-knowledge-base\.sqlite/)
    expect(await run('recommend', '10001', '--db', join(FIXTURE_MODELS_DIR, 'missing.sqlite'))).toBe(1)
    expect(err.join('\n')).toMatch(/No patient database at .*missing\.sqlite/)
    expect(await run('explain', '10001', '--drug', 'Q99Q', '--db', seeded.path)).toBe(1)
    expect(err.join('\n')).toMatch(/has no medication "Q99Q"/)
    expect(auditKinds().length).toBe(before)
  })
})
