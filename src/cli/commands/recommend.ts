import { parseArgs } from 'node:util'
import type { ColdStartSummary, RecommendationDdiPair, RecommendationResult } from '../../shared/types'
import { openServices } from '../../main/services/recommend/context'
import { parseSeverityWord, severityRank } from '../../main/services/recommend/ddi-port'
import type { CodeRef } from '../../main/services/inference/encode'
import { recommend } from '../../main/services/recommend/recommend'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec recommend <patient> [options]

Recommends a medication combination (ATC3 classes) for a patient's current visit from the stored
history. <patient> is the app's patient id or the source's patient id (e.g. a MIMIC subject_id).
Every recommendation is written to the audit log.

Options:
  --model <id>             model to use (default: the active model, see "medrec models")
  --threshold <t>          decision threshold in (0, 1) (default: the model's)
  --ddi-safe               never co-recommend a pair at or above --block-severity, and keep the DDI rate
                           at or under --max-ddi-rate, dropping the drugs that cost least expected benefit
  --block-severity <s>     Contraindicated | Major | Moderate | Minor | Unknown (default: Major)
  --max-ddi-rate <r>       DDI rate target in [0, 1] (default: none)
  --diagnosis <SYS:CODE>   the current visit's diagnosis (repeatable), e.g. ICD-10-CM:I10; with
                           --diagnosis/--procedure every stored visit becomes history
  --procedure <SYS:CODE>   the current visit's procedure (repeatable)
  --json                   print the full result as JSON
  --db <path>              ${DEFAULT_DB_HELP}
  --models-dir <path>      models folder (default: $MEDREC_MODELS_DIR or models/)`

/** "ICD-10-CM:I10" → system and code; a bare code has no system (matched if the vocabulary has it once). */
export function parseCodeArgument(text: string, option: string): CodeRef {
  const trimmed = text.trim()
  const colon = trimmed.indexOf(':')
  const system = colon > 0 ? trimmed.slice(0, colon) : null
  const code = colon > 0 ? trimmed.slice(colon + 1) : trimmed
  if (!code) throw new UsageError(`${option} "${text}" has no code (write SYSTEM:CODE, e.g. ICD-10-CM:I10).`)
  return { system, code }
}

export function parseUnitInterval(text: string, option: string, inclusive: boolean): number {
  const value = Number(text)
  const ok = Number.isFinite(value) && (inclusive ? value >= 0 && value <= 1 : value > 0 && value < 1)
  if (!ok) throw new UsageError(`${option} must be a number ${inclusive ? 'in [0, 1]' : 'strictly between 0 and 1'}, got "${text}".`)
  return value
}

const percent = (p: number): string => p.toFixed(3)

const shortTitle = (title: string): string => (title.length > 48 ? `${title.slice(0, 47)}…` : title)

/** NLA-MMR: which codes new to the model counted through their titles, and which stayed 'unknown'. */
export function coldStartLine(summary: ColdStartSummary | undefined): string | null {
  if (!summary || (summary.embedded.length === 0 && summary.unknown.length === 0)) return null
  const shown = summary.embedded.slice(0, 5).map((c) => `${c.code} (${shortTitle(c.title)})`)
  const more = summary.embedded.length > 5 ? `, … ${summary.embedded.length - 5} more` : ''
  const embedded =
    summary.embedded.length > 0
      ? `${summary.embedded.length} code(s) new to the model embedded from their titles: ${shown.join(', ')}${more}`
      : 'no code new to the model has a title'
  const untitled = summary.unknown.length > 0 ? `; ${summary.unknown.length} without a title counted as unknown` : ''
  return `Cold start: ${embedded}${untitled}`
}

function printResult(result: RecommendationResult): void {
  const provider = result.provider
  const fallback = provider.failed.length > 0 ? ` (${provider.failed.map((f) => `${f.provider} unavailable: ${f.error}`).join('; ')})` : ''
  console.log(`Patient ${result.sourcePatientId} (id ${result.patientId}) · model ${result.model.id} ${result.model.version} (${result.model.family}) on ${provider.provider}${fallback}`)
  const input = result.input
  const current = input.currentVisit.from === 'stored' ? `stored visit ${input.currentVisit.sourceVisitId}` : 'codes given on the command line'
  const unknownTotal = input.unknownCodes.diagnosis + input.unknownCodes.procedure + input.unknownCodes.medication
  const notes = [
    `current visit: ${current}`,
    `${input.visitsUsed} visit(s) used${input.visitsLeftOut > 0 ? `, ${input.visitsLeftOut} older left out` : ''}`,
    `${unknownTotal} code(s) unknown to the model${unknownTotal > 0 ? ` (${input.unknownCodeList.slice(0, 5).map((c) => `${c.system ? `${c.system} ` : ''}${c.code}`).join(', ')}${input.unknownCodeList.length > 5 ? ', …' : ''})` : ''}`,
    ...(input.unmappedMedications > 0 ? [`${input.unmappedMedications} history medication row(s) without an ATC class`] : [])
  ]
  console.log(notes.join(' · '))
  const coldStart = coldStartLine(input.coldStart)
  if (coldStart) console.log(coldStart)
  const safe = result.ddi.safeDecoding
  console.log(
    `Threshold ${result.threshold}` +
      (safe ? ` · DDI-safe: no pair at or above ${safe.blockSeverity}${safe.maxDdiRate !== null ? `, DDI rate ≤ ${safe.maxDdiRate}` : ''}` : '')
  )
  console.log('')
  console.log(`Recommended (${result.combination.length}):`)
  if (result.combination.length === 0) console.log('  (no drug reaches the threshold)')
  for (const drug of result.drugs.filter((d) => d.inCombination)) console.log(`  ${drug.atc3}  ${percent(drug.probability)}  ${drug.name ?? ''}`)
  if (result.ddi.dropped.length > 0) {
    console.log('Left out by DDI-safe decoding:')
    for (const d of result.ddi.dropped) {
      console.log(`  ${d.atc3}  ${percent(d.probability)}  ${d.reason === 'severity' ? 'blocked interaction' : 'DDI rate target'} with ${d.conflictsWith.join(', ')}`)
    }
  }
  if (!result.ddi.checked) console.log('DDI: not checked (no knowledge base loaded).')
  else {
    // One line per pair, most severe first, each source with what it says.
    const byPair = new Map<string, RecommendationDdiPair[]>()
    for (const p of result.ddi.interactions) {
      const key = [p.a, p.b].sort().join('–')
      byPair.set(key, [...(byPair.get(key) ?? []), p])
    }
    const worst = (pairs: RecommendationDdiPair[]) => Math.max(...pairs.map((p) => severityRank(p.severity)))
    const lines = [...byPair.entries()].sort((x, y) => worst(y[1]) - worst(x[1]) || (x[0] < y[0] ? -1 : 1))
    const n = result.combination.length
    console.log(`DDI rate of the combination: ${result.ddi.ddiRate} (${byPair.size} of ${(n * (n - 1)) / 2} pairs interact)`)
    for (const [pair, sources] of lines) {
      const ordered = [...sources].sort((x, y) => severityRank(y.severity) - severityRank(x.severity))
      console.log(`  ${pair}  ${ordered[0]!.severity}  (${ordered.map((p) => `${p.source}: ${p.severity}`).join('; ')})`)
    }
    console.log(`  Sources checked: ${result.ddi.source}. No warning is not proof of safety.`)
  }
  const below = result.drugs.filter((d) => !d.inCombination).slice(0, 5)
  if (below.length > 0) console.log(`Next most probable: ${below.map((d) => `${d.atc3} ${percent(d.probability)}`).join(', ')}`)
  console.log('')
  console.log(`Input hash ${result.inputHash} · audit entry ${result.auditId ?? '(not written)'} · ${result.timing.totalMs} ms`)
}

export const command: CliCommand = {
  name: 'recommend',
  summary: 'recommend a medication combination for a patient',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        threshold: { type: 'string' },
        'ddi-safe': { type: 'boolean', default: false },
        'block-severity': { type: 'string' },
        'max-ddi-rate': { type: 'string' },
        diagnosis: { type: 'string', multiple: true },
        procedure: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        db: { type: 'string' },
        'models-dir': { type: 'string' }
      }
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Give one patient id.' : `Give one patient id, got ${positionals.length}.`)
    const patient = positionals[0]!
    const threshold = values.threshold === undefined ? undefined : parseUnitInterval(values.threshold, '--threshold', false)
    const blockSeverity = values['block-severity'] === undefined ? 'Major' : parseSeverityWord(values['block-severity'])
    if (blockSeverity === null) throw new UsageError(`--block-severity must be Contraindicated, Major, Moderate, Minor or Unknown, got "${values['block-severity']}".`)
    const maxDdiRate = values['max-ddi-rate'] === undefined ? null : parseUnitInterval(values['max-ddi-rate'], '--max-ddi-rate', true)
    if (!values['ddi-safe'] && (values['block-severity'] !== undefined || values['max-ddi-rate'] !== undefined)) {
      throw new UsageError('--block-severity and --max-ddi-rate apply with --ddi-safe.')
    }
    const diagnoses = (values.diagnosis ?? []).map((c) => parseCodeArgument(c, '--diagnosis'))
    const procedures = (values.procedure ?? []).map((c) => parseCodeArgument(c, '--procedure'))

    const services = await openServices({ databasePath: values.db, modelsDirectory: values['models-dir'], requireDdi: values['ddi-safe'] })
    try {
      const result = await recommend(services.ctx, patient, {
        modelId: values.model,
        threshold,
        ddiSafe: values['ddi-safe'] ? { blockSeverity, maxDdiRate } : null,
        currentVisit: diagnoses.length + procedures.length > 0 ? { diagnoses, procedures } : undefined
      })
      if (values.json) console.log(JSON.stringify(result, null, 2))
      else printResult(result)
      return 0
    } finally {
      await services.close()
    }
  }
}
