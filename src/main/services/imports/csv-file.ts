import { readFileSync } from 'node:fs'

/** One parsed CSV record with the 1-based line number where it starts (for error messages). */
export interface CsvRecord {
  line: number
  fields: string[]
}

/**
 * Parses RFC 4180 CSV text (quoted fields, doubled quotes, CRLF or LF, newlines inside quotes).
 * Blank lines are skipped. The files here are a few MB, so reading them whole is simpler than streaming.
 */
export function parseCsv(text: string, fileLabel: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let fields: string[] = []
  let field = ''
  let inQuotes = false
  let line = 1
  let recordLine = 1
  let fieldWasQuoted = false
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text

  const endRecord = (): void => {
    fields.push(field)
    const blank = fields.length === 1 && fields[0] === '' && !fieldWasQuoted
    if (!blank) records.push({ line: recordLine, fields })
    fields = []
    field = ''
    fieldWasQuoted = false
  }

  for (let i = 0; i < body.length; i++) {
    const ch = body[i]
    if (inQuotes) {
      if (ch === '"') {
        if (body[i + 1] === '"') {
          field += '"'
          i++
        } else inQuotes = false
      } else {
        if (ch === '\n') line++
        field += ch
      }
      continue
    }
    if (ch === '"') {
      if (field !== '') throw new Error(`${fileLabel}:${line}: a quote inside an unquoted field; quote the whole field.`)
      inQuotes = true
      fieldWasQuoted = true
    } else if (ch === ',') {
      fields.push(field)
      field = ''
      fieldWasQuoted = false
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && body[i + 1] === '\n') i++
      endRecord()
      line++
      recordLine = line
    } else field += ch
  }
  if (inQuotes) throw new Error(`${fileLabel}:${recordLine}: a quoted field is never closed.`)
  if (field !== '' || fields.length > 0) endRecord()
  return records
}

export function readCsvFile(path: string): CsvRecord[] {
  return parseCsv(readFileSync(path, 'utf8'), path)
}

/**
 * Reads a CSV with a header row into objects keyed by column name. Throws naming the file when a
 * required column is missing; a row with a different field count is reported with its line.
 */
export function readCsvObjects(
  path: string,
  requiredColumns: readonly string[]
): { header: string[]; rows: { line: number; values: Record<string, string> }[] } {
  const [headerRecord, ...records] = readCsvFile(path)
  if (!headerRecord) throw new Error(`${path}: the file is empty (expected a header row).`)
  const header = headerRecord.fields.map((h) => h.trim())
  const missing = requiredColumns.filter((c) => !header.includes(c))
  if (missing.length > 0) {
    throw new Error(`${path}:${headerRecord.line}: missing column(s) ${missing.join(', ')} (header is: ${header.join(', ')}).`)
  }
  const rows = records.map((record) => {
    if (record.fields.length !== header.length) {
      throw new Error(`${path}:${record.line}: expected ${header.length} fields, found ${record.fields.length}.`)
    }
    const values: Record<string, string> = {}
    header.forEach((column, index) => {
      values[column] = record.fields[index] ?? ''
    })
    return { line: record.line, values }
  })
  return { header, rows }
}
