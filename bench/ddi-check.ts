// npm run bench:ddi [-- --kb <file>] — times DDI checks of 20-drug sets (ATC5 codes, names, ATC3 classes).
// Prints medians side by side; no assertions (timed targets live here, not in tests).
import { defaultKnowledgeBasePath } from '../src/main/services/paths'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { DdiService } from '../src/main/services/interactions/ddi-service'

const { values } = parseArgs({ options: { kb: { type: 'string' }, sets: { type: 'string', default: '300' }, size: { type: 'string', default: '20' } } })
const kbPath = values.kb ?? defaultKnowledgeBasePath()
const setCount = Number(values.sets)
const setSize = Number(values.size)

// Deterministic pseudo-random sets (mulberry32) drawn from drugs and classes that have interactions.
let seed = 12345
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
function sample<T>(pool: readonly T[], n: number): T[] {
  const picked = new Set<T>()
  while (picked.size < Math.min(n, pool.length)) picked.add(pool[Math.floor(random() * pool.length)]!)
  return [...picked]
}

const raw = new Database(kbPath, { readonly: true })
const atc5 = raw.prepare("SELECT DISTINCT da.atc5 FROM drug_atc da JOIN drugs d ON d.id = da.drug_id JOIN sources s ON s.id = d.source_id WHERE s.key = 'ddinter'").pluck().all() as string[]
const names = raw.prepare("SELECT d.name FROM drugs d JOIN sources s ON s.id = d.source_id WHERE s.key = 'ddinter'").pluck().all() as string[]
const atc3 = raw.prepare('SELECT DISTINCT atc3_a FROM class_pairs UNION SELECT DISTINCT atc3_b FROM class_pairs').pluck().all() as string[]
raw.close()

const openStarted = performance.now()
const service = DdiService.open(kbPath)
const openMs = performance.now() - openStarted

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length * 0.95)]!
}
function run(label: string, pool: readonly string[]): string {
  const sets = Array.from({ length: setCount }, () => sample(pool, setSize))
  for (const set of sets.slice(0, 20)) service.check(set) // warm up
  const times: number[] = []
  let warnings = 0
  for (const set of sets) {
    const t = performance.now()
    const result = service.check(set)
    times.push(performance.now() - t)
    warnings += result.warnings.length
  }
  return `${label.padEnd(16)} median ${median(times).toFixed(3)} ms   p95 ${p95(times).toFixed(3)} ms   (${(warnings / sets.length).toFixed(1)} warnings per set)`
}

console.log(`DDI check, ${setCount} sets of ${setSize} drugs, knowledge base ${kbPath}`)
console.log(`open (load indexes): ${openMs.toFixed(0)} ms`)
console.log(run('ATC5 codes', atc5))
console.log(run('drug names', names))
console.log(run('ATC3 classes', atc3))
service.close()
