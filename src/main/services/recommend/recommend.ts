// Recommendation: patient history + current visit → per-class probabilities → the classes at the threshold,
// each resolved to a drug (drug-choice.ts) → interactions between drugs, optionally DDI-safe with substitution
// within a class before a class is dropped (drug-decode.ts) → tiered warnings (drug-warnings.ts) → audit entry.
// recommendMany runs many patients in one model run.
import type { ClassWithDrugs } from '../../../shared/domain/recommendation'
import type { AllergyEntry } from '../../../shared/domain/patient'
import type { RecommendationResult, RecommendedDrug } from '../../../shared/domain/recommendation'
import type { ServiceContext } from '../service-context'
import { appendAudit } from '../audit/audit'
import { writeWhenFree } from '../db/busy'
import { missRateThreshold, probabilityScale } from '../inference/calibration'
import type { ModelSession } from '../inference/session'
import { coldStartHashPart, ModelRunner } from './cold-start-runner'
import { ColdStartModel } from '../inference/text/cold-start'
import { atcNameLookup, chooseDrugs, patientDrugs } from './drug-choice'
import { type DrugChoiceModel, loadDrugChoice, visitCodeKeys } from './drug-choice-model'
import { decodeDrugs, drugDdiRate, type SafeDecodingOptions } from './drug-decode'
import { drugWarnings } from '../interactions/drug-warnings'
import { inputsHash } from './input-hash'
import { type CurrentVisitCodes, loadPatientInput, type PatientModelInput } from './patient-input'
import { checkThreshold, chooseModel, type PreparedInput, prepareInput, round } from './prepare'

export interface RecommendOptions {
  /** A model id; default: the active model (settings), else the first valid one. */
  modelId?: string | null
  /** Default: the model's threshold. */
  threshold?: number
  /**
   * Instead of a threshold: miss at most this share alpha of the classes that will be prescribed, in expectation
   * over patients exchangeable with the model's validation patients (the conformal threshold its calibration
   * file stores for alpha; see inference/calibration.ts).
   */
  missRate?: number
  /** DDI-safe decoding; null or absent: the plain thresholded combination (its DDIs are still reported). */
  ddiSafe?: SafeDecodingOptions | null
  /** The current visit's codes; absent: the last stored visit (or `visit`) is the current one. */
  currentVisit?: CurrentVisitCodes
  /** The stored visit to treat as current (its source visit id, else its app id); default the latest. */
  visit?: string
  /** Allergies to check every recommended and current drug against. */
  allergies?: readonly AllergyEntry[]
  /** Write the audit entry (default true). */
  audit?: boolean
}

export class DdiUnavailableError extends Error {
  override name = 'DdiUnavailableError'
}

const ALTERNATIVES_SHOWN = 5

/** The patient's drugs and the drug chosen for each class (drug-choice.ts), for the input's current visit. */
function choose(
  ctx: ServiceContext,
  input: PatientModelInput,
  classes: ReadonlyArray<{ atc3: string; name: string | null; probability: number }>,
  drugChoice: DrugChoiceModel | null
) {
  const currentVisitId = input.currentVisit.from === 'stored' ? input.currentVisit.visitId : null
  const nameOf = atcNameLookup(ctx.db)
  const taken = patientDrugs(input, currentVisitId, nameOf)
  const codeKeys = visitCodeKeys(input.visits.at(-1) ?? { diagnoses: [], procedures: [] })
  return { chosen: chooseDrugs({ classes, patient: taken, model: drugChoice, codeKeys, nameOf }), taken, nameOf }
}

function usableDrugChoice(ctx: ServiceContext): DrugChoiceModel | { unavailable: string } | null {
  return ctx.drugChoice === undefined ? loadDrugChoice() : ctx.drugChoice
}

/**
 * The drug(s) for each of `classes` as a recommendation would choose them (before any DDI-safe decoding), for
 * views that show classes outside a recommendation (explanations). Reads the patient; writes nothing.
 */
export function drugsForClasses(
  ctx: ServiceContext,
  patient: number | string,
  classes: ReadonlyArray<{ atc3: string; name: string | null; probability: number }>,
  options: { currentVisit?: CurrentVisitCodes; visit?: string } = {}
): ClassWithDrugs[] {
  const choice = usableDrugChoice(ctx)
  const input = loadPatientInput(ctx.db, patient, options.currentVisit, options.visit)
  return choose(ctx, input, classes, choice === null || 'unavailable' in choice ? null : choice).chosen.map(({ ranked, ...cls }) => ({
    ...cls,
    alternatives: ranked.filter((m) => !cls.drugs.some((d) => d.atc5 === m.atc5)).slice(0, ALTERNATIVES_SHOWN)
  }))
}

type Decoded = Pick<RecommendationResult, 'drugs' | 'combination' | 'classes' | 'warnings' | 'substituted' | 'dropped' | 'ddi'>

function decodeOne(
  ctx: ServiceContext,
  prepared: PreparedInput,
  probabilities: Float32Array,
  options: Omit<RecommendOptions, 'currentVisit' | 'visit'>,
  threshold: number,
  drugChoice: DrugChoiceModel | null
): Decoded {
  const entries = prepared.model.manifest.vocabularies.medication.entries
  const scored = entries.map((entry, i) => ({ atc3: entry.code, name: entry.title ?? null, probability: probabilities[i] ?? 0 }))
  const candidates = scored
    .filter((d) => d.probability >= threshold)
    .sort((a, b) => b.probability - a.probability || (a.atc3 < b.atc3 ? -1 : 1))
  const { chosen, taken, nameOf } = choose(ctx, prepared.input, candidates, drugChoice)
  const currentDrugs = [...taken.current.values()].flat().map((d) => d.atc5)
  const decoded = decodeDrugs(chosen, currentDrugs, ctx.ddi, options.ddiSafe ?? null)
  const warnings = drugWarnings({ classes: decoded.classes, currentDrugs, pairs: decoded.pairs, allergies: options.allergies ?? [], checker: ctx.ddi, nameOf })
  const combination = decoded.classes.map((c) => c.atc3)
  const inCombination = new Set(combination)
  const drugs: RecommendedDrug[] = scored
    .map((d) => ({ atc3: d.atc3, name: d.name, probability: round(d.probability), inCombination: inCombination.has(d.atc3) }))
    .sort((a, b) => b.probability - a.probability || (a.atc3 < b.atc3 ? -1 : 1))
  const recommendedDrugs = [...new Set(decoded.classes.flatMap((c) => c.drugs.map((d) => d.atc5)))]
  const recommendedSet = new Set(recommendedDrugs)
  const interactions = decoded.pairs.filter((p) => recommendedSet.has(p.a) && recommendedSet.has(p.b))
  return {
    drugs,
    combination,
    classes: decoded.classes.map(({ ranked, ...cls }) => {
      const own = new Set(cls.drugs.map((d) => d.atc5))
      return {
        ...cls,
        probability: round(cls.probability),
        drugs: cls.drugs.map((d) => ({ ...d, probability: d.probability === null ? null : round(d.probability) })),
        // Recomputed: a substitution changed which member is chosen.
        alternatives: ranked
          .filter((m) => !own.has(m.atc5))
          .slice(0, ALTERNATIVES_SHOWN)
          .map((m) => ({ ...m, probability: round(m.probability) }))
      }
    }),
    warnings,
    substituted: decoded.substituted,
    dropped: decoded.dropped.map((d) => ({ ...d, probability: round(d.probability) })),
    ddi: {
      checked: ctx.ddi !== null,
      source: ctx.ddi?.source ?? null,
      safeDecoding: options.ddiSafe ?? null,
      interactions,
      ddiRate: ctx.ddi === null ? null : round(drugDdiRate(recommendedDrugs, interactions))
    }
  }
}

/** One patient of a batch: the app's or the source's patient id, and optionally the current visit's codes. */
export interface PatientRequest {
  patient: number | string
  currentVisit?: CurrentVisitCodes
  /** The stored visit to treat as current; default the latest. */
  visit?: string
}

/** Recommendations for several patients with one model run; all audit entries are written together. */
export async function recommendMany(
  ctx: ServiceContext,
  patients: ReadonlyArray<PatientRequest>,
  options: Omit<RecommendOptions, 'currentVisit' | 'visit'> = {}
): Promise<RecommendationResult[]> {
  if (options.ddiSafe && !ctx.ddi) {
    throw new DdiUnavailableError('DDI-safe decoding needs the drug interaction knowledge base, which is not loaded.')
  }
  if (patients.length === 0) return []
  const model = await chooseModel(ctx, options.modelId)
  // Timing starts once the model is chosen: loading a session happens once and is reported as its loadMs.
  const started = performance.now()
  const { manifest, session } = model
  const threshold = checkThreshold(options.missRate === undefined ? (options.threshold ?? manifest.threshold) : missRateCut(session, options))
  // Every patient is read and encoded before the model runs, so a bad one fails the call with nothing written.
  // Titles only matter to a cold-start graph (ModelRunner); reading them was a tenth of a recommendation.
  const titles = ColdStartModel.supports(manifest)
  const prepared = patients.map((p) => prepareInput(model, ctx.db, p.patient, p.currentVisit, p.visit, { titles }))
  const choice = usableDrugChoice(ctx)
  const drugChoice = choice === null || 'unavailable' in choice ? null : choice
  const drugChoiceReport: RecommendationResult['drugChoice'] =
    choice === null
      ? { unavailable: 'no within-class drug model was given' }
      : 'unavailable' in choice
        ? { unavailable: choice.unavailable }
        : { version: choice.version, sha256: choice.sha256 }
  const encodedAt = performance.now()
  // model.onnx, or NLA-MMR's cold-start graph for patients with titled codes new to the model.
  const runner = await ModelRunner.open(ctx, model, prepared)
  let probabilities: Float32Array
  try {
    probabilities = await runner.predictEach(prepared.map((p) => p.encoded))
  } finally {
    await runner.release()
  }
  const inferredAt = performance.now()
  // A first cold-start load is not inference time (as a session's load is not): it happens once per model.
  const inferenceMs = inferredAt - encodedAt - runner.loadMs
  const k = manifest.vocabularies.medication.entries.length
  const createdAt = new Date().toISOString()
  const hashOptions = {
    threshold,
    ddiSafe: options.ddiSafe ?? null,
    drugChoice: drugChoice?.sha256 ?? null,
    allergies: (options.allergies ?? []).map((a) => `${a.atc ?? ''}|${a.substance}`).sort()
  }

  const results: RecommendationResult[] = prepared.map((p, row) => {
    const decoded = decodeOne(ctx, p, probabilities.subarray(row * k, (row + 1) * k), options, threshold, drugChoice)
    const coldStart = runner.coldStart[row]
    return {
      patientId: p.input.patient.id,
      sourcePatientId: p.input.patient.sourcePatientId,
      model: { id: manifest.id, version: manifest.version, family: manifest.family, onnxSha256: manifest.onnx.sha256 },
      provider: session.provider,
      threshold,
      probabilities: probabilityScale(manifest),
      missRate:
        options.missRate === undefined
          ? null
          : { alpha: options.missRate, assumption: session.calibration?.missRateAssumption ?? 'patients exchangeable with the validation patients' },
      inputHash: inputsHash(manifest, p.encoded.fed, { ...hashOptions, coldStart: coldStartHashPart(coldStart) }),
      createdAt,
      ...decoded,
      drugChoice: drugChoiceReport,
      input: coldStart ? { ...p.summary, coldStart } : p.summary,
      timing: { encodeMs: 0, inferenceMs: 0, decodeMs: 0, totalMs: 0 },
      auditId: null
    }
  })
  const decodedAt = performance.now()
  const timing = {
    encodeMs: round((encodedAt - started) / results.length, 3),
    inferenceMs: round(inferenceMs / results.length, 3),
    decodeMs: round((decodedAt - inferredAt) / results.length, 3),
    totalMs: round((decodedAt - started - runner.loadMs) / results.length, 3)
  }
  for (const result of results) result.timing = timing

  if (options.audit ?? true) {
    // Waits out another process's write (an import's final copy) instead of failing the recommendation.
    await writeWhenFree(ctx.db, 'Recording the recommendation in the audit log', () => {
      for (const result of results) {
        const { auditId: _unused, timing: _timing, ...shown } = result
        result.auditId = appendAudit(ctx.db, {
          kind: 'recommendation',
          patientId: result.patientId,
          sourcePatientId: result.sourcePatientId,
          inputsHash: result.inputHash,
          modelId: manifest.id,
          modelVersion: manifest.version,
          outputs: shown,
          createdAt
        })
      }
    })
  }
  return results
}

/** The conformal threshold for options.missRate, refusing a threshold given beside it and an alpha nothing guarantees. */
function missRateCut(session: ModelSession, options: RecommendOptions): number {
  if (options.threshold !== undefined) throw new RangeError('Give a threshold or a miss rate, not both.')
  let cut: number
  try {
    cut = missRateThreshold(session.calibration, options.missRate!)
  } catch (error) {
    throw new RangeError(`Miss rate ${options.missRate}: ${error instanceof Error ? error.message : String(error)}.`)
  }
  if (cut <= 0) {
    throw new RangeError(`Miss rate ${options.missRate}: the model's validation patients are too few to guarantee it with any threshold; choose a larger miss rate.`)
  }
  return cut
}

/** One patient's recommendation. Timing is per patient (a batch divides its times by its size). */
export async function recommend(ctx: ServiceContext, patient: number | string, options: RecommendOptions = {}): Promise<RecommendationResult> {
  const { currentVisit, visit, ...rest } = options
  const [result] = await recommendMany(ctx, [{ patient, currentVisit, visit }], rest)
  if (!result) throw new Error('No recommendation was produced.')
  return result
}
