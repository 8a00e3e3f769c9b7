// Which graph a recommendation or an explanation runs. A model that ships a cold-start graph (NLA-MMR,
// see inference/text/cold-start.ts) runs it for a patient whose fed codes include diagnoses or procedures
// outside the model's vocabulary that have a title in the patient store: those codes then count through
// the embedding of their title instead of as 'unknown'. Every other model and every other patient runs
// model.onnx exactly as before. Recommendation and explanation both predict through ModelRunner, so an
// explanation attributes the very probabilities the recommendation showed.
import type { ColdStartSummary } from '../../../shared/domain/recommendation'
import { codeKey, type EncodedPatient } from '../inference/encode'
import type { RegisteredModel } from '../models/registry'
import { ColdStartModel, codeText, type NewCodeKind, type TitleOf } from '../inference/text/cold-start'
import { titleKey } from './patient-input'
import type { ServiceContext } from '../service-context'
import { ColdStartModels } from './cold-start-models'
import type { PreparedInput } from './prepare'

/** Titles of the batch's codes as cold start reads them ("kind:SYSTEM|CODE" → title, from code_titles). */
function titlesOf(prepared: readonly PreparedInput[]): TitleOf {
  const titles = new Map<string, string>()
  // code_titles has one title per (kind, system, code), so patients of a batch never disagree on one.
  for (const p of prepared) for (const [key, title] of p.input.titles) titles.set(key, title)
  return (kind: NewCodeKind, key: string) => titles.get(`${kind}:${key}`)
}

/** How a patient's out-of-vocabulary codes will be fed (the rule planNewCodes applies). */
function summarize(prepared: PreparedInput, titleOf: TitleOf): ColdStartSummary {
  const summary: ColdStartSummary = { embedded: [], unknown: [] }
  for (const code of prepared.summary.unknownCodeList) {
    const title = code.kind === 'medication' ? null : titleOf(code.kind, codeKey(code))
    if (code.kind !== 'medication' && title && codeText(title) !== null) {
      summary.embedded.push({ kind: code.kind, system: code.system, code: code.code, title })
    } else {
      summary.unknown.push(code)
    }
  }
  return summary
}

/** The embedded codes as the input hash records them: a changed title changes the output, so the hash. */
export function coldStartHashPart(summary: ColdStartSummary | undefined): Array<[string, string]> | undefined {
  if (!summary || summary.embedded.length === 0) return undefined
  return summary.embedded.map((c) => [titleKey(c.kind, c), codeText(c.title) ?? ''])
}

/** Predicts through model.onnx or, for the patients that need it, the cold-start graph. */
export class ModelRunner {
  private constructor(
    private readonly model: RegisteredModel,
    private readonly coldStartModel: ColdStartModel | null,
    private readonly titleOf: TitleOf,
    /** Per prepared patient: its cold-start summary (undefined for a model without a cold-start graph). */
    readonly coldStart: ReadonlyArray<ColdStartSummary | undefined>,
    /** Milliseconds spent loading the cold-start graph and text encoder in this call (0 when cached or unused). */
    readonly loadMs: number,
    private readonly owned: ColdStartModels | null
  ) {}

  /**
   * Decides, for the prepared patients of one call, which graph each needs, and loads the cold-start graph
   * only when one of them has a titled code new to the model. A context without a ColdStartModels cache
   * (hand-built in tests and benchmarks) loads it for this call only; release() frees it then.
   */
  static async open(ctx: ServiceContext, model: RegisteredModel, prepared: readonly PreparedInput[]): Promise<ModelRunner> {
    const titleOf = titlesOf(prepared)
    if (!ColdStartModel.supports(model.manifest)) return new ModelRunner(model, null, titleOf, prepared.map(() => undefined), 0, null)
    const coldStart = prepared.map((p) => summarize(p, titleOf))
    if (coldStart.every((s) => s.embedded.length === 0)) return new ModelRunner(model, null, titleOf, coldStart, 0, null)
    const owned = ctx.coldStart ? null : new ColdStartModels()
    const cache = ctx.coldStart ?? owned!
    const started = performance.now()
    const wasLoaded = cache.loadMs.has(model)
    const coldStartModel = await cache.get(model)
    const loadMs = wasLoaded ? 0 : performance.now() - started
    return new ModelRunner(model, coldStartModel, titleOf, coldStart, loadMs, owned)
  }

  /** Whether prepared patient `patient` runs the cold-start graph. */
  usesColdStart(patient: number): boolean {
    return this.coldStartModel !== null && (this.coldStart[patient]?.embedded.length ?? 0) > 0
  }

  /** Probabilities (rows × medications) for rows that all belong to prepared patient `patient` (explanations). */
  async predictFor(patient: number, rows: readonly EncodedPatient[], modalityMasks?: Float32Array, rowsPerRun?: number): Promise<Float32Array> {
    if (!this.usesColdStart(patient)) return this.model.session.predict(rows, modalityMasks, rowsPerRun)
    return this.model.session.calibrate((await this.coldStartModel!.predict(rows, this.titleOf, modalityMasks)).probabilities)
  }

  /** Probabilities for one row per prepared patient (recommendations), each through the graph it needs. */
  async predictEach(rows: readonly EncodedPatient[]): Promise<Float32Array> {
    const cold = rows.map((_, i) => i).filter((i) => this.usesColdStart(i))
    if (cold.length === 0) return this.model.session.predict(rows)
    if (cold.length === rows.length) return this.model.session.calibrate((await this.coldStartModel!.predict(rows, this.titleOf)).probabilities)
    const k = this.model.manifest.vocabularies.medication.entries.length
    const plain = rows.map((_, i) => i).filter((i) => !this.usesColdStart(i))
    const [coldProbabilities, plainProbabilities] = [
      this.model.session.calibrate((await this.coldStartModel!.predict(cold.map((i) => rows[i]!), this.titleOf)).probabilities),
      await this.model.session.predict(plain.map((i) => rows[i]!))
    ]
    const out = new Float32Array(rows.length * k)
    cold.forEach((row, j) => out.set(coldProbabilities.subarray(j * k, (j + 1) * k), row * k))
    plain.forEach((row, j) => out.set(plainProbabilities.subarray(j * k, (j + 1) * k), row * k))
    return out
  }

  async release(): Promise<void> {
    await this.owned?.close()
  }
}
