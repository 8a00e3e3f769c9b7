import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase, type Db } from '../../main/services/db/database'
import { listPatients } from '../../main/services/db/patients-repo'
import { defaultDatabasePath } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec patients [options]

Lists patients of the database with their visit counts and first/last admission.

Options:
  --search <s>   only patients whose source id starts with <s> (e.g. a MIMIC subject_id prefix)
  --limit <n>    at most <n> patients (default 50, at most 1000)
  --offset <n>   skip the first <n> (default 0)
  --json         print the page as JSON
  --db <path>    ${DEFAULT_DB_HELP}`

export function parseCount(text: string | undefined, option: string, fallback: number, max: number): number {
  if (text === undefined) return fallback
  if (!/^\d+$/.test(text) || Number(text) > max) throw new UsageError(`${option} must be a whole number from 0 to ${max}, got "${text}".`)
  return Number(text)
}

/** Opens an existing database read-only, with a clear message when there is none. */
export function openExistingDatabase(path: string | undefined, options: { writable?: boolean } = {}): { db: Db; path: string } {
  const dbPath = resolve(path ?? defaultDatabasePath())
  if (!existsSync(dbPath)) {
    throw new UsageError(`no database at ${dbPath}: build the demo with "npm run setup" or import data with "medrec import", or pass --db.`)
  }
  return { db: openDatabase(dbPath, { readonly: !options.writable }), path: dbPath }
}

export const command: CliCommand = {
  name: 'patients',
  summary: 'list or search patients',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        search: { type: 'string' },
        limit: { type: 'string' },
        offset: { type: 'string' },
        json: { type: 'boolean', default: false },
        db: { type: 'string' }
      }
    })
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (use --search to filter).`)
    const limit = parseCount(values.limit, '--limit', 50, 1000)
    const offset = parseCount(values.offset, '--offset', 0, Number.MAX_SAFE_INTEGER)
    const { db } = openExistingDatabase(values.db)
    try {
      const page = listPatients(db, { search: values.search, limit, offset })
      if (values.json) {
        console.log(JSON.stringify(page, null, 2))
        return 0
      }
      const rows = page.patients.map((p) => [String(p.id), p.source, p.sourcePatientId, p.sex ?? '-', String(p.visitCount), p.firstVisit?.slice(0, 10) ?? '-', p.lastVisit?.slice(0, 10) ?? '-'])
      const header = ['id', 'source', 'source id', 'sex', 'visits', 'first', 'last']
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
      const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
      console.log(line(header))
      for (const row of rows) console.log(line(row))
      const shown = page.patients.length
      console.log(
        shown === 0
          ? `No patients${values.search ? ` with a source id starting "${values.search}"` : ''} (${page.total} in all).`
          : `Patients ${offset + 1}-${offset + shown} of ${page.total}.`
      )
      return 0
    } finally {
      db.close()
    }
  }
}
