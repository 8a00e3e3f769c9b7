// Import benchmark: generates (or reuses) a synthetic MIMIC-IV cohort, imports it into a fresh
// database in a child process (so its peak RSS is the importer's own), then times the two
// queries the patient screens run most: the timeline and the id-prefix search. Figures are
// printed beside the targets, never asserted.
//
//   npm run bench:import -- [--patients 100000] [--seed 1] [--visits-per-patient 10] [--grouped-prescriptions]
//                           [--timeline-samples 3000] [--search-samples 1000] [--keep-db] [--queries-only]
//                           [--cpu-prof <dir>]
//
// --cpu-prof writes a V8 CPU profile of the import process into <dir> (bench/import-profile.ts prints its top entries).
//
// --keep-db keeps the imported database in bench/out; --queries-only then re-times the queries on it
// (after a change to patients-repo.ts) without importing again.

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase, type Db } from '../src/main/services/db/database'
import { getPatientTimeline, listPatients } from '../src/main/services/db/patients-repo'
import { TIMELINE_PAGE_VISITS, type TimelinePage } from '../src/shared/domain/patient'
import { projectRoot } from '../src/main/services/paths'
import type { ImportChildResult } from './import-child'
import {
  type CohortManifest,
  type CohortParams,
  DEFAULT_VISITS_PER_PATIENT,
  defaultCohortDir,
  generateCohort,
  readCompleteCohort,
  SeededRandom
} from './synthetic-cohort'

/** Targets on a 2-core machine for 1M visits (the default 100k patients): issue 18's. */
const TARGETS = {
  importSecondsPerMillionVisits: 90,
  peakRssBytes: 1024 ** 3,
  timelineP99Ms: 2,
  searchP99Ms: 20
}
const WARMUP_QUERIES = 200

function integerFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--${flag} must be a positive integer, got "${value}".`)
  return Number(value)
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const mb = (bytes: number) => `${fmt(bytes / 1024 ** 2)} MB`
const verdict = (ok: boolean) => (ok ? 'meets' : 'MISSES')

async function ensureCohort(params: CohortParams): Promise<{ dir: string; manifest: CohortManifest; cached: boolean }> {
  const dir = defaultCohortDir(params)
  const cached = readCompleteCohort(dir, params)
  if (cached) return { dir, manifest: cached, cached: true }
  console.log(`Generating the cohort into ${dir} …`)
  const manifest = await generateCohort({
    ...params,
    outDir: dir,
    onProgress: (done) => {
      if (done % 16384 < 1024 || done === params.patients) process.stdout.write(`\r  ${fmt(done)} / ${fmt(params.patients)} patients`)
    }
  })
  process.stdout.write('\n')
  return { dir, manifest, cached: false }
}

function runImportChild(databasePath: string, cohortDir: string, resultPath: string, cpuProfileDir?: string): Promise<ImportChildResult> {
  return new Promise((resolvePromise, reject) => {
    // process.execPath is the Node 22 that runs this script (better-sqlite3 needs it, not the system node).
    const profile = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : []
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', join('bench', 'import-child.ts'), databasePath, cohortDir, resultPath], {
      cwd: projectRoot(),
      stdio: ['ignore', 'inherit', 'inherit']
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise(JSON.parse(readFileSync(resultPath, 'utf8')) as ImportChildResult)
      else reject(new Error(`The import process failed (${signal ?? `exit code ${code}`}); its error is printed above.`))
    })
  })
}

interface Percentiles {
  p50: number
  p99: number
  max: number
  n: number
}

/** Nearest-rank percentiles. */
function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, n: sorted.length }
}

/**
 * Query latencies, wall and CPU (ms). On a shared, busy machine the wall p99 is mostly time spent
 * descheduled; the CPU time of the (synchronous, single-threaded) query is what two dedicated cores
 * would show, so both are printed.
 */
class LatencySamples {
  readonly wall: number[] = []
  readonly cpu: number[] = []

  time<T>(run: () => T): T {
    const cpuBefore = process.cpuUsage()
    const started = process.hrtime.bigint()
    const result = run()
    this.wall.push(Number(process.hrtime.bigint() - started) / 1e6)
    const cpu = process.cpuUsage(cpuBefore)
    this.cpu.push((cpu.user + cpu.system) / 1000)
    return result
  }

  summary(): { wall: Percentiles; cpu: Percentiles } {
    return { wall: percentiles(this.wall), cpu: percentiles(this.cpu) }
  }
}

interface TimelineFigures {
  wall: Percentiles
  cpu: Percentiles
  visitsPerCall: number
  /** Coded entries and medication rows a call returns: p50 and p99 over the samples. */
  entries: Percentiles
  /** Total CPU time over total entries: the timeline's cost grows with what it returns. */
  cpuMicrosPerEntry: number
}

/** `page`: what the app opens a record with (the latest visits); undefined: the whole record (`medrec show`). */
function benchTimeline(db: Db, patientIds: number[], random: SeededRandom, samples: number, page: TimelinePage | undefined): TimelineFigures {
  for (let i = 0; i < WARMUP_QUERIES; i++) getPatientTimeline(db, random.pick(patientIds), page)
  const latencies = new LatencySamples()
  const entries: number[] = []
  let visits = 0
  for (let i = 0; i < samples; i++) {
    const id = random.pick(patientIds)
    const timeline = latencies.time(() => getPatientTimeline(db, id, page))
    visits += timeline.visits.length
    entries.push(timeline.visits.reduce((sum, v) => sum + v.diagnoses.length + v.procedures.length + v.medications.length, 0))
  }
  const totalEntries = entries.reduce((a, b) => a + b, 0)
  return {
    ...latencies.summary(),
    visitsPerCall: visits / samples,
    entries: percentiles(entries),
    cpuMicrosPerEntry: (latencies.cpu.reduce((a, b) => a + b, 0) * 1000) / Math.max(1, totalEntries)
  }
}

interface SearchFigures {
  wall: Percentiles
  cpu: Percentiles
  /** CPU percentiles by prefix length. */
  cpuByLength: Map<number, Percentiles>
}

/** Prefixes of a random patient's source id, 1 to all characters long, as a user types them. */
function benchSearch(db: Db, sourceIds: string[], random: SeededRandom, samples: number): SearchFigures {
  const run = (prefix: string) => listPatients(db, { search: prefix, offset: 0, limit: 50 })
  const prefixOf = () => {
    const id = random.pick(sourceIds)
    return id.slice(0, 1 + random.below(id.length))
  }
  for (let i = 0; i < WARMUP_QUERIES; i++) run(prefixOf())
  const latencies = new LatencySamples()
  const cpuByLength = new Map<number, number[]>()
  for (let i = 0; i < samples; i++) {
    const prefix = prefixOf()
    latencies.time(() => run(prefix))
    const list = cpuByLength.get(prefix.length) ?? []
    list.push(latencies.cpu.at(-1)!)
    cpuByLength.set(prefix.length, list)
  }
  return {
    ...latencies.summary(),
    cpuByLength: new Map([...cpuByLength].sort(([a], [b]) => a - b).map(([length, list]) => [length, percentiles(list)]))
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string' },
      seed: { type: 'string' },
      'visits-per-patient': { type: 'string' },
      'timeline-samples': { type: 'string' },
      'search-samples': { type: 'string' },
      'grouped-prescriptions': { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      'queries-only': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' }
    }
  })
  const patients = integerFlag(values.patients, 'patients', 100_000)
  const seed = integerFlag(values.seed, 'seed', 1)
  const visitsPerPatient = integerFlag(values['visits-per-patient'], 'visits-per-patient', DEFAULT_VISITS_PER_PATIENT)
  const timelineSamples = integerFlag(values['timeline-samples'], 'timeline-samples', 3000)
  const searchSamples = integerFlag(values['search-samples'], 'search-samples', 1000)

  const loadAtStart = loadavg()[0]!
  const groupPrescriptions = values['grouped-prescriptions'] ?? false
  const cohort = await ensureCohort({ patients, seed, visitsPerPatient, groupPrescriptions })
  const rows = cohort.manifest.rows
  const inputRows = rows.patients + rows.admissions + rows.diagnoses_icd + rows.procedures_icd + rows.prescriptions
  const cohortBytes = ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions', 'd_icd_diagnoses', 'd_icd_procedures']
    .map((t) => statSync(join(cohort.dir, 'hosp', `${t}.csv.gz`)).size)
    .reduce((a, b) => a + b, 0)

  const outDir = join(projectRoot(), 'bench', 'out')
  mkdirSync(outDir, { recursive: true })
  const runName = basename(cohort.dir).replace(/^cohort-/, 'import-')
  const databasePath = join(outDir, `${runName}.sqlite`)
  const childResultPath = join(outDir, `${runName}.child.json`)
  let imported: ImportChildResult
  if (values['queries-only']) {
    if (!existsSync(databasePath) || !existsSync(childResultPath))
      throw new Error(`--queries-only needs the database of an earlier run with --keep-db (${databasePath}).`)
    imported = JSON.parse(readFileSync(childResultPath, 'utf8')) as ImportChildResult
    console.log(`Timing queries on ${databasePath} (import figures are from the run that wrote it) …`)
  } else {
    for (const suffix of ['', '-wal', '-shm']) rmSync(databasePath + suffix, { force: true })
    console.log(`Importing ${cohort.dir} into a fresh ${databasePath} …`)
    imported = await runImportChild(databasePath, cohort.dir, childResultPath, values['cpu-prof'])
  }

  const db = openDatabase(databasePath, { readonly: true })
  const patientRows = db.prepare('SELECT id, source_patient_id AS sourceId FROM patients ORDER BY id').all() as { id: number; sourceId: string }[]
  if (patientRows.length === 0) throw new Error(`The import wrote no patients into ${databasePath}.`)
  const random = new SeededRandom(seed)
  const timeline = benchTimeline(db, patientRows.map((r) => r.id), new SeededRandom(seed), timelineSamples, { latest: TIMELINE_PAGE_VISITS })
  // The same patients again, whole records.
  const wholeTimeline = benchTimeline(db, patientRows.map((r) => r.id), new SeededRandom(seed), timelineSamples, undefined)
  const search = benchSearch(db, patientRows.map((r) => r.sourceId), random, searchSamples)
  const visitsInDb = (db.prepare('SELECT count(*) AS n FROM visits').get() as { n: number }).n
  db.close()
  const databaseBytes = ['', '-wal'].map((s) => (existsSync(databasePath + s) ? statSync(databasePath + s).size : 0)).reduce((a, b) => a + b, 0)
  if (!values['keep-db'] && !values['queries-only']) for (const suffix of ['', '-wal', '-shm']) rmSync(databasePath + suffix, { force: true })

  const visitsPerSecond = rows.admissions / imported.seconds
  const perMillionVisits = 1e6 / rows.admissions
  const importTarget = TARGETS.importSecondsPerMillionVisits
  const ms = (p: Percentiles) => `p50 ${fmt(p.p50, 2)} ms, p99 ${fmt(p.p99, 2)} ms`
  const lines = [
    '',
    `MedRec import benchmark: ${fmt(patients)} patients, seed ${seed}; ${cpus().length} CPUs, 1-min load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (a busy machine gives slower wall figures); Node ${process.version}`,
    `cohort     ${groupPrescriptions ? 'prescriptions grouped by admission' : 'prescriptions interleaved across admissions (as in MIMIC)'}; ${fmt(rows.admissions)} visits, ${fmt(inputRows)} input rows (${fmt(rows.diagnoses_icd)} diagnoses, ${fmt(rows.procedures_icd)} procedures, ${fmt(rows.prescriptions)} prescriptions), ${mb(cohortBytes)} gzip; ` +
      `${cohort.cached ? 'reused, ' : ''}generated in ${fmt(cohort.manifest.seconds, 1)} s`,
    `import     wall ${fmt(imported.seconds, 1)} s, CPU ${fmt(imported.cpuSeconds, 1)} s (all threads; writing thread CPU ${imported.writingThreadSeconds === undefined ? 'n/a' : `${fmt(imported.writingThreadSeconds, 1)} s`}); ${fmt(visitsPerSecond)} visits/s, ${fmt(inputRows / imported.seconds)} rows/s`,
    `           1M visits at this rate: ~${fmt(imported.seconds * perMillionVisits)} s wall, ~${fmt(imported.cpuSeconds * perMillionVisits)} s CPU   target < ${importTarget} s: ${verdict(imported.seconds * perMillionVisits < importTarget)}`,
    `phases     ${(imported.phases ?? []).map((p) => `${p.phase} ${fmt(p.seconds, 1)} s (CPU ${fmt(p.cpuSeconds, 1)}${p.writingThreadSeconds === undefined ? '' : `, writing thread ${fmt(p.writingThreadSeconds, 1)}`}${p.peakRssBytesAtEnd === undefined ? '' : `, peak so far ${fmt(p.peakRssBytesAtEnd / 1024 ** 2)} MB`})`).join('; ')}`,
    `peak RSS   ${mb(imported.peakRssBytes)} (import process)   target < ${mb(TARGETS.peakRssBytes)}: ${verdict(imported.peakRssBytes < TARGETS.peakRssBytes)}`,
    `database   ${mb(databaseBytes)}, ${fmt(visitsInDb)} visits`,
    ...[
      [`timeline   as the app opens a record (latest ${TIMELINE_PAGE_VISITS} visits)`, timeline] as const,
      ['timeline   whole record (medrec show; every visit)', wholeTimeline] as const
    ].flatMap(([label, figures]) => [
      label,
      `           wall ${ms(figures.wall)}, max ${fmt(figures.wall.max, 1)} ms; CPU ${ms(figures.cpu)} (n=${figures.wall.n})   target p99 < ${TARGETS.timelineP99Ms} ms: ${verdict(figures.wall.p99 < TARGETS.timelineP99Ms)} (wall), ${verdict(figures.cpu.p99 < TARGETS.timelineP99Ms)} (CPU)`,
      `           ${fmt(figures.visitsPerCall, 1)} visits and p50 ${fmt(figures.entries.p50)} / p99 ${fmt(figures.entries.p99)} codes+medication rows a call; ~${fmt(figures.cpuMicrosPerEntry, 2)} µs CPU per row`
    ]),
    `search     wall ${ms(search.wall)}, max ${fmt(search.wall.max, 1)} ms; CPU ${ms(search.cpu)} (n=${search.wall.n}, first page of 50)   target p99 < ${TARGETS.searchP99Ms} ms: ${verdict(search.wall.p99 < TARGETS.searchP99Ms)} (wall), ${verdict(search.cpu.p99 < TARGETS.searchP99Ms)} (CPU)`,
    `           CPU by prefix length: ${[...search.cpuByLength].map(([length, p]) => `${length}: ${fmt(p.p50, 2)} / ${fmt(p.p99, 2)}`).join('; ')} ms (p50 / p99)`
  ]
  console.log(lines.join('\n'))
  writeFileSync(
    join(outDir, `${runName}.result.json`),
    JSON.stringify({ patients, seed, visitsPerPatient, cohort: cohort.manifest, imported, timeline, wholeTimeline, search: { ...search, cpuByLength: Object.fromEntries(search.cpuByLength) }, databaseBytes, loadAverage: { start: loadAtStart, end: loadavg()[0] } }, null, 2) + '\n'
  )
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
