// npm run fuzz [-- --cases 10000 --seed 15]
// Fuzzes the import path and prints, per target: cases run, crashes (an exception that is not an
// ImportError/DatabaseBusyError, or a property that fails), unclear errors (an ImportError whose
// message names neither a file nor the database), and database changes after a refused or failed
// import (goal: 0 of each).
//   csv:*     the CSV reader properties of tests/properties/csv-properties.ts (fast-check)
//   import    importDataset on the mini MIMIC-IV export with one file mutated at random (bytes flipped,
//             cut, lines duplicated or dropped, random CSV text inserted, header only, Latin-1 bytes),
//             into a database that already holds the unmutated export
import { createHash } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { DatabaseBusyError } from '../src/main/services/db/busy'
import { openDatabase, type Db } from '../src/main/services/db/database'
import { ImportError, importDataset } from '../src/main/services/imports'
import { dataDir, projectRoot } from '../src/main/services/paths'
import { SeededRandom } from './synthetic-cohort'
import { csvProperties } from '../tests/properties/csv-properties'

const MINI = join(projectRoot(), 'tests', 'fixtures', 'ehr', 'mimic-iv-mini')
const FILES = ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions', 'd_icd_diagnoses', 'd_icd_procedures']
const TABLES = ['patients', 'visits', 'diagnoses', 'procedures', 'medications', 'code_titles', 'atc_names', 'import_runs', 'audit_log']

interface Tally {
  target: string
  cases: number
  crashes: number
  unclear: number
  changedAfterRefusal: number
  /** Outcomes by kind (completed, refused, ImportError), for the record. */
  outcomes: Record<string, number>
  examples: string[]
}

const fmt = (n: number): string => n.toLocaleString('en-US')

function hashDb(db: Db): string {
  const hash = createHash('sha256')
  for (const table of TABLES) {
    const columns = (db.pragma(`table_info(${table})`) as unknown[]).map((_, i) => i + 1)
    for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${columns.join(', ')}`).raw().iterate()) hash.update(JSON.stringify(row))
  }
  return hash.digest('hex')
}

function fuzzCsv(cases: number, seed: number): Tally[] {
  return csvProperties().map(({ name, property }) => {
    const details = fc.check(property, { numRuns: cases, seed })
    const tally: Tally = { target: `csv: ${name.slice(0, 60)}`, cases: details.numRuns, crashes: details.failed ? 1 : 0, unclear: 0, changedAfterRefusal: 0, outcomes: {}, examples: [] }
    if (details.failed) tally.examples.push(`counterexample ${JSON.stringify(details.counterexample)}: ${String(details.errorInstance)}`.slice(0, 300))
    return tally
  })
}

/** One random change to a CSV file's text or bytes. */
function mutate(bytes: Buffer, random: SeededRandom): { bytes: Buffer; how: string } {
  const text = bytes.toString('utf8')
  const lines = text.split('\n')
  const pick = (n: number): number => random.below(Math.max(1, n))
  const specials = ['"', ',', '\n', '\r', '""', 'é', '\u0000', '2150-13-01 00:00:00', '9999999999', '']
  switch (random.below(9)) {
    case 0: {
      const copy = Buffer.from(bytes)
      for (let k = 0; k < 1 + random.below(4); k++) if (copy.length) copy[pick(copy.length)] = random.below(256)
      return { bytes: copy, how: 'bytes flipped' }
    }
    case 1:
      return { bytes: bytes.subarray(0, pick(bytes.length)), how: 'cut short' }
    case 2: {
      const at = 1 + pick(lines.length - 1)
      lines.splice(at, 0, lines[at] ?? '')
      return { bytes: Buffer.from(lines.join('\n')), how: 'line duplicated' }
    }
    case 3:
      lines.splice(1 + pick(lines.length - 1), 1)
      return { bytes: Buffer.from(lines.join('\n')), how: 'line dropped' }
    case 4: {
      const at = pick(text.length)
      const insert = Array.from({ length: 1 + random.below(5) }, () => specials[random.below(specials.length)]).join('')
      return { bytes: Buffer.from(text.slice(0, at) + insert + text.slice(at)), how: `inserted ${JSON.stringify(insert)}` }
    }
    case 5:
      return { bytes: Buffer.from(`${lines[0]}\n`), how: 'header only' }
    case 6:
      return { bytes: Buffer.from(text.replace(/a/, '\u00e9'), 'latin1'), how: 'Latin-1 bytes' }
    case 7: {
      const line = 1 + pick(lines.length - 1)
      const cells = (lines[line] ?? '').split(',')
      cells[pick(cells.length)] = specials[random.below(specials.length)]!
      lines[line] = cells.join(',')
      return { bytes: Buffer.from(lines.join('\n')), how: 'cell replaced' }
    }
    default: {
      const columns = lines[0]!.split(',')
      const a = pick(columns.length)
      const b = pick(columns.length)
      const swapped = lines.map((l) => {
        const cells = l.split(',')
        ;[cells[a], cells[b]] = [cells[b]!, cells[a]!]
        return cells.join(',')
      })
      return { bytes: Buffer.from(swapped.join('\n')), how: 'columns swapped' }
    }
  }
}

async function fuzzImports(cases: number, seed: number, work: string): Promise<Tally> {
  const tally: Tally = { target: 'import: mini MIMIC-IV export, one file mutated', cases: 0, crashes: 0, unclear: 0, changedAfterRefusal: 0, outcomes: {}, examples: [] }
  const random = new SeededRandom(seed)
  const data = dataDir()
  const base = join(work, 'base.sqlite')
  const db = openDatabase(base)
  await importDataset(db, { format: 'mimic-iv', dir: MINI, dataDir: data, maxRejectedShare: 1 })
  const dir = join(work, 'export')
  cpSync(MINI, dir, { recursive: true })
  const originals = new Map(FILES.map((f) => [f, readFileSync(join(MINI, 'hosp', `${f}.csv`))]))
  let hash = hashDb(db)
  const started = performance.now()
  for (let i = 0; i < cases; i++) {
    const file = FILES[random.below(FILES.length)]!
    const { bytes, how } = mutate(originals.get(file)!, random)
    writeFileSync(join(dir, 'hosp', `${file}.csv`), bytes)
    const maxRejectedShare = random.below(2) === 0 ? undefined : 1
    let outcome: string
    try {
      const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: data, force: true, maxRejectedShare })
      outcome = report.status
      hash = hashDb(db)
    } catch (error) {
      outcome = error instanceof ImportError ? error.name : error instanceof DatabaseBusyError ? 'busy' : 'crash'
      const message = error instanceof Error ? error.message : String(error)
      if (outcome === 'crash') {
        tally.crashes++
        if (tally.examples.length < 5) tally.examples.push(`crash (${file}, ${how}): ${message.slice(0, 200)}`)
      } else if (!/\.csv|database|patients|import/i.test(message)) {
        tally.unclear++
        if (tally.examples.length < 5) tally.examples.push(`unclear (${file}, ${how}): ${message.slice(0, 200)}`)
      }
      const now = hashDb(db)
      if (now !== hash) {
        tally.changedAfterRefusal++
        if (tally.examples.length < 5) tally.examples.push(`database changed after ${outcome} (${file}, ${how})`)
        hash = now
      }
    }
    writeFileSync(join(dir, 'hosp', `${file}.csv`), originals.get(file)!)
    tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1
    tally.cases++
    if ((i + 1) % 1000 === 0) process.stderr.write(`  import fuzz: ${fmt(i + 1)} cases in ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
  }
  db.close()
  return tally
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { cases: { type: 'string', default: '10000' }, seed: { type: 'string', default: '15' } } })
  const cases = Number(values.cases)
  const seed = Number(values.seed)
  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'medrec-fuzz-'))
  try {
    const tallies = [...fuzzCsv(cases, seed), await fuzzImports(cases, seed, work)]
    const header = ['target', 'cases', 'crashes', 'unclear errors', 'DB changed after refusal', 'outcomes']
    const rows = tallies.map((t) => [
      t.target,
      fmt(t.cases),
      fmt(t.crashes),
      fmt(t.unclear),
      fmt(t.changedAfterRefusal),
      Object.entries(t.outcomes).map(([k, n]) => `${k} ${fmt(n)}`).join(', ') || '-'
    ])
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
    const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
    console.log([line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'))
    for (const t of tallies) for (const example of t.examples) console.log(`  ${t.target}: ${example}`)
    console.log(`fuzz took ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed}).`)
    if (tallies.some((t) => t.crashes || t.unclear || t.changedAfterRefusal)) process.exitCode = 1
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exit(1)
})
