// What an import reports: rows read, rejected with their reasons, the plan of what it changes.
// No runtime imports here: the preload bundle and the renderer take these as types.
import type { DrugMappingMethod, EhrFormat } from './patient'

export interface RejectedRow {
  file: string
  line: number
  reason: string
}

export interface ImportReport {
  runId: number
  format: EhrFormat
  sourceDir: string
  /** 'dry-run': nothing was written; `plan` says what the import would change. */
  status: 'completed' | 'skipped-unchanged' | 'dry-run'
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
  // Added by the importers (optional so older stored reports still type-check):
  /** sha256 over the input files, the reference tables and the importer version. */
  inputFingerprint?: string
  /** For 'skipped-unchanged': the completed run whose counts this report repeats. */
  previousRunId?: number | null
  /** Rows kept but not entirely as written (e.g. an invalid eICU code token dropped). */
  warnings?: number
  warningSamples?: RejectedRow[]
  /** Rows deliberately left out, by reason (e.g. cancelled eICU medication orders). */
  skippedRows?: Record<string, number>
  /** Imported diagnosis/procedure codes with no title in code_titles (kept, not rejected). */
  codesWithoutTitle?: number
  /** Of mappedBy.name: eICU rows mapped through other rows with the same HICL number. */
  mappedBySharedId?: number
  /** Rows stored in the medications table: all source rows of one drug in one visit fold into one. */
  storedMedicationRows?: number
  /** What the import changes in stored rows (per table, patients affected); with status 'dry-run', what it would change. */
  plan?: ImportPlan
  /** The drug resolver's outcomes over source medication rows (services/drugs). */
  drugResolution?: {
    resolved: number
    combination: number
    nonDrug: number
    ambiguous: number
    unresolved: number
    /** Of unresolved: rows with no drug name (only a HICL number). */
    noName?: number
    byPath: Record<string, number>
  }
  /** This import's visits with an age at the visit, top-coded, and without one by reason. */
  ages?: AgeCoverage
  /** Code titles this import did not write because the stored title is as good or better (never degraded). */
  titleConflicts?: { kept: number; replaced: number; samples: Array<{ code: string; kept: string; offered: string }> }
}

/** An import's visits by whether their age is known (stored top-coded at 90, "90 or older"). */
export interface AgeCoverage {
  known: number
  /** Of `known`: stored as 90, "90 or older". */
  topCoded: number
  /** Visits stored without an age, by reason. */
  unknown: Record<string, number>
}

/** One table's rows before and after an import; `removed`/`changed` count stored rows the import removes or alters. */
export interface ImportTableChange {
  before: number
  after: number
  added: number
  removed: number
  changed: number
}

/** What an import does to stored data; `destructive` when it removes or alters any stored row (needs replace). */
export interface ImportPlan {
  tables: Record<'patients' | 'visits' | 'diagnoses' | 'procedures' | 'medications', ImportTableChange>
  /** Stored patients whose rows the import removes or alters. */
  patientsAffected: number
  storedPatients: number
  destructive: boolean
  /** Stored visits without an age that this import gives one (not a change: nothing stored is lost). */
  agesFilled?: number
}

export interface ImportProgress {
  phase: string
  file: string | null
  rowsRead: number
  /** 0..1 where the total is known (bytes of compressed input read), else null. */
  fraction: number | null
}

/** A resource left out, with where it was: NDJSON files have lines, bundles have entries (1-based). */
export interface FhirRejectedResource {
  file: string
  line: number | null
  entry: number | null
  /** "Type/id" when the resource had them. */
  resource: string | null
  reason: string
}

export interface FhirImportReport {
  runId: number
  format: 'fhir'
  source: string
  /** 'dry-run': nothing was written; `plan` says what the import would change. */
  status: 'completed' | 'skipped-unchanged' | 'dry-run'
  previousRunId: number | null
  files: { bundles: number; ndjson: number }
  /** Resources read, by resourceType (every type, read or skipped). */
  resourcesRead: Record<string, number>
  patients: number
  /** Encounters stored as visits. */
  visits: number
  diagnosisCodes: number
  procedureCodes: number
  /** Medication resources (MedicationRequest, MedicationStatement, MedicationAdministration) stored. */
  medicationResources: number
  /** Rows in the medications table after folding repeated orders of a drug in a visit. */
  storedMedicationRows: number
  mappedDrugs: number
  unmappedDrugs: number
  mappedBy: Record<DrugMappingMethod, number>
  allergies: number
  /** Resource types MedRec does not read, with how many were skipped. */
  skippedTypes: Record<string, number>
  /** Resources of read types deliberately left out (e.g. entered-in-error), by reason. */
  skipped: Record<string, number>
  rejected: number
  /** The first rejected resources (all are counted in `rejected`). */
  rejectedSamples: FhirRejectedResource[]
  durationMs: number
  inputFingerprint: string
  /** Encounters with an age at the visit (from Patient.birthDate), top-coded, and without one by reason. */
  ages?: AgeCoverage
  /** What the import changes in stored rows (dry runs and completed imports). */
  plan?: ImportPlan
}
