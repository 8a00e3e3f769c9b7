// Every API method fuzzed with fast-check through the dispatcher (a modest count here; `npm run fuzz` runs
// ≥ 10,000 cases per method). On main, 75 of 20,000 fuzzed calls that were the caller's fault came back
// 'internal', and refusals by a rule as 'not-found'.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FUZZED_METHODS, fuzzMethod, fuzzWorkspace } from '../fuzz/api-fuzz'

const RUNS_PER_METHOD = 40

describe('API fuzzing (fast-check)', () => {
  let target: ReturnType<typeof fuzzWorkspace>
  beforeAll(() => {
    target = fuzzWorkspace()
  })
  afterAll(async () => {
    await target.close()
  })

  it.each(FUZZED_METHODS.map((m) => [m]))('%s: no internal error, no unclear message, nothing stored after a failed call', async (method) => {
    const report = await fuzzMethod(target, method, { runs: RUNS_PER_METHOD, seed: 15 })
    expect(report.calls).toBe(RUNS_PER_METHOD)
    expect(report.crashes).toEqual([])
    expect(report.internal).toEqual([])
    expect(report.unclear).toEqual([])
    expect(report.changedAfterFailure).toEqual([])
  })
})
