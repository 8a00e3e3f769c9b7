// The steps recommendation and explanation share: choose the model, read the patient, encode the input.
import type { ModelInputSummary } from '../../../shared/domain/recommendation'
import type { Db } from '../db/database'
import { type EncodedPatient, encodePatient, hasAnyCode } from '../inference/encode'
import { getActiveModelId } from '../models/active-model'
import type { RegisteredModel } from '../models/registry'
import type { ServiceContext } from '../service-context'
import { type CurrentVisitCodes, EmptyHistoryError, loadPatientInput, type PatientModelInput } from './patient-input'

export interface PreparedInput {
  model: RegisteredModel
  input: PatientModelInput
  encoded: EncodedPatient
  summary: ModelInputSummary
}

export async function chooseModel(ctx: ServiceContext, modelId?: string | null): Promise<RegisteredModel> {
  return ctx.registry.resolve(modelId, getActiveModelId(ctx.db))
}

/**
 * `visit`: the stored visit to treat as current (source or app visit id); default the latest. `titles: false`:
 * without the codes' titles (only explanations and a cold-start graph read them).
 */
export function prepareInput(
  model: RegisteredModel,
  db: Db,
  patient: number | string,
  current?: CurrentVisitCodes,
  visit?: string,
  options: { titles?: boolean } = {}
): PreparedInput {
  const input = loadPatientInput(db, patient, current, visit, options)
  const encoded = encodePatient(model.vocab, model.manifest.limits, input.visits)
  if (!hasAnyCode(encoded)) {
    throw new EmptyHistoryError(
      `Patient ${input.patient.sourcePatientId} (id ${input.patient.id}) has no diagnosis, procedure or medication codes in the visits the model reads: nothing to recommend from.`
    )
  }
  const summary: ModelInputSummary = { ...encoded.summary, currentVisit: input.currentVisit, unmappedMedications: input.unmappedMedications }
  return { model, input, encoded, summary }
}

export function checkThreshold(threshold: number): number {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`The threshold must lie strictly between 0 and 1, got ${threshold}.`)
  return threshold
}

/** Rounds for display and storage (probabilities to 1e-6 by default). */
export function round(value: number, digits = 6): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}
