// The import screen's and the CDS Hooks pilot's API methods through the real dispatcher: arguments
// validated first; a plan writes nothing; an import stores and reports; the importer's refusals come back
// as 'invalid' (bad input, with the reason) or 'refused' (would alter stored rows), never 'internal'; the
// pilot service listens on loopback only without authentication, reports its address and stops.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApi } from '../../src/main/api/handlers'
import type { ApiDispatcher } from '../../src/main/api/dispatcher'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import type { ApiResponse } from '../../src/shared/api/methods'
import type { CdsServiceStatus } from '../../src/shared/domain/cds-hooks'
import type { FhirImportReport } from '../../src/shared/domain/imports'
import { DATA_DIR, HAS_OPEN_DATA } from './import-helpers'

const SYNTHEA = join(DATA_DIR, 'ehr', 'synthea-r4-sample', 'bundles')
const patients = (db: Db) => db.prepare('SELECT count(*) FROM patients').pluck().get() as number

function ok<T>(response: ApiResponse): T {
  expect(response.ok, JSON.stringify(response)).toBe(true)
  return (response as { ok: true; result: T }).result
}
function failed(response: ApiResponse): { code: string; message: string; field?: string } {
  expect(response.ok, JSON.stringify(response)).toBe(false)
  return (response as { ok: false; error: { code: string; message: string; field?: string } }).error
}

describe.runIf(HAS_OPEN_DATA)('API: FHIR import screen and CDS Hooks pilot', () => {
  let dir: string
  let exportDir: string
  let db: Db
  let api: ApiDispatcher

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-api-fhir-'))
    exportDir = join(dir, 'export')
    mkdirSync(exportDir)
    for (const file of readdirSync(SYNTHEA).sort().slice(0, 2)) copyFileSync(join(SYNTHEA, file), join(exportDir, file))
    const databasePath = join(dir, 'medrec.sqlite')
    db = openDatabase(databasePath)
    api = createApi({ db, databasePath, appVersion: 'test' }, { onInternalError: () => {} })
  })
  afterAll(async () => {
    await api.dispatch('interop:cds-stop', [])
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('validates the path before anything runs', async () => {
    const relative = failed(await api.dispatch('imports:fhir-plan', [{ path: 'exports/today' }]))
    expect(relative).toMatchObject({ code: 'invalid' })
    expect(relative.message).toMatch(/absolute path/)
    expect(failed(await api.dispatch('imports:fhir-run', [{ path: exportDir }])).message).toMatch(/replace/)
    const missing = failed(await api.dispatch('imports:fhir-plan', [{ path: join(dir, 'nothing-here') }]))
    expect(missing).toMatchObject({ code: 'invalid', field: 'path' })
    expect(missing.message).toContain('does not exist')
  })

  it('plans without writing, imports with counts, and then finds the same files unchanged', async () => {
    const plan = ok<FhirImportReport>(await api.dispatch('imports:fhir-plan', [{ path: exportDir }]))
    expect(plan).toMatchObject({ status: 'dry-run', patients: 2, rejected: 0 })
    expect(plan.plan?.tables.patients).toMatchObject({ before: 0, after: 2, added: 2 })
    expect(patients(db)).toBe(0)
    const run = ok<FhirImportReport>(await api.dispatch('imports:fhir-run', [{ path: exportDir, replace: false }]))
    expect(run).toMatchObject({ status: 'completed', patients: 2, visits: plan.visits, diagnosisCodes: plan.diagnosisCodes })
    expect(patients(db)).toBe(2)
    expect(ok<FhirImportReport>(await api.dispatch('imports:fhir-plan', [{ path: exportDir }])).status).toBe('skipped-unchanged')
  })

  it('starts the CDS Hooks service on loopback only without authentication, shows its address, and stops it', async () => {
    const outside = failed(await api.dispatch('interop:cds-start', [{ host: '0.0.0.0', port: 18080, authConfigPath: null }]))
    expect(outside).toMatchObject({ code: 'invalid', field: 'host' })
    expect(outside.message).toMatch(/loopback/)
    const badAuth = failed(await api.dispatch('interop:cds-start', [{ host: '127.0.0.1', port: 18080, authConfigPath: join(dir, 'none.json') }]))
    expect(badAuth).toMatchObject({ code: 'invalid', field: 'authConfigPath' })
    expect(ok<CdsServiceStatus>(await api.dispatch('interop:cds-status', []))).toMatchObject({ state: 'stopped', address: null })

    const running = ok<CdsServiceStatus>(await api.dispatch('interop:cds-start', [{ host: '127.0.0.1', port: 18931, authConfigPath: null }]))
    expect(running).toMatchObject({ state: 'running', address: 'http://127.0.0.1:18931', discoveryUrl: 'http://127.0.0.1:18931/cds-services', authentication: 'none' })
    expect((await fetch('http://127.0.0.1:18931/cds-services')).status).toBe(200)
    const again = failed(await api.dispatch('interop:cds-start', [{ host: '127.0.0.1', port: 18932, authConfigPath: null }]))
    expect(again.code).toBe('refused')
    expect(again.message).toContain('already running on http://127.0.0.1:18931')

    expect(ok<CdsServiceStatus>(await api.dispatch('interop:cds-stop', [])).state).toBe('stopped')
    await expect(fetch('http://127.0.0.1:18931/cds-services')).rejects.toThrow()
  })
})
