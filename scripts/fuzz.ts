// `npm run fuzz`: every API method fuzzed through the dispatcher with fast-check (tests/fuzz/api-fuzz.ts),
// 10,000 cases per method by default. Prints per method the calls, answers by code, and the violations:
// crashes, 'internal' answers to the caller's mistakes, unclear messages, and stored data changed by a
// failed call (goal: 0 each). Exits 1 when any violation is found.
//   npm run fuzz -- --runs 20000 --seed 7 --methods recommend:run,review:submit
import type { ApiMethod } from '../src/shared/api'
import { parseArgs } from 'node:util'
import { TEST_TRUSTED_KEYS_DIR } from '../tests/fixtures/keys/test-key'
import { FUZZED_METHODS, fuzzMethod, fuzzWorkspace, type FuzzReport } from '../tests/fuzz/api-fuzz'

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { runs: { type: 'string', default: '10000' }, seed: { type: 'string' }, methods: { type: 'string' } }
})
const runs = Number(values.runs)
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number ≥ 1, got "${values.runs}".`)
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed)
const methods = values.methods ? (values.methods.split(',') as ApiMethod[]) : [...FUZZED_METHODS]
const unknown = methods.filter((m) => !FUZZED_METHODS.includes(m))
if (unknown.length > 0) throw new Error(`Unknown API methods: ${unknown.join(', ')}.`)

// The fuzzed workspace runs the fixture models, signed with the TEST-ONLY key: trust it in this process only.
process.env.MEDREC_TRUSTED_KEYS = TEST_TRUSTED_KEYS_DIR
const target = fuzzWorkspace()
const reports: FuzzReport[] = []
const started = performance.now()
try {
  for (const method of methods) reports.push(await fuzzMethod(target, method, { runs, seed }))
} finally {
  await target.close()
}
const seconds = (performance.now() - started) / 1000

const pad = (text: string | number, width: number): string => String(text).padStart(width)
console.log(`API fuzzing: ${runs} cases per method, seed ${seed}, ${seconds.toFixed(1)} s\n`)
console.log(`${'method'.padEnd(24)}${pad('calls', 8)}${pad('ok', 7)}${pad('invalid', 9)}${pad('not-found', 11)}${pad('refused', 9)}${pad('internal', 10)}${pad('unclear', 9)}${pad('changed', 9)}${pad('crashes', 9)}`)
for (const r of reports) {
  console.log(
    `${r.method.padEnd(24)}${pad(r.calls, 8)}${pad(r.ok, 7)}${pad(r.byCode.invalid ?? 0, 9)}${pad(r.byCode['not-found'] ?? 0, 11)}${pad(r.byCode.refused ?? 0, 9)}` +
      `${pad(r.internal.length, 10)}${pad(r.unclear.length, 9)}${pad(r.changedAfterFailure.length, 9)}${pad(r.crashes.length, 9)}`
  )
}
const total = (pick: (r: FuzzReport) => number): number => reports.reduce((sum, r) => sum + pick(r), 0)
const violations = total((r) => r.internal.length + r.unclear.length + r.changedAfterFailure.length + r.crashes.length)
console.log(`\nTotal: ${total((r) => r.calls)} calls, ${violations} violations.`)
for (const r of reports) {
  for (const v of [...r.crashes, ...r.internal, ...r.unclear, ...r.changedAfterFailure].slice(0, 5)) console.log(`  ${r.method}: ${JSON.stringify(v)}`)
}
process.exitCode = violations > 0 ? 1 : 0
