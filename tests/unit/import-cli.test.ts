import type { ImportReport } from '../../src/shared/domain/imports'
import type { PatientPage, PatientTimeline } from '../../src/shared/domain/patient'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { openDatabase } from '../../src/main/services/db/database'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

/** Runs `medrec <args>` in-process; returns the exit code and what went to stdout and stderr. */
async function medrec(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')))
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true))
  try {
    const code = await main(args)
    return { code, out: out.join('\n'), err: err.join('') }
  } finally {
    log.mockRestore()
    error.mockRestore()
    write.mockRestore()
  }
}

describe.skipIf(!HAS_OPEN_DATA)('medrec import, patients, show', () => {
  const space = new TempSpace()
  let dbPath = ''
  beforeEach(() => {
    dbPath = join(space.dir(), 'cli.sqlite')
  })
  afterEach(() => space.cleanup())

  it('imports with progress on stderr and the report on stdout, as text or JSON', async () => {
    const dir = space.fixture('mimic-iv-mini', true)
    const text = await medrec('import', '--format', 'mimic-iv', dir, '--db', dbPath, '--data-dir', DATA_DIR)
    expect(text.code).toBe(0)
    expect(text.out).toMatch(/Imported mimic-iv from .* \(run 1\)/)
    expect(text.out).toMatch(/visits\s+4/)
    expect(text.out).toMatch(/medications\s+7 rows: 5 mapped to ATC \(71\.4%\), 2 unmapped/)
    expect(text.err).toMatch(/Importing prescriptions/)
    const again = await medrec('import', '--format', 'mimic-iv', dir, '--db', dbPath, '--data-dir', DATA_DIR, '--json')
    expect(again.code).toBe(0)
    const report = JSON.parse(again.out) as ImportReport
    expect(report).toMatchObject({ status: 'skipped-unchanged', previousRunId: 1, visits: 4 })
  })

  it('lists, searches and shows patients by source id or app id', async () => {
    await medrec('import', '--format', 'eicu', space.fixture('eicu-mini', true), '--db', dbPath, '--data-dir', DATA_DIR, '--max-rejected', '1')
    const list = await medrec('patients', '--db', dbPath)
    expect(list.code).toBe(0)
    expect(list.out.split('\n')[0]).toMatch(/^id\s+source\s+source id\s+sex\s+visits/)
    expect(list.out).toMatch(/Patients 1-3 of 3\./)
    const page = JSON.parse((await medrec('patients', '--db', dbPath, '--search', '900-0001', '--json')).out) as PatientPage
    expect(page.patients.map((p) => [p.sourcePatientId, p.visitCount])).toEqual([['900-0001', 3]])
    expect((await medrec('patients', '--db', dbPath, '--limit', '1', '--offset', '2')).out).toMatch(/Patients 3-3 of 3\./)

    const shown = await medrec('show', '900-0001', '--db', dbPath)
    expect(shown.code).toBe(0)
    const lines = shown.out.split('\n')
    expect(lines.filter((l) => l.startsWith('Visit '))).toEqual([
      'Visit 1: 300010 · 2014, hospital stay 1, unit visit 1 · age 86',
      'Visit 2: 300004 · 2015, hospital stay 2, unit visit 1 · age 87',
      'Visit 3: 300003 · 2015, hospital stay 2, unit visit 2 · age 87'
    ])
    expect(shown.out).toMatch(/ICD-9-CM 4019 {2}cardiovascular\|ventricular disorders\|hypertension/)
    expect(shown.out).toMatch(/METOPROLOL TARTRATE 25 MG PO TABS \[HICL 18\] → C07AB02 {2}Beta blocking agents \(by name\)/)
    const byAppId = JSON.parse((await medrec('show', String(page.patients[0]!.id), '--db', dbPath, '--json')).out) as PatientTimeline
    expect(byAppId.visits.map((v) => v.sourceVisitId)).toEqual(['300010', '300004', '300003'])
  })

  it('explains bad usage and bad input', async () => {
    expect((await medrec('import', '--help')).out).toMatch(/Usage: medrec import --format mimic-iv\|mimic-iii\|eicu\|fhir <dir>/)
    expect((await medrec('patients', '--help')).out).toMatch(/--search <s>/)
    expect((await medrec('show', '--help')).out).toMatch(/Usage: medrec show <patient>/)
    const noFormat = await medrec('import', space.dir(), '--db', dbPath)
    expect(noFormat).toMatchObject({ code: 2 })
    expect(noFormat.err).toMatch(/--format is required/)
    expect((await medrec('import', '--format', 'mimic-v', space.dir(), '--db', dbPath)).err).toMatch(/"mimic-v" is not one of mimic-iv, mimic-iii, eicu/)
    const wrong = await medrec('import', '--format', 'mimic-iv', space.fixture('eicu-mini'), '--db', dbPath, '--data-dir', DATA_DIR)
    expect(wrong.code).toBe(1)
    expect(wrong.err).toMatch(/medrec import: .*not a complete MIMIC-IV export.*use --format eicu/)
    expect((await medrec('patients', '--db', join(space.dir(), 'absent.sqlite'))).err).toMatch(/no database at .*absent\.sqlite.*npm run setup/)
    expect((await medrec('patients', '--limit', 'many', '--db', dbPath)).err).toMatch(/--limit must be a whole number/)
    await medrec('import', '--format', 'eicu', space.fixture('eicu-mini'), '--db', dbPath, '--data-dir', DATA_DIR, '--max-rejected', '1')
    const missing = await medrec('show', 'nobody', '--db', dbPath)
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/No patient with id or source id "nobody"/)
  })

  it('refuses a re-import that removes stored rows (exit 3), shows the plan with --dry-run, applies it with --replace', async () => {
    const dir = space.fixture('mimic-iv-mini')
    const args = ['--format', 'mimic-iv', dir, '--db', dbPath, '--data-dir', DATA_DIR, '--max-rejected', '1']
    expect((await medrec('import', ...args)).code).toBe(0)
    const prescriptions = join(dir, 'hosp', 'prescriptions.csv')
    writeFileSync(prescriptions, `${readFileSync(prescriptions, 'utf8').split('\n')[0]}\n`)
    const refused = await medrec('import', ...args)
    expect(refused.code).toBe(3)
    expect(refused.err).toMatch(/refused\. This import would remove 7 medications rows \(affecting 2 of the 3 stored patients\)\. Nothing was changed/)
    expect(refused.err).toMatch(/medications\s+7\s+0\s+0\s+7\s+0/)
    const dry = await medrec('import', ...args, '--dry-run')
    expect(dry.code).toBe(0)
    expect(dry.out).toMatch(/Dry run of mimic-iv .*nothing was written/)
    expect(dry.out).toMatch(/REPLACES stored rows of 2 of 3 patients \(needs --replace\)/)
    const kept = JSON.parse((await medrec('show', '100001', '--db', dbPath, '--json')).out) as PatientTimeline
    expect(kept.visits.flatMap((v) => v.medications)).not.toHaveLength(0)
    const replaced = await medrec('import', ...args, '--replace')
    expect(replaced.code).toBe(0)
    expect(replaced.err).toMatch(/Replacing stored rows as asked \(--replace\):[\s\S]*medications\s+7\s+0\s+0\s+7\s+0/)
    const emptied = JSON.parse((await medrec('show', '100001', '--db', dbPath, '--json')).out) as PatientTimeline
    expect(emptied.visits.flatMap((v) => v.medications)).toHaveLength(0)
  })

  it('fails with exit 1 when more rows are rejected than --max-rejected allows, naming the file', async () => {
    const failed = await medrec('import', '--format', 'eicu', space.fixture('eicu-mini'), '--db', dbPath, '--data-dir', DATA_DIR)
    expect(failed.code).toBe(1)
    expect(failed.err).toMatch(/medrec import: diagnosis\.csv: 1 of 7 rows rejected \(14\.3%\), above the limit of 1% \(--max-rejected\)\. Nothing was changed/)
    expect((await medrec('import', '--format', 'eicu', space.fixture('eicu-mini'), '--db', dbPath, '--max-rejected', '5%')).code).toBe(2)
  })

  it('a database another process is writing to: exit 75 (retry), nothing written', async () => {
    const dir = space.fixture('mimic-iv-mini')
    openDatabase(dbPath).close()
    const other = openDatabase(dbPath)
    other.exec('BEGIN IMMEDIATE')
    try {
      const busy = await medrec('import', '--format', 'mimic-iv', dir, '--db', dbPath, '--data-dir', DATA_DIR, '--max-rejected', '1')
      expect(busy.code).toBe(75)
      expect(busy.err).toMatch(/medrec import: The database is busy: .*Try again/)
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    const db = openDatabase(dbPath)
    expect(db.prepare('SELECT count(*) FROM patients').pluck().get()).toBe(0)
    db.close()
  })
})
