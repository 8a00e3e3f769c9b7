// A patient's model input from the patient store: the earlier visits' diagnoses, procedures and ATC3
// medications, plus the current visit (the last stored visit, or codes the caller gives). Codes are read
// the way the training pipeline reads them (training/medrec_training/datasets.py): visits in sort_key
// order; diagnoses and procedures in the source's order (seq, ties by code); medications as sorted
// distinct ATC3 classes, taken from atc3 or else the first four characters of atc5. (Checked: the
// encodings of 400 demo patients equal medrec_training.tasks.encode_history's, index for index.)
//
// This reads only what the model needs, with statements prepared once per database (a recommendation
// is about a millisecond, so re-preparing the timeline's queries per call would dominate it).
import type { ModelInputSummary } from '../../../shared/domain/recommendation'
import type { Db } from '../db/database'
import { NotFoundError } from '../db/patients-repo'
import { type CodeRef, codeKey, type VisitCodes } from '../inference/encode'
import { normalizeCode } from '../inference/vocabulary'
import { perConnection } from '../db/statements'
import { atcNames, codeTitles } from '../db/code-names'
import type { CodeSystem } from '../../../shared/domain/patient'

export class EmptyHistoryError extends Error {
  override name = 'EmptyHistoryError'
}

export interface CurrentVisitCodes {
  diagnoses: CodeRef[]
  procedures: CodeRef[]
}

export interface PatientRef {
  id: number
  sourcePatientId: string
}

export interface PatientModelInput {
  patient: PatientRef
  /** Oldest first; the last is the current visit. */
  visits: VisitCodes[]
  currentVisit: ModelInputSummary['currentVisit']
  unmappedMedications: number
  /** Titles of the patient's codes, by "kind:codeKey" (kind: diagnosis | procedure | medication). */
  titles: Map<string, string>
  /** The app ids of the stored visits read, oldest first (up to the chosen current visit). */
  storedVisitIds: number[]
  /**
   * The medication rows of those visits, visit by visit as storedVisitIds orders them and by row id within a
   * visit, as stored (what drug-choice.ts chooses drugs from).
   */
  storedMedications: StoredMedication[]
}

/** A stored medication row: its visit, atc3 and atc5 as stored. */
export type StoredMedication = readonly [visitId: number, atc3: string | null, atc5: string | null]

/** The ATC3 class of a medication row, as training derives it; null when the row has none. */
export function atc3Of(medication: { atc3: string | null; atc5: string | null }): string | null {
  const candidate = medication.atc3?.trim() || medication.atc5?.trim().slice(0, 4) || ''
  return candidate.length === 4 ? candidate.toUpperCase() : null
}

export const titleKey = (kind: 'diagnosis' | 'procedure' | 'medication', ref: CodeRef): string => `${kind}:${codeKey(ref)}`

interface PatientRow {
  id: number
  source_patient_id: string
}
interface VisitRow {
  id: number
  source_visit_id: string
}
function prepareStatements(db: Db) {
  // Rows as arrays and names from the per-connection caches (db/code-names.ts) rather than joined per row: a
  // recommendation reads one patient, and building row objects and joining titles were most of that read.
  const codes = (table: 'diagnoses' | 'procedures') =>
    db
      .prepare(
        `SELECT c.visit_id, c.code_system, c.code
         FROM visits v JOIN ${table} c ON c.visit_id = v.id
         WHERE v.patient_id = ? ORDER BY c.visit_id, c.seq, c.code`
      )
      .raw()
  return {
    bySourceId: db.prepare('SELECT id, source_patient_id FROM patients WHERE source_patient_id = ? ORDER BY id LIMIT 1'),
    byId: db.prepare('SELECT id, source_patient_id FROM patients WHERE id = ?'),
    visits: db.prepare('SELECT id, source_visit_id FROM visits WHERE patient_id = ? ORDER BY sort_key, id').raw(),
    diagnoses: codes('diagnoses'),
    procedures: codes('procedures'),
    // A caller's code as given or as stored without dots ("I21.4" / "I214"); without a system, only a
    // title no other system gives differently.
    callerCodeTitles: db.prepare(
      `SELECT DISTINCT title FROM code_titles
       WHERE kind = ? AND (? IS NULL OR code_system = ?) AND code IN (?, ?) LIMIT 2`
    ),
    medications: db
      .prepare(
        `SELECT m.visit_id, m.atc3, m.atc5
         FROM visits v JOIN medications m ON m.visit_id = v.id
         WHERE v.patient_id = ? ORDER BY m.visit_id, m.id`
      )
      .raw()
  }
}

const statements = perConnection(prepareStatements)

/**
 * A number is the app's patient id; a string is first tried as the source's patient id (e.g. a MIMIC
 * subject_id), then, if it is all digits, as the app's id. Same rule and messages as patients-repo.
 */
export function resolvePatient(db: Db, patient: number | string): PatientRef {
  const s = statements(db)
  const row =
    typeof patient === 'number'
      ? (s.byId.get(patient) as PatientRow | undefined)
      : ((s.bySourceId.get(patient) as PatientRow | undefined) ?? (/^\d+$/.test(patient) ? (s.byId.get(Number(patient)) as PatientRow | undefined) : undefined))
  if (!row) {
    throw new NotFoundError(
      typeof patient === 'number' || /^\d+$/.test(patient) ? `No patient with id ${patient}.` : `No patient with id or source id "${patient}".`
    )
  }
  return { id: row.id, sourcePatientId: row.source_patient_id }
}

/** The stored visits up to and including `visit` (its source visit id, else its app id); later visits are the future. */
function visitsUpTo(rows: VisitRow[], visit: string, ref: PatientRef): VisitRow[] {
  const wanted = visit.trim()
  let index = rows.findIndex((row) => row.source_visit_id === wanted)
  if (index < 0 && /^\d+$/.test(wanted)) index = rows.findIndex((row) => row.id === Number(wanted))
  if (index < 0) {
    const known = rows.slice(-5).map((row) => row.source_visit_id)
    throw new NotFoundError(
      `Patient ${ref.sourcePatientId} (id ${ref.id}) has no visit "${wanted}" (its ${rows.length} visit(s)${known.length > 0 ? `, latest: ${known.join(', ')}` : ''}).`
    )
  }
  return rows.slice(0, index + 1)
}

type RawVisitRow = [id: number, sourceVisitId: string]
type RawCodeRow = [visitId: number, system: string, code: string]
type RawMedicationRow = [visitId: number, atc3: string | null, atc5: string | null]

/** Rows read as arrays whose first element is the visit id, grouped by it (in read order); the batch reader uses it too. */
export function groupRowsByVisit<T extends readonly [number, ...unknown[]]>(rows: T[]): Map<number, T[]> {
  const byVisit = new Map<number, T[]>()
  for (const row of rows) {
    const list = byVisit.get(row[0])
    if (list) list.push(row)
    else byVisit.set(row[0], [row])
  }
  return byVisit
}

/** The atc_names code a medication row's class name is stored under: atc3 unless empty, else atc5's first four characters. */
function classNameCode(atc3: string | null, atc5: string | null): string | null {
  const code = atc3 !== null && atc3 !== '' ? atc3 : atc5 === null ? null : atc5.slice(0, 4)
  return code === null ? null : code.toUpperCase()
}

/**
 * Reads the patient's visits. With `current`, every stored visit is history and `current` is appended as
 * the visit to recommend for; otherwise the last stored visit (or `visit`, a stored visit's source or app id:
 * later visits are then left out) is the current one.
 */
export function loadPatientInput(
  db: Db,
  patient: number | string,
  current?: CurrentVisitCodes,
  visit?: string,
  /** titles: false leaves the diagnosis and procedure titles out (a recommendation by a model without cold start never reads them). */
  options: { titles?: boolean } = {}
): PatientModelInput {
  const ref = resolvePatient(db, patient)
  const s = statements(db)
  const allVisitRows = (s.visits.all(ref.id) as RawVisitRow[]).map(([id, sourceVisitId]): VisitRow => ({ id, source_visit_id: sourceVisitId }))
  const visitRows = visit === undefined ? allVisitRows : visitsUpTo(allVisitRows, visit, ref)
  const diagnoses = groupRowsByVisit(s.diagnoses.all(ref.id) as RawCodeRow[])
  const procedures = groupRowsByVisit(s.procedures.all(ref.id) as RawCodeRow[])
  const medications = groupRowsByVisit(s.medications.all(ref.id) as RawMedicationRow[])
  const titles = new Map<string, string>()
  // Codes of the visits read, by kind and system, titled together from the connection's cache below.
  const untitled = { diagnosis: new Map<string, Set<string>>(), procedure: new Map<string, Set<string>>() }
  const toRefs = (rows: RawCodeRow[] | undefined, kind: 'diagnosis' | 'procedure'): CodeRef[] =>
    (rows ?? []).map(([, system, code]) => {
      const codes = untitled[kind].get(system)
      if (codes) codes.add(code)
      else untitled[kind].set(system, new Set([code]))
      return { system, code }
    })
  const withTitles = options.titles ?? true
  const names = withTitles ? atcNames(db) : null
  const storedMedications: StoredMedication[] = []
  let unmappedMedications = 0
  const visits: VisitCodes[] = visitRows.map((visit, i) => {
    const classes = new Set<string>()
    for (const row of medications.get(visit.id) ?? []) {
      storedMedications.push(row)
      const [, atc3, atc5] = row
      const atc3Class = atc3Of({ atc3, atc5 })
      // The current visit's medications are not inputs, so their mapping gaps do not matter here.
      if (!atc3Class) {
        if (current || i < visitRows.length - 1) unmappedMedications++
        continue
      }
      classes.add(atc3Class)
      if (!withTitles) continue
      const nameCode = classNameCode(atc3, atc5)
      const name = nameCode === null ? undefined : names?.get(nameCode)
      if (name) titles.set(titleKey('medication', { system: null, code: atc3Class }), name)
    }
    return {
      diagnoses: toRefs(diagnoses.get(visit.id), 'diagnosis'),
      procedures: toRefs(procedures.get(visit.id), 'procedure'),
      medications: [...classes].sort()
    }
  })
  // Set in the order the rows were read, so a later row wins where two spellings share a key (as before).
  if (withTitles) for (const kind of ['diagnosis', 'procedure'] as const) {
    const bySystem = new Map([...untitled[kind]].map(([system, codes]) => [system, codeTitles(db, kind, system as CodeSystem, codes)]))
    for (const visitCodes of visits) {
      for (const ref of kind === 'diagnosis' ? visitCodes.diagnoses : visitCodes.procedures) {
        const title = bySystem.get(ref.system!)?.get(ref.code)
        if (title) titles.set(titleKey(kind, ref), title)
      }
    }
  }
  if (current) {
    if (current.diagnoses.length + current.procedures.length === 0) {
      throw new EmptyHistoryError('The current visit given has no diagnosis or procedure codes.')
    }
    // The caller's codes get their titles from the same store (for display and for NLA-MMR's cold start).
    const addCallerTitle = (kind: 'diagnosis' | 'procedure', ref: CodeRef): void => {
      const code = ref.code.trim()
      const rows = s.callerCodeTitles.all(kind, ref.system, ref.system, code, normalizeCode(code)) as Array<{ title: string }>
      if (rows.length === 1 && !titles.has(titleKey(kind, ref))) titles.set(titleKey(kind, ref), rows[0]!.title)
    }
    if (withTitles) {
      for (const ref of current.diagnoses) addCallerTitle('diagnosis', ref)
      for (const ref of current.procedures) addCallerTitle('procedure', ref)
    }
    visits.push({ diagnoses: current.diagnoses, procedures: current.procedures, medications: [] })
    return { patient: ref, visits, currentVisit: { from: 'caller' }, unmappedMedications, titles, storedVisitIds: visitRows.map((v) => v.id), storedMedications }
  }
  const last = visitRows.at(-1)
  if (!last) {
    throw new EmptyHistoryError(
      `Patient ${ref.sourcePatientId} (id ${ref.id}) has no stored visits: give the current visit's diagnoses or procedures.`
    )
  }
  return {
    patient: ref,
    visits,
    currentVisit: { from: 'stored', visitId: last.id, sourceVisitId: last.source_visit_id },
    unmappedMedications,
    titles,
    storedVisitIds: visitRows.map((v) => v.id),
    storedMedications
  }
}
