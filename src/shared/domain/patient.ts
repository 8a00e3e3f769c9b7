// Patients as the store and the screens see them: visits with their coded diagnoses, procedures and medications.
// No runtime imports here: the preload bundle and the renderer take these as types.

export type EhrFormat = 'mimic-iv' | 'mimic-iii' | 'eicu' | 'fhir'

/** Code systems of diagnoses and procedures. ICD-9-CM covers both volumes (diagnoses and procedures). */
export type CodeSystem = 'ICD-9-CM' | 'ICD-10-CM' | 'ICD-10-PCS' | 'other' | 'SNOMED CT' | FhirSystemUri

/** A FHIR coding system kept as written when MedRec has no short name for it (e.g. http://loinc.org). */
export type FhirSystemUri = `http://${string}` | `https://${string}` | `urn:${string}`

export type CodeKind = 'diagnosis' | 'procedure'

/** How a raw medication row was mapped to ATC. 'unmapped' rows are kept and flagged, never dropped. */
export type DrugMappingMethod = 'ndc' | 'gsn' | 'name' | 'unmapped'

/**
 * Ages are stored top-coded, as the public sources publish them: AGE_TOP_CODE means "90 or older" (MIMIC-IV
 * writes anchor_age 91 for anyone over 89, eICU "> 89"), so no stored age singles out the very old.
 */
export const AGE_TOP_CODE = 90

/** An age at a visit as shown: "67", "90+" for the top code, null when unknown. */
export function formatAge(age: number | null): string | null {
  if (age === null) return null
  return age >= AGE_TOP_CODE ? `${AGE_TOP_CODE}+` : String(age)
}

export interface PatientSummary {
  id: number
  source: EhrFormat
  sourcePatientId: string
  sex: string | null
  visitCount: number
  firstVisit: string | null
  lastVisit: string | null
}

export interface PatientPage {
  patients: PatientSummary[]
  total: number
  offset: number
  limit: number
}

export interface CodedEntry {
  system: CodeSystem
  code: string
  title: string | null
}

export interface MedicationEntry {
  rawName: string
  ndc: string | null
  gsn: string | null
  otherId: string | null
  atc5: string | null
  atc3: string | null
  atc3Name: string | null
  mappingMethod: DrugMappingMethod
  /** How many source rows (repeated orders of this drug in the visit) this entry stands for. */
  orderCount: number
}

export interface VisitDetail {
  id: number
  sourceVisitId: string
  /** ISO 8601 when the source has absolute times; null for sources with relative offsets only (eICU). */
  admitTime: string | null
  dischargeTime: string | null
  /** Human-readable position where there is no absolute time, e.g. "2015, hospital stay 1, unit visit 2". */
  orderLabel: string
  /** Age in whole years when the visit began; AGE_TOP_CODE (90) means "90 or older"; null when unknown. */
  ageAtAdmission: number | null
  diagnoses: CodedEntry[]
  procedures: CodedEntry[]
  medications: MedicationEntry[]
}

/**
 * Which visits a timeline call returns: the `latest` visits (in time order) that come before the visit
 * `beforeVisitId`, or the patient's most recent ones. The app opens a record on the most recent page and
 * loads earlier visits on request: a heavy record (70+ visits, thousands of rows) costs what it shows.
 */
export interface TimelinePage {
  latest: number
  beforeVisitId?: number
}

/** Visits on the page the app opens a record with (and loads per "Show earlier visits"). */
export const TIMELINE_PAGE_VISITS = 20

export interface PatientTimeline {
  patient: PatientSummary
  /** Oldest first. */
  visits: VisitDetail[]
  /** How many of the patient's visits come before the first one returned (0: the record starts here). */
  earlierVisits: number
}

export interface CurrentMedicationClass {
  atc3: string
  name: string | null
  /** The drugs recorded in that class (ATC5 where mapped) with the names as recorded. */
  drugs: Array<{ atc5: string | null; recordedName: string }>
}

/** The patient's medications on the latest visit with any mapped medication ("already taking"). */
export interface CurrentMedications {
  visit: { sourceVisitId: string; when: string } | null
  classes: CurrentMedicationClass[]
}

/** An allergy to check recommended and current drugs against: an ATC code (any level) and/or a substance name. */
export interface AllergyEntry {
  substance: string
  atc: string | null
}
