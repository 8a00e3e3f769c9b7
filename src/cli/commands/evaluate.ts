import { existsSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Interval } from '../../main/services/evaluate/bootstrap'
import { DEFAULT_BOOTSTRAP, type EvaluationReport, evaluateDatabase, type ModelEvaluation } from '../../main/services/evaluate/evaluate'
import { renderReportHtml } from '../../main/services/evaluate/report-html'
import { DRUG_DDI_NAME, type DrugLevelSummary } from '../../main/services/evaluate/drug-level'
import type { MetricSummary } from '../../main/services/evaluate/summary'
import { openServices } from '../../main/services/open-services'
import { defaultDatabasePath, defaultKnowledgeBasePath } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec evaluate [options]

Scores a model on this database's own patients: every visit with at least one medication class the model
knows, predicted from that patient's earlier visits only, beside two baselines (most frequent classes,
leave-patient-out; repeat the previous visit's classes), with 95% intervals from a patient-level bootstrap.
The same visits are scored at drug level (ATC5) too: each recommended class resolved to drugs as a
recommendation resolves it from the earlier visits only, beside "repeat the previous visit's drugs", with the
share of drug pairs the interaction checker rates Major or Contraindicated.
Reads the database without changing it.

Options:
  --model <id>             model to evaluate (repeatable; default: the active model)
  --all                    every valid model
  --since <YYYY-MM-DD>     score only visits that began on or after this date (earlier ones stay history;
                           visits with only a year, e.g. eICU, count from that year's first day)
  --out <report.html>      also write a self-contained HTML report (no network needed to open or print it)
  --json                   print every figure as JSON
  --per-visit              with --json: also each scored visit's Jaccard, F1, PRAUC, recall and classes,
                           and its drug-level scores and drugs
  --bootstrap <n>          bootstrap replicates (default ${DEFAULT_BOOTSTRAP.replicates}; 0: no intervals)
  --seed <n>               bootstrap seed (default ${DEFAULT_BOOTSTRAP.seed})
  --batch-size <n>         patients read per database batch (default 256)
  --db <path>              ${DEFAULT_DB_HELP}
  --models-dir <path>      models folder (default: $MEDREC_MODELS_DIR or models/)
  --kb <path>              drug knowledge base for DDI rates (default: $MEDREC_KB or resources/knowledge.sqlite)`

function wholeNumber(text: string | undefined, option: string, fallback: number, minimum: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < minimum) throw new UsageError(`${option} must be a whole number ≥ ${minimum}, got "${text}".`)
  return value
}

const fixed = (value: number, digits: number): string => value.toFixed(digits)

export function formatInterval(interval: Interval | undefined, digits = 4): string {
  if (!interval) return '–'
  if (interval.low === null || interval.high === null) return fixed(interval.value, digits)
  return `${fixed(interval.value, digits)} [${fixed(interval.low, digits)}, ${fixed(interval.high, digits)}]`
}

function summaryLine(label: string, summary: MetricSummary, ddiNames: readonly string[]): string {
  const m = summary.metrics
  const cells = [
    label.padEnd(44),
    `Jaccard ${formatInterval(m.jaccard)}`,
    `F1 ${formatInterval(m.f1)}`,
    `PRAUC ${formatInterval(m.prauc)}`,
    `recall ${formatInterval(m.recall)}`,
    `#drugs ${formatInterval(m.drugs, 2)}`,
    ...ddiNames.map((n) => `DDI ${n} ${formatInterval(m[`ddi:${n}`])}`),
    `ECE ${formatInterval(m.ece)}`
  ]
  return cells.join(' · ')
}

function drugLine(label: string, summary: DrugLevelSummary): string {
  const m = summary.metrics
  const cells = [label.padEnd(44)]
  for (const [key, name, digits] of [
    ['jaccard', 'Jaccard', 4],
    ['f1', 'F1', 4],
    ['precision', 'precision', 4],
    ['recall', 'recall', 4],
    ['drugs', '#drugs', 2],
    [`ddi:${DRUG_DDI_NAME}`, 'DDI Major+', 4]
  ] as const) {
    if (m[key]) cells.push(`${name} ${formatInterval(m[key], digits)}`)
  }
  return cells.join(' · ')
}

const percent = (share: number | null): string => (share === null ? '–' : `${(100 * share).toFixed(1)}%`)

function printModel(evaluation: ModelEvaluation, ddiNames: readonly string[]): void {
  const { model, visits, unknown } = evaluation
  console.log(`Model ${model.id} ${model.version} (${model.family}) · threshold ${model.threshold} · sha256 ${model.sha256} · ${model.provider}`)
  console.log(model.probabilities?.calibrated ? `Probabilities calibrated (${model.probabilities.method}, fitted on ${model.probabilities.fittedOn})` : 'Probabilities: raw model outputs (no calibration)')
  console.log(
    `  ${visits.evaluated} visits of ${visits.patients} patients scored` +
      (visits.beforeSince + visits.undatedLeftOut > 0 ? ` (${visits.beforeSince} before --since, ${visits.undatedLeftOut} undated left out)` : '') +
      ` in ${(evaluation.durationMs / 1000).toFixed(1)} s`
  )
  console.log(`  ${summaryLine(model.id, evaluation.summary, ddiNames)}`)
  for (const baseline of evaluation.baselines) console.log(`  ${summaryLine(baseline.label, baseline.summary, ddiNames)}`)
  const subset = evaluation.withEarlierMedication
  console.log(`  Visits with an earlier medicated visit (${subset.model.visits} visits of ${subset.model.patients} patients):`)
  console.log(`  ${summaryLine(model.id, subset.model, ddiNames)}`)
  for (const baseline of evaluation.baselines) console.log(`  ${summaryLine(baseline.label, subset.baselines[baseline.id], ddiNames)}`)
  console.log(
    `  Unknown to the model: diagnosis codes ${percent(unknown.diagnosisCodes.share)} (${unknown.diagnosisCodes.unknown}/${unknown.diagnosisCodes.total}), ` +
      `procedure codes ${percent(unknown.procedureCodes.share)} (${unknown.procedureCodes.unknown}/${unknown.procedureCodes.total}), ` +
      `medication rows ${percent(unknown.medicationRows.share)} (${unknown.medicationRows.withoutAtc3} without ATC3, ${unknown.medicationRows.outsideVocabulary} outside the vocabulary, of ${unknown.medicationRows.total})`
  )
  for (const t of unknown.tertiles) {
    console.log(
      `  Unknown-code tertile ${t.tertile} (share ${percent(t.shareRange[0])}–${percent(t.shareRange[1])}, mean ${percent(t.meanShare)}, ${t.summary.visits} visits): Jaccard ${formatInterval(t.summary.metrics.jaccard)}`
    )
  }
  const { subgroups } = evaluation
  for (const [name, groups] of [['sex', subgroups.sex], ['source', subgroups.source], ['age at visit', subgroups.ageBand]] as const) {
    console.log(`  By ${name}: ${groups.map((g) => `${g.group} ${formatInterval(g.summary.metrics.jaccard)} (${g.summary.visits} visits)`).join(' · ')}`)
  }
  console.log(`  Age at visit known: ${subgroups.ageKnown.map((c) => `${c.source} ${c.withAge}/${c.visits} (${percent(c.share)})`).join(' · ')} (90+ is the sources' top code)`)
  const drug = evaluation.drugLevel
  console.log(
    `  Drug level (ATC5): ${drug.visits.evaluated} visits of ${drug.visits.patients} patients (${drug.visits.withoutDrug} scored visits without a prescription resolved to a drug left out)`
  )
  console.log(`  ${drugLine(model.id, drug.summary)}`)
  for (const baseline of drug.baselines) console.log(`  ${drugLine(baseline.label, baseline.summary)}`)
  console.log(`  ${drugLine('Recorded prescriptions', drug.recorded)}`)
  const c = drug.choices
  console.log(`  Drugs of the ${c.classes} recommended classes: ${c.fromHistory} from an earlier visit, ${c.fromModel} by the within-class choice, ${c.withoutDrug} without a drug`)
}

function printReport(report: EvaluationReport): void {
  const ddiNames = report.ddiMatrices.map((m) => m.name)
  console.log(`Database ${report.database.path} · fingerprint ${report.database.fingerprint.sha256}`)
  console.log(
    `Evaluated ${report.createdAt} in ${(report.durationMs / 1000).toFixed(1)} s · bootstrap ${report.options.bootstrap.replicates} replicates, seed ${report.options.bootstrap.seed}` +
      (report.options.since ? ` · visits since ${report.options.since}` : '')
  )
  for (const note of report.notes) console.log(`Note: ${note}`)
  const basis = report.drugLevel
  console.log(
    `Drug level: within-class choice ${'unavailable' in basis.drugChoice ? `unavailable (${basis.drugChoice.unavailable})` : `${basis.drugChoice.version} (sha256 ${basis.drugChoice.sha256.slice(0, 16)}…)`} · ` +
      ('unavailable' in basis.ddi
        ? `DDI share: ${basis.ddi.unavailable}`
        : `DDI share: drug pairs rated ${basis.ddi.severities.join(' or ')} by ${basis.ddi.checked} (pairs found in: ${basis.ddi.foundIn.join('; ') || 'none'})`)
  )
  console.log(`Drug level, PRAUC: ${basis.notApplicable.prauc}; ECE: ${basis.notApplicable.ece}`)
  for (const evaluation of report.models) {
    console.log('')
    printModel(evaluation, ddiNames)
  }
}

function parseOptions(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string', multiple: true },
        all: { type: 'boolean', default: false },
        since: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
      'per-visit': { type: 'boolean', default: false },
        bootstrap: { type: 'string' },
        seed: { type: 'string' },
        'batch-size': { type: 'string' },
        db: { type: 'string' },
        'models-dir': { type: 'string' },
        kb: { type: 'string' }
      }
    })
  } catch (error) {
    // node:util's messages name the option ("Option '--bootstrap <value>' argument is ambiguous…").
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
}

export const command: CliCommand = {
  name: 'evaluate',
  summary: "score models on this database's own patients, with baselines and intervals",
  usage,
  async run(argv) {
    const { values, positionals } = parseOptions(argv)
    if (positionals.length > 0) throw new UsageError(`evaluate takes no positional arguments, got "${positionals.join(' ')}".`)
    if (values.all && values.model) throw new UsageError('Give --model or --all, not both.')
    if (values['per-visit'] && !values.json) throw new UsageError('--per-visit applies with --json.')
    if (values.since !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(values.since)) throw new UsageError(`--since must be a date written YYYY-MM-DD, got "${values.since}".`)
    const replicates = wholeNumber(values.bootstrap, '--bootstrap', DEFAULT_BOOTSTRAP.replicates, 0)
    const seed = wholeNumber(values.seed, '--seed', DEFAULT_BOOTSTRAP.seed, 0)
    const batchSize = wholeNumber(values['batch-size'], '--batch-size', 256, 1)
    const databasePath = resolve(values.db ?? defaultDatabasePath())
    if (!existsSync(databasePath)) throw new UsageError(`No patient database at ${databasePath}: import patients first (medrec import …) or give --db.`)

    // Read-only: evaluating never changes the hospital's database.
    const opened = await openServices({
      databasePath,
      readonly: true,
      knowledgeBasePath: values.kb ? resolve(values.kb) : defaultKnowledgeBasePath(),
      ...(values['models-dir'] ? { modelsDirectory: resolve(values['models-dir']) } : {})
    })
    const { db } = opened.services
    const registry = opened.services.registry()
    try {
      const showProgress = !values.json && process.stderr.isTTY
      const report = await evaluateDatabase(
        {
          db,
          databasePath,
          registry,
          knowledgeBasePath: values.kb ? resolve(values.kb) : defaultKnowledgeBasePath(),
          // The checker and drug choice recommendations use (--models-dir's drug-choice); no knowledge base: the reason comes from the path.
          ddi: opened.ctx.ddi ?? undefined,
          drugChoice: opened.ctx.drugChoice
        },
        {
          modelIds: values.model,
          all: values.all,
          since: values.since ?? null,
          batchSize,
          bootstrap: { replicates, seed },
          keepVisits: values['per-visit'],
          onProgress: showProgress
            ? (p) => process.stderr.write(`\r${p.modelId} (${p.modelIndex + 1}/${p.modelCount}) ${p.phase} ${p.patientsDone}/${p.patientsTotal} patients   `)
            : undefined
        }
      )
      if (showProgress) process.stderr.write('\n')
      if (values.out) {
        const out = resolve(values.out)
        writeFileSync(out, renderReportHtml(report))
        if (!values.json) console.log(`Report written to ${out}`)
      }
      if (values.json) console.log(JSON.stringify(report, null, 2))
      else printReport(report)
      return 0
    } finally {
      await opened.close()
    }
  }
}
