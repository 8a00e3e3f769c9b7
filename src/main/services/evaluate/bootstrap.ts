// Patient-level bootstrap: patients are drawn with replacement (all visits of a drawn patient come along),
// because a patient's visits are not independent of each other. Seeded, so a report can be reproduced.

/** mulberry32: a small seeded 32-bit generator; uniform floats in [0, 1). Quality is ample for resampling. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Linear-interpolation quantile (numpy's default) of an ascending array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const position = (n - 1) * q
  const below = Math.floor(position)
  const above = Math.min(below + 1, n - 1)
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below)
}

export interface Interval {
  value: number
  /** 95% percentile bootstrap bounds; null with fewer than two patients or no replicate. */
  low: number | null
  high: number | null
}

export interface BootstrapOptions {
  replicates: number
  seed: number
  /** Two-sided level, 0.95 by default. */
  level?: number
}

/**
 * Point estimates and percentile intervals of a vector of statistics computed from per-patient weights.
 * `statistic(weights)` gets how many times each patient was drawn (all ones for the point estimate) and
 * returns one value per statistic; the same function serves the estimate and every replicate.
 */
export function patientBootstrap(
  patientCount: number,
  statistic: (weights: Float64Array) => number[],
  options: BootstrapOptions
): Interval[] {
  const ones = new Float64Array(patientCount).fill(1)
  const point = statistic(ones)
  if (patientCount < 2 || options.replicates < 1) return point.map((value) => ({ value, low: null, high: null }))
  const random = seededRandom(options.seed)
  const replicates = point.map(() => new Float64Array(options.replicates))
  const weights = new Float64Array(patientCount)
  for (let r = 0; r < options.replicates; r++) {
    weights.fill(0)
    for (let i = 0; i < patientCount; i++) weights[Math.floor(random() * patientCount)]! += 1
    statistic(weights).forEach((value, s) => (replicates[s]![r] = value))
  }
  const tail = (1 - (options.level ?? 0.95)) / 2
  return point.map((value, s) => {
    const sorted = replicates[s]!.sort()
    return { value, low: quantileSorted(sorted, tail), high: quantileSorted(sorted, 1 - tail) }
  })
}
