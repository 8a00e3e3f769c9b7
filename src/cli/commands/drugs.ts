import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { DrugResolution } from '../../main/services/drugs/types'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage:
  medrec drugs resolve <name...> [--route <route>] [--json] [--db <path>]
  medrec drugs resolve --file <names.csv> [--column <name>] [--route-column <name>] [--out <report.csv>] [--db <path>]
  medrec drugs override <raw string> <ATC5[+ATC5...]|non-drug> --reason "<why>" [--db <path>]
  medrec drugs overrides [--json] [--db <path>]

Resolves drug strings as an export writes them ("METOPROLOL TARTRATE 25 MG PO TABS", "Percocet",
"Lidocaine Jelly 2%", "0.9% Sodium Chloride") to their ingredients with route-appropriate ATC5 codes,
how each was recognised (exact INN, US name, brand, abbreviation, salt stripped, misspelling, code
table, combination, local override) and a confidence; or non-drug (containers, carriers, devices);
or ambiguous/unresolved with candidates. Hospital IT can check a whole drug master file with --file:
the report lists every row as resolved / non-drug / ambiguous / unresolved with the reason, for a
pharmacist to review. Corrections go in with "override": stored in the patient database, used by
every later import, check and resolve, and written to the audit log.

Options:
  --json                  print the resolutions as JSON
  --route <route>         the source's route for all names (e.g. IH, PO, TP, "BOTH EYES")
  --file <csv>            a CSV with a header; names are read from --column (default: the first of
                          drug, drugname, name, raw, else the first column)
  --route-column <name>   a column holding each row's route
  --out <csv>             where to write the mapping report (default: print it)
  --reason <text>         why an override is right (required; audited)
  --db <path>             ${DEFAULT_DB_HELP}; holds the overrides

Examples:
  medrec drugs resolve albuterol "Oxycodone-Acetaminophen (5mg-325mg)" "Insulin Syringe U-500"
  medrec drugs resolve --file drug_master.csv --out drug_master_mapping.csv
  medrec drugs override "Glycopyrrolate" A03AB02 --reason "our formulary: glycopyrronium bromide injection"
  medrec drugs override "rxnorm:1049221" N02BE01+N02AA05 --reason "FHIR RxNorm code of our combination tablet"`

/** One CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
function csvField(value: string | number): string {
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

function summary(r: DrugResolution): { ingredients: string; codes: string; paths: string; reason: string; candidates: string } {
  if (r.status === 'resolved') {
    return {
      ingredients: r.ingredients.map((i) => i.name).join(' + '),
      codes: r.ingredients.map((i) => i.atc5).join('+'),
      paths: r.paths.join('+'),
      reason: [`route ${r.route}`, ...r.ingredients.map((i) => `${i.name}: ${i.path} "${i.matched}"`), ...r.notes].join('; '),
      candidates: ''
    }
  }
  const candidates = r.status === 'ambiguous' || r.status === 'unresolved' ? r.candidates.map((c) => `${c.name}${c.atc5 ? ` ${c.atc5}` : ''} (${c.why})`).join('; ') : ''
  return { ingredients: '', codes: '', paths: r.status, reason: r.reason, candidates }
}

function formatLine(r: DrugResolution): string {
  const s = summary(r)
  const head = `"${r.input.text}"${r.input.route ? ` [${r.input.route}]` : ''}`
  if (r.status === 'resolved') return `${head} → ${s.ingredients} (${s.codes}) via ${s.paths}, confidence ${r.confidence}\n    ${s.reason}`
  return `${head} → ${r.status.toUpperCase()}: ${s.reason}${s.candidates ? `\n    candidates: ${s.candidates}` : ''}`
}

async function openDb(path: string | undefined, writable: boolean) {
  const { openDatabase } = await import('../../main/services/db/database')
  const { defaultDatabasePath } = await import('../../main/services/paths')
  const databasePath = path ?? defaultDatabasePath()
  if (!existsSync(databasePath)) {
    if (!writable) return null
    throw new Error(`No patient database at ${databasePath}: overrides live in the patient database (run "npm run setup", import, or give --db).`)
  }
  return openDatabase(databasePath)
}

/** Reads names (and routes) from a CSV with a header; errors name the file and line. */
function readNames(path: string, column: string | undefined, routeColumn: string | undefined, parse: (text: string, label: string) => { line: number; fields: string[] }[]) {
  if (!existsSync(path)) throw new UsageError(`--file ${path}: no such file`)
  const [header, ...records] = parse(readFileSync(path, 'utf8'), path)
  if (!header) throw new UsageError(`${path}: the file is empty (expected a header row)`)
  const columns = header.fields.map((h) => h.trim().toLowerCase())
  const nameAt = column ? columns.indexOf(column.toLowerCase()) : Math.max(0, ['drug', 'drugname', 'name', 'raw'].map((c) => columns.indexOf(c)).find((i) => i >= 0) ?? 0)
  if (nameAt < 0) throw new UsageError(`${path}:${header.line}: no column "${column}" (header is: ${header.fields.join(', ')})`)
  const routeAt = routeColumn ? columns.indexOf(routeColumn.toLowerCase()) : -1
  if (routeColumn && routeAt < 0) throw new UsageError(`${path}:${header.line}: no column "${routeColumn}" (header is: ${header.fields.join(', ')})`)
  return records.map((r) => {
    if (r.fields.length !== header.fields.length) throw new UsageError(`${path}:${r.line}: expected ${header.fields.length} fields, found ${r.fields.length}`)
    return { line: r.line, name: r.fields[nameAt] ?? '', route: routeAt >= 0 ? (r.fields[routeAt] ?? '') : '' }
  })
}

export const command: CliCommand = {
  name: 'drugs',
  summary: 'resolve drug strings to ingredients and ATC codes; mapping reports; local overrides',
  usage,
  async run(argv) {
    let parsed
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          json: { type: 'boolean', default: false },
          route: { type: 'string' },
          file: { type: 'string' },
          column: { type: 'string' },
          'route-column': { type: 'string' },
          out: { type: 'string' },
          reason: { type: 'string' },
          db: { type: 'string' }
        }
      })
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error))
    }
    const { values, positionals } = parsed
    const [action, ...rest] = positionals
    const { defaultDrugResolver } = await import('../../main/services/drugs')
    const { applyOverrides, listOverrides, setOverride, OverrideError } = await import('../../main/services/drugs/overrides')
    const resolver = defaultDrugResolver()

    if (action === 'override') {
      if (rest.length !== 2) throw new UsageError('override takes the raw string and its target: medrec drugs override "<raw>" <ATC5|non-drug> --reason "…"')
      const db = await openDb(values.db, true)
      try {
        const { auditIdentity, describeActor } = await import('../../main/services/audit/audit')
        const { override, auditId } = setOverride(db!, resolver, { raw: rest[0]!, target: rest[1]!, reason: values.reason ?? '', userName: describeActor(auditIdentity(db!)) })
        const target = override.target === 'non-drug' ? 'non-drug' : override.target.join('+')
        console.log(`Override set: "${override.rawText}" → ${target} (${override.reason}). Audit entry ${auditId}.`)
        console.log(formatLine(resolver.resolve({ text: rest[0]! })))
        return 0
      } catch (error) {
        if (error instanceof OverrideError) throw new UsageError(error.message)
        throw error
      } finally {
        db!.close()
      }
    }

    if (action === 'overrides') {
      const db = await openDb(values.db, false)
      const list = db ? listOverrides(db) : []
      db?.close()
      if (values.json) console.log(JSON.stringify(list, null, 2))
      else if (list.length === 0) console.log('No local drug overrides.')
      else for (const o of list) console.log(`"${o.rawText}" → ${o.target === 'non-drug' ? 'non-drug' : o.target.join('+')}  (${o.reason}; ${o.userName}, ${o.updatedAt})`)
      return 0
    }

    if (action !== 'resolve') throw new UsageError(action ? `unknown action "${action}" (resolve, override, overrides)` : 'give an action: resolve, override or overrides')
    const db = await openDb(values.db, false)
    if (db) {
      applyOverrides(resolver, db)
      db.close()
    }
    if (values.file !== undefined) {
      if (rest.length > 0) throw new UsageError('give names either as arguments or with --file, not both')
      const { parseCsv } = await import('../../main/services/imports/csv')
      const rows = readNames(values.file, values.column, values['route-column'], parseCsv)
      const header = ['line', 'raw', 'route', 'status', 'ingredients', 'atc5', 'paths', 'confidence', 'reason', 'candidates']
      const lines = [header.join(',')]
      const counts: Record<string, number> = { resolved: 0, 'non-drug': 0, ambiguous: 0, unresolved: 0 }
      for (const row of rows) {
        const r = resolver.resolve({ text: row.name, route: row.route || values.route || null })
        counts[r.status]!++
        const s = summary(r)
        lines.push([row.line, row.name, row.route, r.status, s.ingredients, s.codes, s.paths, r.confidence, s.reason, s.candidates].map(csvField).join(','))
      }
      const report = `${lines.join('\n')}\n`
      if (values.out) writeFileSync(values.out, report)
      else process.stdout.write(report)
      const target = values.out ? `Mapping report written to ${values.out}` : 'Mapping report above'
      console.error(`${target}: ${rows.length} row(s): ${counts.resolved} resolved, ${counts['non-drug']} non-drug, ${counts.ambiguous} ambiguous, ${counts.unresolved} unresolved.`)
      return 0
    }
    if (rest.length === 0) throw new UsageError('give at least one drug name (or --file names.csv)')
    const results = rest.map((text) => resolver.resolve({ text, route: values.route ?? null }))
    if (values.json) console.log(JSON.stringify(results, null, 2))
    else for (const r of results) console.log(formatLine(r))
    return 0
  }
}
