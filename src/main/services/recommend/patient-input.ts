// A patient's model input from the patient store: the earlier visits' diagnoses, procedures and ATC3
// medications, plus the current visit (the last stored visit, or codes the caller gives). Codes are read
// the way the training pipeline reads them (training/medrec_training/datasets.py): diagnoses and
// procedures in the source's order without repeats; medications as sorted distinct ATC3 classes, taken
// from atc3 or else the first four characters of atc5.
import type { ModelInputSummary, PatientSummary, VisitDetail } from '../../../shared/types'
import type { Db } from '../db/database'
import { findPatient, getPatientSummary, getPatientTimeline } from '../db/patients-repo'
import { type CodeRef, codeKey, type VisitCodes } from '../inference/encode'

export class EmptyHistoryError extends Error {
  override name = 'EmptyHistoryError'
}

export interface CurrentVisitCodes {
  diagnoses: CodeRef[]
  procedures: CodeRef[]
}

export interface PatientModelInput {
  patient: PatientSummary
  /** Oldest first; the last is the current visit. */
  visits: VisitCodes[]
  currentVisit: ModelInputSummary['currentVisit']
  unmappedMedications: number
  /** Titles of the patient's codes, by "kind:codeKey" (kind: diagnosis | procedure | medication). */
  titles: Map<string, string>
}

/** The ATC3 class of a medication row, as training derives it; null when the row has none. */
export function atc3Of(medication: { atc3: string | null; atc5: string | null }): string | null {
  const candidate = medication.atc3?.trim() || medication.atc5?.trim().slice(0, 4) || ''
  return candidate.length === 4 ? candidate.toUpperCase() : null
}

export const titleKey = (kind: 'diagnosis' | 'procedure' | 'medication', ref: CodeRef): string => `${kind}:${codeKey(ref)}`

function visitCodes(visit: VisitDetail, titles: Map<string, string>): { codes: VisitCodes; unmapped: number } {
  const ref = (entry: { system: string; code: string }): CodeRef => ({ system: entry.system, code: entry.code })
  for (const d of visit.diagnoses) if (d.title) titles.set(titleKey('diagnosis', ref(d)), d.title)
  for (const p of visit.procedures) if (p.title) titles.set(titleKey('procedure', ref(p)), p.title)
  const medications = new Set<string>()
  let unmapped = 0
  for (const m of visit.medications) {
    const atc3 = atc3Of(m)
    if (!atc3) {
      unmapped++
      continue
    }
    medications.add(atc3)
    if (m.atc3Name) titles.set(titleKey('medication', { system: null, code: atc3 }), m.atc3Name)
  }
  return {
    codes: { diagnoses: visit.diagnoses.map(ref), procedures: visit.procedures.map(ref), medications: [...medications].sort() },
    unmapped
  }
}

/** A numeric id is the app's patient id; anything else (or a number not found) is tried as the source's id. */
export function resolvePatient(db: Db, patient: number | string): PatientSummary {
  return typeof patient === 'number' ? getPatientSummary(db, patient) : findPatient(db, patient)
}

/**
 * Reads the patient's visits. With `current`, every stored visit is history and `current` is appended as
 * the visit to recommend for; otherwise the last stored visit is the current one.
 */
export function loadPatientInput(db: Db, patient: number | string, current?: CurrentVisitCodes): PatientModelInput {
  const summary = resolvePatient(db, patient)
  const timeline = getPatientTimeline(db, summary.id)
  const titles = new Map<string, string>()
  let unmappedMedications = 0
  const visits = timeline.visits.map((visit, i) => {
    const { codes, unmapped } = visitCodes(visit, titles)
    // The current visit's medications are not inputs, so their mapping gaps do not matter here.
    if (current || i < timeline.visits.length - 1) unmappedMedications += unmapped
    return codes
  })
  if (current) {
    if (current.diagnoses.length + current.procedures.length === 0) {
      throw new EmptyHistoryError('The current visit given has no diagnosis or procedure codes.')
    }
    visits.push({ diagnoses: current.diagnoses, procedures: current.procedures, medications: [] })
    return { patient: summary, visits, currentVisit: { from: 'caller' }, unmappedMedications, titles }
  }
  const last = timeline.visits.at(-1)
  if (!last) {
    throw new EmptyHistoryError(
      `Patient ${summary.sourcePatientId} (id ${summary.id}) has no stored visits: give the current visit's diagnoses or procedures.`
    )
  }
  return {
    patient: summary,
    visits,
    currentVisit: { from: 'stored', visitId: last.id, sourceVisitId: last.sourceVisitId },
    unmappedMedications,
    titles
  }
}
