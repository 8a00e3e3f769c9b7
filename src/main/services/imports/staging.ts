// Imports run in a staging file, then apply to the patient database in one short transaction.
//
// Why (measured with bench/faults.ts, see README): an import written straight into the patient
// database holds SQLite's single write lock for its whole run (seconds to minutes), and every
// recommendation appends an audit row, so recommendations waited the 5 s busy timeout and failed with
// "database is locked". Short write transactions under WAL would keep the lock short but expose half
// an import to readers and to a crash. So the import parses, maps and folds everything into a
// disposable staging file (same schema, seeded with this source's patients and visits, the code
// titles and ATC names, so the import store's upserts work unchanged), computes the change plan by
// comparing it with the live database (reads only), and then copies the result over in one
// BEGIN IMMEDIATE transaction that holds the lock only for the bulk copy. A crash or kill -9 at any
// point leaves the live database either as before or with the completed import (SQLite's own
// atomic commit); a left-over staging file is removed by the next import.
import type { ImportPlan, ImportTableChange } from '../../../shared/domain/imports'
import type { EhrFormat } from '../../../shared/domain/patient'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { openDatabase, type Db } from '../db/database'
import { DatabaseBusyError, isBusyError } from '../db/busy'
import { ImportError } from './errors'
import { PLAN_TABLES } from './safety'

type PlanTable = (typeof PLAN_TABLES)[number]

/** The columns that make a child row what it is (a row whose values change counts as removed + added). */
const CHILD_COLUMNS: Record<'diagnoses' | 'procedures' | 'medications', string> = {
  diagnoses: 'visit_id, seq, code_system, code',
  procedures: 'visit_id, seq, code_system, code',
  medications: 'visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time, order_count'
}
const CHILD_TABLES = Object.keys(CHILD_COLUMNS) as Array<keyof typeof CHILD_COLUMNS>

const VISIT_COLUMNS = 'id, patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, order_label, import_run_id, age_at_admission'
const STAGING_SUFFIX = '.staging'
const SIDE_FILES = ['', '-wal', '-shm', '-journal']

/** What the live database looked like when staging began; apply() checks no other import changed it. */
interface Marks {
  maxPatientId: number
  maxVisitId: number
  maxRunId: number
}

export class ImportStaging {
  private attached = false
  /** How long apply() held the live database's write lock (ms), for the benchmarks. */
  lockHeldMs: number | null = null

  private constructor(
    /** The staging connection: the staging file is its main database; the import store writes here. */
    readonly db: Db,
    readonly path: string,
    private readonly live: Db,
    private readonly marks: Marks
  ) {}

  /**
   * Creates the staging file beside the live database and seeds it with what the import store reads:
   * this source's patients and visits, all code titles and ATC names, and id marks so new rows get the
   * ids they will have in the live database.
   */
  static open(live: Db, source: EhrFormat): ImportStaging {
    const livePath = live.name
    if (!livePath || livePath === ':memory:') throw new ImportError('Imports need a database file (an in-memory database cannot be staged).')
    removeStaleStagingFiles(livePath)
    const path = `${livePath}.import-${process.pid}-${Date.now()}${STAGING_SUFFIX}`
    const db = openDatabase(path)
    try {
      // Disposable: no journal, no fsync. Foreign keys are the live database's business at apply time.
      db.pragma('journal_mode = OFF')
      db.pragma('synchronous = OFF')
      db.pragma('foreign_keys = OFF')
      db.prepare('ATTACH DATABASE ? AS live').run(livePath)
      // One read transaction: the seed is a consistent snapshot of the live database.
      db.exec('BEGIN')
      const max = (table: string): number => (db.prepare(`SELECT coalesce(max(id), 0) FROM live.${table}`).pluck().get() as number) ?? 0
      const marks: Marks = { maxPatientId: max('patients'), maxVisitId: max('visits'), maxRunId: max('import_runs') }
      db.prepare(`INSERT INTO main.patients (id, source, source_patient_id, sex) SELECT id, source, source_patient_id, sex FROM live.patients WHERE source = ?`).run(source)
      db.prepare(`INSERT INTO main.visits (${VISIT_COLUMNS}) SELECT ${VISIT_COLUMNS} FROM live.visits WHERE source = ?`).run(source)
      db.exec(`INSERT INTO main.code_titles SELECT kind, code_system, code, title FROM live.code_titles`)
      db.exec(`INSERT INTO main.atc_names SELECT code, name FROM live.atc_names`)
      // Placeholders at the live maximum ids (empty source ids, which no importer accepts) so SQLite
      // gives new rows ids above every live row; they are never copied back.
      db.prepare(`INSERT OR IGNORE INTO main.patients (id, source, source_patient_id, sex) VALUES (?, ?, '', NULL)`).run(marks.maxPatientId, source)
      db.prepare(
        `INSERT OR IGNORE INTO main.visits (id, patient_id, source, source_visit_id, sort_key, order_label) VALUES (?, 0, ?, '', '', '')`
      ).run(marks.maxVisitId, source)
      db.prepare(
        `INSERT INTO main.import_runs (id, format, source_dir, input_fingerprint, started_at, status, report_json) VALUES (?, ?, '', '', '', 'completed', '{}')`
      ).run(marks.maxRunId, source)
      db.exec('COMMIT')
      db.exec('DETACH DATABASE live')
      return new ImportStaging(db, path, live, marks)
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK')
      db.close()
      removeFiles(path)
      throw error
    }
  }

  /** What applying the staged import would change in the live database (reads only; no lock held). */
  plan(runId: number): ImportPlan {
    const live = this.attach()
    const count = (sql: string, ...params: unknown[]): number => live.prepare(sql).pluck().get(...params) as number
    const ids = (sql: string, ...params: unknown[]): number[] => live.prepare(sql).pluck().all(...params) as number[]
    const m = this.marks
    // Visits of the live database that this import re-imported (their children are replaced).
    const replaced = `SELECT id FROM staging.visits WHERE import_run_id = ${Number(runId)} AND id <= ${m.maxVisitId}`
    const before = {} as Record<PlanTable, number>
    for (const table of PLAN_TABLES) before[table] = count(`SELECT count(*) FROM main.${table}`)
    const tables = {} as Record<PlanTable, ImportTableChange>
    const affected = new Set<number>()
    for (const table of CHILD_TABLES) {
      const columns = CHILD_COLUMNS[table]
      const gone = `SELECT ${columns} FROM main.${table} WHERE visit_id IN (${replaced})
        EXCEPT SELECT ${columns} FROM staging.${table} WHERE visit_id IN (${replaced})`
      const removed = count(`SELECT count(*) FROM (${gone})`)
      const dropped = count(`SELECT count(*) FROM main.${table} WHERE visit_id IN (${replaced})`)
      const after = before[table] - dropped + count(`SELECT count(*) FROM staging.${table}`)
      tables[table] = { before: before[table], after, added: after - before[table] + removed, removed, changed: 0 }
      for (const id of ids(`SELECT DISTINCT v.patient_id FROM (${gone}) g JOIN main.visits v ON v.id = g.visit_id`)) affected.add(id)
    }
    const changedVisits = `SELECT v.id, v.patient_id FROM staging.visits s JOIN main.visits v ON v.id = s.id
      WHERE s.import_run_id = ${Number(runId)} AND (v.patient_id IS NOT s.patient_id OR v.admit_time IS NOT s.admit_time
        OR v.discharge_time IS NOT s.discharge_time OR v.sort_key IS NOT s.sort_key OR v.order_label IS NOT s.order_label
        OR (v.age_at_admission IS NOT NULL AND v.age_at_admission IS NOT s.age_at_admission))`
    // A stored visit without an age that gains one loses nothing (e.g. the first import after schema version 6).
    const agesFilled = count(`SELECT count(*) FROM staging.visits s JOIN main.visits v ON v.id = s.id
      WHERE s.import_run_id = ${Number(runId)} AND v.age_at_admission IS NULL AND s.age_at_admission IS NOT NULL`)
    const newVisits = count(`SELECT count(*) FROM staging.visits WHERE id > ?`, m.maxVisitId)
    tables.visits = { before: before.visits, after: before.visits + newVisits, added: newVisits, removed: 0, changed: count(`SELECT count(*) FROM (${changedVisits})`) }
    for (const id of ids(`SELECT DISTINCT patient_id FROM (${changedVisits})`)) affected.add(id)
    const changedPatients = `SELECT p.id FROM staging.patients s JOIN main.patients p ON p.id = s.id WHERE s.sex IS NOT p.sex AND s.source_patient_id <> ''`
    const newPatients = count(`SELECT count(*) FROM staging.patients WHERE id > ?`, m.maxPatientId)
    tables.patients = {
      before: before.patients,
      after: before.patients + newPatients,
      added: newPatients,
      removed: 0,
      changed: count(`SELECT count(*) FROM (${changedPatients})`)
    }
    for (const id of ids(changedPatients)) affected.add(id)
    // FHIR allergies are upserted by (source, id): one whose stored values differ is altered, so it counts
    // as destructive like a changed patient (the plan's table rows stay the five CSV tables).
    const changedAllergies = `SELECT a.patient_id FROM staging.allergies s JOIN main.allergies a ON a.source = s.source AND a.source_allergy_id = s.source_allergy_id
      WHERE s.import_run_id = ${Number(runId)} AND (a.patient_id IS NOT s.patient_id OR a.code_system IS NOT s.code_system OR a.code IS NOT s.code
        OR a.title IS NOT s.title OR a.category IS NOT s.category OR a.criticality IS NOT s.criticality
        OR a.clinical_status IS NOT s.clinical_status OR a.recorded_at IS NOT s.recorded_at)`
    const allergiesChanged = count(`SELECT count(*) FROM (${changedAllergies})`)
    for (const id of ids(`SELECT DISTINCT patient_id FROM (${changedAllergies})`)) affected.add(id)
    const destructive = allergiesChanged > 0 || PLAN_TABLES.some((t) => tables[t].removed > 0 || tables[t].changed > 0)
    return { tables, patientsAffected: affected.size, storedPatients: before.patients, destructive, agesFilled }
  }

  /**
   * Copies the staged import into the live database in one transaction. The dictionaries' differences
   * are worked out before the lock is taken, so the lock covers only the row copies.
   */
  apply(runId: number): void {
    // The staging connection is done writing; its page cache (up to 128 MB, full after a large import)
    // is released before the live connection fills its own for the copy, so malloc reuses those pages
    // rather than the two caches adding up (10k-patient cohort: peak RSS +121 MB while applying).
    this.db.pragma('shrink_memory')
    const live = this.attach()
    const m = this.marks
    live.exec(`CREATE TEMP TABLE IF NOT EXISTS import_title_changes AS SELECT * FROM main.code_titles WHERE 0`)
    live.exec(`CREATE TEMP TABLE IF NOT EXISTS import_atc_changes AS SELECT * FROM main.atc_names WHERE 0`)
    live.exec('DELETE FROM temp.import_title_changes; DELETE FROM temp.import_atc_changes')
    live.exec(`INSERT INTO temp.import_title_changes SELECT * FROM staging.code_titles EXCEPT SELECT * FROM main.code_titles`)
    live.exec(`INSERT INTO temp.import_atc_changes SELECT * FROM staging.atc_names EXCEPT SELECT * FROM main.atc_names`)
    // Copy settings for the live connection, restored afterwards: foreign-key checks off (every copied
    // row refers to a patient, visit or run this same transaction copies or keeps: checked in staging
    // by construction, and a B-tree lookup per row here would lengthen the lock), a bigger page cache.
    // Staged medication ids are 1…n unless rows were deleted in staging (checked before the lock is taken).
    const stagedMedicationIdsDense = live.prepare(`SELECT coalesce(max(id), 0) = count(*) FROM staging.medications`).pluck().get() === 1
    const foreignKeys = live.pragma('foreign_keys', { simple: true }) as number
    const cacheSize = live.pragma('cache_size', { simple: true }) as number
    live.pragma('foreign_keys = OFF')
    live.pragma('cache_size = -131072')
    try {
      live.exec('BEGIN IMMEDIATE')
    } catch (error) {
      live.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
      live.pragma(`cache_size = ${cacheSize}`)
      if (isBusyError(error)) throw new DatabaseBusyError('The database is busy: another import or the app is writing to it. Try again when it has finished.')
      throw error
    }
    const locked = performance.now()
    try {
      const max = (table: string): number => live.prepare(`SELECT coalesce(max(id), 0) FROM main.${table}`).pluck().get() as number
      if (max('patients') !== m.maxPatientId || max('visits') !== m.maxVisitId || max('import_runs') !== m.maxRunId) {
        throw new DatabaseBusyError('Another import changed the patient database while this one was being prepared; nothing was written. Run it again.')
      }
      const replaced = `SELECT id FROM staging.visits WHERE import_run_id = ${Number(runId)} AND id <= ${m.maxVisitId}`
      // Parents first: visits refer to their import run and patient.
      live.prepare(`INSERT INTO main.import_runs SELECT * FROM staging.import_runs WHERE id > ?`).run(m.maxRunId)
      live.exec(`UPDATE main.patients SET sex = s.sex FROM staging.patients s
        WHERE main.patients.id = s.id AND s.source_patient_id <> '' AND main.patients.sex IS NOT s.sex`)
      live.prepare(`INSERT INTO main.patients (id, source, source_patient_id, sex) SELECT id, source, source_patient_id, sex FROM staging.patients WHERE id > ?`).run(m.maxPatientId)
      live.exec(`UPDATE main.visits SET admit_time = s.admit_time, discharge_time = s.discharge_time, sort_key = s.sort_key,
          order_label = s.order_label, import_run_id = s.import_run_id, age_at_admission = s.age_at_admission
        FROM staging.visits s WHERE main.visits.id = s.id AND s.import_run_id = ${Number(runId)} AND s.id <= ${m.maxVisitId}`)
      live.prepare(`INSERT INTO main.visits (${VISIT_COLUMNS}) SELECT ${VISIT_COLUMNS} FROM staging.visits WHERE id > ? ORDER BY id`).run(m.maxVisitId)
      for (const table of CHILD_TABLES) live.exec(`DELETE FROM main.${table} WHERE visit_id IN (${replaced})`)
      // A bare INSERT … SELECT * between tables of the same schema lets SQLite copy whole records and
      // append to the indexes in order when the destination is empty (its transfer optimisation: 2.5 times
      // less CPU for a first import, README "Staging file"); into a table with rows it inserts row by row.
      // Diagnoses and procedures carry no ids. Medications keep their staged ids only where the result is
      // the numbering a row-by-row copy gives (1…n into an empty table, so a re-import stores the same rows).
      live.exec(`INSERT INTO main.diagnoses SELECT * FROM staging.diagnoses`)
      live.exec(`INSERT INTO main.procedures SELECT * FROM staging.procedures`)
      const medicationsEmpty = live.prepare(`SELECT NOT EXISTS (SELECT 1 FROM main.medications)`).pluck().get() === 1
      if (medicationsEmpty && stagedMedicationIdsDense) live.exec(`INSERT INTO main.medications SELECT * FROM staging.medications`)
      else live.exec(`INSERT INTO main.medications (${CHILD_COLUMNS.medications}) SELECT ${CHILD_COLUMNS.medications} FROM staging.medications ORDER BY id`)
      // Allergies (FHIR only) after their patients; upserted by (source, id) as the FHIR importer does.
      live.exec(`INSERT INTO main.allergies (patient_id, source, source_allergy_id, code_system, code, title, category, criticality, clinical_status, recorded_at, import_run_id)
        SELECT patient_id, source, source_allergy_id, code_system, code, title, category, criticality, clinical_status, recorded_at, import_run_id
        FROM staging.allergies WHERE import_run_id = ${Number(runId)} ORDER BY id
        ON CONFLICT (source, source_allergy_id) DO UPDATE SET patient_id = excluded.patient_id, code_system = excluded.code_system,
          code = excluded.code, title = excluded.title, category = excluded.category, criticality = excluded.criticality,
          clinical_status = excluded.clinical_status, recorded_at = excluded.recorded_at, import_run_id = excluded.import_run_id`)
      live.exec(`INSERT INTO main.code_titles SELECT * FROM temp.import_title_changes WHERE true
        ON CONFLICT (kind, code_system, code) DO UPDATE SET title = excluded.title`)
      live.exec(`INSERT INTO main.atc_names SELECT * FROM temp.import_atc_changes WHERE true ON CONFLICT (code) DO UPDATE SET name = excluded.name`)
      live.exec('COMMIT')
    } catch (error) {
      if (live.inTransaction) live.exec('ROLLBACK')
      throw error
    } finally {
      this.lockHeldMs = performance.now() - locked
      live.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
      live.pragma(`cache_size = ${cacheSize}`)
    }
  }

  /** Closes and deletes the staging file. */
  close(): void {
    if (this.attached) {
      this.live.exec('DROP TABLE IF EXISTS temp.import_title_changes; DROP TABLE IF EXISTS temp.import_atc_changes')
      this.live.exec('DETACH DATABASE staging')
      this.attached = false
    }
    if (this.db.open) this.db.close()
    removeFiles(this.path)
  }

  private attach(): Db {
    if (!this.attached) {
      this.live.prepare('ATTACH DATABASE ? AS staging').run(this.path)
      this.attached = true
    }
    return this.live
  }
}

function removeFiles(path: string): void {
  for (const suffix of SIDE_FILES) rmSync(path + suffix, { force: true })
}

/** Staging files of imports whose process is gone (killed mid-import). */
function removeStaleStagingFiles(livePath: string): void {
  const folder = dirname(livePath)
  const prefix = `${basename(livePath)}.import-`
  if (!existsSync(folder)) return
  for (const name of readdirSync(folder)) {
    if (!name.startsWith(prefix) || !name.endsWith(STAGING_SUFFIX)) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue
    if (pid === process.pid) continue
    removeFiles(join(folder, name))
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
