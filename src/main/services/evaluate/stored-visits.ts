// Reads the patient store in batches of patients (bounded memory: one batch of patients' codes at a
// time), every patient's visits in the order training and recommendation use (sort_key, then id), with
// codes read exactly as services/recommend/patient-input.ts and training/medrec_training/datasets.py
// read them.
import type { Db } from '../db/database'
import type { CodeRef, VisitCodes } from '../inference/encode'
import type { PatientDrugRow } from '../recommend/drug-choice'
import { atc3Of } from '../recommend/patient-input'

export interface StoredVisit {
  id: number
  sourceVisitId: string
  /**
   * When the visit began, as far as the source says: admit_time (ISO), or for a source that only gives the
   * year in its sort key (eICU) that year's first day; null when unknown.
   */
  startsOn: string | null
  /** Age in whole years when the visit began (90: "90 or older"); null when the store has none. */
  ageAtAdmission: number | null
  codes: VisitCodes
  medicationRows: number
  /** Medication rows without an ATC3 class. */
  unmappedMedicationRows: number
  /** Medication rows per ATC3 class (for the share of drugs outside a model's vocabulary). */
  rowsByClass: Map<string, number>
  /** Medication rows as the recommendation's drug choice reads them (recommend/drug-choice.ts), in row order. */
  drugRows: PatientDrugRow[]
}

export interface StoredPatient {
  id: number
  sourcePatientId: string
  source: string
  sex: string | null
  /** Oldest first. */
  visits: StoredVisit[]
}

/**
 * The model input for the visit at `position`: that patient's strictly earlier visits (by sort_key, id) as
 * history and the visit's own diagnoses and procedures. Nothing from a later visit, and not the visit's
 * own medications (they are what is predicted), goes in.
 */
export function inputUpTo(patient: StoredPatient, position: number): VisitCodes[] {
  const current = patient.visits[position]
  if (!current) throw new RangeError(`Patient ${patient.id} has no visit at position ${position}.`)
  const history = patient.visits.slice(0, position).map((v) => v.codes)
  return [...history, { diagnoses: current.codes.diagnoses, procedures: current.codes.procedures, medications: [] }]
}

interface CodeRow {
  visit_id: number
  code_system: string
  code: string
}

function startOf(admitTime: string | null, sortKey: string): string | null {
  if (admitTime) return admitTime
  // eICU's sort key begins with the discharge year ("2014|..."): the earliest the visit can have begun in.
  const year = /^(\d{4})\|/.exec(sortKey)?.[1]
  return year ? `${year}-01-01` : null
}

/** Patients in id order, `batchSize` at a time, each with all its visits and codes. */
export function* patientBatches(db: Db, batchSize = 256): Generator<StoredPatient[]> {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`)
  const nextPatients = db.prepare('SELECT id, source, source_patient_id, sex FROM patients WHERE id > ? ORDER BY id LIMIT ?')
  const visits = db.prepare(
    'SELECT id, patient_id, source_visit_id, admit_time, sort_key, age_at_admission FROM visits WHERE patient_id BETWEEN ? AND ? ORDER BY patient_id, sort_key, id'
  )
  const codes = (table: 'diagnoses' | 'procedures') =>
    db.prepare(
      `SELECT c.visit_id, c.code_system, c.code FROM visits v JOIN ${table} c ON c.visit_id = v.id
       WHERE v.patient_id BETWEEN ? AND ? ORDER BY c.visit_id, c.seq, c.code`
    )
  const diagnoses = codes('diagnoses')
  const procedures = codes('procedures')
  const medications = db.prepare(
    `SELECT m.visit_id, m.atc3, m.atc5, upper(trim(m.atc5)) AS drug FROM visits v JOIN medications m ON m.visit_id = v.id
     WHERE v.patient_id BETWEEN ? AND ? ORDER BY m.visit_id, m.id`
  )
  let after = -Infinity
  for (;;) {
    const patientRows = nextPatients.all(after, batchSize) as Array<{ id: number; source: string; source_patient_id: string; sex: string | null }>
    if (patientRows.length === 0) return
    const first = patientRows[0]!.id
    const last = patientRows.at(-1)!.id
    after = last
    const byVisit = <T extends { visit_id: number }>(rows: T[]): Map<number, T[]> => {
      const map = new Map<number, T[]>()
      for (const row of rows) {
        const list = map.get(row.visit_id)
        if (list) list.push(row)
        else map.set(row.visit_id, [row])
      }
      return map
    }
    const diagnosisRows = byVisit(diagnoses.all(first, last) as CodeRow[])
    const procedureRows = byVisit(procedures.all(first, last) as CodeRow[])
    const medicationRows = byVisit(medications.all(first, last) as Array<{ visit_id: number; atc3: string | null; atc5: string | null; drug: string | null }>)
    const patients = new Map<number, StoredPatient>()
    for (const row of patientRows) {
      patients.set(row.id, { id: row.id, sourcePatientId: row.source_patient_id, source: row.source, sex: row.sex, visits: [] })
    }
    const refs = (rows: CodeRow[] | undefined): CodeRef[] => (rows ?? []).map((r) => ({ system: r.code_system, code: r.code }))
    for (const v of visits.all(first, last) as Array<{
      id: number
      patient_id: number
      source_visit_id: string
      admit_time: string | null
      sort_key: string
      age_at_admission: number | null
    }>) {
      const classes = new Set<string>()
      const rowsByClass = new Map<string, number>()
      let unmapped = 0
      const meds = medicationRows.get(v.id) ?? []
      for (const m of meds) {
        const atc3 = atc3Of(m)
        if (!atc3) {
          unmapped++
          continue
        }
        classes.add(atc3)
        rowsByClass.set(atc3, (rowsByClass.get(atc3) ?? 0) + 1)
      }
      patients.get(v.patient_id)?.visits.push({
        id: v.id,
        sourceVisitId: v.source_visit_id,
        startsOn: startOf(v.admit_time, v.sort_key),
        ageAtAdmission: v.age_at_admission,
        codes: { diagnoses: refs(diagnosisRows.get(v.id)), procedures: refs(procedureRows.get(v.id)), medications: [...classes].sort() },
        medicationRows: meds.length,
        unmappedMedicationRows: unmapped,
        rowsByClass,
        drugRows: meds.map((m) => ({ visit_id: v.id, atc3: m.atc3, atc5: m.drug, name: null }))
      })
    }
    yield [...patients.values()]
  }
}

/** Patients in the store (for progress). */
export function countPatients(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n
}
