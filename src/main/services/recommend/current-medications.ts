// "Already taking": the medications recorded on the patient's latest visit that has any mapped
// medication. In a live deployment that visit's orders are the active medication list; on the demo data
// it is the current (last) visit's recorded drugs.
import type { CurrentMedications } from '../../../shared/domain/patient'
import type { Db } from '../db/database'
import { getPatientSummary } from '../db/patients-repo'
import { atc3Of } from './patient-input'

interface VisitRow {
  id: number
  source_visit_id: string
  admit_time: string | null
  order_label: string
}

interface MedicationRow {
  raw_name: string
  atc5: string | null
  atc3: string | null
  other_id: string | null
  class_name: string | null
}

export function currentMedications(db: Db, patientId: number): CurrentMedications {
  getPatientSummary(db, patientId) // NotFoundError for an unknown patient
  const visit = db
    .prepare(
      `SELECT v.id, v.source_visit_id, v.admit_time, v.order_label FROM visits v
       WHERE v.patient_id = ?
         AND EXISTS (SELECT 1 FROM medications m WHERE m.visit_id = v.id AND (m.atc3 IS NOT NULL OR m.atc5 IS NOT NULL))
       ORDER BY v.sort_key DESC LIMIT 1`
    )
    .get(patientId) as VisitRow | undefined
  if (!visit) return { visit: null, classes: [] }
  const rows = db
    .prepare(
      `SELECT m.raw_name, m.atc5, m.atc3, m.other_id, n.name AS class_name FROM medications m
       LEFT JOIN atc_names n ON n.code = COALESCE(m.atc3, substr(m.atc5, 1, 4))
       WHERE m.visit_id = ? ORDER BY m.id`
    )
    .all(visit.id) as MedicationRow[]
  const classes = new Map<string, CurrentMedications['classes'][number]>()
  for (const row of rows) {
    const atc3 = atc3Of(row)
    if (!atc3) continue
    const entry = classes.get(atc3) ?? { atc3, name: row.class_name, drugs: [] }
    const recordedName = row.raw_name.trim() || `source drug code ${row.other_id ?? '?'}`
    if (!entry.drugs.some((d) => d.atc5 === row.atc5 && d.recordedName === recordedName)) entry.drugs.push({ atc5: row.atc5, recordedName })
    classes.set(atc3, entry)
  }
  return {
    visit: { sourceVisitId: visit.source_visit_id, when: visit.admit_time ?? visit.order_label },
    classes: [...classes.values()].sort((a, b) => a.atc3.localeCompare(b.atc3))
  }
}

/** Inputs for a DDI check of the current list: each distinct ATC5 drug, or the class when none of its rows has an ATC5. */
export function currentMedicationInputs(current: CurrentMedications): string[] {
  const inputs = new Set<string>()
  for (const cls of current.classes) {
    const drugCodes = cls.drugs.map((d) => d.atc5?.trim().toUpperCase()).filter((c): c is string => !!c && c.length === 7)
    if (drugCodes.length === 0) inputs.add(cls.atc3)
    for (const code of drugCodes) inputs.add(code)
  }
  return [...inputs]
}
