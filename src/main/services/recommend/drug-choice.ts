// A concrete drug for every recommended class: the drug(s) of that class the patient takes on the current
// visit, else those of the most recent earlier visit with the class, else the within-class model's most probable
// member (drug-choice-model.ts), with the other members as ranked alternatives.
import type { AlternativeDrug, ClassWithDrugs, ChosenDrug } from '../../../shared/domain/recommendation'
import type { Db } from '../db/database'
import { atcNames } from '../db/code-names'
import { perConnection } from '../db/statements'
import type { DrugChoiceModel } from './drug-choice-model'
import type { PatientModelInput } from './patient-input'

/** A well-formed ATC level-5 code (upper case): what counts as a drug. */
export const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/

export interface DrugRef {
  atc5: string
  name: string | null
}

/** The patient's drugs (ATC5) by class: on the current visit, and on the most recent earlier visit with the class. */
export interface PatientDrugs {
  current: Map<string, DrugRef[]>
  history: Map<string, DrugRef[]>
  /** Classes on the current visit recorded only without an ATC5 code (the drug is unknown). */
  currentWithoutDrug: Set<string>
}

/** A medication row as patientDrugsOf reads it: atc5 upper-cased and trimmed (as SQL's upper(trim())), name its WHO name or null. */
export interface PatientDrugRow {
  visit_id: number
  atc3: string | null
  atc5: string | null
  name: string | null
}

/** SQLite's upper(trim(x)), the form drug codes have always been compared in: spaces trimmed, ASCII letters upper-cased. */
function sqlUpperTrim(text: string): string {
  return text.replace(/^ +| +$/g, '').replace(/[a-z]+/g, (letters) => letters.toUpperCase())
}

const statements = perConnection((db) => ({ name: db.prepare('SELECT name FROM atc_names WHERE code = ?').pluck() }))

/** The WHO name of an ATC code from the patient store's atc_names, or null. */
export function atcName(db: Db, code: string): string | null {
  return (statements(db).name.get(code) as string | undefined) ?? null
}

/** ATC names for one recommendation, read once per connection and import (db/code-names.ts). */
export function atcNameLookup(db: Db): (code: string) => string | null {
  const names = atcNames(db)
  return (code) => names.get(code) ?? null
}

/**
 * The patient's drugs, from the medication rows of the stored visits read (loadPatientInput: up to and including
 * the current one, later visits being the future). `currentVisitId`: the current stored visit, or null when the
 * current visit was given by the caller (then every stored visit is history). `nameOf`: atcNameLookup's.
 */
export function patientDrugs(
  input: Pick<PatientModelInput, 'storedMedications' | 'storedVisitIds'>,
  currentVisitId: number | null,
  nameOf: (atc5: string) => string | null
): PatientDrugs {
  const rows = input.storedMedications.map(([visitId, atc3, atc5]): PatientDrugRow => {
    const drug = atc5 === null ? null : sqlUpperTrim(atc5)
    return { visit_id: visitId, atc3, atc5: drug, name: drug === null ? null : nameOf(drug) }
  })
  return patientDrugsOf(rows, input.storedVisitIds, currentVisitId)
}

/**
 * patientDrugs over rows already read (medrec evaluate reads them in batches of patients): the patient's
 * medication rows with their visits in time order (sort_key, id) and each visit's rows in id order.
 */
export function patientDrugsOf(rows: Iterable<PatientDrugRow>, visitIds: readonly number[], currentVisitId: number | null): PatientDrugs {
  const position = new Map(visitIds.map((id, i) => [id, i]))
  const current = new Map<string, DrugRef[]>()
  const history = new Map<string, { visit: number; drugs: DrugRef[] }>()
  const currentWithoutDrug = new Set<string>()
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

/** A class with its chosen drugs and, for substitution, every member the model ranks (most probable first). Here alternatives are all the members not chosen. */
export interface ClassChoice extends ClassWithDrugs {
  ranked: AlternativeDrug[]
}

export interface ChooseDrugsInput {
  classes: ReadonlyArray<{ atc3: string; name: string | null; probability: number }>
  patient: PatientDrugs
  /** Null: no within-class model (only drugs the patient takes or took can be chosen). */
  model: DrugChoiceModel | null
  /** The current visit's code keys (drugChoiceCodeKey). */
  codeKeys: readonly string[]
  nameOf: (atc5: string) => string | null
}

export function chooseDrugs(input: ChooseDrugsInput): ClassChoice[] {
  return input.classes.map((cls) => {
    const ranked = (input.model?.rank(cls.atc3, input.codeKeys) ?? []).map((m) => ({ ...m, name: input.nameOf(m.atc5) }))
    const taken = input.patient.current.get(cls.atc3)
    const before = input.patient.history.get(cls.atc3)
    let drugs: ChosenDrug[]
    let noDrugReason: string | null = null
    if (taken) drugs = taken.map((d) => ({ ...d, source: 'current', probability: null }))
    else if (input.patient.currentWithoutDrug.has(cls.atc3)) {
      // The patient takes a drug of this class that is recorded without an ATC5 code: proposing another member
      // would add a second drug of the class, so none is chosen.
      drugs = []
      noDrugReason = 'the patient takes a drug of this class recorded without an ATC level-5 code'
    } else if (before) drugs = before.map((d) => ({ ...d, source: 'history', probability: null }))
    else if (ranked.length > 0) drugs = [{ atc5: ranked[0]!.atc5, name: ranked[0]!.name, source: 'model', probability: ranked[0]!.probability }]
    else {
      drugs = []
      noDrugReason = input.model ? 'no member of this class was prescribed in the training data' : 'no within-class drug model is loaded'
    }
    const chosen = new Set(drugs.map((d) => d.atc5))
    return {
      atc3: cls.atc3,
      name: cls.name,
      probability: cls.probability,
      drugs,
      alternatives: ranked.filter((m) => !chosen.has(m.atc5)),
      noDrugReason,
      review: null,
      ranked
    }
  })
}
