// The EHR import service, used by the app and the `medrec import` CLI alike.
//
// Semantics (what a caller can rely on):
// - Validate first: every file of the layout is located and its header checked, and the reference
//   tables are loaded, before anything is written. A missing file, a wrong layout (e.g. the eICU
//   folder given as MIMIC-IV) or a missing column is an ImportError naming the file.
// - All or nothing: the import is written to a staging file and applied to the database in one
//   short SQLite transaction (imports/staging.ts). A file-level problem found while reading (a
//   truncated gzip, invalid UTF-8) or a crash leaves the store exactly as before, and re-running the
//   import completes it cleanly ("resumable" without manual cleanup). Readers and the app's own
//   writes (audit rows) are never blocked while the files are read.
// - Row-level problems (wrong column count, unparseable date, a diagnosis of an unknown admission,
//   an invalid code) reject that row; the report counts them and lists the first ones with file,
//   line and reason.
// - Idempotent: import_runs keeps a fingerprint (sha256) of the input files, the reference tables
//   and the importer version; an unchanged re-import is recorded and reported as 'skipped-unchanged'
//   and writes nothing else. Changed files re-import as upserts: patients and visits keep their ids
//   and each imported visit's codes and medications are replaced wholesale, so importing the same
//   content again (force) leaves the same content. Visits absent from the new files are kept.
// - Never silently destructive (imports/safety.ts): an import that would remove or alter stored rows
//   is refused (ImportRefusedError, nothing written) unless `replace` is set; `dryRun` returns the
//   plan (counts per table, patients affected) and writes nothing. A visit id stored for another
//   patient is rejected, never moved. A file whose rejected share is above `maxRejectedShare` (1%)
//   fails the import. Bytes that are not UTF-8 stop the import unless an `encoding` is declared, and
//   a date valid only with month and day swapped stops it too (the file's other dates are suspect).
import type { ImportProgress, ImportReport, ImportPlan } from '../../../shared/domain/imports'
import type { EhrFormat } from '../../../shared/domain/patient'
import { basename, resolve } from 'node:path'
import type { Db } from '../db/database'
import { dataDir as defaultDataDir, defaultKnowledgeBasePath } from '../paths'
import { existsSync } from 'node:fs'
import { createDrugResolver, curatedNamesPath, rxnormTablePath } from '../drugs/load'
import { ResolverDrugMapper } from '../drugs/import-mapping'
import { applyOverrides, listOverrides } from '../drugs/overrides'
import { loadReferenceData } from '../drugs/reference-data'
import { DEFAULT_MAX_REJECTED_SHARE, ImportRefusedError, rejectedShareError } from './safety'
import { ImportStaging } from './staging'
import { MappingTally, ProgressTracker, RowLog, type ImportContext } from './context'
import { importEicu } from './eicu'
import { ImportError } from './errors'
import { fingerprintFiles } from './fingerprint'
import { resolveLayout, type Layout } from './layout'
import { importMimic } from './mimic'
import { ImportStore } from './store'

/**
 * Bump when the importer's output for the same input changes, so unchanged files re-import.
 * 2: every source row of a drug in a visit folds into one medications row (1 folded only consecutive rows).
 * 3: drugs map through the one drug resolver (services/drugs): one row per ingredient of a combination,
 *    route-appropriate codes, containers/carriers left unmapped; titles are never replaced by worse ones.
 * 4: visits carry the age at admission (MIMIC-IV anchor_age/anchor_year, MIMIC-III DOB, eICU age), so a
 *    database imported before gains ages from the same files.
 */
export const IMPORTER_VERSION = 4

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
  /** Allow the import to remove or alter stored rows (otherwise such an import is refused). */
  replace?: boolean
  /** Run every check and compute the plan, then roll back: the report has status 'dry-run' and the plan. */
  dryRun?: boolean
  /** Largest share of a file's rows that may be rejected (default 0.01). */
  maxRejectedShare?: number
  /** Text encoding of the files: 'utf-8' (default, checked) or e.g. 'latin1'. */
  encoding?: string
  /** Longest field accepted; a longer one rejects its row (default MAX_FIELD_CHARS). */
  maxFieldChars?: number
  /** Called with the plan just before a replacing import commits (the CLI prints it). */
  onPlan?: (plan: ImportPlan) => void
}

export async function importDataset(db: Db, options: ImportOptions): Promise<ImportReport> {
  if (options.format === 'fhir') throw new ImportError('FHIR exports have their own importer (importFhir in imports/fhir).')
  const started = performance.now()
  const dir = resolve(options.dir)
  const dataDir = resolve(options.dataDir ?? defaultDataDir())
  const progress = new ProgressTracker(0, options.onProgress)
  progress.phase('Checking files', null)
  const layout = await resolveLayout(options.format, dir)
  const reference = await loadReferenceData(dataDir)
  const kbPath = defaultKnowledgeBasePath()
  const resolver = createDrugResolver({ dataDir, kbPath: existsSync(kbPath) ? kbPath : null })
  applyOverrides(resolver, db)
  progress.phase('Fingerprinting inputs', null)
  const encoding = options.encoding ?? 'utf-8'
  // The resolver's curated names and the database's overrides decide the mapping too: a change re-imports.
  const overrides = JSON.stringify(listOverrides(db).map((o) => [o.rawKey, o.target]))
  const fingerprint = await fingerprintInputs(layout, [...reference.files, curatedNamesPath(), rxnormTablePath()], encoding, overrides)
  const maxRejectedShare = options.maxRejectedShare ?? DEFAULT_MAX_REJECTED_SHARE
  if (!(maxRejectedShare >= 0 && maxRejectedShare <= 1)) throw new ImportError(`maxRejectedShare must be between 0 and 1, got ${maxRejectedShare}.`)

  const previous = db
    .prepare(`SELECT id, report_json FROM import_runs WHERE format = ? AND input_fingerprint = ? AND status = 'completed' ORDER BY id DESC LIMIT 1`)
    .get(options.format, fingerprint) as { id: number; report_json: string } | undefined
  if (previous && !options.force) {
    if (options.dryRun) return { ...(JSON.parse(previous.report_json) as ImportReport), status: 'skipped-unchanged', previousRunId: previous.id }
    return recordSkippedRun(db, options.format, dir, fingerprint, previous, started)
  }

  if (db.inTransaction) throw new ImportError('Another write is in progress on this database connection; run the import on its own connection.')
  const totalBytes = Object.values(layout.files).reduce((sum, f) => sum + f.size, 0)
  const log = new RowLog()
  const tracker = new ProgressTracker(totalBytes, options.onProgress, {
    options: { encoding, maxFieldChars: options.maxFieldChars },
    log
  })
  const startedAt = new Date().toISOString()
  // Everything is written to a staging file first; the live database is locked only by apply()
  // (imports/staging.ts says why). The staging connection takes the bulk-load settings: a bigger page
  // cache keeps the indexes being appended to in memory (bounded: 128 MB).
  const staging = ImportStaging.open(db, options.format)
  const stage = staging.db
  stage.pragma('cache_size = -131072')
  try {
    stage.exec('BEGIN')
    const runId = Number(
      stage
        .prepare(
          `INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES (?, ?, ?, ?, 'completed', '{}')`
        )
        .run(options.format, dir, fingerprint, startedAt).lastInsertRowid
    )
    const ctx: ImportContext = {
      db: stage,
      runId,
      layout,
      store: new ImportStore(stage, options.format, runId),
      mapper: new ResolverDrugMapper(resolver),
      log,
      tally: new MappingTally(),
      progress: tracker,
      mappedBySharedId: 0
    }
    tracker.phase('Writing ATC names', null)
    ctx.store.atcNames(reference.atcNames)
    if (options.format === 'eicu') await importEicu(ctx)
    else await importMimic(ctx, options.format)
    tracker.phase('Finishing', null)
    const report = buildReport(ctx, layout, fingerprint, started)
    ctx.store.finish()
    const tooManyRejected = rejectedShareError(log, maxRejectedShare)
    if (tooManyRejected) throw tooManyRejected
    stage.exec('COMMIT')
    tracker.phase('Planning', null)
    const plan = staging.plan(runId)
    report.plan = plan
    if (options.dryRun) return { ...report, status: 'dry-run', runId: 0 }
    if (plan.destructive && !options.replace) throw new ImportRefusedError(plan)
    if (plan.destructive) options.onPlan?.(plan)
    stage.prepare(`UPDATE import_runs SET finished_at = ?, report_json = ? WHERE id = ?`).run(new Date().toISOString(), JSON.stringify(report), runId)
    tracker.phase('Applying', null)
    staging.apply(runId)
    return report
  } finally {
    staging.close()
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
    storedMedicationRows: counts.storedMedicationRows,
    drugResolution: ctx.tally.resolution,
    ages: ctx.store.ages,
    titleConflicts: ctx.store.titleConflicts
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
async function fingerprintInputs(layout: Layout, referenceFiles: string[], encoding: string, overrides = ''): Promise<string> {
  // The encoding changes what the same bytes import as; UTF-8 keeps the fingerprints of earlier runs.
  const header = `medrec-importer ${IMPORTER_VERSION} ${layout.format}${/^utf-?8$/i.test(encoding) ? '' : ` ${encoding.toLowerCase()}`}`
  const files = Object.values(layout.files).map((f) => ({ label: `${f.role}:${basename(f.path)}`, path: f.path }))
  return fingerprintFiles(header, files, referenceFiles, overrides)
}
