// CafeMed's patient-specific causal weights in explanations, against the trained models/cafemed folder and
// the demo database: the codes listed come from the patient's current visit, are ranked by |weight|, and
// carry the weights a direct run of causal-weights.onnx gives and the rows causal-effects.json holds; other
// models carry none; a causal file changed after the model was loaded is reported by name while the rest
// of the explanation stands. Every expected value is computed here from the files, so a retrained CafeMed
// with the same file formats passes as well.
import type { CausalWeightCode, DrugExplanation, ExplanationResult } from '../../src/shared/domain/explanation'
import type { ModelManifest } from '../../src/shared/domain/manifest'
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { explain } from '../../src/main/services/explain/explain'
import { CAUSAL_CODES_PER_KIND, explainCausalWeights } from '../../src/main/services/explain/patient-causal'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { dataDir, modelsDir, resourcesDir } from '../../src/main/services/paths'
import { prepareInput } from '../../src/main/services/recommend/prepare'
import { testDatabase, type TestDatabase } from '../e2e/demo-database'

const CAFEMED_DIR = join(modelsDir(), 'cafemed')
const HAS_CAFEMED = existsSync(join(CAFEMED_DIR, 'manifest.json'))
// The demo database: resources/demo.sqlite (npm run setup), else built from the open data into a temp file.
const HAS_DEMO = existsSync(join(resourcesDir(), 'demo.sqlite')) || existsSync(join(dataDir(), 'ehr'))
const INDEX_OFFSET = 2 // input index = vocabulary entry + 2

interface EffectsFile {
  settings: { fdr?: number }
  estimator: string
  visits: number
  diagnosis: { codes: EffectCode[] }
  procedure: { codes: EffectCode[] }
}
interface EffectCode {
  entry: number
  treatedVisits: number
  drugs: number[]
  effect: number[]
  standardError: number[]
  q: number[]
  used: Array<0 | 1>
}

describe.skipIf(!HAS_CAFEMED || !HAS_DEMO)('CafeMed causal weights in explanations (models/cafemed, demo database)', () => {
  let database: TestDatabase
  let db: Db
  let registry: ModelRegistry
  const manifest = JSON.parse(readFileSync(join(CAFEMED_DIR, 'manifest.json'), 'utf8')) as ModelManifest
  const effects = JSON.parse(readFileSync(join(CAFEMED_DIR, 'causal-effects.json'), 'utf8')) as EffectsFile
  const scratch = mkdtempSync(join(tmpdir(), 'explain-causal-'))
  /** A demo patient and one recommended drug with at least two weighted codes, found at test time. */
  let patient: { id: number; sourcePatientId: string }
  let explained: ExplanationResult
  let drug: DrugExplanation

  const savedProviders = process.env.MEDREC_EXECUTION_PROVIDERS

  beforeAll(async () => {
    process.env.MEDREC_EXECUTION_PROVIDERS = 'cpu' // the CLI opens its own registry
    database = await testDatabase()
    db = openDatabase(database.path, { readonly: true })
    registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
    const candidates = db.prepare('SELECT id, source_patient_id AS sourcePatientId FROM patients ORDER BY id LIMIT 60').all() as Array<typeof patient>
    for (const candidate of candidates) {
      const result = await explain({ db, registry, ddi: null }, candidate.id, { modelId: 'cafemed', codeDrugs: 0, audit: false }).catch(() => null)
      const rich = result?.drugs.find((d) => (d.causalWeights?.diagnoses.length ?? 0) + (d.causalWeights?.procedures.length ?? 0) >= 2)
      if (result && rich) {
        patient = candidate
        explained = result
        drug = rich
        break
      }
    }
    if (!patient) throw new Error('No demo patient among the first 60 has a recommended drug with two codes carrying CafeMed causal weights.')
  })

  afterAll(async () => {
    if (savedProviders === undefined) delete process.env.MEDREC_EXECUTION_PROVIDERS
    else process.env.MEDREC_EXECUTION_PROVIDERS = savedProviders
    await registry?.close()
    db?.close()
    database?.remove()
    rmSync(scratch, { recursive: true, force: true })
  })

  /** The patient's last visit (the one recommended for), read straight from the database with titles. */
  function currentVisitCodes(kind: 'diagnosis' | 'procedure'): Array<{ system: string; code: string; title: string | null }> {
    const table = kind === 'diagnosis' ? 'diagnoses' : 'procedures'
    return db
      .prepare(
        `SELECT c.code_system AS system, c.code, t.title FROM ${table} c
         LEFT JOIN code_titles t ON t.kind = ? AND t.code_system = c.code_system AND t.code = c.code
         WHERE c.visit_id = (SELECT id FROM visits WHERE patient_id = ? ORDER BY sort_key DESC, id DESC LIMIT 1)`
      )
      .all(kind, patient.id) as Array<{ system: string; code: string; title: string | null }>
  }

  it('lists, for a recommended drug, codes of the current visit only, by title, largest |weight| first, within the limit', () => {
    expect(explained.model.id).toBe('cafemed')
    expect(explained.causal).toMatchObject({ error: null, estimator: effects.estimator, trainingVisits: effects.visits })
    expect(explained.causal?.note).toMatch(/logit/)
    expect(drug.probability).toBeGreaterThanOrEqual(manifest.threshold) // the default drug list is the recommendation
    const weights = drug.causalWeights!
    for (const [kind, listed] of [['diagnosis', weights.diagnoses], ['procedure', weights.procedures]] as const) {
      const visit = currentVisitCodes(kind)
      expect(listed.length).toBeLessThanOrEqual(CAUSAL_CODES_PER_KIND)
      for (const code of listed) {
        const stored = visit.find((v) => v.system === code.system && v.code === code.code)
        expect(stored, `${kind} ${code.system} ${code.code} is in the current visit`).toBeDefined()
        expect(code.kind).toBe(kind)
        const vocabularyTitle = manifest.vocabularies[kind].entries.find((e) => e.system === code.system && e.code === code.code)?.title ?? null
        expect(code.title).toBe(stored!.title ?? vocabularyTitle)
        expect(code.weight).not.toBe(0)
      }
      const sizes = listed.map((c) => Math.abs(c.weight))
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a))
    }
  })

  it('gives the weights of a direct causal-weights.onnx run and the rows of causal-effects.json', async () => {
    const model = await registry.get('cafemed')
    const encoded = prepareInput(model, db, patient.id).encoded
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = manifest.limits
    const session = await ort.InferenceSession.create(join(CAFEMED_DIR, 'causal-weights.onnx'))
    const outputs = await session.run({
      diagnoses: new ort.Tensor('int64', encoded.diagnoses, [1, maxVisits, maxDiagnoses]),
      procedures: new ort.Tensor('int64', encoded.procedures, [1, maxVisits, maxProcedures]),
      medications: new ort.Tensor('int64', encoded.medications, [1, maxVisits, maxMedications]),
      visit_mask: new ort.Tensor('float32', encoded.visitMask, [1, maxVisits]),
      modality_mask: new ort.Tensor('float32', new Float32Array(manifest.modalities.length).fill(1), [1, manifest.modalities.length])
    })
    await session.release()
    const drugs = manifest.vocabularies.medication.entries.length
    const column = manifest.vocabularies.medication.entries.findIndex((e) => e.code === drug.atc3)
    const current = encoded.visitMask.filter((v) => v > 0).length - 1
    let total = 0
    for (const [kind, listed, indices, width, values, weighted] of [
      ['diagnosis', drug.causalWeights!.diagnoses, encoded.diagnoses, maxDiagnoses, outputs.diagnosis_weights!.data, drug.causalWeights!.weightedDiagnoses],
      ['procedure', drug.causalWeights!.procedures, encoded.procedures, maxProcedures, outputs.procedure_weights!.data, drug.causalWeights!.weightedProcedures]
    ] as const) {
      const row = Array.from({ length: width }, (_, slot) => ({ index: Number(indices[current * width + slot]), weight: (values as Float32Array)[slot * drugs + column]! }))
      const real = row.filter((s) => s.index >= INDEX_OFFSET && s.weight !== 0)
      total += row.reduce((sum, s) => sum + s.weight, 0)
      expect(weighted).toBe(real.length)
      // The top of the direct run, by |weight|, is what the explanation lists.
      const expectedTop = real.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, CAUSAL_CODES_PER_KIND)
      expect(listed.map((c) => c.weight)).toEqual(expectedTop.map((s) => expect.closeTo(s.weight, 5)))
      for (const code of listed) {
        const entry = manifest.vocabularies[kind].entries.findIndex((e) => e.system === code.system && e.code === code.code)
        expect(entry).toBeGreaterThanOrEqual(0)
        const slot = row.findIndex((s) => s.index === entry + INDEX_OFFSET)
        expect(code.weight).toBeCloseTo(row[slot]!.weight, 5) // the weight of this code's own input slot
        const estimated = effects[kind].codes.find((c) => c.entry === entry)
        const at = estimated ? estimated.drugs.indexOf(column) : -1
        if (!estimated || at < 0) expect(code.effect).toBeNull()
        else {
          expect(code.effect).toEqual({
            riskDifference: estimated.effect[at],
            standardError: estimated.standardError[at],
            q: estimated.q[at],
            treatedVisits: estimated.treatedVisits,
            usedByModel: estimated.used[at] === 1
          })
        }
      }
    }
    expect(drug.causalWeights!.logitTotal).toBeCloseTo(total, 5)
  })

  it('gives other models no causal weights and no error', async () => {
    const { models } = await registry.list()
    const other = models.find((m) => !(JSON.parse(readFileSync(join(m.directory, 'manifest.json'), 'utf8')) as ModelManifest).extraFiles?.some((f) => f.file.startsWith('causal-')))
    expect(other, 'a model without causal files in models/').toBeDefined()
    const result = await explain({ db, registry, ddi: null }, patient.id, { modelId: other!.id, codeDrugs: 0, audit: false })
    expect(result.causal).toBeNull()
    expect(result.drugs.length).toBeGreaterThan(0)
    expect(result.drugs.every((d) => d.causalWeights === null)).toBe(true)
  })

  it('names a causal file changed after the model was loaded, and still explains by modality', async () => {
    const folder = join(scratch, 'models', 'cafemed')
    cpSync(CAFEMED_DIR, folder, { recursive: true })
    const copied = new ModelRegistry(join(scratch, 'models'), { providers: ['cpu'] })
    try {
      const ctx = { db, registry: copied, ddi: null }
      const options = { modelId: 'cafemed', drugs: [drug.atc3], codeDrugs: 0, audit: false }
      const intact = await explain(ctx, patient.id, options) // loads (and hash-checks) the model
      expect(intact.drugs[0]!.causalWeights).toEqual(drug.causalWeights)

      for (const file of ['causal-effects.json', 'causal-weights.onnx']) {
        const original = readFileSync(join(folder, file))
        writeFileSync(join(folder, file), Buffer.concat([original, Buffer.from(file.endsWith('.json') ? '\n' : '\0')]))
        const result = await explain(ctx, patient.id, options)
        expect(result.causal?.error).toMatch(new RegExp(`${file.replace('.', '\\.')}: sha256 is [0-9a-f]{64} but manifest\\.json says [0-9a-f]{64}`))
        expect(result.drugs[0]!.causalWeights).toBeNull()
        const shapley = result.drugs[0]!.modalities.reduce((sum, m) => sum + m.shapley, 0)
        expect(shapley).toBeCloseTo(result.drugs[0]!.probability - result.drugs[0]!.baseline, 6)
        // A registry that loads the folder afresh refuses the whole model, naming the same file.
        const fresh = new ModelRegistry(join(scratch, 'models'), { providers: ['cpu'] })
        await expect(fresh.get('cafemed')).rejects.toThrow(new RegExp(`cafemed/${file.replace('.', '\\.')}: sha256 is`))
        await fresh.close()
        writeFileSync(join(folder, file), original)
      }
    } finally {
      await copied.close()
    }
  })

  it('reports a manifest that lists one causal file without the other', async () => {
    const model = await registry.get('cafemed')
    const prepared = prepareInput(model, db, patient.id)
    const onlyWeights = { ...manifest, extraFiles: manifest.extraFiles?.filter((f) => f.file !== 'causal-effects.json') }
    const result = await explainCausalWeights({ ...prepared, model: { ...model, manifest: onlyWeights } })
    expect(result.info?.error).toBe('Model cafemed: manifest.json lists causal-weights.onnx but not causal-effects.json')
    expect(result.forColumn(0)).toBeNull()
  })

  it('medrec explain --model cafemed prints a Causal weights section for the drug', async () => {
    const copy = join(scratch, 'cli.sqlite')
    copyFileSync(database.path, copy) // the command writes an audit entry
    const out: string[] = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    try {
      const args = ['explain', patient.sourcePatientId, '--model', 'cafemed', '--drug', drug.atc3, '--codes', '0', '--db', copy, '--models-dir', modelsDir()]
      expect(await main(args)).toBe(0)
    } finally {
      vi.restoreAllMocks()
    }
    const text = out.join('\n')
    expect(text).toContain('Causal weights (terms of the logit')
    const top: CausalWeightCode = drug.causalWeights!.diagnoses[0] ?? drug.causalWeights!.procedures[0]!
    const line = text.split('\n').find((l) => l.includes(` ${top.code}${top.title ? ` ${top.title}` : ''}`) && l.includes('effect'))
    expect(line, `a line for ${top.code}`).toBeDefined()
    expect(line).toContain(`${top.weight >= 0 ? '+' : '−'}${Math.abs(top.weight).toFixed(4)}`)
    expect(text).toContain(`Estimator: ${effects.estimator}`)
  })
})
