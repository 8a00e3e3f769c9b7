// Conformal risk control for the miss rate (Angelopoulos, Bates, Fisch, Lei, Schuster: "Conformal Risk
// Control", ICLR 2024). The loss of a recommendation at threshold t is its miss rate: the share of the
// classes actually prescribed that score below t (1 − recall), bounded in [0, 1] and non-increasing as t
// falls. Given calibration predictions of n exchangeable units (patients: a patient's visits are averaged
// into one loss, since visits of one patient are not exchangeable with each other), the threshold
//   t̂ = the largest t with (n · R̂(t) + 1) / (n + 1) ≤ α,   R̂(t) = mean calibration loss at t,
// guarantees E[miss rate of a new patient at t̂] ≤ α, assuming the new patient is exchangeable with the
// calibration patients (same population, no drift). Python twin: training/medrec_training/conformal.py.

export interface CalibrationVisit {
  /** Exchangeable unit the visit belongs to (the patient). */
  unit: number | string
  /** 0/1 per class: prescribed. A visit with no prescribed class cannot miss anything and is left out. */
  truth: ArrayLike<number>
  /** The model's score per class (probability). */
  scores: ArrayLike<number>
}

export interface MissRateThreshold {
  /** Recommend the classes scoring ≥ threshold. 0 when no positive threshold meets the bound (everything is recommended). */
  threshold: number
  alpha: number
  /** Exchangeable units (patients) with at least one prescribed class. */
  units: number
  /** Mean calibration miss rate at the threshold (R̂). */
  calibrationMissRate: number
  /** The bound that was checked: (n · R̂ + 1) / (n + 1). */
  bound: number
}

export function missRateThreshold(visits: readonly CalibrationVisit[], alpha: number): MissRateThreshold {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must lie strictly between 0 and 1, got ${alpha}.`)
  // Each unit's loss is the mean of its visits' miss rates; a prescribed class scoring below t adds
  // 1 / (|T_visit| · visits of the unit · n) to R̂(t).
  const visitsPerUnit = new Map<number | string, number>()
  for (const visit of visits) {
    if (countPositives(visit.truth) > 0) visitsPerUnit.set(visit.unit, (visitsPerUnit.get(visit.unit) ?? 0) + 1)
  }
  const n = visitsPerUnit.size
  if (n === 0) throw new RangeError('No calibration visit has a prescribed class: a miss rate cannot be calibrated.')
  const missed: Array<{ score: number; weight: number }> = []
  for (const visit of visits) {
    const positives = countPositives(visit.truth)
    if (positives === 0) continue
    const weight = 1 / (positives * visitsPerUnit.get(visit.unit)! * n)
    for (let c = 0; c < visit.truth.length; c++) if (visit.truth[c]! > 0) missed.push({ score: visit.scores[c]!, weight })
  }
  // Lower the threshold through the prescribed classes' scores, highest first: at t = s every class
  // scoring ≥ s is recommended, so R̂(s) = 1 − (weight of the classes scoring ≥ s).
  missed.sort((a, b) => b.score - a.score)
  const boundAt = (risk: number): number => (n * risk + 1) / (n + 1)
  // R̂ is a float sum of 1/n-sized weights: allow rounding so that a bound exactly at α (e.g. 9 misses of
  // 99 at α = 0.1) counts as met, in TypeScript and Python alike.
  const TOLERANCE = 1e-12
  let covered = 0
  for (let i = 0; i < missed.length; ) {
    const score = missed[i]!.score
    while (i < missed.length && missed[i]!.score === score) covered += missed[i++]!.weight
    const risk = Math.max(0, 1 - covered)
    if (boundAt(risk) <= alpha + TOLERANCE && score > 0) return { threshold: score, alpha, units: n, calibrationMissRate: risk, bound: boundAt(risk) }
  }
  // Too few calibration units for this α (n + 1 < 1/α), or only zero scores: recommend everything.
  return { threshold: 0, alpha, units: n, calibrationMissRate: 0, bound: boundAt(0) }
}

function countPositives(truth: ArrayLike<number>): number {
  let n = 0
  for (let c = 0; c < truth.length; c++) if (truth[c]! > 0) n++
  return n
}
