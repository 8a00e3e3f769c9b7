import { parseSeverity } from '../../shared/domain/interaction'
import type { AllergyEntry } from '../../shared/domain/patient'
import type { ColdStartSummary, RecommendationResult } from '../../shared/domain/recommendation'
import { openServices } from '../../main/services/open-services'
import { parseArgs } from 'node:util'
import type { CodeRef } from '../../main/services/inference/encode'
import { recommend } from '../../main/services/recommend/recommend'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec recommend <patient> [options]

Recommends a medication combination for a patient's current visit from the stored history: ATC3
classes, each resolved to a drug (ATC5): the one the patient takes, else took most recently, else the
within-class choice (models/drug-choice). Interactions are checked between drugs. <patient> is the
app's patient id or the source's patient id (e.g. a MIMIC subject_id). Every recommendation is written
to the audit log.

Options:
  --model <id>             model to use (default: the active model, see "medrec models")
  --threshold <t>          decision threshold in (0, 1) (default: the model's)
  --miss-rate <a>          instead of --threshold: miss at most this share of the classes that will be
                           prescribed (0.01-0.50, e.g. 0.1), on average over patients. Guaranteed by
                           conformal risk control on the model's validation patients, assuming your
                           patients are exchangeable with them (same population, no drift); one
                           patient's recommendation may miss more
  --ddi-safe               never add a drug interacting at or above --block-severity: first another
                           member of its class, only then drop the class; drugs the patient takes are
                           never dropped (flagged for review); keep the DDI rate under --max-ddi-rate
  --block-severity <s>     Contraindicated | Major | Moderate | Minor | Unknown (default: Major)
  --max-ddi-rate <r>       DDI rate target in [0, 1] (default: none)
  --diagnosis <SYS:CODE>   the current visit's diagnosis (repeatable), e.g. ICD-10-CM:I10; with
                           --diagnosis/--procedure every stored visit becomes history
  --procedure <SYS:CODE>   the current visit's procedure (repeatable)
  --visit <id>             the stored visit to treat as current (source visit id or app id; default:
                           the latest); later visits are left out
  --allergy <ATC|name>     an allergy to check drugs against (repeatable): an ATC code of any level
                           (class match for levels 1-4) or an ingredient name
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

/** "J01C" or "B01AC06" → an allergen by ATC code; anything else → an ingredient name. */
export function parseAllergyArgument(text: string): AllergyEntry {
  const trimmed = text.trim()
  if (!trimmed) throw new UsageError('--allergy needs an ATC code or an ingredient name.')
  const upper = trimmed.toUpperCase()
  return /^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$/.test(upper) ? { substance: upper, atc: upper } : { substance: trimmed, atc: null }
}

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

const sourceText = { current: 'taking now', history: 'taken before', model: 'within-class choice' } as const

/** Each class with its drug(s) and the next members of the class; the same lines "explain" prints. */
export function classLines(result: Pick<RecommendationResult, 'classes'>): string[] {
  const lines: string[] = []
  for (const cls of result.classes) {
    lines.push(`  ${cls.atc3}  ${percent(cls.probability)}  ${cls.name ?? ''}`)
    if (cls.drugs.length === 0) lines.push(`      (no drug chosen: ${cls.noDrugReason ?? 'unknown'})`)
    for (const d of cls.drugs) {
      lines.push(`      → ${d.atc5}  ${d.name ?? ''}  (${sourceText[d.source]}${d.probability !== null ? ` ${percent(d.probability)}` : ''})`)
    }
    if (cls.review) lines.push(`      ! kept for review: interacts (${cls.review.severity}) with ${cls.review.conflictsWith.join(', ')}`)
    if (cls.alternatives.length > 0) {
      lines.push(`      alternatives: ${cls.alternatives.slice(0, 3).map((a) => `${a.atc5} ${a.name ?? ''} ${percent(a.probability)}`).join(', ')}`)
    }
  }
  return lines
}

/** Interrupting warnings first, then inline, then a count of the collapsed ones. */
export function warningLines(result: Pick<RecommendationResult, 'warnings'>): string[] {
  const lines: string[] = []
  const interrupting = result.warnings.filter((w) => w.interrupting)
  const inline = result.warnings.filter((w) => !w.interrupting && w.tier === 'inline')
  const collapsed = result.warnings.length - interrupting.length - inline.length
  const line = (w: RecommendationResult['warnings'][number]): string => `  ${w.severity.padEnd(15)} ${w.detail} [${w.sources.join('; ')}]`
  lines.push(`Interrupting warnings (${interrupting.length}):`)
  for (const w of interrupting) lines.push(line(w))
  if (inline.length > 0) lines.push(`Other warnings (${inline.length}):`)
  for (const w of inline) lines.push(line(w))
  if (collapsed > 0) lines.push(`  … and ${collapsed} minor warning(s) or class-level note(s) (see --json)`)
  return lines
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
  console.log(probabilityLine(result))
  console.log(
    `Threshold ${result.threshold}` +
      (result.missRate ? ` (guaranteed miss rate ≤ ${result.missRate.alpha} on average, assuming ${result.missRate.assumption})` : '') +
      (safe ? ` · DDI-safe: no pair at or above ${safe.blockSeverity}${safe.maxDdiRate !== null ? `, DDI rate ≤ ${safe.maxDdiRate}` : ''}` : '')
  )
  console.log('')
  console.log(`Recommended (${result.combination.length}):`)
  if (result.combination.length === 0) console.log('  (no class reaches the threshold)')
  for (const line of classLines(result)) console.log(line)
  for (const s of result.substituted) console.log(`Substituted in ${s.atc3}: ${s.from} → ${s.to} (${s.reason})`)
  for (const d of result.dropped) {
    console.log(`Left out by DDI-safe decoding: ${d.atc3} ${percent(d.probability)} (${d.reason === 'severity' ? d.explanation : `DDI rate target, with ${d.conflictsWith.join(', ')}`})`)
  }
  if (!result.ddi.checked) console.log('DDI: not checked (no knowledge base loaded).')
  else {
    const drugs = new Set(result.classes.flatMap((c) => c.drugs.map((d) => d.atc5)))
    const interacting = new Set(result.ddi.interactions.map((p) => [p.a, p.b].sort().join('|'))).size
    console.log(`Drug-pair DDI rate of the combination: ${result.ddi.ddiRate} (${interacting} of ${(drugs.size * (drugs.size - 1)) / 2} drug pairs interact)`)
  }
  for (const line of warningLines(result)) console.log(line)
  if (result.ddi.checked) console.log(`  Sources checked: ${result.ddi.source}. No warning is not proof of safety.`)
  if ('unavailable' in result.drugChoice) console.log(`Within-class drug choice unavailable: ${result.drugChoice.unavailable}`)
  const below = result.drugs.filter((d) => !d.inCombination).slice(0, 5)
  if (below.length > 0) console.log(`Next most probable: ${below.map((d) => `${d.atc3} ${percent(d.probability)}`).join(', ')}`)
  console.log('')
  console.log(`Input hash ${result.inputHash} · audit entry ${result.auditId ?? '(not written)'} · ${result.timing.totalMs} ms`)
}

/** Says whether the printed probabilities are calibrated, and how. */
export function probabilityLine(result: Pick<RecommendationResult, 'probabilities'>): string {
  const scale = result.probabilities
  return scale?.calibrated
    ? `Probabilities: calibrated (${scale.method}, fitted on ${scale.fittedOn})`
    : "Probabilities: the model's raw outputs (this model carries no calibration)"
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
        'miss-rate': { type: 'string' },
        'ddi-safe': { type: 'boolean', default: false },
        'block-severity': { type: 'string' },
        'max-ddi-rate': { type: 'string' },
        diagnosis: { type: 'string', multiple: true },
        procedure: { type: 'string', multiple: true },
        visit: { type: 'string' },
        allergy: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        db: { type: 'string' },
        'models-dir': { type: 'string' }
      }
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Give one patient id.' : `Give one patient id, got ${positionals.length}.`)
    const patient = positionals[0]!
    const threshold = values.threshold === undefined ? undefined : parseUnitInterval(values.threshold, '--threshold', false)
    const missRate = values['miss-rate'] === undefined ? undefined : parseUnitInterval(values['miss-rate'], '--miss-rate', false)
    if (missRate !== undefined && threshold !== undefined) throw new UsageError('Give --threshold or --miss-rate, not both.')
    const blockSeverity = values['block-severity'] === undefined ? 'Major' : parseSeverity(values['block-severity'])
    if (blockSeverity === null) throw new UsageError(`--block-severity must be Contraindicated, Major, Moderate, Minor or Unknown, got "${values['block-severity']}".`)
    const maxDdiRate = values['max-ddi-rate'] === undefined ? null : parseUnitInterval(values['max-ddi-rate'], '--max-ddi-rate', true)
    if (!values['ddi-safe'] && (values['block-severity'] !== undefined || values['max-ddi-rate'] !== undefined)) {
      throw new UsageError('--block-severity and --max-ddi-rate apply with --ddi-safe.')
    }
    const diagnoses = (values.diagnosis ?? []).map((c) => parseCodeArgument(c, '--diagnosis'))
    const procedures = (values.procedure ?? []).map((c) => parseCodeArgument(c, '--procedure'))
    if (values.visit !== undefined && diagnoses.length + procedures.length > 0) {
      throw new UsageError('--visit chooses a stored visit as the current one; --diagnosis/--procedure give a new one: use one or the other.')
    }
    const allergies = (values.allergy ?? []).map(parseAllergyArgument)

    const services = await openServices({ databasePath: values.db, modelsDirectory: values['models-dir'], requireDdi: values['ddi-safe'] })
    try {
      const result = await recommend(services.ctx, patient, {
        modelId: values.model,
        threshold,
        missRate,
        ddiSafe: values['ddi-safe'] ? { blockSeverity, maxDdiRate } : null,
        currentVisit: diagnoses.length + procedures.length > 0 ? { diagnoses, procedures } : undefined,
        visit: values.visit,
        allergies
      })
      if (values.json) console.log(JSON.stringify(result, null, 2))
      else printResult(result)
      return 0
    } finally {
      await services.close()
    }
  }
}
