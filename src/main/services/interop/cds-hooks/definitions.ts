// The CDS Hooks 2.0 services MedRec offers (the discovery document) and the shapes it reads and writes.
// Spec: https://cds-hooks.hl7.org/2.0/ — discovery, hook requests with prefetch, cards, feedback.

export type HookName = 'patient-view' | 'order-select' | 'order-sign'

export interface CdsServiceDefinition {
  hook: HookName
  id: string
  title: string
  description: string
  prefetch: Record<string, string>
  usageRequirements?: string
}

/** What the service asks the EHR to send with each call (it falls back to its own store for any key left out). */
export const PREFETCH: Record<string, string> = {
  patient: 'Patient/{{context.patientId}}',
  medications: 'MedicationRequest?patient={{context.patientId}}&status=active',
  conditions: 'Condition?patient={{context.patientId}}&clinical-status=active',
  allergies: 'AllergyIntolerance?patient={{context.patientId}}'
}

export const CDS_SERVICES: readonly CdsServiceDefinition[] = [
  {
    hook: 'patient-view',
    id: 'medrec-patient-view',
    title: 'MedRec: interactions in the active medication list',
    description: "Checks the patient's active medications against each other for graded drug–drug interactions, naming the source and licence of every warning.",
    prefetch: PREFETCH
  },
  {
    hook: 'order-select',
    id: 'medrec-order-select',
    title: 'MedRec: interactions of a selected order',
    description: 'Checks the selected medication orders against the active medications and the other draft orders; suggests a member of the same ATC class without a known interaction.',
    prefetch: PREFETCH
  },
  {
    hook: 'order-sign',
    id: 'medrec-order-sign',
    title: 'MedRec: interactions before signing',
    description: 'Checks the draft medication orders being signed against the active medications and allergies; critical cards for contraindicated or major interactions the orders introduce, with substitutions.',
    prefetch: PREFETCH
  }
]

/** The app's override reasons (ReviewSubmission / WarningDecision), offered on every warning card. */
export const OVERRIDE_REASON_SYSTEM = 'urn:medrec:override-reason'
export const OVERRIDE_REASONS = [
  { code: 'will-monitor', system: OVERRIDE_REASON_SYSTEM, display: 'Benefit outweighs risk: will monitor' },
  { code: 'will-adjust-dose', system: OVERRIDE_REASON_SYSTEM, display: 'Will adjust the dose' },
  { code: 'previously-tolerated', system: OVERRIDE_REASON_SYSTEM, display: 'Patient has tolerated the combination before' },
  { code: 'other', system: OVERRIDE_REASON_SYSTEM, display: 'Other reason' }
] as const

export interface CdsCoding {
  code: string
  system: string
  display?: string
}

export interface CdsAction {
  type: 'create' | 'update' | 'delete'
  description: string
  resource?: Record<string, unknown>
  resourceId?: string[]
}

export interface CdsSuggestion {
  label: string
  uuid: string
  isRecommended?: boolean
  actions: CdsAction[]
}

export interface CdsCard {
  uuid: string
  summary: string
  detail?: string
  indicator: 'info' | 'warning' | 'critical'
  source: { label: string; url?: string; topic?: CdsCoding }
  suggestions?: CdsSuggestion[]
  selectionBehavior?: 'at-most-one' | 'any'
  overrideReasons?: CdsCoding[]
}

export interface CdsResponse {
  cards: CdsCard[]
}
