// Exact Shapley values over M modalities from the values of all 2^M coalitions.
// Coalition s (0 ≤ s < 2^M) has modality j present when bit j of s is set; the model's modality_mask row
// for s is exactly those bits, so one batched run of 2^M rows gives every v(S).
//   φ_i = Σ_{S ⊆ N∖{i}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S))
// The values sum to v(N) − v(∅) (efficiency).

export const MAX_MODALITIES = 12 // the manifest schema's limit: 4096 coalitions

/** 2^M rows × M columns, row s = the bits of s (1 = modality present). */
export function coalitionMasks(modalityCount: number): Float32Array {
  if (!Number.isInteger(modalityCount) || modalityCount < 1 || modalityCount > MAX_MODALITIES) {
    throw new RangeError(`Shapley values need 1 to ${MAX_MODALITIES} modalities, got ${modalityCount}.`)
  }
  const rows = 1 << modalityCount
  const masks = new Float32Array(rows * modalityCount)
  for (let s = 0; s < rows; s++) {
    for (let j = 0; j < modalityCount; j++) masks[s * modalityCount + j] = (s >> j) & 1
  }
  return masks
}

function popcount(x: number): number {
  let count = 0
  for (let v = x; v !== 0; v &= v - 1) count++
  return count
}

/** |S|! (M − |S| − 1)! / M! for |S| = 0 … M − 1. */
function coalitionWeights(m: number): number[] {
  const factorial = [1]
  for (let i = 1; i <= m; i++) factorial.push((factorial[i - 1] ?? 1) * i)
  const total = factorial[m] ?? 1
  return Array.from({ length: m }, (_, size) => ((factorial[size] ?? 1) * (factorial[m - size - 1] ?? 1)) / total)
}

/** `value(s)` is v of coalition s; returns φ_0 … φ_{M−1}. Sums in float64. */
export function shapleyValues(modalityCount: number, value: (coalition: number) => number): number[] {
  const m = modalityCount
  const weights = coalitionWeights(m)
  const phi = new Array<number>(m).fill(0)
  const rows = 1 << m
  for (let s = 0; s < rows; s++) {
    const size = popcount(s)
    if (size === m) continue
    const weight = weights[size] ?? 0
    const base = value(s)
    for (let i = 0; i < m; i++) {
      if ((s >> i) & 1) continue
      phi[i] = (phi[i] ?? 0) + weight * (value(s | (1 << i)) - base)
    }
  }
  return phi
}
