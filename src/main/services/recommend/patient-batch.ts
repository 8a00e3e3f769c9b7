// Many patients' model inputs read in bulk: one query per table for the whole batch (patients, visits,
// diagnoses, procedures, medications), instead of five queries per patient. Rows are grouped in one pass
// and assembled exactly as loadPatientInput (patient-input.ts) assembles one patient's input from the
// stored visits (the last stored visit is the current one); a test checks the two agree on every demo
// patient. Titles are joined only when asked (NLA-MMR's cold start reads them; other models never do).
import type { Db } from '../db/database'
import type { CodeRef, VisitCodes } from '../inference/encode'
import { atc3Of, groupRowsByVisit, type PatientModelInput, type StoredMedication, titleKey } from './patient-input'
import { perConnection } from '../db/statements'

export interface PatientBatchRead {
  /** Inputs of the patients found with at least one visit, in the order asked. */
  inputs: PatientModelInput[]
  /** Patients not scored: unknown id, or no stored visit. */
  missing: Array<{ patient: number; reason: string }>
}

// Rows as arrays (better-sqlite3 raw mode): a batch reads tens of thousands, and an object per row was most
// of the read's allocation.
type VisitRow = [id: number, patientId: number, sourceVisitId: string]
type CodeRow = [visitId: number, system: string, code: string, title: string | null]
/** Without titles a row is [visit_id, atc3, atc5], itself a StoredMedication; with them the class name follows. */
type MedicationRow = StoredMedication | readonly [visitId: number, atc3: string | null, atc5: string | null, name: string | null]

function prepareStatements(db: Db) {
  const ids = 'SELECT value FROM json_each(?)'
  const codes = (table: 'diagnoses' | 'procedures', kind: 'diagnosis' | 'procedure', titles: boolean) =>
    db
      .prepare(
      titles
        ? `SELECT c.visit_id, c.code_system, c.code, t.title
           FROM visits v JOIN ${table} c ON c.visit_id = v.id
           LEFT JOIN code_titles t ON t.kind = '${kind}' AND t.code_system = c.code_system AND t.code = c.code
           WHERE v.patient_id IN (${ids}) ORDER BY c.visit_id, c.seq, c.code`
        : `SELECT c.visit_id, c.code_system, c.code, NULL AS title
           FROM visits v JOIN ${table} c ON c.visit_id = v.id
           WHERE v.patient_id IN (${ids}) ORDER BY c.visit_id, c.seq, c.code`
      )
      .raw()
  return {
    patients: db.prepare(`SELECT id, source_patient_id FROM patients WHERE id IN (${ids})`).raw(),
    visitCounts: db.prepare(`SELECT patient_id, count(*) FROM visits WHERE patient_id IN (${ids}) GROUP BY patient_id`).raw(),
    visits: db.prepare(`SELECT id, patient_id, source_visit_id FROM visits WHERE patient_id IN (${ids}) ORDER BY patient_id, sort_key, id`).raw(),
    diagnoses: codes('diagnoses', 'diagnosis', false),
    procedures: codes('procedures', 'procedure', false),
    titledDiagnoses: codes('diagnoses', 'diagnosis', true),
    titledProcedures: codes('procedures', 'procedure', true),
    medications: db
      .prepare(
      `SELECT m.visit_id, m.atc3, m.atc5
       FROM visits v JOIN medications m ON m.visit_id = v.id
       WHERE v.patient_id IN (${ids}) ORDER BY m.visit_id, m.id`
      )
      .raw(),
    titledMedications: db
      .prepare(
      `SELECT m.visit_id, m.atc3, m.atc5, a.name
       FROM visits v JOIN medications m ON m.visit_id = v.id
       LEFT JOIN atc_names a ON a.code = upper(COALESCE(NULLIF(m.atc3, ''), substr(m.atc5, 1, 4)))
       WHERE v.patient_id IN (${ids}) ORDER BY m.visit_id, m.id`
      )
      .raw()
  }
}

const statements = perConnection(prepareStatements)

/** How many visits each of `patients` has stored (absent: unknown or none), from the visits index alone. */
export function storedVisitCounts(db: Db, patients: readonly number[]): Map<number, number> {
  return new Map(statements(db).visitCounts.all(JSON.stringify(patients)) as Array<[patientId: number, visits: number]>)
}

/** The model inputs of `patients` (the app's ids), each from its stored visits. */
export function loadPatientInputs(db: Db, patients: readonly number[], options: { titles?: boolean } = {}): PatientBatchRead {
  const s = statements(db)
  const withTitles = options.titles ?? false
  const idList = JSON.stringify(patients)
  const sourceIds = new Map(s.patients.all(idList) as Array<[id: number, sourcePatientId: string]>)
  const visitsByPatient = new Map<number, VisitRow[]>()
  for (const row of s.visits.all(idList) as VisitRow[]) {
    const list = visitsByPatient.get(row[1])
    if (list) list.push(row)
    else visitsByPatient.set(row[1], [row])
  }
  const diagnoses = groupRowsByVisit((withTitles ? s.titledDiagnoses : s.diagnoses).all(idList) as CodeRow[])
  const procedures = groupRowsByVisit((withTitles ? s.titledProcedures : s.procedures).all(idList) as CodeRow[])
  const medications = groupRowsByVisit((withTitles ? s.titledMedications : s.medications).all(idList) as MedicationRow[])

  const inputs: PatientModelInput[] = []
  const missing: PatientBatchRead['missing'] = []
  for (const id of patients) {
    const sourcePatientId = sourceIds.get(id)
    if (sourcePatientId === undefined) {
      missing.push({ patient: id, reason: `No patient with id ${id}.` })
      continue
    }
    const visitRows = visitsByPatient.get(id)
    if (!visitRows) {
      missing.push({ patient: id, reason: `Patient ${sourcePatientId} (id ${id}) has no stored visits.` })
      continue
    }
    const titles = new Map<string, string>()
    const toRefs = (rows: CodeRow[] | undefined, kind: 'diagnosis' | 'procedure'): CodeRef[] =>
      (rows ?? []).map(([, system, code, title]) => {
        const ref = { system, code }
        if (title) titles.set(titleKey(kind, ref), title)
        return ref
      })
    let unmappedMedications = 0
    const storedMedications: StoredMedication[] = []
    const visits: VisitCodes[] = visitRows.map(([visitId], i) => {
      const classes = new Set<string>()
      for (const row of medications.get(visitId) ?? []) {
        const [, storedAtc3, atc5] = row
        const name = row.length === 4 ? row[3] : null
        storedMedications.push(row.length === 3 ? row : [visitId, storedAtc3, atc5])
        const atc3 = atc3Of({ atc3: storedAtc3, atc5 })
        if (!atc3) {
          if (i < visitRows.length - 1) unmappedMedications++ // the current visit's medications are not inputs
          continue
        }
        classes.add(atc3)
        if (name) titles.set(titleKey('medication', { system: null, code: atc3 }), name)
      }
      return { diagnoses: toRefs(diagnoses.get(visitId), 'diagnosis'), procedures: toRefs(procedures.get(visitId), 'procedure'), medications: [...classes].sort() }
    })
    const last = visitRows[visitRows.length - 1]!
    inputs.push({
      patient: { id, sourcePatientId },
      visits,
      currentVisit: { from: 'stored', visitId: last[0], sourceVisitId: last[2] },
      storedVisitIds: visitRows.map(([visitId]) => visitId),
      storedMedications,
      unmappedMedications,
      titles
    })
  }
  return { inputs, missing }
}
