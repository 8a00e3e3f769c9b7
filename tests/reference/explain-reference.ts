// The explanation service as it was before batching (cb6de1b's src/main/services/explain/explain.ts):
// two model runs (coalitions, then occlusions), every occluded patient re-encoded from its visits. Kept only
// as the reference the batched service is checked against (tests/unit/explain-batched.test.ts) and timed
// against (bench/inference.ts). Audit writing is left out: the reference never stores anything.
import type { CodeContribution, DrugExplanation, ExplanationResult, ModalityContribution } from '../../src/shared/domain/explanation'
import type { ServiceContext } from '../../src/main/services/service-context'
import { type CodeRef, codeKey, encodePatient, type VisitCodes } from '../../src/main/services/inference/encode'
import { inputsHash } from '../../src/main/services/recommend/input-hash'
import { type CurrentVisitCodes, titleKey } from '../../src/main/services/recommend/patient-input'
import { checkThreshold, chooseModel, type PreparedInput, prepareInput, round } from '../../src/main/services/recommend/prepare'
import { coldStartHashPart, ModelRunner } from '../../src/main/services/recommend/cold-start-runner'
import { UNKNOWN_INDEX } from '../../src/main/services/inference/vocabulary'
import { explainCausalWeights } from '../../src/main/services/explain/patient-causal'
import { coalitionMasks, shapleyValues } from '../../src/main/services/explain/shapley'

import { UnknownDrugError } from '../../src/main/services/explain/explain'

export interface ExplainOptions {
  modelId?: string | null
  /** ATC3 classes to explain; default: the recommended combination at the threshold (else the most probable drug). */
  drugs?: string[]
  threshold?: number
  /** How many of the explained drugs (most probable first) get per-code contributions; default 3. */
  codeDrugs?: number
  currentVisit?: CurrentVisitCodes
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

function withoutCode(visits: readonly VisitCodes[], code: DistinctCode): VisitCodes[] {
  return visits.map((visit) => ({
    diagnoses: code.kind === 'diagnosis' ? visit.diagnoses.filter((r) => codeKey(r) !== code.key) : visit.diagnoses,
    procedures: code.kind === 'procedure' ? visit.procedures.filter((r) => codeKey(r) !== code.key) : visit.procedures,
    medications: code.kind === 'medication' ? visit.medications.filter((m) => codeKey({ system: null, code: m }) !== code.key) : visit.medications
  }))
}

function vocabularyFor(prepared: PreparedInput, kind: CodeKindName) {
  return kind === 'diagnosis' ? prepared.model.vocab.diagnosis : kind === 'procedure' ? prepared.model.vocab.procedure : prepared.model.vocab.medication
}

export async function explainReference(ctx: ServiceContext, patient: number | string, options: ExplainOptions = {}): Promise<ExplanationResult> {
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

  // Shapley: the patient under every coalition of modalities, in one run.
  const masks = coalitionMasks(m)
  const coalitions = 1 << m
  const subsetProbabilities = await runner.predictFor(0, new Array(coalitions).fill(prepared.encoded), masks)
  const probabilityOf = (coalition: number, column: number): number => subsetProbabilities[coalition * k + column] ?? 0
  const all = coalitions - 1
  const shapleyDone = performance.now()

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

  // Per-code occlusion for the top drugs: every distinct fed code removed in turn, in one run.
  const codeDrugCount = Math.max(0, options.codeDrugs ?? 3)
  const codeColumns = new Set(chosenColumns.slice(0, codeDrugCount))
  const codes = codeColumns.size > 0 ? distinctFedCodes(prepared) : []
  const occluded = codes.map((code) => encodePatient(model.vocab, manifest.limits, withoutCode(prepared.input.visits, code)))
  const occludedProbabilities = await runner.predictFor(0, occluded)
  await runner.release()
  const occlusionDone = performance.now()
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
            contribution: round(full - (occludedProbabilities[row * k + column] ?? 0), 9)
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
    inputHash: hash,
    createdAt,
    modalities: manifest.modalities,
    drugs,
    causal: causal.info,
    input: coldStart ? { ...prepared.summary, coldStart } : prepared.summary,
    timing: {
      shapleyMs: round(shapleyDone - started - runner.loadMs, 3), // a first cold-start load happens once per model
      occlusionMs: round(occlusionDone - shapleyDone, 3),
      totalMs: round(finished - started - runner.loadMs, 3),
      subsetRows: coalitions,
      occlusionRows: occluded.length
    },
    auditId: null
  }
  return result
}
