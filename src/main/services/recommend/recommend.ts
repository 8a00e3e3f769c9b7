// Recommendation: patient history + current visit → per-drug probabilities → the combination at the
// threshold, optionally DDI-safe (see decode.ts) → audit entry. recommendMany runs many patients in one
// model run.
import type { RecommendationResult, RecommendedDrug } from '../../../shared/types'
import { appendAudit } from '../audit/audit'
import { coldStartHashPart, ModelRunner } from './cold-start-runner'
import { decodeCombination, type SafeDecodingOptions } from './decode'
import { inputsHash } from './input-hash'
import type { CurrentVisitCodes } from './patient-input'
import { checkThreshold, chooseModel, type PreparedInput, prepareInput, round, type ServiceContext } from './prepare'

export interface RecommendOptions {
  /** A model id; default: the active model (settings), else the first valid one. */
  modelId?: string | null
  /** Default: the model's threshold. */
  threshold?: number
  /** DDI-safe decoding; null or absent: the plain thresholded combination (its DDIs are still reported). */
  ddiSafe?: SafeDecodingOptions | null
  /** The current visit's codes; absent: the last stored visit is the current one. */
  currentVisit?: CurrentVisitCodes
  /** Write the audit entry (default true). */
  audit?: boolean
}

export class DdiUnavailableError extends Error {
  override name = 'DdiUnavailableError'
}

function decodeOne(
  ctx: ServiceContext,
  prepared: PreparedInput,
  probabilities: Float32Array,
  options: Omit<RecommendOptions, 'currentVisit'>,
  threshold: number
): Pick<RecommendationResult, 'drugs' | 'combination' | 'ddi'> {
  const entries = prepared.model.manifest.vocabularies.medication.entries
  const scored = entries.map((entry, i) => ({ atc3: entry.code, name: entry.title ?? null, probability: probabilities[i] ?? 0 }))
  const candidates = scored.filter((d) => d.probability >= threshold).map((d) => d.atc3)
  const interactions = ctx.ddi ? ctx.ddi.check(candidates) : null
  const decoded = decodeCombination(scored, threshold, interactions, options.ddiSafe ?? null)
  const inCombination = new Set(decoded.combination)
  const drugs: RecommendedDrug[] = scored
    .map((d) => ({ atc3: d.atc3, name: d.name, probability: round(d.probability), inCombination: inCombination.has(d.atc3) }))
    .sort((a, b) => b.probability - a.probability || (a.atc3 < b.atc3 ? -1 : 1))
  return {
    drugs,
    combination: decoded.combination,
    ddi: {
      checked: interactions !== null,
      source: ctx.ddi?.source ?? null,
      safeDecoding: options.ddiSafe ?? null,
      interactions: decoded.interactions,
      ddiRate: interactions === null ? null : round(decoded.ddiRate),
      dropped: decoded.dropped.map((d) => ({ ...d, probability: round(d.probability) }))
    }
  }
}

/** One patient of a batch: the app's or the source's patient id, and optionally the current visit's codes. */
export interface PatientRequest {
  patient: number | string
  currentVisit?: CurrentVisitCodes
}

/** Recommendations for several patients with one model run; all audit entries are written together. */
export async function recommendMany(
  ctx: ServiceContext,
  patients: ReadonlyArray<PatientRequest>,
  options: Omit<RecommendOptions, 'currentVisit'> = {}
): Promise<RecommendationResult[]> {
  if (options.ddiSafe && !ctx.ddi) {
    throw new DdiUnavailableError('DDI-safe decoding needs the drug interaction knowledge base, which is not loaded.')
  }
  if (patients.length === 0) return []
  const model = await chooseModel(ctx, options.modelId)
  // Timing starts once the model is chosen: loading a session happens once and is reported as its loadMs.
  const started = performance.now()
  const { manifest, session } = model
  const threshold = checkThreshold(options.threshold ?? manifest.threshold)
  // Every patient is read and encoded before the model runs, so a bad one fails the call with nothing written.
  const prepared = patients.map((p) => prepareInput(model, ctx.db, p.patient, p.currentVisit))
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
  const hashOptions = { threshold, ddiSafe: options.ddiSafe ?? null }

  const results: RecommendationResult[] = prepared.map((p, row) => {
    const decoded = decodeOne(ctx, p, probabilities.subarray(row * k, (row + 1) * k), options, threshold)
    const coldStart = runner.coldStart[row]
    return {
      patientId: p.input.patient.id,
      sourcePatientId: p.input.patient.sourcePatientId,
      model: { id: manifest.id, version: manifest.version, family: manifest.family, onnxSha256: manifest.onnx.sha256 },
      provider: session.provider,
      threshold,
      inputHash: inputsHash(manifest, p.encoded.fed, { ...hashOptions, coldStart: coldStartHashPart(coldStart) }),
      createdAt,
      ...decoded,
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
    ctx.db.transaction(() => {
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
    })()
  }
  return results
}

/** One patient's recommendation. Timing is per patient (a batch divides its times by its size). */
export async function recommend(ctx: ServiceContext, patient: number | string, options: RecommendOptions = {}): Promise<RecommendationResult> {
  const { currentVisit, ...rest } = options
  const [result] = await recommendMany(ctx, [{ patient, currentVisit }], rest)
  if (!result) throw new Error('No recommendation was produced.')
  return result
}
