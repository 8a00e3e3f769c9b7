// `medrec import --format fhir`: the FHIR importer's run and report (import.ts handles the CSV formats).
import type { FhirImportReport } from '../../shared/domain/imports'
import type { ImportPlan } from '../../shared/domain/imports'
import type { Db } from '../../main/services/db/database'
import { importFhir } from '../../main/services/imports/fhir'
import { formatAges, formatPlan } from './import-plan'

const percent = (part: number, whole: number): string => (whole === 0 ? '0.0%' : `${((100 * part) / whole).toFixed(1)}%`)
const tally = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([name, n]) => `${name} ${n}`)
    .join(', ')

export function formatFhirReport(report: FhirImportReport): string {
  const lines: string[] = []
  if (report.status === 'dry-run') lines.push(`Dry run of FHIR R4 from ${report.source}: nothing was written. It would import:`)
  else if (report.status === 'skipped-unchanged')
    lines.push(`Skipped: these FHIR files were already imported (run ${report.previousRunId ?? '?'}); nothing changed. Use --force to import them again. Counts of that run:`)
  else lines.push(`Imported FHIR R4 from ${report.source} in ${(report.durationMs / 1000).toFixed(1)} s (run ${report.runId}).`)
  const meds = report.medicationResources
  lines.push(
    `  files          ${report.files.bundles} bundle(s), ${report.files.ndjson} NDJSON file(s)`,
    `  patients       ${report.patients}`,
    `  visits         ${report.visits} (encounters)`,
    `  diagnoses      ${report.diagnosisCodes} (conditions)`,
    `  procedures     ${report.procedureCodes}`,
    `  medications    ${meds} resources (${report.storedMedicationRows} rows after folding repeats): ${report.mappedDrugs} mapped to ATC (${percent(report.mappedDrugs, meds)}), ${report.unmappedDrugs} unmapped (kept by name)`,
    `  allergies      ${report.allergies}`,
    `  skipped types  ${tally(report.skippedTypes) || 'none'}`
  )
  lines.push(...formatAges(report.ages, report.visits))
  for (const [reason, count] of Object.entries(report.skipped)) lines.push(`  skipped ${count}: ${reason}`)
  lines.push(`  rejected       ${report.rejected}`)
  for (const r of report.rejectedSamples.slice(0, 20))
    lines.push(`    ${r.file} ${r.line !== null ? `line ${r.line}` : `entry ${r.entry}`}${r.resource ? ` (${r.resource})` : ''}: ${r.reason}`)
  if (report.rejected > 20) lines.push(`    … ${report.rejected - 20} more (--json lists the first ${report.rejectedSamples.length})`)
  if (report.plan) lines.push(...formatPlan(report.plan))
  return lines.join('\n')
}

export async function runFhirImport(
  db: Db,
  options: { input: string; dataDir?: string; force: boolean; dryRun?: boolean; replace?: boolean; maxRejectedShare?: number; onPlan?: (plan: ImportPlan) => void; json: boolean; dbPath: string }
): Promise<number> {
  const report = await importFhir(db, {
    input: options.input,
    dataDir: options.dataDir,
    force: options.force,
    dryRun: options.dryRun,
    replace: options.replace,
    maxRejectedShare: options.maxRejectedShare,
    onPlan: options.onPlan,
    onProgress: (p) => process.stderr.write(`Reading ${p.file}${p.resources ? ` · ${p.resources.toLocaleString('en-US')} resources` : ''}\n`)
  })
  console.log(options.json ? JSON.stringify(report, null, 2) : `${formatFhirReport(report)}\n  database       ${options.dbPath}`)
  return 0
}
