// The command list: one entry per command; its module is imported only when it runs.
import type { CliCommand } from '../command'

export interface CommandEntry {
  summary: string
  load: () => Promise<CliCommand>
}

export const COMMANDS: Record<string, CommandEntry> = {
  ddi: { summary: 'check drugs for interactions by severity, with sources and coverage', load: async () => (await import('./ddi')).command },
  recommend: { summary: 'recommend a medication combination for a patient', load: async () => (await import('./recommend')).command },
  explain: { summary: "explain a patient's recommendation by modality and by code", load: async () => (await import('./explain')).command },
  models: { summary: 'list valid and refused models; choose the active one', load: async () => (await import('./models')).command },
  import: { summary: 'import a MIMIC-IV, MIMIC-III or eICU export into the patient database', load: async () => (await import('./import')).command },
  patients: { summary: 'list or search patients', load: async () => (await import('./patients')).command },
  audit: { summary: 'verify the hash-chained audit trail; export it as CSV or FHIR AuditEvent', load: async () => (await import('./audit')).command },
  show: { summary: "show a patient's visits, codes and medications in time order", load: async () => (await import('./show')).command },
  export: { summary: "export a patient's recommendation and review as a FHIR R4 Bundle", load: async () => (await import('./export')).command },
  serve: { summary: 'run the CDS Hooks 2.0 service for an EHR', load: async () => (await import('./serve')).command },
  evaluate: { summary: "score models on this database's own patients, with baselines and intervals", load: async () => (await import('./evaluate')).command },
  drugs: { summary: 'resolve drug strings to ingredients and ATC codes; mapping reports; local overrides', load: async () => (await import('./drugs')).command }
}
