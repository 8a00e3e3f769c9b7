// `medrec import --format fhir`, `medrec export --format fhir` and the interop:fhir-export API method,
// on one Synthea patient.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { createApiHandlers } from '../../src/main/api/handlers'
import { openDatabase } from '../../src/main/services/db/database'
import { modelsDir, defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { MedrecServices } from '../../src/main/services/open-services'
import { validateR4 } from './fhir-validator'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

async function medrec(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')))
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true))
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('') }
  } finally {
    log.mockRestore()
    error.mockRestore()
    write.mockRestore()
  }
}

const BUNDLE = join(DATA_DIR, 'ehr', 'synthea-r4-sample', 'bundles', 'Adalberto_Hartmann_44ec4447-9e2c-4eb9-bd4f-0bdb416b806e.json.gz')
const READY = HAS_OPEN_DATA && existsSync(BUNDLE) && existsSync(defaultKnowledgeBasePath()) && existsSync(join(modelsDir(), 'logistic', 'model.onnx'))
const space = new TempSpace()
let dbPath = ''

beforeAll(() => {
  dbPath = join(space.dir('medrec-fhir-cli-'), 'cli.sqlite')
})
afterAll(() => space.cleanup())

describe.runIf(READY)('medrec import/export --format fhir', () => {
  it('imports a Synthea bundle and reports counts, skipped types and rejections; a second run is skipped', async () => {
    const first = await medrec('import', '--format', 'fhir', BUNDLE, '--db', dbPath, '--data-dir', DATA_DIR)
    expect(first.code).toBe(0)
    expect(first.out).toMatch(/Imported FHIR R4 from .*Adalberto.* \(run 1\)/)
    expect(first.out).toMatch(/patients\s+1\n/)
    expect(first.out).toMatch(/visits\s+22 \(encounters\)/)
    expect(first.out).toMatch(/skipped types\s+Observation 200, Claim 30, ExplanationOfBenefit 22/)
    expect(first.out).toMatch(/rejected\s+0/)
    const again = await medrec('import', '--format', 'fhir', BUNDLE, '--db', dbPath, '--data-dir', DATA_DIR, '--json')
    expect(JSON.parse(again.out)).toMatchObject({ status: 'skipped-unchanged', previousRunId: 1, patients: 1 })
  })

  it('fails with the file and line of malformed JSON and exit code 1', async () => {
    const bad = join(space.dir('medrec-fhir-cli-'), 'Condition.ndjson')
    writeFileSync(bad, '{"resourceType":"Condition"}\n{"resourceType": \n')
    const result = await medrec('import', '--format', 'fhir', bad, '--db', dbPath, '--data-dir', DATA_DIR)
    expect(result.code).toBe(1)
    expect(result.err).toMatch(/Condition\.ndjson line 2: malformed JSON/)
  })

  it('exports the imported patient as a valid FHIR R4 Bundle, from the CLI and from the API', async () => {
    const db = openDatabase(dbPath)
    const { id, source_patient_id: sourceId } = db.prepare(`SELECT id, source_patient_id FROM patients`).get() as { id: number; source_patient_id: string }
    const out = join(space.dir('medrec-fhir-cli-'), 'bundle.json')
    const result = await medrec('export', '--format', 'fhir', sourceId, '--db', dbPath, '--model', 'logistic', '--out', out)
    expect(result.code).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as { resourceType: string; entry: Array<{ resource: { resourceType: string } }> }
    expect(bundle.resourceType).toBe('Bundle')
    expect(validateR4(bundle).errors).toEqual([])
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'MedicationRequest').length).toBeGreaterThan(0)
    expect((await medrec('export', '--format', 'csv', sourceId, '--db', dbPath)).code).toBe(2)

    const workspace = new MedrecServices(db, { modelsDirectory: modelsDir(), knowledgeBasePath: defaultKnowledgeBasePath() })
    try {
      const handlers = createApiHandlers({ db, databasePath: dbPath, appVersion: 'test', services: workspace })
      const fromApi = await handlers['interop:fhir-export']({ patientId: id })
      expect(fromApi.resourceType).toBe('Bundle')
      expect(validateR4(fromApi).errors).toEqual([])
    } finally {
      await workspace.close()
      db.close()
    }
  })
})
