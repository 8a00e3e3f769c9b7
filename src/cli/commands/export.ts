import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { exportRecommendationAsFhir } from '../../main/services/interop/fhir-export'
import { openServices } from '../../main/services/open-services'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec export --format fhir <patient> [options]

Runs a recommendation for the patient (by id or source id; recorded in the audit log like any other)
and writes it, with the patient's latest pharmacist review if there is one, as a FHIR R4 collection
Bundle: MedicationRequest (intent proposal) per recommended class, DetectedIssue per interaction warning
(with source, licence and, for a review's override, the reason as mitigation), the model as a Device,
Provenance and an AuditEvent for the decision.

Options:
  --format fhir      the only export format (required)
  --out <file>       write the Bundle there (default: stdout)
  --model <id>       model to use (default: the active model)
  --no-review        leave the latest pharmacist review out
  --db <path>        ${DEFAULT_DB_HELP}`

export const command: CliCommand = {
  name: 'export',
  summary: "export a patient's recommendation and review as a FHIR R4 Bundle",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { format: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' }, 'no-review': { type: 'boolean', default: false }, db: { type: 'string' } }
    })
    if (values.format !== 'fhir') throw new UsageError(values.format ? `--format "${values.format}" is not supported: only fhir.` : '--format fhir is required.')
    if (positionals.length !== 1) throw new UsageError('name one patient (id or source id).')
    const services = await openServices({ databasePath: values.db ? resolve(values.db) : undefined })
    // No knowledge base: the recommendation carries no interaction warnings to name sources for.
    const sources = services.services.knowledge()?.ddi.sources() ?? []
    try {
      const bundle = await exportRecommendationAsFhir(services.ctx, positionals[0]!, { sources, includeReview: !values['no-review'], modelId: values.model })
      const text = `${JSON.stringify(bundle, null, 2)}\n`
      if (values.out) {
        writeFileSync(values.out, text)
        console.error(`Wrote a FHIR Bundle of ${bundle.entry.length} resources to ${values.out}`)
      } else process.stdout.write(text)
      return 0
    } finally {
      await services.close()
    }
  }
}
