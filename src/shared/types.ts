// Domain types shared by main, preload, renderer and CLI. No runtime imports here.

export type EhrFormat = 'mimic-iv' | 'mimic-iii' | 'eicu'

/** Code systems of diagnoses and procedures. ICD-9-CM covers both volumes (diagnoses and procedures). */
export type CodeSystem = 'ICD-9-CM' | 'ICD-10-CM' | 'ICD-10-PCS' | 'other'

export type CodeKind = 'diagnosis' | 'procedure'

/** How a raw medication row was mapped to ATC. 'unmapped' rows are kept and flagged, never dropped. */
export type DrugMappingMethod = 'ndc' | 'gsn' | 'name' | 'unmapped'

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
}

export interface VisitDetail {
  id: number
  sourceVisitId: string
  /** ISO 8601 when the source has absolute times; null for sources with relative offsets only (eICU). */
  admitTime: string | null
  dischargeTime: string | null
  /** Human-readable position where there is no absolute time, e.g. "2015, hospital stay 1, unit visit 2". */
  orderLabel: string
  diagnoses: CodedEntry[]
  procedures: CodedEntry[]
  medications: MedicationEntry[]
}

export interface PatientTimeline {
  patient: PatientSummary
  visits: VisitDetail[]
}

export interface RejectedRow {
  file: string
  line: number
  reason: string
}

export interface ImportReport {
  runId: number
  format: EhrFormat
  sourceDir: string
  status: 'completed' | 'skipped-unchanged'
  patients: number
  visits: number
  diagnosisCodes: number
  procedureCodes: number
  medicationRows: number
  mappedDrugs: number
  unmappedDrugs: number
  mappedBy: Record<DrugMappingMethod, number>
  rejectedRows: number
  /** The first rejected rows with reasons (all are counted in rejectedRows). */
  rejectedSamples: RejectedRow[]
  durationMs: number
}

export interface ImportProgress {
  phase: string
  file: string | null
  rowsRead: number
  /** 0..1 where the total is known (bytes of compressed input read), else null. */
  fraction: number | null
}

export interface AppInfo {
  version: string
  databasePath: string
  patientCount: number
  dataAttributions: DataAttribution[]
}

export interface DataAttribution {
  name: string
  license: string
  attribution: string
  url: string
}
