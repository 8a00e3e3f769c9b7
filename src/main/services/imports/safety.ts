// What an import may do to rows already stored: the staged import is compared with the live database
// (ImportStaging.plan) before anything is written. An import that would remove or alter stored rows
// is refused unless the caller asked for a replacement, and a dry run shows the same plan without
// writing anything. An import that rejects too many of a file's rows fails.
import type { ImportPlan, ImportTableChange } from '../../../shared/domain/imports'
import { ImportError } from './errors'
import type { RowLog } from './context'

export type { ImportPlan, ImportTableChange }

/** An import whose rejected rows exceed this share of a file's rows fails (`--max-rejected`). */
export const DEFAULT_MAX_REJECTED_SHARE = 0.01

/** The tables a plan counts, in the order it lists them. */
export const PLAN_TABLES = ['patients', 'visits', 'diagnoses', 'procedures', 'medications'] as const

/** The import would remove or alter stored rows and was not asked to replace them: nothing was written. */
export class ImportRefusedError extends ImportError {
  override name = 'ImportRefusedError'

  constructor(readonly plan: ImportPlan) {
    super(refusalMessage(plan))
  }
}

const n = (value: number): string => value.toLocaleString('en-US')

/** "10,160 medications rows removed, 3 visits changed" */
export function describeChanges(plan: ImportPlan): string {
  const parts: string[] = []
  for (const table of PLAN_TABLES) {
    const change = plan.tables[table]
    if (change.removed) parts.push(`remove ${n(change.removed)} ${table} rows`)
    if (change.changed) parts.push(`change ${n(change.changed)} ${table} rows`)
  }
  return parts.join(', ')
}

function refusalMessage(plan: ImportPlan): string {
  return (
    `This import would ${describeChanges(plan)} (affecting ${n(plan.patientsAffected)} of the ${n(plan.storedPatients)} stored patients). ` +
    'Nothing was changed. Check the files (a file cut short or with only its header removes rows); ' +
    'to replace the stored rows, review the plan with --dry-run and import again with --replace.'
  )
}

/**
 * The first file whose rejected rows exceed `maxShare` of its rows, as an error that names it, the
 * counts and the first rejected rows; null when every file is within the limit.
 */
export function rejectedShareError(log: RowLog, maxShare: number): ImportError | null {
  for (const [file, rows] of log.rowsRead) {
    const rejected = log.rejectedByFile.get(file) ?? 0
    if (rows === 0 || rejected / rows <= maxShare) continue
    const examples = log.rejectedSamples.filter((row) => row.file === file).slice(0, 3)
    return new ImportError(
      `${file}: ${n(rejected)} of ${n(rows)} rows rejected (${((100 * rejected) / rows).toFixed(1)}%), above the limit of ` +
        `${+(maxShare * 100).toFixed(4)}% (--max-rejected). Nothing was changed.` +
        (examples.length ? ` First: ${examples.map((row) => `line ${row.line}: ${row.reason}`).join('; ')}.` : ''),
      file
    )
  }
  return null
}
