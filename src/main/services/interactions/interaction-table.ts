import { parseSeverity, SEVERITIES, type Severity } from '../../../shared/domain/interaction'
import type Database from 'better-sqlite3'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseCsv } from '../imports/csv'
import { liftSourceToClasses, measureCoverage } from './class-lift'
import { nameKey } from '../drugs/who-names'
import { type SourceCoverage, type SourceKind } from '../drugs/knowledge-schema'

// The interaction-table CSV format (docs/hospital-interactions.md): how a hospital loads its own licensed
// table, and how the project's curated table (resources/curated-ddi.csv) is loaded. One format, one loader.

export const TABLE_REQUIRED_COLUMNS = ['drug_a', 'drug_b', 'severity', 'source_name', 'source_license'] as const
export const TABLE_OPTIONAL_COLUMNS = ['effect', 'citation', 'source_version', 'source_url', 'source_attribution'] as const

export interface TableRowError {
  file: string
  line: number
  message: string
}

/** Thrown when a table has malformed rows; nothing of the table is stored. */
export class InteractionTableError extends Error {
  override name = 'InteractionTableError'
  constructor(
    readonly file: string,
    readonly errors: TableRowError[]
  ) {
    const shown = errors.slice(0, 20).map((e) => `  ${e.file}:${e.line}: ${e.message}`)
    const more = errors.length > 20 ? [`  … and ${errors.length - 20} more`] : []
    super([`${file}: ${errors.length} malformed row(s); nothing was loaded:`, ...shown, ...more].join('\n'))
  }
}

/** A drug as a table row identifies it, resolved against the knowledge base. */
interface ResolvedTableDrug {
  externalId: string
  name: string
  codes: string[]
  matchMethod: 'atc-code' | 'atc-class' | 'name' | 'name-only'
}

interface TableRow {
  line: number
  sourceName: string
  license: string
  version: string
  url: string
  attribution: string
  a: ResolvedTableDrug
  b: ResolvedTableDrug
  severity: Severity
  effect: string | null
  citation: string | null
}

export interface TableLoadOptions {
  kind: Extract<SourceKind, 'hospital' | 'curated'>
  /** What the table claims to cover; default 'listed-pairs' (no claim), so absence is never read as safety. */
  coverage?: SourceCoverage
  coverageNote?: string
  /** Source key; default `hospital:<slug of source_name>` (or the kind for curated). */
  sourceKey?: (sourceName: string) => string
}

export interface TableLoadReport {
  file: string
  sources: { key: string; name: string; license: string; pairs: number; drugs: number; classPairs: number }[]
  rows: number
}

const ATC_CODE = /^[A-Z]\d\d[A-Z]([A-Z](\d\d)?)?$/

/** Resolves a drug cell: an ATC code of level 3–5, or a name known to the knowledge base. */
function resolveTableDrug(db: Database.Database, cell: string): ResolvedTableDrug | string {
  const text = cell.trim()
  if (text === '') return 'empty drug cell'
  const upper = text.toUpperCase()
  if (ATC_CODE.test(upper)) {
    const row = db.prepare('SELECT name, level FROM atc WHERE code = ?').get(upper) as { name: string; level: number } | undefined
    if (!row) return `ATC code ${upper} is not in the WHO ATC index`
    if (row.level === 5) return { externalId: upper, name: row.name, codes: [upper], matchMethod: 'atc-code' }
    const members = db
      .prepare('SELECT code FROM atc WHERE level = 5 AND code LIKE ? ORDER BY code')
      .pluck()
      .all(`${upper}%`) as string[]
    if (members.length === 0) return `ATC class ${upper} has no level-5 members`
    return { externalId: upper, name: row.name, codes: members, matchMethod: 'atc-class' }
  }
  if (/^[A-Z]\d\d?[A-Z]?$/i.test(text) && text.length <= 3) return `"${text}" looks like an ATC code of level 1–2; use level 3, 4 or 5`
  const key = nameKey(text)
  const hits = db.prepare('SELECT atc5, drug_id FROM drug_names WHERE name_key = ?').all(key) as {
    atc5: string | null
    drug_id: number | null
  }[]
  if (hits.length === 0) return `"${text}" is neither an ATC code nor a drug name known to the knowledge base; write its ATC code`
  const codes = [...new Set(hits.map((h) => h.atc5).filter((c): c is string => c !== null))].sort()
  return { externalId: `name:${key}`, name: text, codes, matchMethod: codes.length > 0 ? 'name' : 'name-only' }
}

function drugIdentity(drug: ResolvedTableDrug): string {
  return drug.codes.length > 0 ? drug.codes.join(',') : drug.externalId
}

function slug(text: string): string {
  return nameKey(text).replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'table'
}

/** Reads and validates a table; returns its rows or every problem with file and line. */
export function parseInteractionTable(db: Database.Database, path: string): { rows: TableRow[]; errors: TableRowError[] } {
  const file = path
  let records
  try {
    records = parseCsv(readFileSync(path, 'utf8'), file)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const line = /:(\d+):/.exec(message)?.[1]
    return { rows: [], errors: [{ file, line: line ? Number(line) : 0, message: message.replace(/^.*?:\d+: /, '') }] }
  }
  const [headerRecord, ...body] = records
  if (!headerRecord) return { rows: [], errors: [{ file, line: 1, message: 'the file is empty (expected a header row)' }] }
  const header = headerRecord.fields.map((h) => h.trim().toLowerCase())
  const known = new Set<string>([...TABLE_REQUIRED_COLUMNS, ...TABLE_OPTIONAL_COLUMNS])
  const errors: TableRowError[] = []
  const missing = TABLE_REQUIRED_COLUMNS.filter((c) => !header.includes(c))
  if (missing.length > 0) errors.push({ file, line: headerRecord.line, message: `missing column(s): ${missing.join(', ')}` })
  const unknown = header.filter((h) => !known.has(h))
  if (unknown.length > 0) errors.push({ file, line: headerRecord.line, message: `unknown column(s): ${unknown.join(', ')}` })
  if (errors.length > 0) return { rows: [], errors }

  const rows: TableRow[] = []
  const seenPairs = new Map<string, number>() // source|drugA|drugB → line
  const sourceLicense = new Map<string, { license: string; line: number }>()
  for (const record of body) {
    const line = record.line
    const fail = (message: string): void => void errors.push({ file, line, message })
    if (record.fields.length !== header.length) {
      fail(`expected ${header.length} fields, found ${record.fields.length}`)
      continue
    }
    const get = (column: string): string => (record.fields[header.indexOf(column)] ?? '').trim()
    const problems: string[] = []
    const a = resolveTableDrug(db, get('drug_a'))
    const b = resolveTableDrug(db, get('drug_b'))
    if (typeof a === 'string') problems.push(`drug_a: ${a}`)
    if (typeof b === 'string') problems.push(`drug_b: ${b}`)
    const severity = parseSeverity(get('severity'))
    if (!severity) problems.push(`severity "${get('severity')}" is not one of ${SEVERITIES.join(', ')}`)
    const sourceName = get('source_name')
    const license = get('source_license')
    if (sourceName === '') problems.push('source_name is empty')
    if (license === '') problems.push('source_license is empty')
    if (problems.length > 0 || typeof a === 'string' || typeof b === 'string' || !severity) {
      fail(problems.join('; '))
      continue
    }
    // A drug is the same whether written as a code or as a name that resolves to the same codes.
    const identityA = drugIdentity(a)
    const identityB = drugIdentity(b)
    if (identityA === identityB) {
      fail(`drug_a and drug_b are the same drug (${a.externalId})`)
      continue
    }
    const firstLicense = sourceLicense.get(sourceName)
    if (firstLicense && firstLicense.license !== license) {
      fail(`source "${sourceName}" has license "${firstLicense.license}" on line ${firstLicense.line} but "${license}" here`)
      continue
    }
    sourceLicense.set(sourceName, firstLicense ?? { license, line })
    const pairKey = [sourceName, ...[identityA, identityB].sort()].join('|')
    const earlier = seenPairs.get(pairKey)
    if (earlier !== undefined) {
      fail(`the pair ${a.name} + ${b.name} is already given on line ${earlier}`)
      continue
    }
    seenPairs.set(pairKey, line)
    rows.push({
      line,
      sourceName,
      license,
      version: get('source_version'),
      url: get('source_url'),
      attribution: get('source_attribution'),
      a,
      b,
      severity,
      effect: get('effect') || null,
      citation: get('citation') || null
    })
  }
  if (body.length === 0) errors.push({ file, line: headerRecord.line, message: 'the table has a header but no rows' })
  return { rows, errors }
}

/**
 * Validates a table against the knowledge base open in `db` and stores it, one source per source_name,
 * replacing an earlier load of the same source. All or nothing: a malformed row throws
 * InteractionTableError (every problem with its line) and nothing is written.
 */
export function importInteractionTable(db: Database.Database, path: string, options: TableLoadOptions): TableLoadReport {
  const { rows, errors } = parseInteractionTable(db, path)
  if (errors.length > 0) throw new InteractionTableError(path, errors)
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex')
  const keyFor = options.sourceKey ?? ((name: string) => (options.kind === 'curated' ? 'curated' : `hospital:${slug(name)}`))
  const bySource = new Map<string, TableRow[]>()
  for (const row of rows) bySource.set(row.sourceName, [...(bySource.get(row.sourceName) ?? []), row])

  const report: TableLoadReport = { file: path, sources: [], rows: rows.length }
  db.transaction(() => {
    for (const [sourceName, sourceRows] of bySource) {
      const first = sourceRows[0]
      if (!first) continue
      const key = keyFor(sourceName)
      removeSource(db, key)
      const coverage = options.coverage ?? { kind: 'listed-pairs' }
      const sourceId = Number(
        db
          .prepare(
            `INSERT INTO sources (key, kind, name, version, license, attribution, url, severity_graded, coverage, coverage_note, files, loaded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`
          )
          .run(
            key,
            options.kind,
            sourceName,
            first.version || `loaded ${new Date().toISOString().slice(0, 10)}`,
            first.license,
            first.attribution || sourceName,
            first.url || `file:${basename(path)}`,
            JSON.stringify(coverage),
            options.coverageNote ?? describeCoverage(coverage),
            JSON.stringify([{ path, sha256 }]),
            new Date().toISOString()
          ).lastInsertRowid
      )
      const insertDrug = db.prepare(
        'INSERT INTO drugs (source_id, external_id, name, name_key, match_method) VALUES (?, ?, ?, ?, ?)'
      )
      const insertDrugAtc = db.prepare('INSERT INTO drug_atc (drug_id, atc5) VALUES (?, ?)')
      const insertPair = db.prepare(
        'INSERT INTO drug_pairs (source_id, drug_a, drug_b, severity, effect, citation, source_line) VALUES (?, ?, ?, ?, ?, ?, ?)'
      )
      const drugIds = new Map<string, number>()
      const drugId = (drug: ResolvedTableDrug): number => {
        const existing = drugIds.get(drug.externalId)
        if (existing !== undefined) return existing
        const id = Number(insertDrug.run(sourceId, drug.externalId, drug.name, nameKey(drug.name), drug.matchMethod).lastInsertRowid)
        for (const code of drug.codes) insertDrugAtc.run(id, code)
        drugIds.set(drug.externalId, id)
        return id
      }
      for (const row of sourceRows) {
        const [low, high] = [drugId(row.a), drugId(row.b)].sort((x, y) => x - y) as [number, number]
        insertPair.run(sourceId, low, high, row.severity, row.effect, row.citation, row.line)
      }
      const classPairs = liftSourceToClasses(db, sourceId)
      measureCoverage(db, sourceId)
      report.sources.push({ key, name: sourceName, license: first.license, pairs: sourceRows.length, drugs: drugIds.size, classPairs })
    }
  })()
  return report
}

/** Deletes a source and every fact that references it (used to reload a table). */
export function removeSource(db: Database.Database, key: string): boolean {
  const source = db.prepare('SELECT id FROM sources WHERE key = ?').get(key) as { id: number } | undefined
  if (!source) return false
  const id = source.id
  db.prepare('DELETE FROM class_pair_members WHERE class_pair_id IN (SELECT id FROM class_pairs WHERE source_id = ?)').run(id)
  db.prepare('DELETE FROM class_pairs WHERE source_id = ?').run(id)
  db.prepare('DELETE FROM coverage WHERE source_id = ?').run(id)
  db.prepare('DELETE FROM drug_pairs WHERE source_id = ?').run(id)
  db.prepare('DELETE FROM drug_names WHERE drug_id IN (SELECT id FROM drugs WHERE source_id = ?)').run(id)
  db.prepare('DELETE FROM drug_atc WHERE drug_id IN (SELECT id FROM drugs WHERE source_id = ?)').run(id)
  db.prepare('DELETE FROM drugs WHERE source_id = ?').run(id)
  db.prepare('DELETE FROM sources WHERE id = ?').run(id)
  return true
}

export function describeCoverage(coverage: SourceCoverage): string {
  switch (coverage.kind) {
    case 'all':
      return 'claims to list every interacting pair'
    case 'groups':
      return `claims every pair in which a drug lies in ATC group ${coverage.groups.join(', ')}`
    case 'listed-pairs':
      return 'lists selected pairs only; absence there says nothing'
  }
}
