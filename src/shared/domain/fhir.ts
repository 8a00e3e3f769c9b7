// What a FHIR import reports (services/imports/fhir). Plain data: shown by the CLI, stored in import_runs.
import type { DrugMappingMethod, ImportPlan } from '../types'

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
  /** What the import changes in stored rows (dry runs and completed imports). */
  plan?: ImportPlan
}
