// `medrec evaluate`: how each model does on this database's own patients. Every visit with at least one
// medication in the model's class vocabulary is scored from that patient's earlier visits only
// (stored-visits.ts: inputUpTo), with the training benchmark's metric definitions (metrics.ts), beside
// two baselines computed without leakage on the same visits, with 95% intervals from a seeded
// patient-level bootstrap. The database is read in batches of patients and the model runs once per batch.
// The same visits are scored at drug level too (drug-level.ts), where the recommended classes are resolved to drugs.
import { existsSync } from 'node:fs'
import { isAtLeast, SEVERITIES } from '../../../shared/domain/interaction'
import type { ProbabilityScale } from '../../../shared/domain/manifest'
import type { Db } from '../db/database'
import { encodePatient } from '../inference/encode'
import { type DdiChecker, ddiCheckerFromService } from '../interactions/checker'
import { DdiService } from '../interactions/ddi-service'
import { getActiveModelId } from '../models/active-model'
import type { ModelRegistry, RegisteredModel } from '../models/registry'
import { type DrugChoiceModel, loadDrugChoice } from '../recommend/drug-choice-model'
import { type BootstrapOptions, quantileSorted } from './bootstrap'
import { loadDdiMatrices, type NamedClassPairs } from './ddi-matrices'
import {
  DRUG_DDI_SEVERITY,
  DRUG_IDENTITY,
  DRUG_NOT_APPLICABLE,
  DRUG_RULE,
  type DrugLevelEvaluation,
  DrugLevelTables,
  prescribedDrugs,
  previousVisitDrugs,
  type RecommendedDrugs,
  recommendedDrugs,
  SevereDrugPairs,
  type VisitDrugScore
} from './drug-level'
import { type DatabaseFingerprint, fingerprintDatabase } from './fingerprint'
import { addToCalibration, averagePrecision, CALIBRATION_BINS, DdiMatrix, interactingPairs, setScores } from './metrics'
import { countPatients, inputUpTo, patientBatches, type StoredPatient } from './stored-visits'
import { type MetricSummary, OutcomeTable, summarize } from './summary'

export interface EvaluationContext {
  db: Db
  databasePath: string
  registry: ModelRegistry
  knowledgeBasePath: string | null
  /** The drug-pair checker for the drug-level DDI share; absent: opened from knowledgeBasePath; null: none. */
  ddi?: DdiChecker | null
  /** The within-class drug choice (loadDrugChoice's result); absent: models/drug-choice; null: none (history only). */
  drugChoice?: DrugChoiceModel | { unavailable: string } | null
}

export interface EvaluationProgress {
  modelId: string
  modelIndex: number
  modelCount: number
  phase: 'fingerprint' | 'counting' | 'scoring' | 'summarising' | 'done'
  patientsDone: number
  patientsTotal: number
}

export interface EvaluationOptions {
  /** Models to evaluate; empty or absent: the active model (or the first valid one). */
  modelIds?: readonly string[]
  /** Every valid model in the registry. */
  all?: boolean
  /** Only visits that began on or after this ISO date (YYYY-MM-DD) are scored; earlier ones stay history. */
  since?: string | null
  /** Patients read per database batch (default 256). */
  batchSize?: number
  bootstrap?: Partial<BootstrapOptions>
  /** Keep each visit's scores in the result (tests and parity checks). */
  keepVisits?: boolean
  onProgress?: (progress: EvaluationProgress) => void
}

export const DEFAULT_BOOTSTRAP: BootstrapOptions = { replicates: 1000, seed: 17, level: 0.95 }
export const TOP_CLASSES = 30

export interface ClassScore {
  atc3: string
  name: string | null
  /** Visits in which the class was prescribed. */
  support: number
  predicted: number
  truePositives: number
  precision: number | null
  recall: number
}

export interface SubgroupSummary {
  group: string
  summary: MetricSummary
}

/**
 * Age bands of the age at the visit, in order: children (<18), young adults, middle age, the 65+ of geriatric
 * prescribing guidance (Beers criteria) split at 80, where polypharmacy and altered drug handling peak. The
 * stored top code (90, "90 or older") falls wholly within 80+, so no band depends on an age the sources hide.
 */
export const AGE_BANDS = [
  { label: '<18', from: 0 },
  { label: '18–44', from: 18 },
  { label: '45–64', from: 45 },
  { label: '65–79', from: 65 },
  { label: '80+', from: 80 }
] as const
export const UNKNOWN_AGE_BAND = 'age unknown'

export function ageBandOf(age: number | null): string {
  if (age === null) return UNKNOWN_AGE_BAND
  let band: string = UNKNOWN_AGE_BAND
  for (const b of AGE_BANDS) if (age >= b.from) band = b.label
  return band
}

/** Scored visits of one data source, and how many of them have an age at the visit. */
export interface AgeKnown {
  source: string
  visits: number
  withAge: number
  share: number | null
}

export interface CodeShare {
  unknown: number
  total: number
  share: number | null
}

export interface UnknownTertile {
  tertile: 1 | 2 | 3
  /** Smallest and largest unknown share of the visits in the tertile. */
  shareRange: [number, number]
  meanShare: number
  summary: MetricSummary
}

export interface VisitScore {
  visitId: number
  sourceVisitId: string
  patientId: number
  jaccard: number
  f1: number
  prauc: number
  recall: number
  predicted: string[]
  actual: string[]
  /** Drug level; null when the visit has no prescription resolved to a drug. */
  drugLevel: VisitDrugScore | null
}

export interface BaselineEvaluation {
  id: 'most-frequent-lpo' | 'previous-visit'
  label: string
  rule: string
  summary: MetricSummary
}

export interface ModelEvaluation {
  model: { id: string; family: string; version: string; sha256: string; threshold: number; directory: string; provider: string; probabilities?: ProbabilityScale }
  visits: {
    evaluated: number
    patients: number
    /** Visits with a mapped medication that began before --since (history only). */
    beforeSince: number
    /** Visits with a mapped medication and no known start, left out under --since. */
    undatedLeftOut: number
  }
  /** Class pairs of each DDI matrix between classes of the model's vocabulary. */
  ddiPairsInVocabulary: Record<string, number>
  summary: MetricSummary
  baselines: BaselineEvaluation[]
  /** The model and baselines on the visits with an earlier medicated visit only. */
  withEarlierMedication: { rule: string; model: MetricSummary; baselines: Record<BaselineEvaluation['id'], MetricSummary> }
  perClass: ClassScore[]
  subgroups: {
    sex: SubgroupSummary[]
    source: SubgroupSummary[]
    /** By the age at each visit (AGE_BANDS order, then UNKNOWN_AGE_BAND): a patient's visits can fall in several bands. */
    ageBand: SubgroupSummary[]
    /** Per data source: scored visits with an age at the visit. */
    ageKnown: AgeKnown[]
  }
  unknown: {
    /** Over every evaluated visit's model input (history and current visit), as the encoder counted. */
    diagnosisCodes: CodeShare
    procedureCodes: CodeShare
    historyMedicationClasses: CodeShare
    /** Medication rows of the whole database: without an ATC3 class, or with a class outside the vocabulary. */
    medicationRows: { total: number; withoutAtc3: number; outsideVocabulary: number; share: number | null }
    /** By tertile of each visit's share of unknown diagnosis and procedure codes in its input. */
    tertiles: UnknownTertile[]
    visitsWithoutCodes: number
  }
  /** The same visits at drug level (those with a prescription resolved to a drug). */
  drugLevel: DrugLevelEvaluation
  durationMs: number
  visitScores?: VisitScore[]
}

/** What the drug-level figures rest on, for every model of a report. */
export interface DrugLevelBasis {
  drugIdentity: string
  rule: string
  drugChoice: { version: string; sha256: string } | { unavailable: string }
  /** The interaction checker: its sources, the severities counted, and the sources of the pairs found. */
  ddi: { checked: string; severities: string[]; foundIn: string[] } | { unavailable: string }
  notApplicable: typeof DRUG_NOT_APPLICABLE
}

export interface EvaluationReport {
  kind: 'medrec-evaluation'
  createdAt: string
  durationMs: number
  database: { path: string; fingerprint: DatabaseFingerprint }
  options: { since: string | null; bootstrap: BootstrapOptions; batchSize: number }
  ddiMatrices: Array<{ name: string; sourceKey: string; description: string; pairs: number }>
  drugLevel: DrugLevelBasis
  notes: string[]
  models: ModelEvaluation[]
}

export class EvaluationInputError extends Error {
  override name = 'EvaluationInputError'
}

function checkSince(since: string | null | undefined): string | null {
  if (since === undefined || since === null) return null
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(since) && !Number.isNaN(Date.parse(`${since}T00:00:00Z`))
  if (!ok) throw new EvaluationInputError(`since must be a date written YYYY-MM-DD, got "${since}".`)
  return since
}

async function chooseModels(ctx: EvaluationContext, options: EvaluationOptions): Promise<RegisteredModel[]> {
  if (options.all && options.modelIds && options.modelIds.length > 0) throw new EvaluationInputError('Give model ids or "all", not both.')
  if (options.all) {
    const { models } = await ctx.registry.scan()
    if (models.length === 0) throw new EvaluationInputError(`No valid model in ${ctx.registry.directory}.`)
    return models
  }
  if (options.modelIds && options.modelIds.length > 0) return Promise.all(options.modelIds.map((id) => ctx.registry.get(id)))
  return [await ctx.registry.resolve(null, getActiveModelId(ctx.db))]
}

export async function evaluateDatabase(ctx: EvaluationContext, options: EvaluationOptions = {}): Promise<EvaluationReport> {
  const started = performance.now()
  const since = checkSince(options.since)
  const batchSize = options.batchSize ?? 256
  const bootstrap: BootstrapOptions = { ...DEFAULT_BOOTSTRAP, ...options.bootstrap }
  if (!(Number.isInteger(bootstrap.replicates) && bootstrap.replicates >= 0)) {
    throw new EvaluationInputError(`bootstrap replicates must be a whole number ≥ 0, got ${bootstrap.replicates}.`)
  }
  const models = await chooseModels(ctx, options)
  const patientsTotal = countPatients(ctx.db)
  options.onProgress?.({ modelId: models[0]!.manifest.id, modelIndex: 0, modelCount: models.length, phase: 'fingerprint', patientsDone: 0, patientsTotal })
  const fingerprint = fingerprintDatabase(ctx.db)
  const { matrices, missing } = loadDdiMatrices(ctx.knowledgeBasePath)
  const notes: string[] = [
    'Every visit is scored from the same patient’s earlier visits only; the visit’s own medications are the answer, never an input.',
    models.every((m) => m.manifest.calibration)
      ? 'Class level (ATC3). Probabilities are calibrated, as the app shows them: each model’s declared calibration (method and fitting patients under its name).'
      : 'Class level (ATC3). Probabilities are as the app shows them: calibrated for a model that declares a calibration (said under its name), the model’s own outputs otherwise.',
    'A model scored on the patients it was trained on (e.g. the shipped models on the demo database they came from) scores higher than it will on new patients: this report is meant for a database the model has not seen.',
    'Age bands (<18, 18–44, 45–64, 65–79, 80+) use the age at each visit, so one patient’s visits can fall in several bands. Ages are stored top-coded as the sources publish them: 90 means “90 or older” (MIMIC-IV anchor_age 91, eICU “> 89”), which lies wholly in 80+. Visits whose source gives no age form the “age unknown” group.',
    'Intervals: 95% percentile intervals from a patient-level bootstrap (patients drawn with replacement, all their visits with them). ECE is biased upwards in a resample (duplicated patients fill bins unevenly), so a small ECE’s interval can lie above its estimate.'
  ]
  if (missing) notes.push(missing)
  else {
    notes.push(
      'DDI rates use the app’s knowledge base class pairs. twosides-atc3 is the benchmark’s matrix; twosides-top40 and ddinter-atc3 are compiled by the app’s knowledge build, not by the training package, and differ from the benchmark’s matrices by a few percent of their pairs, so those two rates compare with models/BENCHMARK.md only approximately.'
    )
  }
  const choice = ctx.drugChoice === undefined ? loadDrugChoice() : ctx.drugChoice
  const drugChoice = choice === null || 'unavailable' in choice ? null : choice
  const checker = ctx.ddi === undefined ? openChecker(ctx.knowledgeBasePath) : { checker: ctx.ddi, unavailable: 'no drug interaction checker was given', close: () => {} }
  const severePairs = checker.checker ? new SevereDrugPairs(checker.checker) : null
  notes.push(
    `Drug level: ${DRUG_RULE}. Scored against each visit’s prescriptions resolved to drugs (${DRUG_IDENTITY}); visits without one are left out and counted. DDI share at drug level: drug pairs the app’s interaction checker rates Major or Contraindicated over all drug pairs, pooled over visits.`
  )
  const evaluations: ModelEvaluation[] = []
  try {
    for (const [modelIndex, model] of models.entries()) {
      evaluations.push(
        await evaluateModel(ctx, model, matrices, {
          since,
          batchSize,
          bootstrap,
          keepVisits: options.keepVisits ?? false,
          drugs: { choice: drugChoice, severePairs },
          progress: (phase, patientsDone) =>
            options.onProgress?.({ modelId: model.manifest.id, modelIndex, modelCount: models.length, phase, patientsDone, patientsTotal })
        })
      )
    }
  } finally {
    checker.close()
  }
  const drugLevel: DrugLevelBasis = {
    drugIdentity: DRUG_IDENTITY,
    rule: DRUG_RULE,
    drugChoice: drugChoice
      ? { version: drugChoice.version, sha256: drugChoice.sha256 }
      : { unavailable: choice && 'unavailable' in choice ? choice.unavailable : 'no within-class drug model was given: only drugs of earlier visits are chosen' },
    ddi: checker.checker
      ? {
          checked: checker.checker.source,
          severities: SEVERITIES.filter((s) => isAtLeast(s, DRUG_DDI_SEVERITY)),
          foundIn: [...(severePairs?.sources ?? [])].sort()
        }
      : { unavailable: checker.unavailable },
    notApplicable: DRUG_NOT_APPLICABLE
  }
  options.onProgress?.({ modelId: models.at(-1)!.manifest.id, modelIndex: models.length - 1, modelCount: models.length, phase: 'done', patientsDone: patientsTotal, patientsTotal })
  return {
    kind: 'medrec-evaluation',
    createdAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - started),
    database: { path: ctx.databasePath, fingerprint },
    options: { since, bootstrap, batchSize },
    ddiMatrices: matrices.map((m) => ({ name: m.name, sourceKey: m.sourceKey, description: m.description, pairs: m.pairs.length })),
    drugLevel,
    notes,
    models: evaluations
  }
}

/** The app's drug-pair checker over the knowledge base at `path` (closed after the evaluation), or why there is none. */
function openChecker(path: string | null): { checker: DdiChecker | null; unavailable: string; close: () => void } {
  if (!path || !existsSync(path)) {
    return { checker: null, unavailable: `no drug knowledge base at ${path ?? '(none given)'}: the drug-level DDI share is not reported`, close: () => {} }
  }
  const service = DdiService.open(path)
  return { checker: ddiCheckerFromService(service), unavailable: '', close: () => service.close() }
}

interface ModelRunOptions {
  since: string | null
  batchSize: number
  bootstrap: BootstrapOptions
  keepVisits: boolean
  drugs: { choice: DrugChoiceModel | null; severePairs: SevereDrugPairs | null }
  progress: (phase: EvaluationProgress['phase'], patientsDone: number) => void
}

/** The model's output columns of a visit's classes (classes outside the vocabulary have none). */
function targetColumns(classes: readonly string[], columnOf: ReadonlyMap<string, number>): number[] {
  const columns: number[] = []
  for (const c of classes) {
    const column = columnOf.get(c)
    if (column !== undefined) columns.push(column)
  }
  return columns
}

export interface PopulationCounts {
  /** Eligible visits (≥ 1 class in the vocabulary) prescribing each class. */
  classVisits: Float64Array
  visits: number
  classTotal: number
}

export function emptyCounts(size: number): PopulationCounts {
  return { classVisits: new Float64Array(size), visits: 0, classTotal: 0 }
}

export function addPatientCounts(counts: PopulationCounts, patient: StoredPatient, columnOf: ReadonlyMap<string, number>): void {
  for (const visit of patient.visits) {
    const columns = targetColumns(visit.codes.medications, columnOf)
    if (columns.length === 0) continue
    counts.visits++
    counts.classTotal += columns.length
    for (const c of columns) counts.classVisits[c]! += 1
  }
}

/**
 * Most frequent classes, leave-patient-out: each class's share of every other patient's eligible visits
 * (the patient's own visits are subtracted from the population counts), and the top K of them, K = those
 * visits' mean number of classes, rounded (ties by column).
 */
export function mostFrequentLeavingOut(population: PopulationCounts, own: PopulationCounts): { frequency: Float64Array; predicted: Uint8Array } {
  const size = population.classVisits.length
  const otherVisits = population.visits - own.visits
  const frequency = new Float64Array(size)
  const predicted = new Uint8Array(size)
  if (otherVisits <= 0) return { frequency, predicted }
  for (let c = 0; c < size; c++) frequency[c] = (population.classVisits[c]! - own.classVisits[c]!) / otherVisits
  const k = Math.round((population.classTotal - own.classTotal) / otherVisits)
  const ranked = Array.from({ length: size }, (_, c) => c).sort((a, b) => frequency[b]! - frequency[a]! || a - b)
  for (const c of ranked.slice(0, k)) predicted[c] = 1
  return { frequency, predicted }
}

/** One visit's outcome for a predictor: its scores, predicted classes, DDI pairs and calibration sums. */
function outcomeOf(patientKey: number, truth: Uint8Array, probabilities: ArrayLike<number>, predicted: Uint8Array, ddi: readonly DdiMatrix[]) {
  const scores = setScores(truth, predicted)
  const predictedColumns: number[] = []
  for (let c = 0; c < predicted.length; c++) if (predicted[c]) predictedColumns.push(c)
  const calibration = new Float64Array(3 * CALIBRATION_BINS)
  addToCalibration(calibration, truth, probabilities)
  return {
    outcome: {
      patientKey,
      scores: { ...scores, prauc: averagePrecision(truth, probabilities) },
      predictedCount: predictedColumns.length,
      ddiPairs: ddi.map((m) => interactingPairs(predictedColumns, m)),
      calibration
    },
    predictedColumns
  }
}

async function evaluateModel(ctx: EvaluationContext, model: RegisteredModel, classPairs: readonly NamedClassPairs[], run: ModelRunOptions): Promise<ModelEvaluation> {
  const started = performance.now()
  const manifest = model.manifest
  const classes = manifest.vocabularies.medication.entries
  const size = classes.length
  const columnOf = new Map(classes.map((e, i) => [e.code.toUpperCase(), i]))
  const ddi = classPairs.map(
    (m) =>
      new DdiMatrix(
        m.name,
        size,
        m.pairs.flatMap(([a, b]) => {
          const ca = columnOf.get(a)
          const cb = columnOf.get(b)
          return ca === undefined || cb === undefined ? [] : [[ca, cb] as const]
        })
      )
  )
  const ddiNames = ddi.map((m) => m.name)
  const threshold = manifest.threshold

  // Pass 1: how often each class is prescribed across the database, for the leave-patient-out baseline,
  // and how many medication rows the model cannot see.
  run.progress('counting', 0)
  const population = emptyCounts(size)
  const medicationRows = { total: 0, withoutAtc3: 0, outsideVocabulary: 0 }
  for (const batch of patientBatches(ctx.db, run.batchSize)) {
    for (const patient of batch) {
      addPatientCounts(population, patient, columnOf)
      for (const visit of patient.visits) {
        medicationRows.total += visit.medicationRows
        medicationRows.withoutAtc3 += visit.unmappedMedicationRows
        for (const [atc3, rows] of visit.rowsByClass) if (!columnOf.has(atc3)) medicationRows.outsideVocabulary += rows
      }
    }
  }

  // Pass 2: score.
  const modelTable = new OutcomeTable(ddiNames)
  const frequentTable = new OutcomeTable(ddiNames)
  const previousTable = new OutcomeTable(ddiNames)
  const drugTables = new DrugLevelTables(run.drugs.severePairs)
  const perClass = { truePositives: new Float64Array(size), predicted: new Float64Array(size), support: new Float64Array(size) }
  const visitSex: string[] = []
  const visitSource: string[] = []
  const visitAgeBand: string[] = []
  const visitUnknownShare: number[] = []
  const visitHasEarlierMedication: boolean[] = []
  const codeCounts = { diagnosis: [0, 0], procedure: [0, 0], medication: [0, 0] } as Record<'diagnosis' | 'procedure' | 'medication', [number, number]>
  let beforeSince = 0
  let undatedLeftOut = 0
  let withoutEarlierMedication = 0
  const visitScores: VisitScore[] = []
  let patientsDone = 0
  for (const batch of patientBatches(ctx.db, run.batchSize)) {
    const jobs: Array<{ patient: StoredPatient; position: number; truth: Uint8Array; own: PopulationCounts; previous: number[] }> = []
    for (const patient of batch) {
      const own = emptyCounts(size)
      addPatientCounts(own, patient, columnOf)
      let previous: number[] = []
      patient.visits.forEach((visit, position) => {
        const columns = targetColumns(visit.codes.medications, columnOf)
        // "Previous visit" baseline: the classes of the most recent earlier visit that had any.
        const previousHere = previous
        if (columns.length > 0) previous = columns
        if (columns.length === 0) return
        if (run.since !== null) {
          if (visit.startsOn === null) return void undatedLeftOut++
          if (visit.startsOn.slice(0, 10) < run.since) return void beforeSince++
        }
        const truth = new Uint8Array(size)
        for (const c of columns) truth[c] = 1
        jobs.push({ patient, position, truth, own, previous: previousHere })
      })
    }
    const encoded = jobs.map((job) => encodePatient(model.vocab, manifest.limits, inputUpTo(job.patient, job.position)))
    const probabilities = await model.session.predict(encoded)
    jobs.forEach((job, j) => {
      const row = probabilities.subarray(j * size, (j + 1) * size)
      const predicted = new Uint8Array(size)
      for (let c = 0; c < size; c++) predicted[c] = row[c]! >= threshold ? 1 : 0
      const { outcome, predictedColumns } = outcomeOf(job.patient.id, job.truth, row, predicted, ddi)
      modelTable.add(outcome)
      const visit = job.patient.visits[job.position]!
      const actualDrugs = prescribedDrugs(visit)
      // Drug level: only visits with a prescription resolved to a drug (the others are counted).
      const recommended = (): RecommendedDrugs =>
        recommendedDrugs(
          job.patient,
          job.position,
          predictedColumns.map((c) => ({ atc3: classes[c]!.code, probability: row[c]! })),
          run.drugs.choice
        )
      const drugScore =
        actualDrugs.length === 0 ? drugTables.leaveOut() : drugTables.add(job.patient.id, actualDrugs, recommended(), previousVisitDrugs(job.patient, job.position))
      for (let c = 0; c < size; c++) {
        if (job.truth[c]) perClass.support[c]! += 1
        if (predicted[c]) perClass.predicted[c]! += 1
        if (predicted[c] && job.truth[c]) perClass.truePositives[c]! += 1
      }

      const { frequency, predicted: frequent } = mostFrequentLeavingOut(population, job.own)
      frequentTable.add(outcomeOf(job.patient.id, job.truth, frequency, frequent, ddi).outcome)

      // Repeat the previous visit's classes (probability 1 for those, 0 for the rest).
      const repeat = new Uint8Array(size)
      for (const c of job.previous) repeat[c] = 1
      if (job.previous.length === 0) withoutEarlierMedication++
      visitHasEarlierMedication.push(job.previous.length > 0)
      previousTable.add(outcomeOf(job.patient.id, job.truth, repeat, repeat, ddi).outcome)

      const summary = encoded[j]!.summary
      for (const kind of ['diagnosis', 'procedure', 'medication'] as const) {
        codeCounts[kind][0] += summary.unknownCodes[kind]
        codeCounts[kind][1] += summary.codesUsed[kind]
      }
      const codes = summary.codesUsed.diagnosis + summary.codesUsed.procedure
      visitUnknownShare.push(codes > 0 ? (summary.unknownCodes.diagnosis + summary.unknownCodes.procedure) / codes : Number.NaN)
      visitSex.push(job.patient.sex ?? 'not recorded')
      visitSource.push(job.patient.source)
      visitAgeBand.push(ageBandOf(visit.ageAtAdmission))
      if (run.keepVisits) {
        visitScores.push({
          visitId: visit.id,
          sourceVisitId: visit.sourceVisitId,
          patientId: job.patient.id,
          jaccard: outcome.scores.jaccard,
          f1: outcome.scores.f1,
          prauc: outcome.scores.prauc,
          recall: outcome.scores.recall,
          predicted: predictedColumns.map((c) => classes[c]!.code),
          actual: [...job.truth].flatMap((t, c) => (t ? [classes[c]!.code] : [])),
          drugLevel: drugScore
        })
      }
    })
    patientsDone += batch.length
    run.progress('scoring', patientsDone)
  }

  run.progress('summarising', patientsDone)
  const summary = summarize(modelTable, run.bootstrap)
  const groupSummaries = (labels: readonly string[], order?: readonly string[]): SubgroupSummary[] =>
    [...new Set(labels)]
      .sort((a, b) => (order ? order.indexOf(a) - order.indexOf(b) : a < b ? -1 : a > b ? 1 : 0))
      .map((group) => ({ group, summary: summarize(modelTable, run.bootstrap, (i) => labels[i] === group) }))
  const ageKnown = [...new Set(visitSource)].sort().map((source) => {
    const visits = visitSource.filter((s) => s === source).length
    const withAge = visitSource.filter((s, i) => s === source && visitAgeBand[i] !== UNKNOWN_AGE_BAND).length
    return { source, visits, withAge, share: visits ? withAge / visits : null }
  })

  // Tertiles of the unknown share by value: cut at its 1/3 and 2/3 quantiles, tied visits kept together
  // (so when most visits have no unknown code the lower tertiles merge, and the report says so).
  // Visits whose input has no diagnosis or procedure code at all are left out and counted.
  const shares = visitUnknownShare.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  const cuts = [quantileSorted(shares, 1 / 3), quantileSorted(shares, 2 / 3)] as const
  const tertileOf = (share: number): 1 | 2 | 3 => (share <= cuts[0] ? 1 : share <= cuts[1] ? 2 : 3)
  const tertiles: UnknownTertile[] = ([1, 2, 3] as const).flatMap((tertile) => {
    const members = visitUnknownShare.flatMap((x, i) => (!Number.isNaN(x) && tertileOf(x) === tertile ? [i] : []))
    if (members.length === 0) return []
    const inTertile = new Set(members)
    const values = members.map((i) => visitUnknownShare[i]!)
    return [
      {
        tertile,
        shareRange: [Math.min(...values), Math.max(...values)] as [number, number],
        meanShare: values.reduce((a, b) => a + b, 0) / values.length,
        summary: summarize(modelTable, run.bootstrap, (i) => inTertile.has(i))
      }
    ]
  })
  const withEarlier = (i: number): boolean => visitHasEarlierMedication[i]!

  const share = ([unknown, total]: [number, number]): CodeShare => ({ unknown, total, share: total ? unknown / total : null })
  const topClasses = Array.from({ length: size }, (_, c) => c)
    .filter((c) => perClass.support[c]! > 0)
    .sort((a, b) => perClass.support[b]! - perClass.support[a]! || (classes[a]!.code < classes[b]!.code ? -1 : 1))
    .slice(0, TOP_CLASSES)
  const provider = model.session.provider
  const evaluation: ModelEvaluation = {
    model: {
      id: manifest.id,
      family: manifest.family,
      version: manifest.version,
      sha256: manifest.onnx.sha256,
      threshold,
      directory: model.directory,
      provider: provider.provider,
      probabilities: model.summary.probabilities
    },
    visits: { evaluated: summary.visits, patients: summary.patients, beforeSince, undatedLeftOut },
    ddiPairsInVocabulary: Object.fromEntries(ddi.map((m) => [m.name, m.pairCount()])),
    summary,
    baselines: [
      {
        id: 'most-frequent-lpo',
        label: 'Most frequent classes (leave-patient-out)',
        rule: "for each visit, the K classes most often prescribed in every other patient's visits, K = those visits' mean number of classes (rounded); scores are those frequencies",
        summary: summarize(frequentTable, run.bootstrap)
      },
      {
        id: 'previous-visit',
        label: "Repeat the previous visit's classes",
        rule: `the classes of the patient's most recent earlier visit that had any (scored 1, the rest 0); ${withoutEarlierMedication} of ${modelTable.size} visits have no such visit and predict nothing`,
        summary: summarize(previousTable, run.bootstrap)
      }
    ],
    withEarlierMedication: {
      rule: 'only the visits whose patient has an earlier visit with a medication class (where repeating the previous visit can predict anything)',
      model: summarize(modelTable, run.bootstrap, withEarlier),
      baselines: {
        'most-frequent-lpo': summarize(frequentTable, run.bootstrap, withEarlier),
        'previous-visit': summarize(previousTable, run.bootstrap, withEarlier)
      }
    },
    perClass: topClasses.map((c) => ({
      atc3: classes[c]!.code,
      name: classes[c]!.title ?? null,
      support: perClass.support[c]!,
      predicted: perClass.predicted[c]!,
      truePositives: perClass.truePositives[c]!,
      precision: perClass.predicted[c]! > 0 ? perClass.truePositives[c]! / perClass.predicted[c]! : null,
      recall: perClass.truePositives[c]! / perClass.support[c]!
    })),
    subgroups: {
      sex: groupSummaries(visitSex),
      source: groupSummaries(visitSource),
      ageBand: groupSummaries(visitAgeBand, [...AGE_BANDS.map((b) => b.label), UNKNOWN_AGE_BAND]),
      ageKnown
    },
    unknown: {
      diagnosisCodes: share(codeCounts.diagnosis),
      procedureCodes: share(codeCounts.procedure),
      historyMedicationClasses: share(codeCounts.medication),
      medicationRows: { ...medicationRows, share: medicationRows.total ? (medicationRows.withoutAtc3 + medicationRows.outsideVocabulary) / medicationRows.total : null },
      tertiles,
      visitsWithoutCodes: visitUnknownShare.length - shares.length
    },
    drugLevel: drugTables.evaluation(run.bootstrap),
    durationMs: Math.round(performance.now() - started)
  }
  if (run.keepVisits) evaluation.visitScores = visitScores
  return evaluation
}
