// Import benchmark: generates (or reuses) a synthetic MIMIC-IV cohort, imports it into a fresh
// database in a child process (so its peak RSS is the importer's own), then times the two
// queries the patient screens run most: the timeline and the id-prefix search. Figures are
// printed beside the targets, never asserted.
//
//   npm run bench:import -- [--patients 100000] [--seed 1] [--visits-per-patient 10]
//                           [--timeline-samples 3000] [--search-samples 1000] [--keep-db]

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase, type Db } from '../src/main/services/db/database'
import { getPatientTimeline, listPatients } from '../src/main/services/db/patients-repo'
import { projectRoot } from '../src/main/services/paths'
import type { PatientTimeline } from '../src/shared/types'
import type { ImportChildResult } from './import-child'
import {
  type CohortManifest,
  DEFAULT_VISITS_PER_PATIENT,
  defaultCohortDir,
  generateCohort,
  readCompleteCohort,
  SeededRandom
} from './synthetic-cohort'

/** Targets on a 2-core machine for 1M visits (the default 100k patients). */
const TARGETS = {
  importSecondsPerMillionVisits: 60,
  peakRssBytes: 1024 ** 3,
  timelineP99Ms: 5,
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

async function ensureCohort(params: { patients: number; seed: number; visitsPerPatient: number }): Promise<{ dir: string; manifest: CohortManifest; cached: boolean }> {
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

function runImportChild(databasePath: string, cohortDir: string, resultPath: string): Promise<ImportChildResult> {
  return new Promise((resolvePromise, reject) => {
    // process.execPath is the Node 22 that runs this script (better-sqlite3 needs it, not the system node).
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'import-child.ts'), databasePath, cohortDir, resultPath], {
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

/** Nearest-rank percentiles, in milliseconds. */
function percentiles(samplesMs: number[]): Percentiles {
  const sorted = [...samplesMs].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, n: sorted.length }
}

function timeMs(run: () => void): number {
  const started = process.hrtime.bigint()
  run()
  return Number(process.hrtime.bigint() - started) / 1e6
}

interface TimelineFigures extends Percentiles {
  visitsPerCall: number
  /** Coded entries and medication rows a call returns: p50 and p99 over the samples. */
  entriesP50: number
  entriesP99: number
  /** Total time over total entries: the timeline's cost grows with what it returns. */
  microsPerEntry: number
}

function benchTimeline(db: Db, patientIds: number[], random: SeededRandom, samples: number): TimelineFigures {
  for (let i = 0; i < WARMUP_QUERIES; i++) getPatientTimeline(db, random.pick(patientIds))
  const times: number[] = []
  const entries: number[] = []
  let visits = 0
  for (let i = 0; i < samples; i++) {
    const id = random.pick(patientIds)
    let timeline: PatientTimeline | undefined
    times.push(timeMs(() => (timeline = getPatientTimeline(db, id))))
    visits += timeline!.visits.length
    entries.push(timeline!.visits.reduce((sum, v) => sum + v.diagnoses.length + v.procedures.length + v.medications.length, 0))
  }
  const entryPercentiles = percentiles(entries)
  const totalEntries = entries.reduce((a, b) => a + b, 0)
  return {
    ...percentiles(times),
    visitsPerCall: visits / samples,
    entriesP50: entryPercentiles.p50,
    entriesP99: entryPercentiles.p99,
    microsPerEntry: (times.reduce((a, b) => a + b, 0) * 1000) / Math.max(1, totalEntries)
  }
}

/** Prefixes of a random patient's source id, 1 to all characters long, as a user types them. */
function benchSearch(db: Db, sourceIds: string[], random: SeededRandom, samples: number): { all: Percentiles; byLength: Map<number, Percentiles> } {
  const run = (prefix: string) => listPatients(db, { search: prefix, offset: 0, limit: 50 })
  const prefixOf = () => {
    const id = random.pick(sourceIds)
    return id.slice(0, 1 + random.below(id.length))
  }
  for (let i = 0; i < WARMUP_QUERIES; i++) run(prefixOf())
  const times: number[] = []
  const timesByLength = new Map<number, number[]>()
  for (let i = 0; i < samples; i++) {
    const prefix = prefixOf()
    const ms = timeMs(() => run(prefix))
    times.push(ms)
    const list = timesByLength.get(prefix.length) ?? []
    list.push(ms)
    timesByLength.set(prefix.length, list)
  }
  const byLength = new Map([...timesByLength].sort(([a], [b]) => a - b).map(([length, list]) => [length, percentiles(list)]))
  return { all: percentiles(times), byLength }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string' },
      seed: { type: 'string' },
      'visits-per-patient': { type: 'string' },
      'timeline-samples': { type: 'string' },
      'search-samples': { type: 'string' },
      'keep-db': { type: 'boolean', default: false }
    }
  })
  const patients = integerFlag(values.patients, 'patients', 100_000)
  const seed = integerFlag(values.seed, 'seed', 1)
  const visitsPerPatient = integerFlag(values['visits-per-patient'], 'visits-per-patient', DEFAULT_VISITS_PER_PATIENT)
  const timelineSamples = integerFlag(values['timeline-samples'], 'timeline-samples', 3000)
  const searchSamples = integerFlag(values['search-samples'], 'search-samples', 1000)

  const loadAtStart = loadavg()[0]!
  const cohort = await ensureCohort({ patients, seed, visitsPerPatient })
  const rows = cohort.manifest.rows
  const inputRows = rows.patients + rows.admissions + rows.diagnoses_icd + rows.procedures_icd + rows.prescriptions
  const cohortBytes = ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions', 'd_icd_diagnoses', 'd_icd_procedures']
    .map((t) => statSync(join(cohort.dir, 'hosp', `${t}.csv.gz`)).size)
    .reduce((a, b) => a + b, 0)

  const outDir = join(projectRoot(), 'bench', 'out')
  mkdirSync(outDir, { recursive: true })
  const databasePath = join(outDir, `import-p${patients}-s${seed}-v${visitsPerPatient}.sqlite`)
  for (const suffix of ['', '-wal', '-shm']) rmSync(databasePath + suffix, { force: true })
  const childResultPath = join(outDir, `import-p${patients}-s${seed}-v${visitsPerPatient}.child.json`)

  console.log(`Importing ${cohort.dir} into a fresh ${databasePath} …`)
  const imported = await runImportChild(databasePath, cohort.dir, childResultPath)

  const db = openDatabase(databasePath, { readonly: true })
  const patientRows = db.prepare('SELECT id, source_patient_id AS sourceId FROM patients ORDER BY id').all() as { id: number; sourceId: string }[]
  if (patientRows.length === 0) throw new Error(`The import wrote no patients into ${databasePath}.`)
  const random = new SeededRandom(seed)
  const timeline = benchTimeline(db, patientRows.map((r) => r.id), random, timelineSamples)
  const search = benchSearch(db, patientRows.map((r) => r.sourceId), random, searchSamples)
  const visitsInDb = (db.prepare('SELECT count(*) AS n FROM visits').get() as { n: number }).n
  db.close()
  const databaseBytes = ['', '-wal'].map((s) => (existsSync(databasePath + s) ? statSync(databasePath + s).size : 0)).reduce((a, b) => a + b, 0)
  if (!values['keep-db']) for (const suffix of ['', '-wal', '-shm']) rmSync(databasePath + suffix, { force: true })

  const visitsPerSecond = rows.admissions / imported.seconds
  const projectedMillionSeconds = 1e6 / visitsPerSecond
  const lines = [
    '',
    `MedRec import benchmark: ${fmt(patients)} patients, seed ${seed}; ${cpus().length} CPUs, 1-min load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (a busy machine gives slower figures); Node ${process.version}`,
    `cohort     ${fmt(rows.admissions)} visits, ${fmt(inputRows)} input rows (${fmt(rows.diagnoses_icd)} diagnoses, ${fmt(rows.procedures_icd)} procedures, ${fmt(rows.prescriptions)} prescriptions), ${mb(cohortBytes)} gzip; ` +
      `${cohort.cached ? 'reused, ' : ''}generated in ${fmt(cohort.manifest.seconds, 1)} s`,
    `import     wall ${fmt(imported.seconds, 1)} s, CPU ${fmt(imported.cpuSeconds, 1)} s; ${fmt(visitsPerSecond)} visits/s, ${fmt(inputRows / imported.seconds)} rows/s`,
    `           → 1M visits in ~${fmt(projectedMillionSeconds)} s at this rate   target < ${TARGETS.importSecondsPerMillionVisits} s: ${verdict(projectedMillionSeconds < TARGETS.importSecondsPerMillionVisits)}`,
    `peak RSS   ${mb(imported.peakRssBytes)} (import process)   target < ${mb(TARGETS.peakRssBytes)}: ${verdict(imported.peakRssBytes < TARGETS.peakRssBytes)}`,
    `database   ${mb(databaseBytes)}, ${fmt(visitsInDb)} visits`,
    `timeline   p50 ${fmt(timeline.p50, 2)} ms, p99 ${fmt(timeline.p99, 2)} ms, max ${fmt(timeline.max, 1)} ms (n=${timeline.n}, ${fmt(timeline.visitsPerCall, 1)} visits/patient)   target p99 < ${TARGETS.timelineP99Ms} ms: ${verdict(timeline.p99 < TARGETS.timelineP99Ms)}`,
    `           returns p50 ${fmt(timeline.entriesP50)} / p99 ${fmt(timeline.entriesP99)} codes+medication rows a patient, ~${fmt(timeline.microsPerEntry, 2)} µs per row`,
    `search     p50 ${fmt(search.all.p50, 2)} ms, p99 ${fmt(search.all.p99, 2)} ms, max ${fmt(search.all.max, 1)} ms (n=${search.all.n}, first page of 50)   target p99 < ${TARGETS.searchP99Ms} ms: ${verdict(search.all.p99 < TARGETS.searchP99Ms)}`,
    `           by prefix length: ${[...search.byLength].map(([length, p]) => `${length}: p50 ${fmt(p.p50, 2)} / p99 ${fmt(p.p99, 2)} ms`).join('; ')}`
  ]
  console.log(lines.join('\n'))
  writeFileSync(
    join(outDir, `import-p${patients}-s${seed}-v${visitsPerPatient}.result.json`),
    JSON.stringify({ patients, seed, visitsPerPatient, cohort: cohort.manifest, imported, timeline, search: { all: search.all, byLength: Object.fromEntries(search.byLength) }, databaseBytes }, null, 2) + '\n'
  )
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
