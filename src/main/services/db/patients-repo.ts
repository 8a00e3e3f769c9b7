import type { CodeKind, CodedEntry, CodeSystem, DrugMappingMethod, EhrFormat, MedicationEntry, PatientPage, PatientSummary, PatientTimeline, TimelinePage, VisitDetail } from '../../../shared/domain/patient'
import { NotFoundError } from '../errors'
import { atcNames, codeTitles } from './code-names'
import type { Db } from './database'
import { perConnection } from './statements'

// The one NotFoundError (services/errors.ts), re-exported where callers have always found it.
export { NotFoundError }

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

/** Prepared once per connection: every timeline starts with the summary, and preparing it cost more than running it. */
const summaryStatement = perConnection((db) => db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM patients p WHERE p.id = ?`))

export function getPatientSummary(db: Db, patientId: number): PatientSummary {
  const row = summaryStatement(db).get(patientId) as PatientRow | undefined
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
  sort_key: string
  source_visit_id: string
  admit_time: string | null
  discharge_time: string | null
  order_label: string
  age_at_admission: number | null
}

type CodeRow = [visitId: number, system: CodeSystem, code: string]

type MedicationRow = [
  visitId: number,
  rawName: string,
  ndc: string | null,
  gsn: string | null,
  otherId: string | null,
  atc5: string | null,
  atc3: string | null,
  mappingMethod: DrugMappingMethod,
  orderCount: number
]

// The timeline's cost grows with the rows it returns (a heavy patient has thousands of codes and
// medication rows), so its queries read rows as arrays in the order of the indexes (visit by sort
// key, then seq or medication id: no sort step), and look titles and ATC names up once per distinct
// code instead of once per row (10k-patient bench cohort: the 30 heaviest patients, 73 visits and ~3,900
// rows each, 6.0 -> 5.2 ms; bench:import timeline p99 5.9 -> 5.4 ms).

/**
 * The patient's visits from `first` to `last` in time order (the visits returned). Visits are ordered by
 * (sort_key, id), so a row-value range over that key selects exactly them, on the visits_by_patient index.
 */
type VisitRange = [patientId: number, firstSortKey: string, firstId: number, lastSortKey: string, lastId: number]

/** A patient's codes of one kind in the visit range, visit by visit in time order, each visit's in seq order. */
function codesOf(db: Db, table: 'diagnoses' | 'procedures', range: VisitRange): CodeRow[] {
  return timelineStatements(db)[table].all(...range) as CodeRow[]
}

const IN_RANGE = `v.patient_id = ? AND (v.sort_key, v.id) >= (?, ?) AND (v.sort_key, v.id) <= (?, ?)`
const VISIT_COLUMNS = `id, sort_key, source_visit_id, admit_time, discharge_time, order_label, age_at_admission`

/** The timeline's queries, prepared once per connection (preparing them cost ~6% of a heavy patient's call). */
const timelineStatements = perConnection((db) => {
  const codes = (table: 'diagnoses' | 'procedures') =>
    db
      .prepare(
        `SELECT c.visit_id, c.code_system, c.code FROM visits v JOIN ${table} c ON c.visit_id = v.id
         WHERE ${IN_RANGE} ORDER BY v.sort_key, v.id, c.seq`
      )
      .raw()
  return {
    diagnoses: codes('diagnoses'),
    procedures: codes('procedures'),
    medications: db
      .prepare(
        `SELECT m.visit_id, m.raw_name, m.ndc, m.gsn, m.other_id, m.atc5, m.atc3, m.mapping_method, m.order_count
         FROM visits v JOIN medications m ON m.visit_id = v.id
         WHERE ${IN_RANGE} ORDER BY v.sort_key, v.id, m.id`
      )
      .raw(),
    allVisits: db.prepare(`SELECT ${VISIT_COLUMNS} FROM visits WHERE patient_id = ? ORDER BY sort_key, id`),
    // Newest first, so LIMIT takes the latest; the caller turns the page back into time order.
    latestVisits: db.prepare(`SELECT ${VISIT_COLUMNS} FROM visits WHERE patient_id = ? ORDER BY sort_key DESC, id DESC LIMIT ?`),
    visitsBefore: db.prepare(
      `SELECT ${VISIT_COLUMNS} FROM visits WHERE patient_id = ? AND (sort_key, id) < (?, ?) ORDER BY sort_key DESC, id DESC LIMIT ?`
    ),
    visitKey: db.prepare(`SELECT sort_key, id FROM visits WHERE id = ? AND patient_id = ?`),
    countBefore: db.prepare(`SELECT count(*) AS n FROM visits WHERE patient_id = ? AND (sort_key, id) < (?, ?)`).pluck()
  }
})

/** The visits a page asks for, in time order. */
function visitsOf(db: Db, patientId: number, page: TimelinePage | undefined): VisitRow[] {
  const statements = timelineStatements(db)
  if (!page) return statements.allVisits.all(patientId) as VisitRow[]
  if (page.beforeVisitId === undefined) return (statements.latestVisits.all(patientId, page.latest) as VisitRow[]).reverse()
  const cursor = statements.visitKey.get(page.beforeVisitId, patientId) as { sort_key: string; id: number } | undefined
  if (!cursor) throw new NotFoundError(`Patient ${patientId} has no visit with id ${page.beforeVisitId} (beforeVisitId).`)
  return (statements.visitsBefore.all(patientId, cursor.sort_key, cursor.id, page.latest) as VisitRow[]).reverse()
}

/** Titles of the distinct codes among `rows`, by system and then code (one query per code system present). */
function titlesOf(db: Db, kind: CodeKind, rows: CodeRow[]): Map<CodeSystem, Map<string, string>> {
  const codesBySystem = new Map<CodeSystem, Set<string>>()
  for (const [, system, code] of rows) {
    const codes = codesBySystem.get(system)
    if (codes) codes.add(code)
    else codesBySystem.set(system, new Set([code]))
  }
  const titles = new Map<CodeSystem, Map<string, string>>()
  for (const [system, codes] of codesBySystem) titles.set(system, codeTitles(db, kind, system, codes))
  return titles
}

function codedByVisit(db: Db, table: 'diagnoses' | 'procedures', kind: CodeKind, range: VisitRange): Map<number, CodedEntry[]> {
  const rows = codesOf(db, table, range)
  const titles = titlesOf(db, kind, rows)
  const byVisit = new Map<number, CodedEntry[]>()
  for (const [visitId, system, code] of rows) {
    const entry: CodedEntry = { system, code, title: titles.get(system)?.get(code) ?? null }
    const list = byVisit.get(visitId)
    if (list) list.push(entry)
    else byVisit.set(visitId, [entry])
  }
  return byVisit
}

function medicationsByVisit(db: Db, range: VisitRange): Map<number, MedicationEntry[]> {
  const rows = timelineStatements(db).medications.all(...range) as MedicationRow[]
  const names = atcNames(db)
  const byVisit = new Map<number, MedicationEntry[]>()
  for (const [visitId, rawName, ndc, gsn, otherId, atc5, atc3, mappingMethod, orderCount] of rows) {
    const entry: MedicationEntry = {
      rawName,
      ndc,
      gsn,
      otherId,
      atc5,
      atc3,
      atc3Name: atc3 === null ? null : (names.get(atc3) ?? null),
      mappingMethod,
      orderCount
    }
    const list = byVisit.get(visitId)
    if (list) list.push(entry)
    else byVisit.set(visitId, [entry])
  }
  return byVisit
}

/**
 * A patient's visits in time order (never admission-id order) with their codes and medications: the whole
 * record, or the page asked for (see TimelinePage).
 */
export function getPatientTimeline(db: Db, patientId: number, page?: TimelinePage): PatientTimeline {
  const patient = getPatientSummary(db, patientId)
  const visits = visitsOf(db, patientId, page)
  const first = visits[0]
  const last = visits.at(-1)
  if (!first || !last) return { patient, visits: [], earlierVisits: 0 }
  const range: VisitRange = [patientId, first.sort_key, first.id, last.sort_key, last.id]
  const diagnoses = codedByVisit(db, 'diagnoses', 'diagnosis', range)
  const procedures = codedByVisit(db, 'procedures', 'procedure', range)
  const medications = medicationsByVisit(db, range)
  const earlierVisits = page ? (timelineStatements(db).countBefore.get(patientId, first.sort_key, first.id) as number) : 0
  const details: VisitDetail[] = visits.map((v) => ({
    id: v.id,
    sourceVisitId: v.source_visit_id,
    admitTime: v.admit_time,
    dischargeTime: v.discharge_time,
    orderLabel: v.order_label,
    ageAtAdmission: v.age_at_admission,
    diagnoses: diagnoses.get(v.id) ?? [],
    procedures: procedures.get(v.id) ?? [],
    medications: medications.get(v.id) ?? []
  }))
  return { patient, visits: details, earlierVisits }
}
