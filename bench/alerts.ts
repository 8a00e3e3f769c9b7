// npm run bench:alerts [-- --models a,b --limit N] — alert burden of class-level versus drug-level warnings.
//
// Over the demo patients with 2+ visits (the latest stored visit is the current one) and every shipped model,
// without DDI-safe decoding and with it blocking at Major and at Contraindicated (the app's default), prints side by
// side:
//   - interrupting warnings per recommendation (median, p90). Before: class-level, as the Recommend view showed
//     them (ATC3 class pairs lifted from member drug pairs, Major/contraindicated, at least one side a recommended
//     class the patient is not taking). After: drug-level (drug-warnings.ts: drug pairs at Major/contraindicated
//     involving a newly recommended drug);
//   - the share of patients for whom DDI-safe decoding removes a class they already take (on the current visit), and
//     of patients taking an antithrombotic (B01A) that the model recommends, the share who keep it;
//   - the share of blocking conflicts resolved by substitution within the class rather than by removal;
//   - the ATC3 Jaccard against the current visit's classes with and without DDI-safe. The shipped models were
//     trained on these patients, so this Jaccard is in-sample: only its change with DDI-safe is of interest.
// Before DDI-safe is the class-level greedy decoding that recommendation used until drug-level decoding replaced
// it (git show 35e30eb:src/main/services/recommend/decode.ts), restated below. Figures are printed, never asserted.
import { isAtLeast } from '../src/shared/domain/interaction'
import type { RecommendationResult } from '../src/shared/domain/recommendation'
import { openServices } from '../src/main/services/open-services'
import { parseArgs } from 'node:util'
import { EmptyHistoryError } from '../src/main/services/recommend/patient-input'
import { recommendMany } from '../src/main/services/recommend/recommend'

const { values } = parseArgs({ options: { models: { type: 'string' }, limit: { type: 'string' }, batch: { type: 'string', default: '64' } } })
type Block = 'Major' | 'Contraindicated'
const INTERRUPTING: Block = 'Major' // the banner: Major and contraindicated pairs
const ANTITHROMBOTICS = 'B01A'

const services = await openServices({ requireDdi: true })
const ddi = services.services.knowledge()!.ddi
const { ctx } = services
const db = ctx.db

// Patients with 2+ visits, and the ATC3 classes of their latest visit (the current one: "already taking").
const patients = db
  .prepare(`SELECT p.id FROM patients p JOIN visits v ON v.patient_id = p.id GROUP BY p.id HAVING count(*) >= 2 ORDER BY p.id`)
  .pluck()
  .all() as number[]
const currentClassesStatement = db.prepare(
  `SELECT DISTINCT upper(COALESCE(NULLIF(m.atc3, ''), substr(m.atc5, 1, 4))) FROM medications m
   WHERE m.visit_id = (SELECT id FROM visits WHERE patient_id = ? ORDER BY sort_key DESC, id DESC LIMIT 1)
     AND COALESCE(NULLIF(m.atc3, ''), m.atc5) IS NOT NULL`
)
const currentClasses = new Map(patients.map((id) => [id, new Set((currentClassesStatement.pluck().all(id) as string[]).filter((c) => c.length === 4))]))

const key = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`)

/** Class pairs at or above `block` among `classes` (one per pair, any source). */
function blockingClassPairs(classes: readonly string[], block: Block): Array<[string, string]> {
  const seen = new Map<string, [string, string]>()
  for (const p of ddi.classInteractions(classes)) if (isAtLeast(p.severity, block)) seen.set(key(p.a, p.b), [p.a, p.b])
  return [...seen.values()]
}

/** The Recommend view's former banner: class pairs at Major+ with a recommended class the patient does not take. */
function classLevelInterrupting(combination: readonly string[], taking: ReadonlySet<string>): number {
  const recommendedNew = new Set(combination.filter((c) => !taking.has(c)))
  return blockingClassPairs([...new Set([...combination, ...taking])], INTERRUPTING).filter(([a, b]) => recommendedNew.has(a) || recommendedNew.has(b)).length
}

/** The former class-level DDI-safe decoding (severity phase): drop the class with the smallest p per blocking pair. */
function classLevelSafe(probabilities: ReadonlyMap<string, number>, combination: readonly string[], block: Block): { kept: string[]; dropped: string[] } {
  const members = new Set(combination)
  const pairs = blockingClassPairs(combination, block)
  const dropped: string[] = []
  for (;;) {
    const partners = new Map<string, number>()
    for (const [a, b] of pairs) {
      if (!members.has(a) || !members.has(b)) continue
      partners.set(a, (partners.get(a) ?? 0) + 1)
      partners.set(b, (partners.get(b) ?? 0) + 1)
    }
    let pick: { code: string; cost: number; p: number } | null = null
    for (const [code, v] of partners) {
      const p = probabilities.get(code) ?? 0
      const cost = p / v
      if (!pick || cost < pick.cost || (cost === pick.cost && (p < pick.p || (p === pick.p && code < pick.code)))) pick = { code, cost, p }
    }
    if (!pick) break
    members.delete(pick.code)
    dropped.push(pick.code)
  }
  return { kept: combination.filter((c) => members.has(c)), dropped }
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
function jaccard(a: readonly string[], b: ReadonlySet<string>): number {
  const union = new Set([...a, ...b])
  return union.size === 0 ? 1 : a.filter((c) => b.has(c)).length / union.size
}

/** Patients with nothing the model reads (no code in any visit) cannot be recommended for: counted and left out. */
const skipped = new Map<string, number>()

async function run(modelId: string, ids: readonly number[], block: Block | null): Promise<RecommendationResult[]> {
  const results: RecommendationResult[] = []
  const batch = Number(values.batch)
  const options = { modelId, audit: false, ddiSafe: block ? { blockSeverity: block, maxDdiRate: null } : null }
  for (let i = 0; i < ids.length; i += batch) {
    const slice = ids.slice(i, i + batch).map((patient) => ({ patient }))
    try {
      results.push(...(await recommendMany(ctx, slice, options)))
    } catch (error) {
      if (!(error instanceof EmptyHistoryError)) throw error
      // A batch fails as a whole: run it one by one and leave out the patients without codes.
      for (const one of slice) {
        try {
          results.push(...(await recommendMany(ctx, [one], options)))
        } catch (inner) {
          if (!(inner instanceof EmptyHistoryError)) throw inner
          if (!block) skipped.set(modelId, (skipped.get(modelId) ?? 0) + 1)
        }
      }
    }
  }
  return results
}

const all = (await ctx.registry.list()).models.map((m) => m.id)
const models = values.models ? values.models.split(',') : all
const ids = values.limit ? patients.slice(0, Number(values.limit)) : patients
console.log(`bench:alerts — ${ids.length} demo patients with 2+ visits (latest visit current); models: ${models.join(', ')}`)
console.log(`Interaction sources consulted (drug pairs for warnings, lifted class pairs only for class notes and the before column): ${ctx.ddi?.source ?? '(none)'}; within-class choice: models/drug-choice`)
console.log('')
const header = [
  'model',
  'DDI-safe',
  'interrupting/rec before (class) median/p90',
  'after (drug) median/p90',
  'removes a class taken: before/after',
  'keeps B01A taken: before/after',
  'conflicts substituted/dropped (after)',
  'classes/rec before/after',
  'Jaccard (in-sample) before/after'
]
const rows: string[][] = []
const started = performance.now()
for (const modelId of models) {
  const plain = await run(modelId, ids, null)
  const runs: Array<[Block | null, RecommendationResult[]]> = [
    [null, plain],
    ['Major', await run(modelId, ids, 'Major')],
    ['Contraindicated', await run(modelId, ids, 'Contraindicated')]
  ]
  for (const [block, results] of runs) {
    const before: number[] = []
    const after: number[] = []
    const beforeSizes: number[] = []
    const afterSizes: number[] = []
    const beforeJaccard: number[] = []
    const afterJaccard: number[] = []
    let antithromboticTaken = 0
    let antithromboticKeptBefore = 0
    let antithromboticKeptAfter = 0
    let removedTakenBefore = 0
    let removedTakenAfter = 0
    let substituted = 0
    let dropped = 0
    const plainByPatient = new Map(plain.map((r) => [r.patientId, r]))
    for (const result of results) {
      const taking = currentClasses.get(result.patientId) ?? new Set<string>()
      // Before: the class-level pipeline on the same model probabilities.
      const plainResult = plainByPatient.get(result.patientId)!
      const plainCombination = plainResult.combination
      const probabilities = new Map(plainResult.drugs.map((d) => [d.atc3, d.probability]))
      const classLevel = block ? classLevelSafe(probabilities, plainCombination, block) : { kept: plainCombination, dropped: [] }
      if (taking.has(ANTITHROMBOTICS) && plainCombination.includes(ANTITHROMBOTICS)) {
        antithromboticTaken++
        if (classLevel.kept.includes(ANTITHROMBOTICS)) antithromboticKeptBefore++
        if (result.combination.includes(ANTITHROMBOTICS)) antithromboticKeptAfter++
      }
      before.push(classLevelInterrupting(classLevel.kept, taking))
      beforeSizes.push(classLevel.kept.length)
      beforeJaccard.push(jaccard(classLevel.kept, taking))
      if (classLevel.dropped.some((c) => taking.has(c))) removedTakenBefore++
      // After: the drug-level recommendation as the service returns it.
      after.push(result.warnings.filter((w) => w.interrupting).length)
      afterSizes.push(result.combination.length)
      afterJaccard.push(jaccard(result.combination, taking))
      if (result.dropped.some((d) => taking.has(d.atc3))) removedTakenAfter++
      substituted += result.substituted.length
      dropped += result.dropped.filter((d) => d.reason === 'severity').length
    }
    const n = results.length
    const pct = (x: number): string => `${((100 * x) / Math.max(1, n)).toFixed(1)}%`
    const conflicts = substituted + dropped
    rows.push([
      modelId,
      block ? `at ${block}` : 'off',
      `${quantile(before, 0.5)} / ${quantile(before, 0.9)}`,
      `${quantile(after, 0.5)} / ${quantile(after, 0.9)}`,
      block ? `${pct(removedTakenBefore)} / ${pct(removedTakenAfter)}` : '–',
      block ? `${antithromboticKeptBefore}/${antithromboticTaken} / ${antithromboticKeptAfter}/${antithromboticTaken}` : '–',
      block ? (conflicts === 0 ? 'no conflicts' : `${((100 * substituted) / conflicts).toFixed(1)}% / ${((100 * dropped) / conflicts).toFixed(1)}% (${conflicts})`) : '–',
      `${mean(beforeSizes).toFixed(1)} / ${mean(afterSizes).toFixed(1)}`,
      `${mean(beforeJaccard).toFixed(4)} / ${mean(afterJaccard).toFixed(4)}`
    ])
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
console.log(line(header))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const row of rows) console.log(line(row))
console.log('')
for (const [model, count] of skipped) console.log(`${model}: ${count} patient(s) left out (no code the model reads).`)
console.log(`${models.length} model(s) × ${ids.length} patients × 3 modes in ${((performance.now() - started) / 1000).toFixed(1)} s (one process).`)
await services.close()
