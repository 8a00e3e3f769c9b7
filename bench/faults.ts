// Fault benchmark for imports (issue 15): npm run bench:faults [-- --patients 300 --kills 10 --seed 7]
//
// 1. kill -9 at random points of imports run by the real CLI (bin/medrec.mjs) in a child process,
//    half of them first imports of a synthetic cohort, half --replace re-imports that remove rows;
//    after each kill: PRAGMA integrity_check, and the database must equal (row counts and a hash of
//    the patient tables) either the database before the import or the one a completed import leaves.
// 2. Malformed exports (20 kinds): the CLI's exit code, and a hash of every table before and after
//    (an import that fails or is refused must change nothing).
// 3. Recommendations in this process while a child process imports a synthetic cohort: success
//    rate, p50/p99/max latency (goal: 100%, p99 < 50 ms).
// Figures are measured in this run and printed as tables; nothing is asserted.
import { openServices } from '../src/main/services/open-services'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gunzipSync, gzipSync } from 'node:zlib'
import { openDatabase, type Db } from '../src/main/services/db/database'
import { dataDir, projectRoot, resourcesDir } from '../src/main/services/paths'
import { recommendMany } from '../src/main/services/recommend/recommend'
import { defaultCohortDir, generateCohort, readCompleteCohort, SeededRandom, type CohortParams } from './synthetic-cohort'

const TABLES = ['patients', 'visits', 'diagnoses', 'procedures', 'medications', 'code_titles', 'atc_names', 'import_runs', 'audit_log', 'settings']
/** The tables an import writes, hashed without import_runs (whose rows carry times). */
const PATIENT_TABLES = ['patients', 'visits', 'diagnoses', 'procedures', 'medications', 'code_titles', 'atc_names']

/** Extra kills per mode, sent as the final copy into the live database starts. */
const APPLY_KILLS = 3

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

function tableHash(db: Db, tables: readonly string[]): string {
  const hash = createHash('sha256')
  for (const table of tables) {
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table)
    if (!exists) continue
    hash.update(`${table}\n`)
    const columns = (db.pragma(`table_info(${table})`) as unknown[]).map((_, i) => i + 1)
    for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${columns.join(', ')}`).raw().iterate()) hash.update(`${JSON.stringify(row)}\n`)
  }
  return hash.digest('hex')
}

interface DbState {
  integrity: string
  counts: Record<string, number>
  patientHash: string
  allHash: string
}

function stateOf(path: string): DbState {
  const db = openDatabase(path)
  try {
    const counts: Record<string, number> = {}
    for (const table of TABLES) counts[table] = db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number
    return {
      integrity: (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; '),
      counts,
      patientHash: tableHash(db, PATIENT_TABLES),
      allHash: tableHash(db, TABLES)
    }
  } finally {
    db.close()
  }
}

const sameData = (a: DbState, b: DbState): boolean =>
  a.patientHash === b.patientHash && PATIENT_TABLES.every((t) => a.counts[t] === b.counts[t]) && a.counts.import_runs === b.counts.import_runs

/** Copies a database file (with no -wal: the sources are closed and checkpointed). */
function copyDb(from: string, to: string): string {
  copyFileSync(from, to)
  return to
}

function medrec(args: string[]): ChildProcess {
  // process.execPath is the Node 22 running this bench, so bin/medrec.mjs runs the command itself.
  return spawn(process.execPath, [join(projectRoot(), 'bin', 'medrec.mjs'), ...args], { cwd: projectRoot(), stdio: ['ignore', 'ignore', 'pipe'] })
}

function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; err: string }> {
  const started = performance.now()
  const child = medrec(args)
  let err = ''
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()))
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, ms: performance.now() - started, err })))
}

async function ensureCohort(params: CohortParams): Promise<string> {
  const dir = defaultCohortDir(params)
  if (!readCompleteCohort(dir, params)) await generateCohort({ ...params, outDir: dir })
  return dir
}

/** Checkpoints and leaves WAL mode so the file can be copied alone. */
function settle(path: string): void {
  const db = openDatabase(path)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9

async function killBench(work: string, cohortDir: string, kills: number, random: SeededRandom): Promise<string[][]> {
  const data = dataDir()
  const importArgs = (db: string, dir: string, replace: boolean): string[] => [
    'import', '--format', 'mimic-iv', dir, '--db', db, '--data-dir', data, ...(replace ? ['--replace'] : [])
  ]
  // Base for first imports: the demo database. Base for replacing imports: it plus the cohort; the
  // replacing export is the cohort with a header-only prescriptions file (removes every cohort order).
  const demo = copyDb(join(resourcesDir(), 'demo.sqlite'), join(work, 'base-first.sqlite'))
  settle(demo)
  const withCohort = copyDb(demo, join(work, 'base-replace.sqlite'))
  const first = await run(importArgs(withCohort, cohortDir, false))
  if (first.code !== 0) throw new Error(`the cohort import failed: ${first.err}`)
  settle(withCohort)
  const stripped = join(work, 'cohort-no-orders')
  cpSync(cohortDir, stripped, { recursive: true })
  const prescriptions = join(stripped, 'hosp', 'prescriptions.csv.gz')
  writeFileSync(prescriptions, gzipSync(`${gunzipSync(readFileSync(prescriptions)).toString('utf8').split('\n')[0]}\n`))

  const modes = [
    { name: 'first import', base: demo, dir: cohortDir, replace: false },
    { name: '--replace', base: withCohort, dir: stripped, replace: true }
  ]
  const rows: string[][] = []
  for (const mode of modes) {
    const before = stateOf(mode.base)
    const full = copyDb(mode.base, join(work, 'full.sqlite'))
    const completed = await run(importArgs(full, mode.dir, mode.replace))
    if (completed.code !== 0) throw new Error(`${mode.name}: the complete import failed: ${completed.err}`)
    const after = stateOf(full)
    const outcomes = { before: 0, completed: 0, other: 0, integrityFailed: 0 }
    const points: string[] = []
    for (let i = 0; i < kills / modes.length; i++) {
      const path = copyDb(mode.base, join(work, `kill-${i}.sqlite`))
      const at = random.next() * completed.ms
      const child = medrec(importArgs(path, mode.dir, mode.replace))
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)))
      const timer = setTimeout(() => child.kill('SIGKILL'), at)
      const ended = await exited
      clearTimeout(timer)
      const state = stateOf(path)
      if (state.integrity !== 'ok') outcomes.integrityFailed++
      const outcome = sameData(state, before) ? 'before' : sameData(state, after) ? 'completed' : 'other'
      outcomes[outcome]++
      points.push(`${fmt(at)} ms→${ended === 'SIGKILL' ? outcome : `exit ${ended} (${outcome})`}`)
      for (const name of readdirSync(work)) if (name.startsWith(`kill-${i}.sqlite`)) rmSync(join(work, name), { force: true })
    }
    rows.push([
      mode.name,
      `${fmt(completed.ms)} ms`,
      String(kills / modes.length),
      outcomes.integrityFailed === 0 ? 'ok (all)' : `${outcomes.integrityFailed} FAILED`,
      String(outcomes.before),
      String(outcomes.completed),
      String(outcomes.other)
    ])
    // Uniform points rarely land in the short final copy, so kill some more just as it starts (the
    // CLI prints the "Applying" phase on stderr as it begins).
    const applying = { before: 0, completed: 0, other: 0, integrityFailed: 0 }
    for (let i = 0; i < APPLY_KILLS; i++) {
      const path = copyDb(mode.base, join(work, `apply-kill-${i}.sqlite`))
      const child = medrec(importArgs(path, mode.dir, mode.replace))
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      let err = ''
      child.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString()
        if (err.includes('Applying')) child.kill('SIGKILL')
      })
      await exited
      const state = stateOf(path)
      if (state.integrity !== 'ok') applying.integrityFailed++
      applying[sameData(state, before) ? 'before' : sameData(state, after) ? 'completed' : 'other']++
      for (const name of readdirSync(work)) if (name.startsWith(`apply-kill-${i}.sqlite`)) rmSync(join(work, name), { force: true })
    }
    rows.push([
      `${mode.name}, at "Applying"`,
      '',
      String(APPLY_KILLS),
      applying.integrityFailed === 0 ? 'ok (all)' : `${applying.integrityFailed} FAILED`,
      String(applying.before),
      String(applying.completed),
      String(applying.other)
    ])
    console.log(`  ${mode.name}: kill points ${points.join(', ')}`)
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// 2. Malformed exports

const MINI = join(projectRoot(), 'tests', 'fixtures', 'ehr', 'mimic-iv-mini')

interface Malformed {
  name: string
  /** Changes the copy of the mini export in `dir` (hosp/*.csv). */
  make: (hosp: string) => void
  /** Options beyond the defaults. */
  args?: string[]
}

const edit = (path: string, change: (text: string) => string): void => writeFileSync(path, change(readFileSync(path, 'utf8')))
const lines = (path: string): string[] => readFileSync(path, 'utf8').trimEnd().split('\n')

const MALFORMED: Malformed[] = [
  { name: 'prescriptions: header only (re-import)', make: (h) => writeFileSync(join(h, 'prescriptions.csv'), `${lines(join(h, 'prescriptions.csv'))[0]}\n`) },
  { name: 'prescriptions: cut in half', make: (h) => edit(join(h, 'prescriptions.csv'), (t) => t.slice(0, Math.floor(t.length / 2))) },
  { name: 'stray quote in admissions', make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace(',URGENT,', ',"URGENT,')) },
  { name: 'every admission date unreadable', make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace(/(\d{4})-(\d{2})-(\d{2}) /g, '$1/$2/$3 ')) },
  { name: "admission ids of other patients", make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace('100002,20000003,', '100001,20000003,')) },
  { name: 'Latin-1 bytes, no --encoding', make: (h) => writeFileSync(join(h, 'prescriptions.csv'), Buffer.from(readFileSync(join(h, 'prescriptions.csv'), 'utf8').replace('Aspirin', 'Aspirine \u00e9'), 'latin1')) },
  { name: 'month/day swapped dates', make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace(/(\d{4})-(\d{2})-(\d{2})( \d{2}:)/g, '$1-$3-$2$4')) },
  { name: '10 MB field', make: (h) => edit(join(h, 'prescriptions.csv'), (t) => t.replace('Aspirin', 'A'.repeat(10 * 1024 * 1024))) },
  { name: '20 MB line without newline', make: (h) => edit(join(h, 'diagnoses_icd.csv'), (t) => `${t}${'x'.repeat(20 * 1024 * 1024)}`) },
  { name: 'empty prescriptions file', make: (h) => writeFileSync(join(h, 'prescriptions.csv'), '') },
  { name: 'random bytes as .csv', make: (h) => writeFileSync(join(h, 'procedures_icd.csv'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 167 + 13) % 256))) },
  { name: 'not gzip data in .csv.gz', make: (h) => (rmSync(join(h, 'patients.csv')), writeFileSync(join(h, 'patients.csv.gz'), 'subject_id,gender\n1,F\n')) },
  { name: 'truncated gzip', make: (h) => {
      const text = readFileSync(join(h, 'diagnoses_icd.csv'))
      rmSync(join(h, 'diagnoses_icd.csv'))
      const zipped = gzipSync(text)
      writeFileSync(join(h, 'diagnoses_icd.csv.gz'), zipped.subarray(0, zipped.length - 10))
    } },
  { name: 'admissions: a required column missing', make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace('admittime', 'admit_time')) },
  { name: 'patients file missing', make: (h) => rmSync(join(h, 'patients.csv')) },
  { name: 'prescriptions is a folder', make: (h) => (rmSync(join(h, 'prescriptions.csv')), mkdirSync(join(h, 'prescriptions.csv'))) },
  { name: 'half the rows with extra columns', make: (h) => edit(join(h, 'diagnoses_icd.csv'), (t) => t.split('\n').map((l, i) => (i > 0 && i % 2 ? `${l},extra` : l)).join('\n')) },
  { name: 'every ICD code invalid', make: (h) => edit(join(h, 'diagnoses_icd.csv'), (t) => t.split('\n').map((l, i) => (i > 0 && l ? l.replace(/,([^,]+),(9|10)$/, ',!!$1,$2') : l)).join('\n')) },
  { name: 'duplicate admission ids', make: (h) => edit(join(h, 'admissions.csv'), (t) => t.replace(/,2000000\d,/g, ',20000002,')) },
  { name: 'unknown --encoding', make: () => undefined, args: ['--encoding', 'klingon-8'] }
]

async function malformedBench(work: string): Promise<string[][]> {
  const data = dataDir()
  // The database holds the mini export already, so a refusal to remove rows is visible.
  const base = join(work, 'malformed-base.sqlite')
  openDatabase(base).close()
  const seeded = await run(['import', '--format', 'mimic-iv', MINI, '--db', base, '--data-dir', data, '--max-rejected', '1'])
  if (seeded.code !== 0) throw new Error(`seeding the malformed bench failed: ${seeded.err}`)
  settle(base)
  const rows: string[][] = []
  for (const [i, kind] of MALFORMED.entries()) {
    const dir = join(work, `malformed-${i}`)
    cpSync(MINI, dir, { recursive: true })
    kind.make(join(dir, 'hosp'))
    const db = copyDb(base, join(work, `malformed-${i}.sqlite`))
    const before = stateOf(db)
    const result = await run(['import', '--format', 'mimic-iv', dir, '--db', db, '--data-dir', data, ...(kind.args ?? [])])
    const after = stateOf(db)
    const message = result.err.split('\n').find((l) => l.startsWith('medrec import:')) ?? result.err.trim().split('\n').at(-1) ?? ''
    rows.push([
      kind.name,
      String(result.code ?? result.signal),
      after.allHash === before.allHash ? 'unchanged' : 'CHANGED',
      message.replace(/^medrec import: /, '').slice(0, 90)
    ])
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// 3. Recommendations during an import

async function concurrencyBench(work: string, cohortDir: string): Promise<string[][]> {
  const path = copyDb(join(resourcesDir(), 'demo.sqlite'), join(work, `concurrent-${Date.now()}.sqlite`))
  const services = await openServices({ databasePath: path })
  try {
    const ask = (): Promise<unknown> => recommendMany(services.ctx, [{ patient: '10000032' }], { modelId: 'logistic' })
    await ask() // loads the model session
    const started = performance.now()
    const child = medrec(['import', '--format', 'mimic-iv', cohortDir, '--db', path, '--data-dir', dataDir()])
    let done = false
    let code: number | null = null
    child.on('exit', (c) => {
      done = true
      code = c
    })
    const latencies: number[] = []
    const errors = new Map<string, number>()
    while (!done) {
      const t = performance.now()
      try {
        await ask()
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        errors.set(message, (errors.get(message) ?? 0) + 1)
      }
      latencies.push(performance.now() - t)
      await new Promise((r) => setTimeout(r, 10))
    }
    const importMs = performance.now() - started
    const failed = [...errors.values()].reduce((a, b) => a + b, 0)
    latencies.sort((a, b) => a - b)
    const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
    const after = openDatabase(path)
    const imported = after.prepare(`SELECT count(*) FROM import_runs`).pluck().get() as number
    after.close()
    return [
      [
        `${fmt(importMs / 1000, 1)} s (exit ${code}, runs ${imported})`,
        fmt(latencies.length),
        `${fmt((100 * (latencies.length - failed)) / Math.max(1, latencies.length), 1)}%`,
        `${fmt(q(0.5), 1)} ms`,
        `${fmt(q(0.99), 1)} ms`,
        `${fmt(latencies.at(-1) ?? NaN, 1)} ms`,
        [...errors].map(([m, n]) => `${n}× ${m.slice(0, 50)}`).join('; ') || '-'
      ]
    ]
  } finally {
    await services.close()
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string', default: '300' },
      'concurrent-patients': { type: 'string', default: '100,1000' },
      kills: { type: 'string', default: '10' },
      seed: { type: 'string', default: '7' }
    }
  })
  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'medrec-faults-'))
  try {
    const cohort = await ensureCohort({ patients: Number(values.patients), seed: 1, visitsPerPatient: 10, groupPrescriptions: false })
    const concurrentSizes = values['concurrent-patients'].split(',').map(Number)
    const concurrentCohorts = []
    for (const patients of concurrentSizes) concurrentCohorts.push(await ensureCohort({ patients, seed: 1, visitsPerPatient: 10, groupPrescriptions: false }))
    const random = new SeededRandom(Number(values.seed))

    console.log(`\nkill -9 at random points (uniform over a complete import's duration) of ${values.kills} imports of a ${values.patients}-patient synthetic cohort:`)
    const kills = await killBench(work, cohort, Number(values.kills), random)
    console.log(table(['import', 'complete run', 'kills', 'integrity_check', '= before', '= completed', 'other'], kills))

    console.log(`\nMalformed exports (the mini MIMIC-IV fixture, changed; the database already holds it):`)
    const malformed = await malformedBench(work)
    console.log(table(['file', 'exit', 'database', 'message'], malformed))
    const unchanged = malformed.filter((r) => r[2] === 'unchanged').length
    const nonZero = malformed.filter((r) => r[1] !== '0').length
    console.log(`${malformed.length} malformed exports: ${nonZero} non-zero exits, ${unchanged} databases unchanged (by hash of every table).`)

    console.log(`\nRecommendations (logistic, patient 10000032, audited) in this process while a child process imports a synthetic cohort:`)
    const concurrent: string[][] = []
    for (const [i, dir] of concurrentCohorts.entries()) concurrent.push(...(await concurrencyBench(work, dir)).map((row) => [`${fmt(concurrentSizes[i]!)} patients`, ...row]))
    console.log(table(['cohort', 'import', 'calls', 'succeeded', 'p50', 'p99', 'max', 'errors'], concurrent))
    console.log(`\nbench:faults took ${fmt((performance.now() - started) / 1000, 1)} s.`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exit(1)
})
