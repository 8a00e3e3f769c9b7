import type { CodeKind, CodedEntry, CodeSystem, DrugMappingMethod, EhrFormat, MedicationEntry, PatientPage, PatientSummary, PatientTimeline, VisitDetail } from '../../../shared/types'
import type { Db } from './database'

export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

interface PatientRow {
  id: number
  source: EhrFormat
  source_patient_id: string
  sex: string | null
  visit_count: number
  first_visit: string | null
  last_visit: string | null
}

const SUMMARY_COLUMNS = `
  p.id, p.source, p.source_patient_id, p.sex,
  (SELECT count(*) FROM visits v WHERE v.patient_id = p.id) AS visit_count,
  (SELECT min(v.admit_time) FROM visits v WHERE v.patient_id = p.id) AS first_visit,
  (SELECT max(v.admit_time) FROM visits v WHERE v.patient_id = p.id) AS last_visit`

function toSummary(row: PatientRow): PatientSummary {
  return {
    id: row.id,
    source: row.source,
    sourcePatientId: row.source_patient_id,
    sex: row.sex,
    visitCount: row.visit_count,
    firstVisit: row.first_visit,
    lastVisit: row.last_visit
  }
}

/** Escapes LIKE wildcards so a search for "10_2" matches literally. */
function likePrefix(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`) + '%'
}

/**
 * Above this many matches, a page is found faster by walking patients in id order and testing the
 * prefix (about (offset + limit) x patients / matches rows) than by collecting every match from the
 * prefix index and sorting them all by id (bench/import.ts: a 1-character prefix over 100k patients,
 * 7.6 ms -> 0.3 ms). Both plans return the same rows; only the order of work differs.
 */
const WALK_IN_ID_ORDER_ABOVE = 2000

export function listPatients(db: Db, query: { search?: string; offset: number; limit: number }): PatientPage {
  const search = query.search?.trim() ?? ''
  const where = search ? `WHERE p.source_patient_id LIKE ? ESCAPE '\\'` : ''
  const params = search ? [likePrefix(search)] : []
  const total = (db.prepare(`SELECT count(*) AS n FROM patients p ${where}`).get(...params) as { n: number }).n
  const from = search && total > WALK_IN_ID_ORDER_ABOVE ? 'patients p NOT INDEXED' : 'patients p'
  const rows = db
    .prepare(`SELECT ${SUMMARY_COLUMNS} FROM ${from} ${where} ORDER BY p.id LIMIT ? OFFSET ?`)
    .all(...params, query.limit, query.offset) as PatientRow[]
  return { patients: rows.map(toSummary), total, offset: query.offset, limit: query.limit }
}

export function getPatientSummary(db: Db, patientId: number): PatientSummary {
  const row = db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM patients p WHERE p.id = ?`).get(patientId) as PatientRow | undefined
  if (!row) throw new NotFoundError(`No patient with id ${patientId}.`)
  return toSummary(row)
}

/** Finds a patient by the app's numeric id or by the source's own patient id (e.g. MIMIC subject_id). */
export function findPatient(db: Db, idOrSourceId: string): PatientSummary {
  const bySource = db
    .prepare(`SELECT ${SUMMARY_COLUMNS} FROM patients p WHERE p.source_patient_id = ? ORDER BY p.id LIMIT 1`)
    .get(idOrSourceId) as PatientRow | undefined
  if (bySource) return toSummary(bySource)
  if (/^\d+$/.test(idOrSourceId)) return getPatientSummary(db, Number(idOrSourceId))
  throw new NotFoundError(`No patient with id or source id "${idOrSourceId}".`)
}

interface VisitRow {
  id: number
  source_visit_id: string
  admit_time: string | null
  discharge_time: string | null
  order_label: string
}

interface CodeRow {
  visit_id: number
  code_system: CodeSystem
  code: string
  title: string | null
}

interface MedicationRow {
  visit_id: number
  raw_name: string
  ndc: string | null
  gsn: string | null
  other_id: string | null
  atc5: string | null
  atc3: string | null
  atc3_name: string | null
  mapping_method: DrugMappingMethod
  order_count: number
}

function codesOf(db: Db, table: 'diagnoses' | 'procedures', kind: CodeKind, patientId: number): CodeRow[] {
  return db
    .prepare(
      `SELECT c.visit_id, c.code_system, c.code, t.title
       FROM visits v JOIN ${table} c ON c.visit_id = v.id
       LEFT JOIN code_titles t ON t.kind = ? AND t.code_system = c.code_system AND t.code = c.code
       WHERE v.patient_id = ? ORDER BY c.visit_id, c.seq`
    )
    .all(kind, patientId) as CodeRow[]
}

function groupByVisit<T extends { visit_id: number }>(rows: T[]): Map<number, T[]> {
  const byVisit = new Map<number, T[]>()
  for (const row of rows) {
    const list = byVisit.get(row.visit_id)
    if (list) list.push(row)
    else byVisit.set(row.visit_id, [row])
  }
  return byVisit
}

const toCoded = (row: CodeRow): CodedEntry => ({ system: row.code_system, code: row.code, title: row.title })

const toMedication = (row: MedicationRow): MedicationEntry => ({
  rawName: row.raw_name,
  ndc: row.ndc,
  gsn: row.gsn,
  otherId: row.other_id,
  atc5: row.atc5,
  atc3: row.atc3,
  atc3Name: row.atc3_name,
  mappingMethod: row.mapping_method,
  orderCount: row.order_count
})

/** A patient's visits in time order (never admission-id order) with their codes and medications. */
export function getPatientTimeline(db: Db, patientId: number): PatientTimeline {
  const patient = getPatientSummary(db, patientId)
  const visits = db
    .prepare(
      `SELECT id, source_visit_id, admit_time, discharge_time, order_label
       FROM visits WHERE patient_id = ? ORDER BY sort_key, id`
    )
    .all(patientId) as VisitRow[]
  const diagnoses = groupByVisit(codesOf(db, 'diagnoses', 'diagnosis', patientId))
  const procedures = groupByVisit(codesOf(db, 'procedures', 'procedure', patientId))
  const medications = groupByVisit(
    db
      .prepare(
        `SELECT m.visit_id, m.raw_name, m.ndc, m.gsn, m.other_id, m.atc5, m.atc3, a.name AS atc3_name, m.mapping_method, m.order_count
         FROM visits v JOIN medications m ON m.visit_id = v.id
         LEFT JOIN atc_names a ON a.code = m.atc3
         WHERE v.patient_id = ? ORDER BY m.visit_id, m.id`
      )
      .all(patientId) as MedicationRow[]
  )
  const details: VisitDetail[] = visits.map((v) => ({
    id: v.id,
    sourceVisitId: v.source_visit_id,
    admitTime: v.admit_time,
    dischargeTime: v.discharge_time,
    orderLabel: v.order_label,
    diagnoses: (diagnoses.get(v.id) ?? []).map(toCoded),
    procedures: (procedures.get(v.id) ?? []).map(toCoded),
    medications: (medications.get(v.id) ?? []).map(toMedication)
  }))
  return { patient, visits: details }
}
