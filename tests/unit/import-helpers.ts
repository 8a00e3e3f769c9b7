// Shared by the import tests: temporary folders and databases, fixture copies (optionally gzipped),
// and a snapshot of everything an import writes, to compare databases exactly.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { dataDir, projectRoot } from '../../src/main/services/paths'

export const FIXTURES = join(projectRoot(), 'tests', 'fixtures', 'ehr')
export const DATA_DIR = dataDir()
export const MIMIC_IV_DEMO = join(DATA_DIR, 'ehr', 'mimic-iv-demo-2.2')
export const EICU_DEMO = join(DATA_DIR, 'ehr', 'eicu-crd-demo-2.0.1')
/** The open data folder (mapping tables, demos) is needed by every import; tests skip visibly without it. */
export const HAS_OPEN_DATA = existsSync(join(DATA_DIR, 'knowledge', 'mappings', 'ndc_to_atc3.csv'))

export class TempSpace {
  private readonly dirs: string[] = []
  private readonly dbs: Db[] = []

  dir(prefix = 'medrec-import-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  db(): Db {
    const db = openDatabase(join(this.dir('medrec-db-'), 'test.sqlite'))
    this.dbs.push(db)
    return db
  }

  /** Copies a fixture folder; `gzip` lists file-name patterns to compress into .csv.gz (true: all .csv). */
  fixture(name: string, gzip: boolean | RegExp = false): string {
    const target = join(this.dir(), name)
    cpSync(join(FIXTURES, name), target, { recursive: true })
    if (gzip !== false) gzipTree(target, gzip === true ? /\.csv$/ : gzip)
    return target
  }

  cleanup(): void {
    for (const db of this.dbs.splice(0)) if (db.open) db.close()
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
}

function gzipTree(dir: string, pattern: RegExp): void {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) gzipTree(path, pattern)
    else if (pattern.test(entry) && entry.endsWith('.csv')) {
      writeFileSync(`${path}.gz`, gzipSync(readFileSync(path)))
      rmSync(path)
    }
  }
}

/** Everything an import writes except run bookkeeping (run ids, medication row ids), in a stable order. */
export function snapshot(db: Db): Record<string, unknown[]> {
  return {
    patients: db.prepare('SELECT id, source, source_patient_id, sex FROM patients ORDER BY id').all(),
    visits: db
      .prepare('SELECT id, patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, order_label FROM visits ORDER BY id')
      .all(),
    diagnoses: db.prepare('SELECT * FROM diagnoses ORDER BY visit_id, code_system, code').all(),
    procedures: db.prepare('SELECT * FROM procedures ORDER BY visit_id, code_system, code').all(),
    medications: db
      .prepare(
        `SELECT visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time FROM medications
         ORDER BY visit_id, raw_name, ndc, gsn, other_id, start_time`
      )
      .all(),
    code_titles: db.prepare('SELECT * FROM code_titles ORDER BY kind, code_system, code').all(),
    atc_names: db.prepare('SELECT * FROM atc_names ORDER BY code').all()
  }
}

/** The database as it is, including import_runs: a failed import must leave all of it as it was. */
export function fullSnapshot(db: Db): Record<string, unknown[]> {
  return {
    ...snapshot(db),
    import_runs: db.prepare('SELECT * FROM import_runs ORDER BY id').all(),
    medicationIds: db.prepare('SELECT id FROM medications ORDER BY id').all()
  }
}

export function visitOrder(db: Db, source: string, sourcePatientId: string): string[] {
  return (
    db
      .prepare(
        `SELECT v.source_visit_id FROM visits v JOIN patients p ON p.id = v.patient_id
         WHERE p.source = ? AND p.source_patient_id = ? ORDER BY v.sort_key, v.id`
      )
      .all(source, sourcePatientId) as Array<{ source_visit_id: string }>
  ).map((r) => r.source_visit_id)
}

/**
 * The mini fixtures carry deliberately bad rows (one row in seven of a file, far above the 1% default
 * limit on rejected rows); tests of other behaviour accept them. tests/unit/import-safety.test.ts tests the limit.
 */
export const ACCEPT_BAD_ROWS = { maxRejectedShare: 1 } as const
