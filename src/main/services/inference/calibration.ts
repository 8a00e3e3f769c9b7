// Post-hoc probability calibration of a model (calibration.json beside model.onnx, named and hashed by the manifest's
// "calibration"): fitted by training/medrec_training/calibration.py on validation patients only, applied here to
// every probability the model produces (recommendations, batch scoring, explanations, evaluation), before the
// threshold, which the manifest gives on the calibrated scale. Each map is monotone per medication column:
//   temperature  p' = sigmoid(logit(p) / T)
//   platt        p' = sigmoid(a_d · logit(p) + b_d)
//   isotonic     p' = linear interpolation through the knots of column d, clipped outside them (numpy.interp)
// logit clips p to [epsilon, 1 − epsilon]; all arithmetic is float64 as in Python (parity tested to 1e-6).
import { z } from 'zod'
import type { ModelManifest, ProbabilityScale } from '../../../shared/domain/manifest'

export const CALIBRATION_METHODS = ['temperature', 'platt', 'isotonic'] as const
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number]

const finite = z.number().finite()
const knots = z
  .object({ x: z.array(finite).min(1), y: z.array(z.number().min(0).max(1)).min(1) })
  .refine((k) => k.x.length === k.y.length, 'x and y have different lengths')
  .refine((k) => k.x.every((v, i) => i === 0 || v > k.x[i - 1]!), 'x is not strictly increasing')
  .refine((k) => k.y.every((v, i) => i === 0 || v >= k.y[i - 1]!), 'y decreases (an isotonic map never does)')

const missRateRow = z.object({ alpha: z.number().gt(0).lt(1), threshold: z.number().min(0).max(1) }).passthrough()

export const calibrationFileSchema = z
  .object({
    method: z.enum(CALIBRATION_METHODS),
    medications: z.number().int().positive(),
    epsilon: z.number().gt(0).lt(0.01),
    fittedOn: z.string().min(1),
    parameters: z.object({
      temperature: z.number().positive().finite().optional(),
      slope: z.array(finite).optional(),
      intercept: z.array(finite).optional(),
      knots: z.array(knots).optional()
    }),
    missRate: z
      .object({ assumption: z.string(), guarantee: z.string(), thresholds: z.array(missRateRow) })
      .passthrough()
      .optional(),
    check: z.object({ raw: z.array(z.number().min(0).max(1)), calibrated: z.array(z.array(z.number())) }).optional()
  })
  .passthrough()

export type CalibrationFile = z.infer<typeof calibrationFileSchema>

export interface Calibration {
  method: CalibrationMethod
  medications: number
  fittedOn: string
  /** Conformal miss-rate thresholds on the calibrated scale, by alpha (ascending). */
  missRateThresholds: ReadonlyArray<{ alpha: number; threshold: number }>
  missRateAssumption: string | null
  /** Calibrates row-major rows × medications probabilities in place; returns the same array. */
  apply(probabilities: Float32Array): Float32Array
}

const clamp = (p: number, epsilon: number): number => Math.min(1 - epsilon, Math.max(epsilon, p))
const logit = (p: number, epsilon: number): number => {
  const q = clamp(p, epsilon)
  return Math.log(q) - Math.log1p(-q)
}
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x))

/** numpy.interp: y[0] left of the first knot, y[last] right of the last, linear between. */
export function interpolate(x: number, xs: readonly number[], ys: readonly number[]): number {
  const last = xs.length - 1
  if (x <= xs[0]!) return ys[0]!
  if (x >= xs[last]!) return ys[last]!
  let low = 0
  let high = last
  while (high - low > 1) {
    const middle = (low + high) >> 1
    if (xs[middle]! <= x) low = middle
    else high = middle
  }
  const [x0, x1, y0, y1] = [xs[low]!, xs[high]!, ys[low]!, ys[high]!]
  return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0)
}

/** One column's map from a raw probability to a calibrated one. */
function columnMaps(file: CalibrationFile): Array<(p: number) => number> {
  const { method, medications, epsilon, parameters } = file
  const problem = (what: string): never => {
    throw new Error(`${method} calibration: ${what}`)
  }
  if (method === 'temperature') {
    const t = parameters.temperature ?? problem('parameters.temperature is missing')
    return Array.from({ length: medications }, () => (p: number) => sigmoid(logit(p, epsilon) / t))
  }
  if (method === 'platt') {
    const { slope, intercept } = parameters
    if (!slope || !intercept) problem('parameters.slope and parameters.intercept are required')
    if (slope!.length !== medications || intercept!.length !== medications) {
      problem(`${slope!.length} slopes and ${intercept!.length} intercepts for ${medications} medications`)
    }
    return slope!.map((a, d) => {
      const b = intercept![d]!
      return (p: number) => sigmoid(a * logit(p, epsilon) + b)
    })
  }
  const columns = parameters.knots ?? problem('parameters.knots is missing')
  if (columns.length !== medications) problem(`${columns.length} knot lists for ${medications} medications`)
  return columns.map(({ x, y }) => (p: number) => interpolate(p, x, y))
}

/**
 * Parses and checks calibration.json (already hash-checked by the caller). `medications` is the manifest's
 * medication vocabulary size. Throws with the field at fault.
 */
export function loadCalibration(json: unknown, medications: number): Calibration {
  const parsed = calibrationFileSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`${issue.path.join('.') || '(top level)'}: ${issue.message}`)
  }
  const file = parsed.data
  if (file.medications !== medications) {
    throw new Error(`it calibrates ${file.medications} medications but the model's vocabulary has ${medications}`)
  }
  const maps = columnMaps(file)
  const calibration: Calibration = {
    method: file.method,
    medications,
    fittedOn: file.fittedOn,
    missRateThresholds: [...(file.missRate?.thresholds ?? [])].map((r) => ({ alpha: r.alpha, threshold: r.threshold })).sort((a, b) => a.alpha - b.alpha),
    missRateAssumption: file.missRate?.assumption ?? null,
    apply(probabilities: Float32Array): Float32Array {
      if (probabilities.length % medications !== 0) {
        throw new Error(`${probabilities.length} probabilities are not whole rows of ${medications} medications`)
      }
      for (let i = 0; i < probabilities.length; i++) probabilities[i] = maps[i % medications]!(probabilities[i]!)
      return probabilities
    }
  }
  // The file carries a grid of raw probabilities and what Python made of them: a map that reads differently
  // here (a changed formula, a corrupted parameter) is refused rather than used.
  if (file.check) {
    const raw = file.check.raw
    if (file.check.calibrated.length !== raw.length) throw new Error(`check: ${raw.length} raw values but ${file.check.calibrated.length} calibrated rows`)
    file.check.calibrated.forEach((row, r) =>
      row.forEach((expected, d) => {
        const got = d < maps.length ? maps[d]!(raw[r]!) : Number.NaN
        if (!(Math.abs(got - expected) <= 1e-6)) {
          throw new Error(`check row ${r}, medication ${d}: this app computes ${got}, the training side ${expected}`)
        }
      })
    )
  }
  return calibration
}

/**
 * The conformal threshold for a miss rate alpha: only the alphas the training side calibrated (no patient data
 * ships with the model), so an alpha not in the table is refused with the ones that exist.
 */
export function missRateThreshold(calibration: Calibration | null, alpha: number): number {
  const table = calibration?.missRateThresholds ?? []
  if (table.length === 0) throw new Error('this model carries no miss-rate thresholds (it was exported without calibration)')
  const row = table.find((r) => Math.abs(r.alpha - alpha) < 1e-9)
  if (!row) {
    throw new Error(`no miss-rate threshold for alpha ${alpha}; this model has ${table[0]!.alpha}–${table[table.length - 1]!.alpha} in steps of 0.01`)
  }
  return row.threshold
}

/** What a model's probabilities are: calibrated by the manifest's calibration (method, patients), or raw. */
export function probabilityScale(manifest: ModelManifest): ProbabilityScale {
  const c = manifest.calibration
  return c ? { calibrated: true, method: c.method, fittedOn: c.fittedOn } : { calibrated: false, method: null, fittedOn: null }
}
