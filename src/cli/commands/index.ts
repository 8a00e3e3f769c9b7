// The command list. Add one line per command; its module is imported only when it runs.
import { registerCommand } from '../main'

void registerCommand
registerCommand('ddi', 'check drugs for interactions by severity, with sources and coverage', async () => (await import('./ddi')).command)
registerCommand('recommend', 'recommend a medication combination for a patient', async () => (await import('./recommend')).command)
registerCommand('explain', "explain a patient's recommendation by modality and by code", async () => (await import('./explain')).command)
registerCommand('models', 'list valid and refused models; choose the active one', async () => (await import('./models')).command)
registerCommand('import', 'import a MIMIC-IV, MIMIC-III or eICU export into the patient database', async () => (await import('./import')).command)
registerCommand('patients', 'list or search patients', async () => (await import('./patients')).command)
registerCommand('audit', 'verify the hash-chained audit trail; export it as CSV or FHIR AuditEvent', async () => (await import('./audit')).command)
registerCommand('show', "show a patient's visits, codes and medications in time order", async () => (await import('./show')).command)
registerCommand('export', "export a patient's recommendation and review as a FHIR R4 Bundle", async () => (await import('./export')).command)
registerCommand('serve', 'run the CDS Hooks 2.0 service for an EHR', async () => (await import('./serve')).command)
registerCommand('evaluate', "score models on this database's own patients, with baselines and intervals", async () => (await import('./evaluate')).command)
registerCommand('drugs', 'resolve drug strings to ingredients and ATC codes; mapping reports; local overrides', async () => (await import('./drugs')).command)
