// The EHR import service, used by the app and the `medrec import` CLI alike.
//
// Semantics (what a caller can rely on):
// - Validate first: every file of the layout is located and its header checked, and the reference
//   tables are loaded, before anything is written. A missing file, a wrong layout (e.g. the eICU
//   folder given as MIMIC-IV) or a missing column is an ImportError naming the file.
// - All or nothing: the whole import is one SQLite transaction. A file-level problem found while
//   reading (a truncated gzip, a quoted field that never closes) or a crash rolls everything back, so
//   the store is exactly as before, and re-running the import completes it cleanly ("resumable"
//   without manual cleanup).
// - Row-level problems (wrong column count, unparseable date, a diagnosis of an unknown admission,
//   an invalid code) reject that row; the report counts them and lists the first ones with file,
//   line and reason.
// - Idempotent: import_runs keeps a fingerprint (sha256) of the input files, the reference tables
//   and the importer version; an unchanged re-import is recorded and reported as 'skipped-unchanged'
//   and writes nothing else. Changed files re-import as upserts: patients and visits keep their ids
//   and each imported visit's codes and medications are replaced wholesale, so importing the same
//   content again (force) leaves the same content. Visits absent from the new files are kept.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { basename, resolve } from 'node:path'
import type { EhrFormat, ImportProgress, ImportReport } from '../../../shared/types'
import type { Db } from '../db/database'
import { dataDir as defaultDataDir } from '../paths'
import { DrugMapper, loadReferenceData } from '../reference'
import { MappingTally, ProgressTracker, RowLog, type ImportContext } from './context'
import { importEicu } from './eicu'
import { ImportError } from './errors'
import { resolveLayout, type Layout } from './layout'
import { importMimic } from './mimic'
import { ImportStore } from './store'

/**
 * Bump when the importer's output for the same input changes, so unchanged files re-import.
 * 2: every source row of a drug in a visit folds into one medications row (1 folded only consecutive rows).
 */
export const IMPORTER_VERSION = 2

export const EHR_FORMATS: readonly EhrFormat[] = ['mimic-iv', 'mimic-iii', 'eicu']

export interface ImportOptions {
  format: EhrFormat
  /** The export folder (for MIMIC-IV the folder holding hosp/, or hosp/ itself). */
  dir: string
  /** The open data folder with knowledge/mappings and knowledge/atc (default: dataDir()). */
  dataDir?: string
  onProgress?: (progress: ImportProgress) => void
  /** Re-import even when the same files were imported before. */
  force?: boolean
}

export async function importDataset(db: Db, options: ImportOptions): Promise<ImportReport> {
  const started = performance.now()
  const dir = resolve(options.dir)
  const dataDir = resolve(options.dataDir ?? defaultDataDir())
  const progress = new ProgressTracker(0, options.onProgress)
  progress.phase('Checking files', null)
  const layout = await resolveLayout(options.format, dir)
  const reference = await loadReferenceData(dataDir)
  progress.phase('Fingerprinting inputs', null)
  const fingerprint = await fingerprintInputs(layout, reference.files)

  const previous = db
    .prepare(`SELECT id, report_json FROM import_runs WHERE format = ? AND input_fingerprint = ? AND status = 'completed' ORDER BY id DESC LIMIT 1`)
    .get(options.format, fingerprint) as { id: number; report_json: string } | undefined
  if (previous && !options.force) return recordSkippedRun(db, options.format, dir, fingerprint, previous, started)

  if (db.inTransaction) throw new ImportError('Another write is in progress on this database connection; run the import on its own connection.')
  const totalBytes = Object.values(layout.files).reduce((sum, f) => sum + f.size, 0)
  const tracker = new ProgressTracker(totalBytes, options.onProgress)
  const startedAt = new Date().toISOString()
  // Bulk-load settings for this connection, restored afterwards: a bigger page cache keeps the
  // indexes being appended to in memory (bounded: 128 MB); foreign-key checks off, because every
  // child row gets a visit id the same transaction just wrote or read (checking them again costs
  // a B-tree lookup per row, tens of millions at scale), and the import never deletes a parent.
  const cacheSize = db.pragma('cache_size', { simple: true }) as number
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number
  db.pragma('cache_size = -131072')
  db.pragma('foreign_keys = OFF')
  try {
    beginWrite(db)
    const runId = Number(
      db
        .prepare(
          `INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES (?, ?, ?, ?, 'completed', '{}')`
        )
        .run(options.format, dir, fingerprint, startedAt).lastInsertRowid
    )
    const ctx: ImportContext = {
      db,
      runId,
      layout,
      store: new ImportStore(db, options.format, runId),
      mapper: new DrugMapper(reference.tables),
      log: new RowLog(),
      tally: new MappingTally(),
      progress: tracker,
      mappedBySharedId: 0
    }
    tracker.phase('Writing ATC names', null)
    ctx.store.atcNames(reference.atcNames)
    if (options.format === 'eicu') await importEicu(ctx)
    else if (options.format === 'fhir') throw new ImportError('FHIR exports have their own importer (importFhir in imports/fhir).')
    else await importMimic(ctx, options.format)
    tracker.phase('Finishing', null)
    const report = buildReport(ctx, layout, fingerprint, started)
    ctx.store.finish()
    db.prepare(`UPDATE import_runs SET finished_at = ?, report_json = ? WHERE id = ?`).run(new Date().toISOString(), JSON.stringify(report), runId)
    db.exec('COMMIT')
    return report
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw error
  } finally {
    db.pragma(`cache_size = ${cacheSize}`)
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
  }
}

/** BEGIN IMMEDIATE, turning a busy database into an ImportError the user can act on. */
export function beginWrite(db: Db): void {
  try {
    db.exec('BEGIN IMMEDIATE')
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY'))
      throw new ImportError('The database is busy: another import or the app is writing to it. Try again when it has finished.')
    throw error
  }
}

function buildReport(ctx: ImportContext, layout: Layout, fingerprint: string, started: number): ImportReport {
  const counts = ctx.store.counts
  const skippedRows = { ...ctx.log.skipped }
  if (counts.repeatedDiagnoses > 0) skippedRows['diagnosis code repeated within the same visit'] = counts.repeatedDiagnoses
  if (counts.repeatedProcedures > 0) skippedRows['procedure code repeated within the same visit'] = counts.repeatedProcedures
  const { mappedBy } = ctx.tally
  return {
    runId: ctx.runId,
    format: layout.format,
    sourceDir: layout.dir,
    status: 'completed',
    patients: ctx.store.patients,
    visits: ctx.store.visits,
    diagnosisCodes: counts.diagnoses,
    procedureCodes: counts.procedures,
    medicationRows: counts.medications,
    mappedDrugs: mappedBy.ndc + mappedBy.gsn + mappedBy.name,
    unmappedDrugs: mappedBy.unmapped,
    mappedBy: { ...mappedBy },
    rejectedRows: ctx.log.rejected,
    rejectedSamples: ctx.log.rejectedSamples,
    durationMs: Math.round(performance.now() - started),
    inputFingerprint: fingerprint,
    previousRunId: null,
    warnings: ctx.log.warnings,
    warningSamples: ctx.log.warningSamples,
    skippedRows,
    codesWithoutTitle: ctx.store.codesWithoutTitle(),
    mappedBySharedId: ctx.mappedBySharedId,
    storedMedicationRows: counts.storedMedicationRows
  }
}

function recordSkippedRun(
  db: Db,
  format: EhrFormat,
  dir: string,
  fingerprint: string,
  previous: { id: number; report_json: string },
  started: number
): ImportReport {
  const earlier = JSON.parse(previous.report_json) as ImportReport
  const now = new Date().toISOString()
  const info = db
    .prepare(
      `INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, finished_at, status, report_json) VALUES (?, ?, ?, ?, ?, 'skipped-unchanged', '{}')`
    )
    .run(format, dir, fingerprint, now, now)
  const report: ImportReport = {
    ...earlier,
    runId: Number(info.lastInsertRowid),
    sourceDir: dir,
    status: 'skipped-unchanged',
    previousRunId: previous.id,
    durationMs: Math.round(performance.now() - started)
  }
  db.prepare(`UPDATE import_runs SET report_json = ? WHERE id = ?`).run(JSON.stringify(report), report.runId)
  return report
}

/** sha256 over the importer version, then each file's role, name, size and bytes (inputs, then reference tables). */
async function fingerprintInputs(layout: Layout, referenceFiles: string[]): Promise<string> {
  const hash = createHash('sha256')
  hash.update(`medrec-importer ${IMPORTER_VERSION} ${layout.format}\n`)
  const files = [
    ...Object.values(layout.files).map((f) => ({ label: `${f.role}:${basename(f.path)}`, path: f.path })),
    ...referenceFiles.map((path) => ({ label: `reference:${basename(path)}`, path }))
  ]
  for (const file of files) {
    hash.update(`${file.label}\n`)
    let size = 0
    for await (const chunk of createReadStream(file.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      size += chunk.length
      hash.update(chunk)
    }
    hash.update(`\n${size}\n`)
  }
  return hash.digest('hex')
}
