// Issue 18's "a hospital can retrain a model on its own database and the app accepts it", end to end: the
// training package retrains on a patient database (`python -m medrec_training.train`, as the training README
// tells a hospital), the hospital signs the folder with its own key, and the app's registry accepts the
// folder and recommends with it. A key the app does not trust still refuses it.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { keyIdOf, signModelFolder } from '../../src/main/services/models/signature'
import { projectRoot } from '../../src/main/services/paths'
import { recommend } from '../../src/main/services/recommend/recommend'
import { runTrainingPython } from './python'

const MODEL_ID = 'hospital-logistic'

describe('retraining on a hospital database', () => {
  let dir: string
  let databasePath: string
  let modelsDir: string
  let folder: string
  let trainingReport: { metrics: { patients: number; jaccard: number }; processes: number }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-retrain-'))
    databasePath = join(dir, 'st-elsewhere.sqlite')
    copyFileSync(join(projectRoot(), 'resources', 'demo.sqlite'), databasePath)
    modelsDir = join(dir, 'models')
    folder = join(modelsDir, MODEL_ID)
    const printed = runTrainingPython(['-m', 'medrec_training.train', '--db', databasePath, '--model', 'logistic', '--out', folder, '--max-epochs', '2'])
    trainingReport = JSON.parse(printed.slice(printed.indexOf('{\n')))
  }, 180_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('writes a folder whose manifest names the hospital database, not the demos', () => {
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8'))
    expect(manifest.id).toBe(MODEL_ID)
    expect(manifest.provenance.sources[0].name).toBe("Patient database st-elsewhere.sqlite (the hospital's own records)")
    expect(trainingReport.processes).toBe(1)
    expect(trainingReport.metrics.patients).toBeGreaterThan(0)
  })

  it('the app accepts it once signed with a trusted hospital key, and recommends with it', async () => {
    const hospital = generateKeyPairSync('ed25519')
    signModelFolder(folder, MODEL_ID, hospital.privateKey)
    const stranger = generateKeyPairSync('ed25519').publicKey
    const untrusting = new ModelRegistry(modelsDir, { providers: ['cpu'], trustedKeys: [{ keyId: keyIdOf(stranger), key: stranger, source: 'other.pem' }] })
    expect((await untrusting.list()).refused.map((r) => r.id)).toEqual([MODEL_ID])
    await untrusting.close()

    const registry = new ModelRegistry(modelsDir, { providers: ['cpu'], trustedKeys: [{ keyId: keyIdOf(hospital.publicKey), key: hospital.publicKey, source: 'st-elsewhere.pem' }] })
    let db: Db | null = null
    try {
      const list = await registry.list()
      expect(list.refused).toEqual([])
      expect(list.models.map((m) => m.id)).toEqual([MODEL_ID])
      db = openDatabase(databasePath)
      const patient = (db.prepare(`SELECT p.id FROM patients p WHERE (SELECT count(*) FROM visits v WHERE v.patient_id = p.id) >= 2 ORDER BY p.id LIMIT 1`).get() as { id: number }).id
      const result = await recommend({ db, registry, ddi: null }, patient, { modelId: MODEL_ID, audit: false })
      expect(result.model.id).toBe(MODEL_ID)
      const vocabulary = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')).vocabularies.medication.entries.length
      expect(result.drugs.length).toBe(vocabulary)
      for (const drug of result.drugs) expect(drug.probability).toBeGreaterThanOrEqual(0)
      for (const drug of result.drugs) expect(drug.probability).toBeLessThanOrEqual(1)
      expect(result.combination.length).toBeGreaterThan(0)
    } finally {
      db?.close()
      await registry.close()
    }
  })
})
