// Times one service call of two checkouts side by side in one process, call by call alternating, so both see
// the same machine load (a shared, busy machine makes separate runs incomparable). "base" is another checkout
// of the repository (e.g. `git worktree add ../base <commit>` with node_modules linked); "head" is this one.
// Prints wall p50 / p99 and CPU per call (process CPU: includes onnxruntime's threads) for each, and the
// load average. Figures are printed, never asserted.
//
//   npm run bench:ab -- --base <checkout> [--what recommend|score|explain|timeline] [--model <id>]
//                       [--db <patients.sqlite>] [--calls 2000] [--patients <n>] [--own-models]
//
// recommend: one recommendation (no audit write) per call, patients in turn; score: scoreBatch over --patients
// patients (default all) per call; explain: one explanation per call; timeline: getPatientTimeline of a random
// patient per call. --db (copied for each side, so it must be of the base's schema or older) defaults to each
// checkout's own resources/demo.sqlite. Both sides load this checkout's models/ (the same graphs: the services are
// compared) unless --own-models, where each loads its own (e.g. re-exported graphs against the shipped ones).

import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { projectRoot } from '../src/main/services/paths'

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    what: { type: 'string', default: 'recommend' },
    model: { type: 'string', default: 'logistic' },
    db: { type: 'string' },
    calls: { type: 'string' },
    patients: { type: 'string' },
    /** Each side reads its own checkout's models/ (compares model graphs too); default both read this checkout's. */
    'own-models': { type: 'boolean', default: false }
  }
})
if (!values.base) throw new Error('--base <checkout> is required (another checkout of this repository to compare with).')
const what = values.what!
if (!['recommend', 'score', 'explain', 'timeline'].includes(what)) throw new Error(`--what must be recommend, score, explain or timeline, got "${what}".`)
const defaultCalls = { recommend: 2000, score: 20, explain: 200, timeline: 3000 }[what as 'recommend']
const calls = Number(values.calls ?? defaultCalls)
if (!(Number.isInteger(calls) && calls > 0)) throw new Error(`--calls must be a positive integer, got "${values.calls}".`)

interface Side {
  name: string
  /** Patients one call handles. */
  patientsPerCall: number
  call: (i: number) => Promise<unknown> | unknown
  wall: number[]
  cpuMicros: number
  close: () => Promise<void>
}

const workDir = mkdtempSync(join(tmpdir(), 'medrec-bench-ab-'))

async function side(name: string, root: string): Promise<Side> {
  const load = <T>(path: string) => import(join(root, path)) as Promise<T>
  const { openDatabase } = await load<typeof import('../src/main/services/db/database')>('src/main/services/db/database.ts')
  const { openModelRegistry } = await load<typeof import('../src/main/services/open-services')>('src/main/services/open-services.ts')
  const { recommend } = await load<typeof import('../src/main/services/recommend/recommend')>('src/main/services/recommend/recommend.ts')
  const { scoreBatch } = await load<typeof import('../src/main/services/recommend/score-batch')>('src/main/services/recommend/score-batch.ts')
  const { explain } = await load<typeof import('../src/main/services/explain/explain')>('src/main/services/explain/explain.ts')
  const { getPatientTimeline } = await load<typeof import('../src/main/services/db/patients-repo')>('src/main/services/db/patients-repo.ts')
  // Each side its own copy of the database: a checkout migrates it to its own schema on open (an older one
  // refuses a newer schema), and the services keep per-connection caches. Default: the side's own demo.
  const dbPath = join(workDir, `${name}.sqlite`)
  copyFileSync(values.db ? resolve(values.db) : join(root, 'resources', 'demo.sqlite'), dbPath)
  const db = openDatabase(dbPath)
  const registry = openModelRegistry({ modelsDirectory: join(values['own-models'] ? root : projectRoot(), 'models'), providers: ['cpu'], knowledgeBasePath: null }).registry
  const ctx = { db, registry, ddi: null }
  const modelId = values.model!
  const all = (db.prepare('SELECT id FROM patients ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id)
  // Patients a recommendation can be made for (a diagnosed or coded history), found once.
  const usable: number[] = []
  if (what === 'recommend' || what === 'explain') {
    for (const id of all) {
      try {
        await recommend(ctx, id, { modelId, audit: false })
        usable.push(id)
      } catch {
        // no codes to recommend from
      }
    }
  }
  const scored = all.slice(0, values.patients ? Number(values.patients) : all.length)
  let seed = 7
  const randomPatient = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return all[seed % all.length]!
  }
  const call =
    what === 'recommend'
      ? (i: number) => recommend(ctx, usable[i % usable.length]!, { modelId, audit: false })
      : what === 'explain'
        ? (i: number) => explain(ctx, usable[i % usable.length]!, { modelId, audit: false })
        : what === 'score'
          ? () => scoreBatch(ctx, scored, { modelId })
          : () => getPatientTimeline(db, randomPatient())
  return { name, patientsPerCall: what === 'score' ? scored.length : 1, call, wall: [], cpuMicros: 0, close: async () => (db.close(), await registry.close()) }
}

function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
}

async function main(): Promise<void> {
  const sides = [await side('base', resolve(values.base!)), await side('head', projectRoot())]
  const warmup = Math.max(2, Math.floor(calls / 10))
  for (let i = 0; i < warmup; i++) for (const s of sides) await s.call(i)
  const loadBefore = loadavg()[0]!
  for (let i = 0; i < calls; i++) {
    // Alternate which side goes first, so neither always runs right after the other's garbage.
    for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
      const cpu = process.cpuUsage()
      const started = performance.now()
      await s.call(i)
      s.wall.push(performance.now() - started)
      const used = process.cpuUsage(cpu)
      s.cpuMicros += used.user + used.system
    }
  }
  const fmt = (ms: number) => (ms < 10 ? ms.toFixed(3) : ms.toFixed(1))
  console.log(
    `bench:ab ${what} · model ${values.model} · ${calls} calls each, alternating · ${cpus().length} CPU(s) · load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`
  )
  for (const s of sides) {
    const perCall = s.cpuMicros / 1000 / calls
    const p50 = percentile(s.wall, 0.5)
    const rate = what === 'score' ? ` · ${Math.round((s.patientsPerCall / p50) * 1000)} patients/s at p50, ${Math.round((s.patientsPerCall / perCall) * 1000)} per CPU-second (${s.patientsPerCall} patients a call)` : ''
    console.log(`  ${s.name.padEnd(5)} wall p50 ${fmt(p50)} ms · p99 ${fmt(percentile(s.wall, 0.99))} ms · CPU ${fmt(perCall)} ms per call${rate}`)
  }
  for (const s of sides) await s.close()
  rmSync(workDir, { recursive: true, force: true })
}

await main()
