// The timeline by pages: the app opens a record on its latest visits and loads earlier ones on request.
// Paging back from the latest page must give exactly the whole record: same visits, same order (ties in
// sort_key broken by id, as everywhere), same codes and medications, and nothing else.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Db, openDatabase } from '../../src/main/services/db/database'
import { getPatientTimeline, NotFoundError } from '../../src/main/services/db/patients-repo'
import type { VisitDetail } from '../../src/shared/domain/patient'

const VISITS = 47

describe('timeline pages', () => {
  let dir: string
  let db: Db
  let patient: number
  let other: number
  let otherVisit: number

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-timeline-'))
    db = openDatabase(join(dir, 'test.sqlite'))
    const addPatient = db.prepare(`INSERT INTO patients (source, source_patient_id) VALUES ('mimic-iv', ?)`)
    const addVisit = db.prepare(`INSERT INTO visits (patient_id, source, source_visit_id, sort_key, order_label) VALUES (?, 'mimic-iv', ?, ?, ?)`)
    const addDiagnosis = db.prepare(`INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (?, ?, 'ICD-10-CM', ?)`)
    const addMedication = db.prepare(`INSERT INTO medications (visit_id, raw_name, atc5, atc3, mapping_method) VALUES (?, ?, NULL, NULL, 'unmapped')`)
    patient = Number(addPatient.run('P-1').lastInsertRowid)
    other = Number(addPatient.run('P-2').lastInsertRowid)
    // Inserted out of time order, and every third visit shares its sort key with the next one.
    const order = Array.from({ length: VISITS }, (_, i) => (i * 17) % VISITS)
    for (const k of order) {
      const sortKey = `2020-${String(Math.floor(k / 3) * 3 + (k % 3 === 2 ? 1 : k % 3)).padStart(4, '0')}`
      const visit = Number(addVisit.run(patient, `V${k}`, sortKey, `stay ${k}`).lastInsertRowid)
      for (let seq = 1; seq <= 1 + (k % 4); seq++) addDiagnosis.run(visit, seq, `D${k}.${seq}`)
      for (let m = 0; m < k % 3; m++) addMedication.run(visit, `drug ${k}-${m}`)
      otherVisit = Number(addVisit.run(other, `W${k}`, sortKey, `stay ${k}`).lastInsertRowid)
    }
  })
  afterAll(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const ids = (visits: VisitDetail[]) => visits.map((v) => v.sourceVisitId)

  it('returns the latest visits in time order and counts the earlier ones', () => {
    const whole = getPatientTimeline(db, patient)
    expect(whole.visits).toHaveLength(VISITS)
    expect(whole.earlierVisits).toBe(0)
    const latest = getPatientTimeline(db, patient, { latest: 20 })
    expect(ids(latest.visits)).toEqual(ids(whole.visits.slice(-20)))
    expect(latest.visits).toEqual(whole.visits.slice(-20))
    expect(latest.earlierVisits).toBe(VISITS - 20)
    expect(latest.patient).toEqual(whole.patient)
  })

  it('pages back to exactly the whole record, ties in sort key included', () => {
    const whole = getPatientTimeline(db, patient)
    for (const size of [1, 3, 20, 46, 47, 500]) {
      let page = getPatientTimeline(db, patient, { latest: size })
      const collected = [...page.visits]
      while (page.earlierVisits > 0) {
        page = getPatientTimeline(db, patient, { latest: size, beforeVisitId: page.visits[0]!.id })
        expect(page.visits.length).toBe(Math.min(size, collected.length === 0 ? size : VISITS - collected.length))
        collected.unshift(...page.visits)
        expect(page.earlierVisits).toBe(VISITS - collected.length)
      }
      expect(collected).toEqual(whole.visits)
    }
  })

  it('gives an empty page before the first visit', () => {
    const first = getPatientTimeline(db, patient).visits[0]!
    expect(getPatientTimeline(db, patient, { latest: 5, beforeVisitId: first.id })).toMatchObject({ visits: [], earlierVisits: 0 })
  })

  it("refuses a cursor that is not one of the patient's visits, naming it", () => {
    expect(() => getPatientTimeline(db, patient, { latest: 5, beforeVisitId: otherVisit })).toThrow(NotFoundError)
    expect(() => getPatientTimeline(db, patient, { latest: 5, beforeVisitId: 999_999 })).toThrow(
      `Patient ${patient} has no visit with id 999999 (beforeVisitId).`
    )
  })
})
