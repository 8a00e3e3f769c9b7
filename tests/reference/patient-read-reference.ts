// How a recommendation read its patient before the per-recommendation costs were cut (c088186's
// recommend/patient-input.ts and recommend/drug-choice.ts): five queries with titles and class names joined
// per row, and the patient's drugs read again by a query of their own, in visit time order. Kept only as the
// reference the faster reader is checked against (tests/unit/patient-read-parity.test.ts).
import type { Db } from '../../src/main/services/db/database'
import { type CodeRef, type VisitCodes } from '../../src/main/services/inference/encode'
import { normalizeCode } from '../../src/main/services/inference/vocabulary'
import type { DrugRef, PatientDrugs } from '../../src/main/services/recommend/drug-choice'
import { atc3Of, type CurrentVisitCodes, resolvePatient, titleKey } from '../../src/main/services/recommend/patient-input'

interface CodeRow {
  visit_id: number
  code_system: string
  code: string
  title: string | null
}
interface MedicationRow {
  visit_id: number
  atc3: string | null
  atc5: string | null
  name: string | null
}

function groupByVisit<T extends { visit_id: number }>(rows: T[]): Map<number, T[]> {
  const byVisit = new Map<number, T[]>()
  for (const row of rows) byVisit.set(row.visit_id, [...(byVisit.get(row.visit_id) ?? []), row])
  return byVisit
}

export interface ReferenceInput {
  visits: VisitCodes[]
  titles: Map<string, string>
  unmappedMedications: number
  storedVisitIds: number[]
}

export function referencePatientInput(db: Db, patient: number | string, current?: CurrentVisitCodes, visit?: string): ReferenceInput {
  const ref = resolvePatient(db, patient)
  const codes = (table: 'diagnoses' | 'procedures', kind: 'diagnosis' | 'procedure') =>
    db
      .prepare(
        `SELECT c.visit_id, c.code_system, c.code, t.title
         FROM visits v JOIN ${table} c ON c.visit_id = v.id
         LEFT JOIN code_titles t ON t.kind = '${kind}' AND t.code_system = c.code_system AND t.code = c.code
         WHERE v.patient_id = ? ORDER BY c.visit_id, c.seq, c.code`
      )
      .all(ref.id) as CodeRow[]
  const allVisitRows = db.prepare('SELECT id, source_visit_id FROM visits WHERE patient_id = ? ORDER BY sort_key, id').all(ref.id) as Array<{ id: number; source_visit_id: string }>
  const upTo = visit === undefined ? allVisitRows.length : allVisitRows.findIndex((row) => row.source_visit_id === visit) + 1
  const visitRows = allVisitRows.slice(0, upTo)
  const diagnoses = groupByVisit(codes('diagnoses', 'diagnosis'))
  const procedures = groupByVisit(codes('procedures', 'procedure'))
  const medications = groupByVisit(
    db
      .prepare(
        `SELECT m.visit_id, m.atc3, m.atc5, a.name
         FROM visits v JOIN medications m ON m.visit_id = v.id
         LEFT JOIN atc_names a ON a.code = upper(COALESCE(NULLIF(m.atc3, ''), substr(m.atc5, 1, 4)))
         WHERE v.patient_id = ? ORDER BY m.visit_id, m.id`
      )
      .all(ref.id) as MedicationRow[]
  )
  const titles = new Map<string, string>()
  const toRefs = (rows: CodeRow[] | undefined, kind: 'diagnosis' | 'procedure'): CodeRef[] =>
    (rows ?? []).map((row) => {
      const codeRef = { system: row.code_system, code: row.code }
      if (row.title) titles.set(titleKey(kind, codeRef), row.title)
      return codeRef
    })
  let unmappedMedications = 0
  const visits: VisitCodes[] = visitRows.map((v, i) => {
    const classes = new Set<string>()
    for (const row of medications.get(v.id) ?? []) {
      const atc3 = atc3Of(row)
      if (!atc3) {
        if (current || i < visitRows.length - 1) unmappedMedications++
        continue
      }
      classes.add(atc3)
      if (row.name) titles.set(titleKey('medication', { system: null, code: atc3 }), row.name)
    }
    return { diagnoses: toRefs(diagnoses.get(v.id), 'diagnosis'), procedures: toRefs(procedures.get(v.id), 'procedure'), medications: [...classes].sort() }
  })
  if (current) {
    const addCallerTitle = (kind: 'diagnosis' | 'procedure', codeRef: CodeRef): void => {
      const code = codeRef.code.trim()
      const rows = db
        .prepare(`SELECT DISTINCT title FROM code_titles WHERE kind = ? AND (? IS NULL OR code_system = ?) AND code IN (?, ?) LIMIT 2`)
        .all(kind, codeRef.system, codeRef.system, code, normalizeCode(code)) as Array<{ title: string }>
      if (rows.length === 1 && !titles.has(titleKey(kind, codeRef))) titles.set(titleKey(kind, codeRef), rows[0]!.title)
    }
    for (const codeRef of current.diagnoses) addCallerTitle('diagnosis', codeRef)
    for (const codeRef of current.procedures) addCallerTitle('procedure', codeRef)
    visits.push({ diagnoses: current.diagnoses, procedures: current.procedures, medications: [] })
  }
  return { visits, titles, unmappedMedications, storedVisitIds: visitRows.map((v) => v.id) }
}

const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/

/** The patient's drugs as the separate query read them (visits in time order, rows by id). */
export function referencePatientDrugs(db: Db, patientId: number, visitIds: readonly number[], currentVisitId: number | null): PatientDrugs {
  const position = new Map(visitIds.map((id, i) => [id, i]))
  const current = new Map<string, DrugRef[]>()
  const history = new Map<string, { visit: number; drugs: DrugRef[] }>()
  const currentWithoutDrug = new Set<string>()
  const rows = db
    .prepare(
      `SELECT m.visit_id, m.atc3, upper(trim(m.atc5)) AS atc5, n.name
       FROM visits v JOIN medications m ON m.visit_id = v.id
       LEFT JOIN atc_names n ON n.code = upper(trim(m.atc5))
       WHERE v.patient_id = ? ORDER BY v.sort_key, v.id, m.id`
    )
    .all(patientId) as MedicationRow[]
  for (const row of rows) {
    if (!position.has(row.visit_id)) continue
    const atc5 = row.atc5 && ATC5.test(row.atc5) ? row.atc5 : null
    const atc3 = (row.atc3?.trim().toUpperCase() || atc5?.slice(0, 4)) ?? null
    if (!atc3 || atc3.length !== 4) continue
    if (row.visit_id === currentVisitId) {
      if (!atc5) {
        currentWithoutDrug.add(atc3)
        continue
      }
      const list = current.get(atc3) ?? []
      if (!list.some((d) => d.atc5 === atc5)) list.push({ atc5, name: row.name })
      current.set(atc3, list)
    } else if (atc5) {
      const entry = history.get(atc3)
      if (!entry || entry.visit !== row.visit_id) history.set(atc3, { visit: row.visit_id, drugs: [{ atc5, name: row.name }] })
      else if (!entry.drugs.some((d) => d.atc5 === atc5)) entry.drugs.push({ atc5, name: row.name })
    }
  }
  for (const atc3 of current.keys()) currentWithoutDrug.delete(atc3)
  return { current, history: new Map([...history].map(([k, v]) => [k, v.drugs])), currentWithoutDrug }
}
