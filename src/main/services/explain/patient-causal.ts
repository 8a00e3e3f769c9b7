// CafeMed's patient-specific causal weights in an explanation. A model whose manifest lists
// causal-effects.json and causal-weights.onnx (see causal-effects.ts) gets, for each explained drug, the
// current visit's diagnoses and procedures that weigh most on the drug's logit for this patient, each with
// the static effect row it rests on. Models without those files get none (null), without an error.
//
// A causal file that cannot be used (changed since the registry checked it, unreadable, not matching the
// model) does not take the explanation down with it: Shapley values and per-code contributions come from
// model.onnx alone, which the registry verified. The explanation then carries `causal.error`, naming the
// file and what is wrong, and no drug carries causal weights.
import type { CausalWeightCode, CausalWeightsInfo, DrugCausalWeights } from '../../../shared/domain/explanation'
import type { ModelManifest } from '../../../shared/domain/manifest'
import { type CodeRef, codeKey } from '../inference/encode'
import { titleKey } from '../recommend/patient-input'
import { type PreparedInput, round } from '../recommend/prepare'
import {
  CAUSAL_EFFECTS_FILE,
  CAUSAL_WEIGHTS_FILE,
  type CausalCodeKind,
  CausalEffectTable,
  type CausalWeights,
  type PatientCausalCode,
  runCausalWeights
} from './causal-effects'

/** How many codes of each kind an explanation lists per drug. */
export const CAUSAL_CODES_PER_KIND = 5

export const CAUSAL_WEIGHT_NOTE =
  "Weight: the code's signed term in this drug's logit (log-odds) for this patient — its causal effect estimated from the training visits, " +
  "rescaled by CafeMed's patient-specific causal weight generator; positive pushes toward the drug. " +
  'Effect: the estimated risk difference ± standard error, with its Benjamini–Hochberg q-value.'

export interface PatientCausalExplanation {
  /** Null when the model ships no causal files. */
  info: CausalWeightsInfo | null
  /** The causal weights of an explained drug by its medication column; null when there are none to show. */
  forColumn(column: number): DrugCausalWeights | null
}

const NO_CAUSAL_FILES: PatientCausalExplanation = { info: null, forColumn: () => null }

const listed = (manifest: ModelManifest, file: string): boolean => (manifest.extraFiles ?? []).some((f) => f.file === file)

/** Whether a model ships CafeMed's causal files (either of them: one without the other is an error to report). */
export function hasCausalFiles(manifest: ModelManifest): boolean {
  return listed(manifest, CAUSAL_EFFECTS_FILE) || listed(manifest, CAUSAL_WEIGHTS_FILE)
}

function failed(error: unknown, table: CausalEffectTable | null = null): PatientCausalExplanation {
  return { info: describe(table, error instanceof Error ? error.message : String(error)), forColumn: () => null }
}

function describe(table: CausalEffectTable | null, error: string | null): CausalWeightsInfo {
  const document = table?.document
  const fdr = document?.settings.fdr
  return {
    note: CAUSAL_WEIGHT_NOTE,
    scale: document?.scale ?? null,
    estimand: document?.estimand ?? null,
    estimator: document?.estimator ?? null,
    falseDiscoveryRate: typeof fdr === 'number' ? fdr : null,
    trainingVisits: document?.visits ?? null,
    error
  }
}

/**
 * Runs causal-weights.onnx once for the prepared patient and reads the effect table, both checked against
 * the manifest's sha256 again (the files may have changed since the registry loaded the model).
 */
export async function explainCausalWeights(prepared: PreparedInput, perKind = CAUSAL_CODES_PER_KIND): Promise<PatientCausalExplanation> {
  const { manifest, directory } = prepared.model
  if (!hasCausalFiles(manifest)) return NO_CAUSAL_FILES
  for (const file of [CAUSAL_EFFECTS_FILE, CAUSAL_WEIGHTS_FILE]) {
    if (!listed(manifest, file)) {
      return failed(`Model ${manifest.id}: manifest.json lists ${listed(manifest, CAUSAL_EFFECTS_FILE) ? CAUSAL_EFFECTS_FILE : CAUSAL_WEIGHTS_FILE} but not ${file}`)
    }
  }
  let table: CausalEffectTable | null = null
  let weights: CausalWeights
  try {
    table = CausalEffectTable.load(directory, manifest)
    weights = await runCausalWeights(prepared.model.auxiliarySessions, directory, manifest, prepared.encoded)
  } catch (error) {
    return failed(error, table)
  }
  const loaded = table
  if (!loaded) return NO_CAUSAL_FILES // unreachable: the file is listed, so load() returns a table or throws
  const titled = currentVisitTitles(prepared)
  const medications = manifest.vocabularies.medication.entries
  return {
    info: describe(loaded, null),
    forColumn(column) {
      const drug = medications[column]
      if (!drug) return null
      const ranked = loaded.rankCodes(weights, prepared.encoded, drug.code)
      const shown = (kind: CausalCodeKind): CausalWeightCode[] =>
        ranked
          .filter((code) => code.kind === kind)
          .slice(0, perKind)
          .map((code) => ({ ...titled(code), weight: round(code.weight, 6), effect: effectRow(loaded, code, column) }))
      return {
        diagnoses: shown('diagnosis'),
        procedures: shown('procedure'),
        weightedDiagnoses: ranked.filter((c) => c.kind === 'diagnosis').length,
        weightedProcedures: ranked.filter((c) => c.kind === 'procedure').length,
        logitTotal: round(
          ranked.reduce((sum, c) => sum + c.weight, 0),
          6
        )
      }
    }
  }
}

function effectRow(table: CausalEffectTable, code: PatientCausalCode, column: number): CausalWeightCode['effect'] {
  const row = table.rowOf(code.kind, code.entry, column)
  return row
    ? { riskDifference: row.effect, standardError: row.standardError, q: row.q, treatedVisits: row.treatedVisits, usedByModel: row.used }
    : null
}

/**
 * The code as the patient store records it (system, code, title) for a ranked input slot: slot i of the
 * current visit holds the i-th code the encoder fed (FedVisit), which is found among the visit's codes.
 * The manifest's vocabulary title stands in when the store has none.
 */
function currentVisitTitles(prepared: PreparedInput): (code: PatientCausalCode) => Pick<CausalWeightCode, 'kind' | 'system' | 'code' | 'title'> {
  const fed = prepared.encoded.fed.at(-1)
  const visit = prepared.input.visits.at(-1)
  return (code) => {
    const key = (code.kind === 'diagnosis' ? fed?.diagnoses : fed?.procedures)?.[code.slot]
    const refs: readonly CodeRef[] = (code.kind === 'diagnosis' ? visit?.diagnoses : visit?.procedures) ?? []
    const ref = key === undefined ? undefined : refs.find((r) => codeKey(r) === key)
    if (!ref) return { kind: code.kind, system: code.system, code: code.code, title: code.title }
    return { kind: code.kind, system: ref.system, code: ref.code, title: prepared.input.titles.get(titleKey(code.kind, ref)) ?? code.title }
  }
}
