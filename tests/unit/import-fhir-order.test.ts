// FHIR re-imports that arrive out of order: the sequence numbers of a stored visit's codes and the codes
// an import adds before it re-reads the visit's Encounter.
//  - An incremental export adding a Condition to a visit imported before continues that visit's
//    sequence (the staging file holds no stored codes, so it used to restart at 0 and collide with the
//    visit's first code).
//  - Bundle files are read one at a time: a Condition in one file for an Encounter that a later file
//    re-exports used to be deleted when that Encounter replaced the visit's codes (counted as stored, but
//    lost); an Encounter in a later file than its Conditions was not found at all.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Db } from '../../src/main/services/db/database'
import { importFhir } from '../../src/main/services/imports/fhir'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

const space = new TempSpace()
afterEach(() => space.cleanup())

const SNOMED = 'http://snomed.info/sct'
const patient = { resourceType: 'Patient', id: 'p1', gender: 'female' }
const encounter = (id: string, start: string) => ({
  resourceType: 'Encounter',
  id,
  status: 'finished',
  subject: { reference: 'Patient/p1' },
  period: { start, end: start }
})
const condition = (id: string, encounterId: string, code: string, display: string) => ({
  resourceType: 'Condition',
  id,
  code: { coding: [{ system: SNOMED, code, display }] },
  subject: { reference: 'Patient/p1' },
  encounter: { reference: `Encounter/${encounterId}` }
})
const bundle = (resources: unknown[]) => ({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) })

function folder(files: Record<string, unknown>): string {
  const dir = space.dir('medrec-fhir-order-')
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), Array.isArray(content) ? content.map((r) => JSON.stringify(r)).join('\n') + '\n' : JSON.stringify(content))
  }
  return dir
}

/** A visit's codes in sequence order. */
const codesOf = (db: Db, visit: string): Array<{ seq: number; code: string }> =>
  db
    .prepare(`SELECT d.seq, d.code FROM diagnoses d JOIN visits v ON v.id = d.visit_id WHERE v.source_visit_id = ? ORDER BY d.seq, d.code`)
    .all(visit) as Array<{ seq: number; code: string }>

describe.runIf(HAS_OPEN_DATA)('FHIR re-imports out of order', () => {
  const first = () =>
    folder({
      'Patient.ndjson': [patient],
      'Encounter.ndjson': [encounter('e1', '2020-01-01T08:00:00Z'), encounter('e2', '2021-01-01T08:00:00Z')],
      'Condition.ndjson': [condition('c1', 'e1', '38341003', 'Hypertension'), condition('c2', 'e1', '44054006', 'Diabetes mellitus type 2')]
    })

  it('continues a stored visit’s code sequence when an incremental export adds a Condition to it', async () => {
    const db = space.db()
    await importFhir(db, { input: first(), dataDir: DATA_DIR })
    expect(codesOf(db, 'e1')).toEqual([
      { seq: 0, code: '38341003' },
      { seq: 1, code: '44054006' }
    ])
    const report = await importFhir(db, { input: folder({ 'Condition.ndjson': [condition('c3', 'e1', '49436004', 'Atrial fibrillation')] }), dataDir: DATA_DIR })
    expect(report).toMatchObject({ diagnosisCodes: 1, rejected: 0 })
    expect(codesOf(db, 'e1')).toEqual([
      { seq: 0, code: '38341003' },
      { seq: 1, code: '44054006' },
      { seq: 2, code: '49436004' }
    ])
  })

  it('keeps the Conditions of an earlier bundle file when a later file re-exports their Encounter', async () => {
    const db = space.db()
    await importFhir(db, { input: first(), dataDir: DATA_DIR })
    // a.json (read first) adds c3 to e1; b.json re-exports e1 with its two codes, unchanged.
    const input = folder({
      'a.json': bundle([condition('c3', 'e1', '49436004', 'Atrial fibrillation')]),
      'b.json': bundle([patient, encounter('e1', '2020-01-01T08:00:00Z'), condition('c1', 'e1', '38341003', 'Hypertension'), condition('c2', 'e1', '44054006', 'Diabetes mellitus type 2')])
    })
    // e1 is re-imported, so its codes are replaced by this import's, numbered in the order read (a.json's
    // first): the two stored codes move in the sequence, which the plan reports, so it needs --replace.
    const report = await importFhir(db, { input, dataDir: DATA_DIR, replace: true })
    expect(report).toMatchObject({ diagnosisCodes: 3, rejected: 0 })
    expect(codesOf(db, 'e1')).toEqual([
      { seq: 0, code: '49436004' },
      { seq: 1, code: '38341003' },
      { seq: 2, code: '44054006' }
    ])
  })

  it('finds an Encounter given in a later bundle file than its Conditions, on a first import', async () => {
    const db = space.db()
    const input = folder({
      'a.json': bundle([condition('c1', 'e9', '38341003', 'Hypertension')]),
      'b.json': bundle([patient, encounter('e9', '2022-05-01T08:00:00Z')])
    })
    const report = await importFhir(db, { input, dataDir: DATA_DIR })
    expect(report).toMatchObject({ patients: 1, visits: 1, diagnosisCodes: 1, rejected: 0 })
    expect(codesOf(db, 'e9')).toEqual([{ seq: 0, code: '38341003' }])
  })

  it('rejects a re-exported Encounter whose subject is another patient, naming both, and keeps the visit where it was', async () => {
    const db = space.db()
    await importFhir(db, { input: first(), dataDir: DATA_DIR })
    const moved = { ...encounter('e2', '2021-01-01T08:00:00Z'), subject: { reference: 'Patient/p2' } }
    const report = await importFhir(db, { input: folder({ 'Patient.ndjson': [{ ...patient, id: 'p2' }], 'Encounter.ndjson': [moved] }), dataDir: DATA_DIR, maxRejectedShare: 1 })
    expect(report.rejected).toBe(1)
    expect(report.rejectedSamples[0]).toMatchObject({ file: 'Encounter.ndjson', line: 1, resource: 'Encounter/e2' })
    expect(report.rejectedSamples[0]!.reason).toMatch(/stored for Patient\/p1, not Patient\/p2/)
    expect(db.prepare(`SELECT p.source_patient_id FROM visits v JOIN patients p ON p.id = v.patient_id WHERE v.source_visit_id = 'e2'`).pluck().get()).toBe('p1')
  })
})
