// Per-visit metrics with the training package's definitions (training/medrec_training/metrics.py), so a
// hospital's figures compare with models/BENCHMARK.md:
//   Jaccard = |P ∩ T| / |P ∪ T|; precision = |P ∩ T| / |P| (0 if P is empty); recall = |P ∩ T| / |T|;
//   F1 = 2pr / (p + r) (0 if p + r = 0); PRAUC = step-wise average precision, tied scores one step;
//   DDI rate = interacting pairs / all pairs of predicted classes (a pair interacts if either order is listed);
//   ECE over every (visit, class) probability in 10 equal-width bins [b/10, (b+1)/10), the last one with 1.0.
// Jaccard, F1, PRAUC, precision and recall are averaged over a patient's visits, then over patients;
// #drugs, DDI rate and ECE are pooled over visits. Aggregation lives in summary.ts.

export const CALIBRATION_BINS = 10

export interface SetScores {
  jaccard: number
  precision: number
  recall: number
  f1: number
}

/** Scores of one visit's predicted set against its true set (0/1 rows over the same classes). */
export function setScores(truth: ArrayLike<number>, predicted: ArrayLike<number>): SetScores {
  let intersection = 0
  let union = 0
  let predictedCount = 0
  let actualCount = 0
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]! > 0
    const p = predicted[i]! > 0
    if (t && p) intersection++
    if (t || p) union++
    if (p) predictedCount++
    if (t) actualCount++
  }
  const precision = predictedCount ? intersection / predictedCount : 0
  const recall = actualCount ? intersection / actualCount : 0
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0
  return { jaccard: union ? intersection / union : 0, precision, recall, f1 }
}

/** Step-wise area under the precision–recall curve of one visit's scores; 0 when the visit has no positive. */
export function averagePrecision(truth: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = truth.length
  let positives = 0
  for (let i = 0; i < n; i++) if (truth[i]! > 0) positives++
  if (positives === 0) return 0
  // Stable sort by descending score, as numpy's mergesort on -scores.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!)
  let area = 0
  let truePositives = 0
  let previousRecall = 0
  for (let k = 0; k < n; k++) {
    if (truth[order[k]!]! > 0) truePositives++
    const lastOfTiedGroup = k === n - 1 || scores[order[k + 1]!]! !== scores[order[k]!]!
    if (!lastOfTiedGroup) continue
    const recall = truePositives / positives
    area += (recall - previousRecall) * (truePositives / (k + 1))
    previousRecall = recall
  }
  return area
}

/** Symmetric class-pair lookup of one named DDI matrix over a model's output columns. */
export class DdiMatrix {
  private readonly marked: Uint8Array

  constructor(
    readonly name: string,
    readonly size: number,
    pairs: Iterable<readonly [number, number]>
  ) {
    this.marked = new Uint8Array(size * size)
    for (const [a, b] of pairs) {
      // The DDI rate looks at pairs of different classes: a class paired with itself never counts.
      if (a === b) continue
      this.marked[a * size + b] = 1
      this.marked[b * size + a] = 1
    }
  }

  interacts(a: number, b: number): boolean {
    return this.marked[a * this.size + b] === 1
  }

  /** Unordered pairs of different classes marked. */
  pairCount(): number {
    let n = 0
    for (let a = 0; a < this.size; a++) for (let b = a + 1; b < this.size; b++) n += this.marked[a * this.size + b]!
    return n
  }
}

/** Interacting pairs among one visit's predicted classes (column indices). */
export function interactingPairs(predictedColumns: readonly number[], matrix: DdiMatrix): number {
  let n = 0
  for (let i = 0; i < predictedColumns.length; i++) {
    for (let j = i + 1; j < predictedColumns.length; j++) if (matrix.interacts(predictedColumns[i]!, predictedColumns[j]!)) n++
  }
  return n
}

export const allPairs = (count: number): number => (count * (count - 1)) / 2

/** The calibration bin of a probability: [b/10, (b+1)/10), 1.0 in the last bin. */
export const calibrationBin = (p: number): number => Math.min(Math.floor(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)

/**
 * Adds one visit's probabilities to calibration sums laid out as [count, sum of p, sum of y] per bin
 * (3 × CALIBRATION_BINS numbers), so that sums can be added across visits and patients before the ECE.
 */
export function addToCalibration(sums: Float64Array, truth: ArrayLike<number>, probabilities: ArrayLike<number>): void {
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i]!
    const b = calibrationBin(p)
    sums[3 * b]! += 1
    sums[3 * b + 1]! += p
    sums[3 * b + 2]! += truth[i]! > 0 ? 1 : 0
  }
}

export interface ReliabilityPoint {
  bin: number
  /** Bin bounds [low, high). */
  low: number
  high: number
  count: number
  meanProbability: number
  observedRate: number
}

/** ECE from calibration sums: Σ_b (n_b / N) |mean y_b − mean p_b|; 0 with no probability. */
export function eceFromCalibration(sums: ArrayLike<number>): number {
  let total = 0
  for (let b = 0; b < CALIBRATION_BINS; b++) total += sums[3 * b]!
  if (total === 0) return 0
  let ece = 0
  for (let b = 0; b < CALIBRATION_BINS; b++) {
    const n = sums[3 * b]!
    if (n > 0) ece += (n / total) * Math.abs(sums[3 * b + 2]! / n - sums[3 * b + 1]! / n)
  }
  return ece
}

/** The reliability diagram's points (bins with at least one probability). */
export function reliabilityPoints(sums: ArrayLike<number>): ReliabilityPoint[] {
  const points: ReliabilityPoint[] = []
  for (let b = 0; b < CALIBRATION_BINS; b++) {
    const n = sums[3 * b]!
    if (n === 0) continue
    points.push({
      bin: b,
      low: b / CALIBRATION_BINS,
      high: (b + 1) / CALIBRATION_BINS,
      count: n,
      meanProbability: sums[3 * b + 1]! / n,
      observedRate: sums[3 * b + 2]! / n
    })
  }
  return points
}

/** ECE of flat arrays of labels and probabilities (the definition above, in one call). */
export function expectedCalibrationError(truth: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  const sums = new Float64Array(3 * CALIBRATION_BINS)
  addToCalibration(sums, truth, probabilities)
  return eceFromCalibration(sums)
}
