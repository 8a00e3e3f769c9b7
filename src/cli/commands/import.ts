import type { ImportPlan, ImportProgress, ImportReport } from '../../shared/domain/imports'
import type { EhrFormat } from '../../shared/domain/patient'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase } from '../../main/services/db/database'
import { EHR_FORMATS, importDataset } from '../../main/services/imports'
import { DatabaseBusyError } from '../../main/services/db/busy'
import { DEFAULT_MAX_REJECTED_SHARE, ImportRefusedError } from '../../main/services/imports/safety'
import { formatAges, formatPlan } from './import-plan'
import { defaultDatabasePath } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec import --format mimic-iv|mimic-iii|eicu|fhir <dir> [options]

Imports an EHR export into the patient database: patients, visits in time order, diagnoses,
procedures and medications mapped to ATC. The import is one transaction: if it fails, the
database is left exactly as it was. Importing unchanged files again is recorded and skipped.
An import never removes or alters stored rows unless asked: one that would (changed files, a
file cut short or with only its header) is refused with what it would change (exit 3); review
it with --dry-run and apply it with --replace. A visit id stored for another patient is
rejected, never moved. Progress goes to stderr, the report to stdout.

Exit codes: 0 imported (or unchanged, or dry run), 1 bad input (nothing written), 2 usage,
3 refused: it would remove or alter stored rows (nothing written), 75 the database is busy
(retry later; nothing written).

  <dir>  MIMIC-IV: the folder holding hosp/ (or hosp/ itself) with admissions.csv.gz,
         patients, diagnoses_icd, procedures_icd, prescriptions, d_icd_diagnoses, d_icd_procedures.
         MIMIC-III: the folder with ADMISSIONS, PATIENTS, DIAGNOSES_ICD, PROCEDURES_ICD,
         PRESCRIPTIONS, D_ICD_DIAGNOSES, D_ICD_PROCEDURES (.csv or .csv.gz).
         eICU: the folder with patient, diagnosis, treatment, medication (.csv.gz).
         FHIR R4: a folder (searched recursively) or one file: transaction/collection bundles
         (.json, .json.gz) and Bulk Data NDJSON (.ndjson, .ndjson.gz). See docs/ehr-integration.md.

Options:
  --format <f>       mimic-iv, mimic-iii, eicu or fhir (required)
  --db <path>        ${DEFAULT_DB_HELP}
  --data-dir <path>  open data folder with knowledge/mappings and knowledge/atc
                     (default: $MEDREC_DATA_DIR or ../shared/data)
  --force            import even if the same files were imported before
  --dry-run          check everything and print what the import would change; write nothing
  --replace          allow the import to remove or alter stored rows (prints the plan first)
  --max-rejected <f> largest share of a file's rows that may be rejected (default ${DEFAULT_MAX_REJECTED_SHARE}, i.e. 1%);
                     above it the import fails and writes nothing
  --encoding <e>     text encoding of the files: utf-8 (default; other bytes are an error) or latin1
  --json             print the report as JSON`

const percent = (part: number, whole: number): string => (whole === 0 ? '0.0%' : `${((100 * part) / whole).toFixed(1)}%`)

export function formatImportReport(report: ImportReport): string {
  const lines: string[] = []
  if (report.status === 'dry-run') lines.push(`Dry run of ${report.format} from ${report.sourceDir}: nothing was written. It would import:`)
  else if (report.status === 'skipped-unchanged') {
    lines.push(
      `Skipped: these ${report.format} files were already imported (run ${report.previousRunId ?? '?'}); nothing changed. ` +
        'Use --force to import them again. Counts of that run:'
    )
  } else lines.push(`Imported ${report.format} from ${report.sourceDir} in ${(report.durationMs / 1000).toFixed(1)} s (run ${report.runId}).`)
  const meds = report.medicationRows
  lines.push(
    `  patients       ${report.patients}`,
    `  visits         ${report.visits}`,
    `  diagnoses      ${report.diagnosisCodes}`,
    `  procedures     ${report.procedureCodes}`,
    `  medications    ${meds} rows: ${report.mappedDrugs} mapped to ATC (${percent(report.mappedDrugs, meds)}), ${report.unmappedDrugs} unmapped (kept by name)`,
    `    by GSN ${report.mappedBy.gsn} (${percent(report.mappedBy.gsn, meds)}), by NDC ${report.mappedBy.ndc} (${percent(report.mappedBy.ndc, meds)}), ` +
      `by name ${report.mappedBy.name} (${percent(report.mappedBy.name, meds)})` +
      (report.mappedBySharedId ? `, of which ${report.mappedBySharedId} through a shared HICL number` : '')
  )
  const r = report.drugResolution
  if (r) {
    lines.push(
      `    drug resolver: ${r.resolved} resolved (${r.combination} combination products, one stored row per ingredient), ` +
        `${r.nonDrug} non-drug (containers, carriers), ${r.ambiguous} ambiguous, ${r.unresolved} unresolved` +
        (r.noName ? ` (${r.noName} of them without a name, mapped through a shared HICL where its named rows agree)` : '')
    )
  }
  const t = report.titleConflicts
  if (t && t.kept + t.replaced > 0) {
    lines.push(`  code titles: ${t.kept} differing title(s) kept (offered one not better), ${t.replaced} replaced by a better one`)
    for (const c of t.samples.slice(0, 5)) lines.push(`    ${c.code}: kept "${c.kept}", not "${c.offered}"`)
  }
  lines.push(...formatAges(report.ages, report.visits))
  if (report.codesWithoutTitle) lines.push(`  ${report.codesWithoutTitle} distinct code(s) have no title in the dictionaries (kept)`)
  for (const [reason, count] of Object.entries(report.skippedRows ?? {})) lines.push(`  skipped ${count}: ${reason}`)
  lines.push(`  rejected rows  ${report.rejectedRows}`)
  for (const row of report.rejectedSamples.slice(0, 20)) lines.push(`    ${row.file} line ${row.line}: ${row.reason}`)
  if (report.rejectedRows > 20) lines.push(`    … ${report.rejectedRows - Math.min(20, report.rejectedSamples.length)} more (--json lists the first ${report.rejectedSamples.length})`)
  if (report.warnings) {
    lines.push(`  warnings       ${report.warnings}`)
    for (const row of (report.warningSamples ?? []).slice(0, 5)) lines.push(`    ${row.file} line ${row.line}: ${row.reason}`)
  }
  if (report.plan) lines.push(...formatPlan(report.plan))
  return lines.join('\n')
}

/** One progress line on stderr, rewritten in place on a terminal; in a log, one line per phase and at most one every 2 s within it. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (p: ImportProgress) => void {
  let last = 0
  let lastStep = ''
  return (p) => {
    const now = performance.now()
    const step = `${p.phase}\t${p.file ?? ''}`
    if (!stream.isTTY && step === lastStep && now - last < 2000) return
    last = now
    lastStep = step
    const fraction = p.fraction === null ? '' : ` ${(p.fraction * 100).toFixed(0)}%`
    const text = `${p.phase}${p.file ? ` ${p.file}` : ''}${p.rowsRead ? ` · ${p.rowsRead.toLocaleString('en-US')} rows` : ''}${fraction}`
    if (stream.isTTY) stream.write(`\r\x1b[K${text}`)
    else stream.write(`${text}\n`)
  }
}

/** The import would remove or alter stored rows and --replace was not given. */
export const EXIT_REFUSED = 3
/** The database was busy (another writer); nothing was written and trying again can succeed (EX_TEMPFAIL). */
export const EXIT_BUSY = 75

export const command: CliCommand = {
  name: 'import',
  summary: 'import a MIMIC-IV, MIMIC-III or eICU export into the patient database',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        db: { type: 'string' },
        'data-dir': { type: 'string' },
        force: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        replace: { type: 'boolean', default: false },
        'max-rejected': { type: 'string' },
        encoding: { type: 'string' },
        json: { type: 'boolean', default: false }
      }
    })
    const maxRejected = values['max-rejected'] === undefined ? undefined : Number(values['max-rejected'])
    if (maxRejected !== undefined && !(maxRejected >= 0 && maxRejected <= 1))
      throw new UsageError(`--max-rejected "${values['max-rejected']}" must be a share between 0 and 1 (e.g. 0.05 for 5%).`)
    if (values['dry-run'] && values.replace) throw new UsageError('--dry-run and --replace exclude each other: run the dry run first.')
    const format = values.format as EhrFormat | undefined
    if (!format) throw new UsageError('--format is required (mimic-iv, mimic-iii, eicu or fhir).')
    if (format === 'fhir') {
      if (positionals.length !== 1) throw new UsageError('name one FHIR folder or file to import.')
      if (values.encoding !== undefined && !/^utf-?8$/i.test(values.encoding)) throw new UsageError(`--encoding "${values.encoding}": FHIR JSON is always UTF-8.`)
    } else {
      if (!EHR_FORMATS.includes(format)) throw new UsageError(`--format "${format}" is not one of ${EHR_FORMATS.join(', ')}.`)
      if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name the folder to import.' : `expected one folder, got ${positionals.length}.`)
    }
    const dbPath = resolve(values.db ?? defaultDatabasePath())
    const db = openDatabase(dbPath)
    const printPlan = (plan: ImportPlan): void => {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
      process.stderr.write(`Replacing stored rows as asked (--replace):\n${formatPlan(plan).join('\n')}\n`)
    }
    try {
      if (format === 'fhir') {
        // The FHIR importer has the same safety options as the CSV formats (staged, refused unless --replace).
        return await (await import('./fhir-import')).runFhirImport(db, {
          input: positionals[0]!,
          dataDir: values['data-dir'],
          force: values.force || values['dry-run'],
          dryRun: values['dry-run'],
          replace: values.replace,
          maxRejectedShare: maxRejected,
          onPlan: printPlan,
          json: values.json,
          dbPath
        })
      }
      const progress = progressPrinter()
      const report = await importDataset(db, {
        format,
        dir: positionals[0]!,
        dataDir: values['data-dir'],
        force: values.force || values['dry-run'],
        dryRun: values['dry-run'],
        replace: values.replace,
        maxRejectedShare: maxRejected,
        encoding: values.encoding,
        onProgress: progress,
        onPlan: printPlan
      })
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
      console.log(values.json ? JSON.stringify(report, null, 2) : `${formatImportReport(report)}\n  database       ${dbPath}`)
      return 0
    } catch (error) {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
      if (error instanceof ImportRefusedError) {
        console.error(`medrec import: refused. ${error.message}\n${formatPlan(error.plan).join('\n')}`)
        return EXIT_REFUSED
      }
      if (error instanceof DatabaseBusyError) {
        console.error(`medrec import: ${error.message}`)
        return EXIT_BUSY
      }
      throw error
    } finally {
      db.close()
    }
  }
}
