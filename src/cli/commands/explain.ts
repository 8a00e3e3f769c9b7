import type { ClassWithDrugs } from '../../shared/domain/recommendation'
import type { CausalWeightCode, DrugExplanation, ExplanationResult } from '../../shared/domain/explanation'
import { openServices } from '../../main/services/open-services'
import { parseArgs } from 'node:util'
import { explain } from '../../main/services/explain/explain'
import { drugsForClasses } from '../../main/services/recommend/recommend'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'
import { classLines, parseCodeArgument, parseUnitInterval, probabilityLine } from './recommend'

const usage = `Usage: medrec explain <patient> [options]

Explains a patient's recommended drugs: exact Shapley values over the model's modalities (probability
units; they add up to p(all modalities) − p(none)), and for the top drugs how much each diagnosis,
procedure and history medication adds (p with it − p without it). A CafeMed model also lists, per drug,
the current visit's diagnoses and procedures with the largest patient-specific causal weights (terms of
the drug's logit) beside their estimated effects. Written to the audit log.

Options:
  --model <id>             model to use (default: the active model)
  --drug <ATC3>            explain this drug (repeatable; default: the recommended combination)
  --threshold <t>          threshold for the default drug list (default: the model's)
  --codes <n>              per-code contributions for the n most probable explained drugs (default 3)
  --diagnosis <SYS:CODE>   the current visit's diagnosis (repeatable), as for "medrec recommend"
  --procedure <SYS:CODE>   the current visit's procedure (repeatable)
  --json                   print the full result as JSON
  --db <path>              ${DEFAULT_DB_HELP}
  --models-dir <path>      models folder (default: $MEDREC_MODELS_DIR or models/)`

const signed = (value: number): string => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(4)}`

function printResult(result: ExplanationResult, classDrugs: ClassWithDrugs[]): void {
  console.log(`Patient ${result.sourcePatientId} (id ${result.patientId}) · model ${result.model.id} ${result.model.version} on ${result.provider.provider}`)
  console.log(`Modalities: ${result.modalities.map((m) => `${m.label} (${m.side})`).join(', ')}`)
  console.log(`${probabilityLine(result)}; Shapley values add up to the probability on that scale`)
  for (const drug of result.drugs) {
    console.log('')
    console.log(`${drug.atc3}  ${drug.name ?? ''}`)
    const cls = classDrugs.find((c) => c.atc3 === drug.atc3)
    if (cls) for (const line of classLines({ classes: [cls] }).slice(1)) console.log(line)
    console.log(`  p = ${drug.probability.toFixed(3)}; with every modality masked ${drug.baseline.toFixed(3)}`)
    for (const m of [...drug.modalities].sort((a, b) => Math.abs(b.shapley) - Math.abs(a.shapley))) {
      console.log(`    ${signed(m.shapley)}  ${m.label}`)
    }
    if (drug.codes) {
      const shown = drug.codes.slice(0, 8)
      console.log(`  Codes (p − p without the code)${drug.codes.length > shown.length ? `, largest ${shown.length} of ${drug.codes.length}` : ''}:`)
      for (const c of shown) {
        const label = `${c.kind} ${c.system ? `${c.system} ` : ''}${c.code}${c.title ? ` ${c.title}` : ''}${c.unknown ? ' (unknown to the model)' : ''}${c.fromTitle ? ' (new to the model, read from its title)' : ''}`
        console.log(`    ${signed(c.contribution)}  ${label}`)
      }
    }
    if (result.causal && !result.causal.error) printCausalWeights(drug)
  }
  if (result.causal) {
    console.log('')
    if (result.causal.error) console.log(`Causal weights unavailable: ${result.causal.error}`)
    else console.log(`Causal weights: ${result.causal.note} Estimator: ${result.causal.estimator ?? 'not stated'}.`)
  }
  console.log('')
  console.log(
    `Input hash ${result.inputHash} · audit entry ${result.auditId ?? '(not written)'} · ${result.timing.totalMs} ms (${result.timing.subsetRows} coalitions, ${result.timing.occlusionRows} occlusions)`
  )
}

function printCausalWeights(drug: DrugExplanation): void {
  const weights = drug.causalWeights
  if (!weights) return
  if (weights.diagnoses.length + weights.procedures.length === 0) {
    console.log('  Causal weights: no code of the current visit weighs on this drug')
    return
  }
  console.log(`  Causal weights (terms of the logit; all current-visit codes together ${signed(weights.logitTotal)}):`)
  const section = (title: string, codes: CausalWeightCode[], weighted: number): void => {
    if (codes.length === 0) return
    console.log(`    ${title}${weighted > codes.length ? `, largest ${codes.length} of ${weighted}` : ''}:`)
    for (const c of codes) {
      const effect = c.effect
        ? `effect ${signed(c.effect.riskDifference)} ± ${c.effect.standardError.toFixed(4)}, q ${c.effect.q.toPrecision(2)}, ${c.effect.treatedVisits} visits${c.effect.usedByModel ? '' : ', not used by the model'}`
        : 'not estimated'
      console.log(`      ${signed(c.weight)}  ${c.system ? `${c.system} ` : ''}${c.code}${c.title ? ` ${c.title}` : ''}  (${effect})`)
    }
  }
  section('Diagnoses', weights.diagnoses, weights.weightedDiagnoses)
  section('Procedures', weights.procedures, weights.weightedProcedures)
}

export const command: CliCommand = {
  name: 'explain',
  summary: "explain a patient's recommendation by modality and by code",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        drug: { type: 'string', multiple: true },
        threshold: { type: 'string' },
        codes: { type: 'string' },
        diagnosis: { type: 'string', multiple: true },
        procedure: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        db: { type: 'string' },
        'models-dir': { type: 'string' }
      }
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Give one patient id.' : `Give one patient id, got ${positionals.length}.`)
    const threshold = values.threshold === undefined ? undefined : parseUnitInterval(values.threshold, '--threshold', false)
    const codeDrugs = values.codes === undefined ? undefined : Number(values.codes)
    if (codeDrugs !== undefined && !(Number.isInteger(codeDrugs) && codeDrugs >= 0)) {
      throw new UsageError(`--codes must be a whole number ≥ 0, got "${values.codes}".`)
    }
    const diagnoses = (values.diagnosis ?? []).map((c) => parseCodeArgument(c, '--diagnosis'))
    const procedures = (values.procedure ?? []).map((c) => parseCodeArgument(c, '--procedure'))
    const services = await openServices({ databasePath: values.db, modelsDirectory: values['models-dir'], knowledgeBasePath: null })
    try {
      const result = await explain(services.ctx, positionals[0]!, {
        modelId: values.model,
        drugs: values.drug,
        threshold,
        codeDrugs,
        currentVisit: diagnoses.length + procedures.length > 0 ? { diagnoses, procedures } : undefined
      })
      // The drug each explained class resolves to, as a recommendation would choose it.
      const classDrugs = drugsForClasses(services.ctx, positionals[0]!, result.drugs, {
        currentVisit: diagnoses.length + procedures.length > 0 ? { diagnoses, procedures } : undefined
      })
      if (values.json) console.log(JSON.stringify({ ...result, classDrugs }, null, 2))
      else printResult(result, classDrugs)
      return 0
    } finally {
      await services.close()
    }
  }
}
