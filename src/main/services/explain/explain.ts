// Explanations. Per recommended drug: exact Shapley values over the model's maskable modalities (all 2^M
// coalitions in one batched run through modality_mask), in probability units, summing to
// p(all modalities) − p(none). For the top drugs, per-code contributions: each distinct diagnosis,
// procedure and history medication removed from every visit in turn (one batched run), contribution =
// p(all codes) − p(without the code). CafeMed models add, per drug, the current visit's codes with the
// largest patient-specific causal weights (patient-causal.ts).
import type { CodeContribution, DrugExplanation, ExplanationResult, ModalityContribution } from '../../../shared/domain/explanation'
import type { ServiceContext } from '../service-context'
import { recordAudit } from '../audit/audit'
import { type CodeRef, codeKey } from '../inference/encode'
import { inputsHash } from '../recommend/input-hash'
import { type CurrentVisitCodes, titleKey } from '../recommend/patient-input'
import { checkThreshold, chooseModel, type PreparedInput, prepareInput, round } from '../recommend/prepare'
import { coldStartHashPart, ModelRunner } from '../recommend/cold-start-runner'
import { probabilityScale } from '../inference/calibration'
import { UNKNOWN_INDEX } from '../inference/vocabulary'
import { explainCausalWeights } from './patient-causal'
import { distinctOccludedRows, occludeEncoded } from './occlusion'
import { coalitionMasks, shapleyValues } from './shapley'

/**
 * Rows of the one explanation run: 2^8 coalitions plus up to 256 occlusions fit; more (12 modalities) are
 * split so intermediate tensors stay bounded.
 */
export const EXPLANATION_ROWS_PER_RUN = 512

export class UnknownDrugError extends Error {
  override name = 'UnknownDrugError'
}

export interface ExplainOptions {
  modelId?: string | null
  /** ATC3 classes to explain; default: the recommended combination at the threshold (else the most probable drug). */
  drugs?: string[]
  threshold?: number
  /** How many of the explained drugs (most probable first) get per-code contributions; default 3. */
  codeDrugs?: number
  currentVisit?: CurrentVisitCodes
  audit?: boolean
}

type CodeKindName = CodeContribution['kind']

interface DistinctCode {
  kind: CodeKindName
  ref: CodeRef
  key: string
}

/** Each distinct code the model was fed (the kept visits; the current visit's medications are not inputs). */
function distinctFedCodes(prepared: PreparedInput): DistinctCode[] {
  const seen = new Set<string>()
  const codes: DistinctCode[] = []
  const kept = prepared.input.visits.slice(-prepared.model.manifest.limits.maxVisits)
  const add = (kind: CodeKindName, ref: CodeRef, fedKeys: readonly string[]): void => {
    const key = codeKey(ref)
    const id = `${kind}:${key}`
    if (!fedKeys.includes(key) || seen.has(id)) return
    seen.add(id)
    codes.push({ kind, ref, key })
  }
  kept.forEach((visit, v) => {
    const fed = prepared.encoded.fed[v]
    if (!fed) return
    for (const ref of visit.diagnoses) add('diagnosis', ref, fed.diagnoses)
    for (const ref of visit.procedures) add('procedure', ref, fed.procedures)
    for (const code of visit.medications) add('medication', { system: null, code }, fed.medications)
  })
  return codes
}

function vocabularyFor(prepared: PreparedInput, kind: CodeKindName) {
  return kind === 'diagnosis' ? prepared.model.vocab.diagnosis : kind === 'procedure' ? prepared.model.vocab.procedure : prepared.model.vocab.medication
}

export async function explain(ctx: ServiceContext, patient: number | string, options: ExplainOptions = {}): Promise<ExplanationResult> {
  const model = await chooseModel(ctx, options.modelId)
  const started = performance.now() // after the (once per process) session load
  const { manifest, session } = model
  const threshold = checkThreshold(options.threshold ?? manifest.threshold)
  const medicationEntries = manifest.vocabularies.medication.entries
  const columnOf = new Map(medicationEntries.map((e, i) => [e.code.toUpperCase(), i]))
  const requested = (options.drugs ?? []).map((d) => d.trim().toUpperCase())
  const unknown = requested.filter((d) => !columnOf.has(d))
  if (unknown.length > 0) {
    throw new UnknownDrugError(
      `Model ${manifest.id} has no medication ${unknown.map((d) => `"${d}"`).join(', ')} (it predicts ${medicationEntries.length} ATC3 classes, e.g. ${medicationEntries.slice(0, 5).map((e) => e.code).join(', ')}).`
    )
  }
  const prepared = prepareInput(model, ctx.db, patient, options.currentVisit)
  // The graph the recommendation ran (NLA-MMR's cold-start graph for titled codes new to the model), so
  // Shapley values and occlusions attribute the probabilities the recommendation showed.
  const runner = await ModelRunner.open(ctx, model, [prepared])
  const coldStart = runner.coldStart[0]
  const fromTitle = new Set(coldStart?.embedded.map((c) => titleKey(c.kind, c)))
  const m = manifest.modalities.length
  const k = medicationEntries.length
  const occlusionStarted = performance.now()

  // One run for everything: the patient under every coalition of modalities (Shapley), then, with every
  // modality present, the patient with each distinct fed code removed in turn (per-code occlusion). The
  // occluded rows come from the encoded tensors (occlusion.ts), not from re-encoding the visits.
  const codeDrugCount = Math.max(0, options.codeDrugs ?? 3)
  const codes = codeDrugCount > 0 ? distinctFedCodes(prepared) : []
  const occluded = codes.map((code) => occludeEncoded(model.vocab, manifest.limits, prepared.input.visits, prepared.encoded, code))
  const masks = coalitionMasks(m)
  const coalitions = 1 << m
  const all = coalitions - 1
  // Identical occluded inputs run once (the cold-start graph reads more than the tensors: it runs them all).
  const { distinct, rowOf } = runner.usesColdStart(0)
    ? { distinct: occluded, rowOf: Int32Array.from(occluded, (_, i) => i) }
    : distinctOccludedRows(prepared.encoded, occluded)
  const rowMasks = new Float32Array((coalitions + distinct.length) * m).fill(1)
  rowMasks.set(masks)
  const rows = new Array(coalitions).fill(prepared.encoded).concat(distinct)
  const rowsBuilt = performance.now()
  let probabilities: Float32Array
  try {
    probabilities = await runner.predictFor(0, rows, rowMasks, EXPLANATION_ROWS_PER_RUN)
  } finally {
    await runner.release()
  }
  const probabilityOf = (coalition: number, column: number): number => probabilities[coalition * k + column] ?? 0
  const occludedProbability = (row: number, column: number): number => {
    const at = rowOf[row] ?? -1
    return at < 0 ? probabilityOf(all, column) : (probabilities[(coalitions + at) * k + column] ?? 0)
  }
  const runDone = performance.now()

  const chosenColumns: number[] = requested.length > 0
    ? [...new Set(requested.map((d) => columnOf.get(d) ?? 0))]
    : medicationEntries.map((_, i) => i).filter((i) => probabilityOf(all, i) >= threshold)
  if (chosenColumns.length === 0) {
    // Nothing reaches the threshold: explain the most probable drug rather than nothing.
    let best = 0
    for (let i = 1; i < k; i++) if (probabilityOf(all, i) > probabilityOf(all, best)) best = i
    chosenColumns.push(best)
  }
  chosenColumns.sort((a, b) => probabilityOf(all, b) - probabilityOf(all, a))

  const codeColumns = new Set(chosenColumns.slice(0, codeDrugCount))
  const causal = await explainCausalWeights(prepared)

  const drugs: DrugExplanation[] = chosenColumns.map((column) => {
    const entry = medicationEntries[column]
    const phi = shapleyValues(m, (coalition) => probabilityOf(coalition, column))
    const modalities: ModalityContribution[] = manifest.modalities.map((modality, j) => ({
      modalityId: modality.id,
      label: modality.label,
      side: modality.side,
      shapley: round(phi[j] ?? 0, 9)
    }))
    const full = probabilityOf(all, column)
    const codeContributions: CodeContribution[] | null = codeColumns.has(column)
      ? codes
          .map((code, row) => ({
            kind: code.kind,
            system: code.ref.system,
            code: code.ref.code,
            title: prepared.input.titles.get(titleKey(code.kind, code.ref)) ?? null,
            unknown: vocabularyFor(prepared, code.kind).indexOf(code.ref.system, code.ref.code) === UNKNOWN_INDEX && !fromTitle.has(titleKey(code.kind, code.ref)),
            ...(fromTitle.has(titleKey(code.kind, code.ref)) ? { fromTitle: true } : {}),
            contribution: round(full - occludedProbability(row, column), 9)
          }))
          .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
      : null
    return {
      atc3: entry?.code ?? String(column),
      name: entry?.title ?? null,
      probability: round(full, 9),
      baseline: round(probabilityOf(0, column), 9),
      modalities,
      codes: codeContributions,
      causalWeights: causal.forColumn(column)
    }
  })

  const createdAt = new Date().toISOString()
  const hash = inputsHash(manifest, prepared.encoded.fed, {
    explain: true,
    threshold,
    drugs: requested.length > 0 ? requested : null,
    codeDrugs: codeDrugCount,
    coldStart: coldStartHashPart(coldStart)
  })
  const finished = performance.now()
  const result: ExplanationResult = {
    patientId: prepared.input.patient.id,
    sourcePatientId: prepared.input.patient.sourcePatientId,
    model: { id: manifest.id, version: manifest.version, family: manifest.family, onnxSha256: manifest.onnx.sha256 },
    provider: session.provider,
    probabilities: probabilityScale(manifest),
    inputHash: hash,
    createdAt,
    modalities: manifest.modalities,
    drugs,
    causal: causal.info,
    input: coldStart ? { ...prepared.summary, coldStart } : prepared.summary,
    timing: {
      // Coalitions and occlusions share one run: shapleyMs is reading, encoding and that run, occlusionMs the
      // building of the occluded rows within it. A first cold-start load happens once per model.
      shapleyMs: round(runDone - started - runner.loadMs, 3),
      occlusionMs: round(rowsBuilt - occlusionStarted, 3),
      totalMs: round(finished - started - runner.loadMs, 3),
      subsetRows: coalitions,
      occlusionRows: occluded.length
    },
    auditId: null
  }
  if (options.audit ?? true) {
    const { auditId: _unused, timing: _timing, ...shown } = result
    result.auditId = await recordAudit(ctx.db, {
      kind: 'explanation',
      patientId: result.patientId,
      sourcePatientId: result.sourcePatientId,
      inputsHash: hash,
      modelId: manifest.id,
      modelVersion: manifest.version,
      outputs: shown,
      createdAt
    })
  }
  return result
}
