import { API_METHODS, type ApiResponse } from '../../src/shared/api/methods'
import { apiArgSchemas } from '../../src/shared/api'
import type { PatientPage, PatientTimeline } from '../../src/shared/domain/patient'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApiDispatcher, type ApiHandlers } from '../../src/main/api/dispatcher'
import { createApi, createApiHandlers } from '../../src/main/api/handlers'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { UnknownDrugError } from '../../src/main/services/interactions/ddi-service'
import { InvalidRequestError, NotFoundError, RefusedError } from '../../src/main/services/errors'
import { ModelNotFoundError, ModelRefusedError } from '../../src/main/services/models/registry'
import { EmptyHistoryError } from '../../src/main/services/recommend/patient-input'
import { DATA_ATTRIBUTIONS } from '../../src/shared/domain/attributions'
import { createFixtureDatabase, FIXTURE } from '../e2e/fixture-database'

describe('API dispatcher', () => {
  let dir: string
  let db: Db
  let databasePath: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-api-'))
    databasePath = join(dir, 'fixture.sqlite')
    createFixtureDatabase(databasePath)
    db = openDatabase(databasePath)
  })
  afterAll(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** The real handlers, each wrapped so a test can see whether it ran. */
  function spiedDispatcher() {
    const real = createApiHandlers({ db, databasePath, appVersion: '9.9.9' })
    const spies = Object.fromEntries(API_METHODS.map((method) => [method, vi.fn(real[method] as (...args: unknown[]) => unknown)]))
    return { dispatcher: createApiDispatcher(spies as unknown as ApiHandlers, { onInternalError: () => {} }), spies }
  }

  function expectError(response: ApiResponse, code: string, ...fragments: RegExp[]): string {
    expect(response.ok).toBe(false)
    if (response.ok) throw new Error('unreachable')
    expect(response.error.code).toBe(code)
    for (const fragment of fragments) expect(response.error.message).toMatch(fragment)
    return response.error.message
  }

  it('has one schema and one handler for every API method', () => {
    const handlers = createApiHandlers({ db, databasePath, appVersion: '1' })
    expect(Object.keys(apiArgSchemas).sort()).toEqual([...API_METHODS].sort())
    expect(Object.keys(handlers).sort()).toEqual([...API_METHODS].sort())
  })

  it('answers a valid patients:list call from the database', async () => {
    const { dispatcher } = spiedDispatcher()
    const response = await dispatcher.dispatch('patients:list', [{ offset: 0, limit: 2 }])
    expect(response.ok).toBe(true)
    const page = (response as { result: PatientPage }).result
    const total = (db.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n
    expect(page.total).toBe(total)
    expect(page.patients.map((p) => p.sourcePatientId)).toEqual([FIXTURE.mimicPatient, FIXTURE.eicuPatient])
  })

  it('searches by source patient id prefix', async () => {
    const { dispatcher } = spiedDispatcher()
    const response = await dispatcher.dispatch('patients:list', [{ search: '1010001', offset: 0, limit: 50 }])
    const page = (response as { result: PatientPage }).result
    // 10100010 … 10100019 of the filler patients
    expect(page.total).toBe(10)
    expect(page.patients.every((p) => p.sourcePatientId.startsWith('1010001'))).toBe(true)
  })

  it('returns a timeline with visits in time order, not admission-id order', async () => {
    const { dispatcher } = spiedDispatcher()
    const id = (db.prepare('SELECT id FROM patients WHERE source_patient_id = ?').get(FIXTURE.mimicPatient) as { id: number }).id
    const response = await dispatcher.dispatch('patients:timeline', [id])
    const timeline = (response as { result: PatientTimeline }).result
    expect(timeline.visits.map((v) => v.sourceVisitId)).toEqual(FIXTURE.mimicVisitsInTimeOrder)
    expect(timeline.visits[0]?.diagnoses[0]).toEqual({ system: 'ICD-9-CM', code: '5715', title: 'Cirrhosis of liver without mention of alcohol' })
  })

  it('refuses arguments of the wrong type, naming the argument and field, and never runs the service', async () => {
    const { dispatcher, spies } = spiedDispatcher()
    const message = expectError(
      await dispatcher.dispatch('patients:list', [{ offset: -1, limit: 'ten' }]),
      'invalid',
      /^Invalid arguments for patients:list: /,
      /argument 1 \(offset\): Too small/,
      /argument 1 \(limit\): .*expected number, received string/
    )
    expect(message).not.toMatch(/undefined/)
    expect(spies['patients:list']).not.toHaveBeenCalled()
  })

  it('refuses unknown fields (strict objects)', async () => {
    const { dispatcher, spies } = spiedDispatcher()
    expectError(
      await dispatcher.dispatch('patients:list', [{ offset: 0, limit: 10, orderBy: 'name; DROP TABLE patients' }]),
      'invalid',
      /Unrecognized key: "orderBy"/
    )
    expect(spies['patients:list']).not.toHaveBeenCalled()
  })

  it('refuses a wrong number of arguments', async () => {
    const { dispatcher, spies } = spiedDispatcher()
    expectError(await dispatcher.dispatch('patients:timeline', []), 'invalid', /expected 1 to 2 arguments, got 0/)
    expectError(await dispatcher.dispatch('patients:timeline', [1, { latest: 20 }, 3]), 'invalid', /expected 1 to 2 arguments, got 3/)
    expectError(await dispatcher.dispatch('patients:timeline', [1, { latest: 0 }]), 'invalid', /argument 2 \(latest\): Too small/)
    expectError(await dispatcher.dispatch('patients:timeline', [1, { latest: 5, before: 3 }]), 'invalid', /Unrecognized key: "before"/)
    expectError(await dispatcher.dispatch('app:info', [1]), 'invalid', /expected 0 arguments, got 1/)
    expectError(await dispatcher.dispatch('patients:timeline', [1.5]), 'invalid', /argument 1: .*expected int, received number/)
    expectError(await dispatcher.dispatch('patients:timeline', 7), 'invalid', /expected a list of arguments, got number/)
    expect(spies['patients:timeline']).not.toHaveBeenCalled()
    expect(spies['app:info']).not.toHaveBeenCalled()
  })

  it('refuses an unknown method, including names inherited from Object.prototype', async () => {
    const { dispatcher, spies } = spiedDispatcher()
    expectError(await dispatcher.dispatch('patients:delete', [1]), 'unknown-method', /Unknown API method "patients:delete"/)
    expectError(await dispatcher.dispatch('constructor', []), 'unknown-method', /"constructor"/)
    expectError(await dispatcher.dispatch('__proto__', []), 'unknown-method')
    for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled()
  })

  it('reports a missing patient as not-found', async () => {
    const { dispatcher } = spiedDispatcher()
    expectError(await dispatcher.dispatch('patients:timeline', [987654]), 'not-found', /No patient with id 987654/)
  })

  it('reports a failing service as an internal error naming the method', async () => {
    const failing = openDatabase(join(dir, 'closed.sqlite'))
    const seen: string[] = []
    const dispatcher = createApi(
      { db: failing, databasePath: 'closed.sqlite', appVersion: '1' },
      { onInternalError: (method) => seen.push(method) }
    )
    failing.close()
    expectError(await dispatcher.dispatch('patients:list', [{ offset: 0, limit: 5 }]), 'internal', /^patients:list failed: .*database connection is not open/)
    expect(seen).toEqual(['patients:list'])
  })

  it('maps each kind of failure to its code: invalid (with the field), not-found, refused; only real faults are internal', async () => {
    const real = createApiHandlers({ db, databasePath, appVersion: '1' })
    const throwing = (error: Error) => createApiDispatcher({ ...real, 'review:history': () => Promise.reject(error) }, { onInternalError: () => {} })
    const call = async (error: Error) => (await throwing(error).dispatch('review:history', [1])) as Extract<ApiResponse, { ok: false }>
    // Before: InvalidRequestError renamed itself NotFoundError, so a caller's mistake read as not-found and a
    // refusal by rule (a refused model, a review without interaction checks) as not-found or internal.
    expect((await call(new InvalidRequestError('Proposed drug "warfarn" is unknown', 'proposed[0]'))).error).toEqual({
      code: 'invalid',
      message: 'Proposed drug "warfarn" is unknown',
      field: 'proposed[0]'
    })
    expect((await call(new NotFoundError('No patient with id 9.'))).error.code).toBe('not-found')
    expect((await call(new ModelNotFoundError('No model "x".'))).error.code).toBe('not-found')
    expect((await call(new RefusedError('The review cannot be recorded without interaction checks.'))).error.code).toBe('refused')
    expect((await call(new ModelRefusedError('Model "x" was refused: ...', ['reason']))).error.code).toBe('refused')
    expect((await call(new EmptyHistoryError('Patient 10003 has no codes: nothing to recommend from.'))).error.code).toBe('refused')
    expect((await call(new UnknownDrugError([{ input: 'zzz', reason: '"zzz" is neither an ATC code nor a drug name.', suggestions: [] }]))).error.code).toBe('invalid')
    const fault = await call(new TypeError("Cannot read properties of undefined (reading 'x')"))
    expect(fault.error).toEqual({ code: 'internal', message: "review:history failed: Cannot read properties of undefined (reading 'x')" })
    // A schema failure names the first field at fault.
    const schema = (await throwing(new Error('unused')).dispatch('patients:list', [{ offset: -1, limit: 5 }])) as Extract<ApiResponse, { ok: false }>
    expect(schema.error).toMatchObject({ code: 'invalid', field: 'argument 1 (offset)' })
    const absent = (await throwing(new Error('unused')).dispatch('patients:list', [{ limit: 5 }])) as Extract<ApiResponse, { ok: false }>
    expect(absent.error.message).toBe('Invalid arguments for patients:list: argument 1 (offset): missing (expected number).')
  })

  it('app:info reports the version, database, patient count and the data attributions', async () => {
    const { dispatcher } = spiedDispatcher()
    const response = await dispatcher.dispatch('app:info', [])
    expect(response.ok).toBe(true)
    const info = (response as { result: { version: string; databasePath: string; patientCount: number; dataAttributions: unknown[] } }).result
    expect(info.version).toBe('9.9.9')
    expect(info.databasePath).toBe(databasePath)
    expect(info.patientCount).toBe(3 + FIXTURE.fillerPatients)
    expect(info.dataAttributions).toEqual(DATA_ATTRIBUTIONS)
  })
})

describe('data attributions', () => {
  const byName = (fragment: string) => DATA_ATTRIBUTIONS.find((a) => a.name.includes(fragment))

  it('name the license each source requires', () => {
    expect(byName('MIMIC-IV')?.license).toMatch(/ODbL\) 1\.0/)
    expect(byName('MIMIC-IV')?.attribution).toMatch(/10\.13026\/dp1f-ex47/)
    expect(byName('eICU')?.license).toMatch(/ODbL\) 1\.0/)
    expect(byName('DDInter')?.license).toMatch(/CC BY-NC-SA 4\.0/)
    expect(byName('ATC')?.license).toMatch(/CC BY-NC-SA 4\.0/)
    expect(byName('mapping tables')?.license).toBe('MIT License')
    for (const attribution of DATA_ATTRIBUTIONS) expect(attribution.url).toMatch(/^https:\/\//)
  })
})
