// Migration 5 rebuilds import_runs, patients, diagnoses and procedures (SQLite cannot change a CHECK in
// place): existing rows, ids and the references between them must come through unchanged.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { AUDIT_CHAIN_VERSION, migrations } from '../../src/main/services/db/migrations'
import { verifyAuditChain } from '../../src/main/services/audit/chain'
import { TempSpace } from './import-helpers'

const space = new TempSpace()
afterEach(() => space.cleanup())

describe('migration 5 (FHIR)', () => {
  it('keeps every row and reference of a version-3 database, then accepts FHIR patients, any code system and allergies', () => {
    const path = join(space.dir('medrec-migration-'), 'v3.sqlite')
    const old = new Database(path)
    for (const m of migrations.filter((m) => m.version <= 3)) old.exec(m.sql)
    old.pragma('user_version = 3')
    old.exec(`
      INSERT INTO import_runs (id, format, source_dir, input_fingerprint, started_at, status, report_json) VALUES (5, 'eicu', '/x', 'f', 't', 'completed', '{}');
      INSERT INTO patients (id, source, source_patient_id, sex) VALUES (7, 'mimic-iv', '100', 'F');
      INSERT INTO visits (id, patient_id, source, source_visit_id, sort_key, order_label, import_run_id) VALUES (9, 7, 'mimic-iv', '200', 'k', 'l', 5);
      INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (9, 0, 'ICD-10-CM', 'I10');
      INSERT INTO procedures (visit_id, seq, code_system, code) VALUES (9, 0, 'ICD-9-CM', '3893');
      INSERT INTO medications (visit_id, raw_name, mapping_method) VALUES (9, 'aspirin', 'name');`)
    const before = ['import_runs', 'patients', 'visits', 'diagnoses', 'procedures', 'medications'].map((t) => old.prepare(`SELECT * FROM ${t}`).all())
    old.close()

    const db = openDatabase(path)
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version)
      // Later migrations may add columns (version 6: visits.age_at_admission); every earlier value is kept.
      expect(['import_runs', 'patients', 'visits', 'diagnoses', 'procedures', 'medications'].map((t) => db.prepare(`SELECT * FROM ${t}`).all())).toMatchObject(before)
      expect(db.pragma('foreign_key_check')).toEqual([])
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
      // The rebuild runs after the audit chain (version 4): the trail still verifies clean, with a seal per migration.
      expect(migrations.find((m) => m.rebuildsTables)!.version).toBeGreaterThan(AUDIT_CHAIN_VERSION)
      expect(verifyAuditChain(db)).toMatchObject({ ok: true, problems: [], firstBrokenRowId: null })
      expect(db.prepare(`SELECT count(*) FROM audit_log WHERE kind = 'audit-trail-sealed'`).pluck().get()).toBe(migrations.filter((m) => m.version >= AUDIT_CHAIN_VERSION).length)
      // Deleting the patient still cascades to its visit and codes: the references survived the rebuild.
      db.prepare(`INSERT INTO patients (source, source_patient_id) VALUES ('fhir', 'abc')`).run()
      db.prepare(`INSERT INTO visits (id, patient_id, source, source_visit_id, sort_key, order_label) VALUES (10, (SELECT id FROM patients WHERE source = 'fhir'), 'fhir', 'e', 'k', 'l')`).run()
      db.prepare(`INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (10, 0, 'SNOMED CT', '38341003')`).run()
      db.prepare(`INSERT INTO allergies (patient_id, source, source_allergy_id, title) VALUES ((SELECT id FROM patients WHERE source = 'fhir'), 'fhir', 'a1', 'Allergy to penicillin')`).run()
      expect(() => db.prepare(`INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (10, 1, '', 'x')`).run()).toThrow(/CHECK/)
      db.prepare(`DELETE FROM patients WHERE id = 7`).run()
      expect(db.prepare(`SELECT count(*) FROM visits WHERE id = 9`).pluck().get()).toBe(0)
      expect(db.prepare(`SELECT count(*) FROM diagnoses WHERE visit_id = 9`).pluck().get()).toBe(0)
    } finally {
      db.close()
    }
  })
})
