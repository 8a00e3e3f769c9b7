// The plan of an import (what it changes in stored rows), printed by `medrec import` for CSV and FHIR alike.
import type { AgeCoverage, ImportPlan } from '../../shared/domain/imports'
import { PLAN_TABLES } from '../../main/services/imports/safety'

/** What an import changes in stored rows, one line per table, then the patients affected. */
export function formatPlan(plan: ImportPlan): string[] {
  const n = (value: number): string => value.toLocaleString('en-US')
  const lines = ['  stored rows    table         before      after      added    removed    changed']
  for (const table of PLAN_TABLES) {
    const c = plan.tables[table]
    lines.push(`                 ${table.padEnd(12)} ${[c.before, c.after, c.added, c.removed, c.changed].map((v) => n(v).padStart(10)).join(' ')}`)
  }
  if (plan.agesFilled) lines.push(`  gives ${n(plan.agesFilled)} stored visits the age at the visit they lacked`)
  lines.push(
    plan.destructive
      ? `  REPLACES stored rows of ${n(plan.patientsAffected)} of ${n(plan.storedPatients)} patients (needs --replace)`
      : '  removes or alters no stored row'
  )
  return lines
}

/** How many of an import's visits have an age at the visit (90 = "90 or older"), and why the others have none. */
export function formatAges(ages: AgeCoverage | undefined, visits: number): string[] {
  if (!ages) return []
  const share = visits === 0 ? '0.0%' : `${((100 * ages.known) / visits).toFixed(1)}%`
  return [
    `  age at visit   known for ${ages.known} of ${visits} visits (${share}; ${ages.topCoded} stored as 90+, the sources' top code)`,
    ...Object.entries(ages.unknown).map(([reason, count]) => `    unknown ${count}: ${reason}`)
  ]
}
