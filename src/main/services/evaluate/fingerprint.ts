// A fingerprint of the patient data an evaluation read: sha256 over the content of the tables that feed
// the models (patients, visits, diagnoses, procedures, medications), row by row in key order, streamed.
// It ignores the audit log and settings (which change with use) and SQLite's page layout (which changes
// with VACUUM), so the same patients give the same fingerprint on any machine.
import { createHash } from 'node:crypto'
import type { Db } from '../db/database'

export const FINGERPRINTED_TABLES = [
  { table: 'patients', columns: 'id, source, source_patient_id, sex', order: 'id' },
  // The age at admission decides the age-band subgroups (schema version 6).
  { table: 'visits', columns: 'id, patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, age_at_admission', order: 'id' },
  { table: 'diagnoses', columns: 'visit_id, seq, code_system, code', order: 'visit_id, code_system, code' },
  { table: 'procedures', columns: 'visit_id, seq, code_system, code', order: 'visit_id, code_system, code' },
  { table: 'medications', columns: 'id, visit_id, raw_name, atc5, atc3', order: 'id' }
] as const

export interface DatabaseFingerprint {
  sha256: string
  rows: Record<string, number>
  method: string
}

export function fingerprintDatabase(db: Db): DatabaseFingerprint {
  const hash = createHash('sha256')
  const rows: Record<string, number> = {}
  for (const { table, columns, order } of FINGERPRINTED_TABLES) {
    hash.update(`\u0001${table}\u0001`)
    let n = 0
    // Arrays, not objects: the same values hash the same whatever the driver names them.
    for (const row of db.prepare(`SELECT ${columns} FROM ${table} ORDER BY ${order}`).raw().iterate() as Iterable<unknown[]>) {
      hash.update(JSON.stringify(row))
      hash.update('\n')
      n++
    }
    rows[table] = n
  }
  return {
    sha256: hash.digest('hex'),
    rows,
    method: `sha256 over the rows of ${FINGERPRINTED_TABLES.map((t) => `${t.table}(${t.columns})`).join(', ')}, each table in key order, as JSON arrays`
  }
}
