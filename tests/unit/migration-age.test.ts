// Migration 6 adds visits.age_at_admission to a database of an earlier version: stored visits keep every value
// and get null (unknown) until their source is imported again; the column takes 0–90 (90: "90 or older") or null
// and refuses anything else; the audit trail still verifies with a seal for the migration.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../../src/main/services/audit/chain'
import { openDatabase } from '../../src/main/services/db/database'
import { getPatientTimeline } from '../../src/main/services/db/patients-repo'
import { migrations } from '../../src/main/services/db/migrations'
import { TempSpace } from './import-helpers'

const space = new TempSpace()
afterEach(() => space.cleanup())

describe('migration 6 (age at the visit)', () => {
  it('gives the visits of an existing database an unknown age and accepts only 0–90 from then on', () => {
    const path = join(space.dir('medrec-migration-age-'), 'v3.sqlite')
    const old = new Database(path)
    for (const m of migrations.filter((m) => m.version <= 3)) old.exec(m.sql)
    old.pragma('user_version = 3')
    old.exec(`
      INSERT INTO patients (id, source, source_patient_id, sex) VALUES (7, 'eicu', '002-1', 'F');
      INSERT INTO visits (id, patient_id, source, source_visit_id, sort_key, order_label) VALUES (9, 7, 'eicu', '141764', '2015|k', '2015, hospital stay 1, unit visit 1');`)
    const before = old.prepare('SELECT * FROM visits').all()
    old.close()

    const db = openDatabase(path)
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version)
      expect(migrations.find((m) => m.version === 6)!.description).toMatch(/age/)
      const after = db.prepare('SELECT * FROM visits').all()
      expect(after).toEqual(before.map((row) => ({ ...(row as object), age_at_admission: null })))
      expect(getPatientTimeline(db, 7).visits[0]!.ageAtAdmission).toBeNull()
      const setAge = db.prepare('UPDATE visits SET age_at_admission = ? WHERE id = 9')
      for (const age of [0, 67, 90, null]) {
        setAge.run(age)
        expect(getPatientTimeline(db, 7).visits[0]!.ageAtAdmission).toBe(age)
      }
      for (const bad of [91, -1, 300]) expect(() => setAge.run(bad)).toThrow(/CHECK constraint failed/)
      expect(verifyAuditChain(db)).toMatchObject({ ok: true, problems: [] })
      expect(db.prepare(`SELECT count(*) FROM audit_log WHERE kind = 'audit-trail-sealed' AND outputs_json LIKE '%version 6%'`).pluck().get()).toBe(1)
    } finally {
      db.close()
    }
  })
})
