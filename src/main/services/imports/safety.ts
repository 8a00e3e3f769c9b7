// What an import may do to rows already stored, decided inside the import's transaction before it
// commits: the import store copies each stored visit's rows aside before it replaces them
// (temp.import_prior_*), and planChanges() compares them with what the import wrote. An import that
// would remove or alter stored rows is refused unless the caller asked for a replacement, and a dry
// run shows the same plan without writing anything.
import type { ImportPlan, ImportTableChange } from '../../../shared/types'
import type { Db } from '../db/database'
import { ImportError } from '../importers/errors'
import type { RowLog } from '../importers/context'

export type { ImportPlan, ImportTableChange }

/** An import whose rejected rows exceed this share of a file's rows fails (`--max-rejected`). */
export const DEFAULT_MAX_REJECTED_SHARE = 0.01

export const PLAN_TABLES = ['patients', 'visits', 'diagnoses', 'procedures', 'medications'] as const
type PlanTable = (typeof PLAN_TABLES)[number]

/** The columns that make a child row what it is (a row whose values change counts as removed + added). */
const CHILD_COLUMNS: Record<'diagnoses' | 'procedures' | 'medications', string> = {
  diagnoses: 'visit_id, seq, code_system, code',
  procedures: 'visit_id, seq, code_system, code',
  medications: 'visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time, order_count'
}

/** The import would remove or alter stored rows and was not asked to replace them: nothing was written. */
export class ImportRefusedError extends ImportError {
  override name = 'ImportRefusedError'

  constructor(readonly plan: ImportPlan) {
    super(refusalMessage(plan))
  }
}

/** Creates (or empties) the temporary tables that keep the stored rows an import replaces. */
export function preparePriorTables(db: Db): void {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_prior_patients AS SELECT id, sex FROM patients WHERE 0`)
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_prior_visits AS
    SELECT id, patient_id, admit_time, discharge_time, sort_key, order_label FROM visits WHERE 0`)
  for (const [table, columns] of Object.entries(CHILD_COLUMNS)) {
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_prior_${table} AS SELECT ${columns} FROM ${table} WHERE 0`)
  }
  for (const table of PLAN_TABLES) db.exec(`DELETE FROM temp.import_prior_${table}`)
}

export function dropPriorTables(db: Db): void {
  for (const table of PLAN_TABLES) db.exec(`DROP TABLE IF EXISTS temp.import_prior_${table}`)
}

/** Statements that copy a stored visit (or a patient whose sex changes) aside before it is replaced. */
export function priorCopier(db: Db): { visit: (visitId: number) => void; patient: (patientId: number) => void } {
  const visit = db.prepare(
    `INSERT INTO temp.import_prior_visits SELECT id, patient_id, admit_time, discharge_time, sort_key, order_label FROM visits WHERE id = ?`
  )
  const children = Object.entries(CHILD_COLUMNS).map(([table, columns]) =>
    db.prepare(`INSERT INTO temp.import_prior_${table} SELECT ${columns} FROM ${table} WHERE visit_id = ?`)
  )
  const patient = db.prepare(`INSERT INTO temp.import_prior_patients SELECT id, sex FROM patients WHERE id = ?`)
  return {
    visit: (visitId) => {
      visit.run(visitId)
      for (const statement of children) statement.run(visitId)
    },
    patient: (patientId) => void patient.run(patientId)
  }
}

export function countRows(db: Db): Record<PlanTable, number> {
  const counts = {} as Record<PlanTable, number>
  for (const table of PLAN_TABLES) counts[table] = db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number
  return counts
}

/** Compares the rows copied aside with what the import left in their place (call after the last write). */
export function planChanges(db: Db, before: Record<PlanTable, number>): ImportPlan {
  const after = countRows(db)
  const removed = {} as Record<PlanTable, number>
  const changed = {} as Record<PlanTable, number>
  const affected = new Set<number>()
  const ids = (sql: string): number[] => db.prepare(sql).pluck().all() as number[]

  for (const [table, columns] of Object.entries(CHILD_COLUMNS) as Array<[keyof typeof CHILD_COLUMNS, string]>) {
    const gone = `SELECT ${columns} FROM temp.import_prior_${table}
      EXCEPT SELECT ${columns} FROM ${table} WHERE visit_id IN (SELECT id FROM temp.import_prior_visits)`
    removed[table] = db.prepare(`SELECT count(*) FROM (${gone})`).pluck().get() as number
    changed[table] = 0
    for (const id of ids(`SELECT DISTINCT v.patient_id FROM (${gone}) g JOIN temp.import_prior_visits v ON v.id = g.visit_id`)) affected.add(id)
  }
  // Visits are never removed by an import; one whose times or label change counts as changed.
  const changedVisits = `SELECT p.id, p.patient_id FROM temp.import_prior_visits p JOIN visits v ON v.id = p.id
    WHERE v.patient_id IS NOT p.patient_id OR v.admit_time IS NOT p.admit_time OR v.discharge_time IS NOT p.discharge_time
       OR v.sort_key IS NOT p.sort_key OR v.order_label IS NOT p.order_label`
  removed.visits = 0
  changed.visits = db.prepare(`SELECT count(*) FROM (${changedVisits})`).pluck().get() as number
  for (const id of ids(`SELECT DISTINCT patient_id FROM (${changedVisits})`)) affected.add(id)
  const changedPatients = `SELECT p.id FROM temp.import_prior_patients p JOIN patients s ON s.id = p.id WHERE s.sex IS NOT p.sex`
  removed.patients = 0
  changed.patients = db.prepare(`SELECT count(*) FROM (${changedPatients})`).pluck().get() as number
  for (const id of ids(changedPatients)) affected.add(id)

  const tables = {} as Record<PlanTable, ImportTableChange>
  for (const table of PLAN_TABLES) {
    tables[table] = { before: before[table], after: after[table], added: after[table] - before[table] + removed[table], removed: removed[table], changed: changed[table] }
  }
  const destructive = PLAN_TABLES.some((t) => tables[t].removed > 0 || tables[t].changed > 0)
  return { tables, patientsAffected: affected.size, storedPatients: before.patients, destructive }
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
