// Runs of up to SMALL_RUN_ROWS rows go to a one-thread session, larger ones to onnxruntime's threads
// (inference/session.ts). A patient's probabilities must not depend on which one ran it: for every shipped
// model, the demo patients run one at a time equal the same patients run as one batch: exactly for models
// whose kernels do not depend on the batch size, and within 1e-4 for cafemed, whose recurrent layers sum in a
// batch-size-dependent order in onnxruntime itself (the same difference before the one-thread session; up to
// 1.1e-5 for the model retrained on 2026-12-03, far below what a wrong row or model would give), and within 1e-5
// for mkmed, whose re-exported graph runs on the batch's used visit and code slots (the padding every row of the
// batch has is trimmed), so its sums run over batch-dependent lengths (up to 4e-7 on the demo patients).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { encodePatient, hasAnyCode } from '../../src/main/services/inference/encode'
import { SMALL_RUN_ROWS } from '../../src/main/services/inference/session'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { dataDir, modelsDir, resourcesDir } from '../../src/main/services/paths'
import { loadPatientInput } from '../../src/main/services/recommend/patient-input'
import { testDatabase, type TestDatabase } from '../e2e/demo-database'

const SHIPPED = ['logistic', 'cafemed', 'mkmed'].filter((id) => existsSync(join(modelsDir(), id, 'manifest.json')))
const hasDemo = existsSync(join(resourcesDir(), 'demo.sqlite')) || existsSync(join(dataDir(), 'ehr'))
const ready = hasDemo && SHIPPED.length > 0
if (!ready) console.warn('session-small-runs.test: needs the demo database (or the open data to build it) and the shipped models; skipped')
const BATCH_DEPENDENT_TOLERANCE: Record<string, number> = { cafemed: 1e-4, mkmed: 1e-5 }

describe.skipIf(!ready)('the one-thread session for small runs gives the probabilities of a large run', () => {
  let demo: TestDatabase
  let db: Db
  let registry: ModelRegistry

  beforeAll(async () => {
    demo = await testDatabase()
    db = openDatabase(demo.path, { readonly: true })
    registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
  })
  afterAll(async () => {
    await registry?.close()
    db?.close()
    demo?.remove()
  })

  it.each(SHIPPED)('%s: each patient alone equals the patient within a batch larger than a small run', async (id) => {
    const model = await registry.get(id)
    const ids = (db.prepare('SELECT id FROM patients ORDER BY id LIMIT 200').all() as Array<{ id: number }>).map((r) => r.id)
    const encoded = ids.map((p) => encodePatient(model.vocab, model.manifest.limits, loadPatientInput(db, p).visits)).filter(hasAnyCode)
    expect(encoded.length).toBeGreaterThan(SMALL_RUN_ROWS)
    const batch = await model.session.predict(encoded)
    const k = model.manifest.vocabularies.medication.entries.length
    const tolerance = BATCH_DEPENDENT_TOLERANCE[id] ?? 0
    for (let row = 0; row < encoded.length; row++) {
      const alone = await model.session.predict([encoded[row]!])
      const inBatch = batch.subarray(row * k, (row + 1) * k)
      if (tolerance === 0) expect([...alone]).toEqual([...inBatch])
      else for (let i = 0; i < k; i++) expect(Math.abs(alone[i]! - inBatch[i]!)).toBeLessThanOrEqual(tolerance)
    }
  })
})
