// The one CSV reader. Streaming for the EHR importers (readCsv): files are read as streams (gunzipped on the fly when
// they end in .gz), never whole into memory, and parsed by a quote-aware parser that keeps the line
// number of every record so rejected rows and errors can name file and line.
//
// Speed matters (a million-visit cohort has tens of millions of rows): a line without quotes takes a
// fast path that scans commas with indexOf and slices only the columns the importer asked for; lines
// with quotes (RFC 4180: "a, b", doubled "" quotes, newlines inside quotes) take a careful path.
// Whole-file reading for the small reference tables (parseCsv, readCsvObjects: knowledge base build, drug
// resolver tables, hospital interaction tables, drug master files) uses the same record parser.
import { createReadStream, readFileSync, statSync } from 'node:fs'
import { createGunzip } from 'node:zlib'
import { readCsvOffThread } from './csv-off-thread'
import { ImportError } from './errors'

export interface CsvSource {
  /** Absolute path of the file. */
  path: string
  /** How messages name the file: its path relative to the imported folder (e.g. hosp/admissions.csv.gz). */
  displayName: string
}

export interface CsvColumns {
  /** Column names that must be in the header (matched case-insensitively: MIMIC-III exports use upper case). */
  required: readonly string[]
  /** Columns read when present; a missing optional column reads as ''. */
  optional?: readonly string[]
}

/** A run of parsed records. Record i's selected field j is fields[i * width + j], in the order required ++ optional. */
export interface CsvBatch {
  count: number
  width: number
  fields: string[]
  /** 1-based line number where each record starts (the header is line 1); an Int32Array when read off-thread. */
  lines: ArrayLike<number> & Iterable<number>
  /** Records whose field count differs from the header's; they are not in `fields`. */
  malformed: Array<{ line: number; reason: string }>
}

/** Progress of one file: compressed bytes read so far. */
export type BytesRead = (bytes: number) => void

/** How the bytes of a file are read: its text encoding and the longest field accepted. */
export interface CsvReadOptions {
  /** 'utf-8' (checked: invalid bytes are an error naming the line) or a single-byte encoding such as 'latin1'. */
  encoding?: string
  /** A longer field rejects its record (default MAX_FIELD_CHARS). */
  maxFieldChars?: number
  /**
   * Read, gunzip, decode and parse on a worker thread (imports/csv-off-thread.ts): true, false, or 'auto'
   * (default: files of OFF_THREAD_MIN_BYTES or more, where it pays for the thread's start).
   */
  offThread?: boolean | 'auto'
}

export const OFF_THREAD_MIN_BYTES = 1 << 20

/** No column an importer reads holds more than a few hundred characters; 64 Ki leaves room for long titles. */
export const MAX_FIELD_CHARS = 65_536
/**
 * A record still open after this many characters (no newline, or a quote that never closes) is not
 * held any longer: its first line is rejected and reading goes on at the next line. Bounds memory.
 */
export const MAX_RECORD_CHARS = 16 * 1024 * 1024

const READ_CHUNK = 1 << 20
const GUNZIP_CHUNK = 1 << 18

const COMMA = 44
const QUOTE = 34
const CR = 13
const LF = 10

/**
 * The incremental parser: push() decoded text as it arrives, finish() at the end. It owns the
 * partial line between chunks. Exposed for tests; importers use readCsv().
 */
export class CsvParser {
  /** Header fields, once the first record is parsed. */
  header: string[] | null = null
  private carry = ''
  /** Line number of the first character of `carry`. */
  private line = 1
  /** For each header column: its slot among the selected fields, or -1 when not selected. */
  private slotOfColumn: Int32Array = new Int32Array(0)
  private width = 0
  private batch: ParsedBatch = emptyBatch(0)

  private readonly maxField: number
  /** True while skipping the rest of an over-long line (see MAX_RECORD_CHARS). */
  private skipping = false

  constructor(
    private readonly displayName: string,
    private readonly onHeader: (header: string[]) => string[] | null,
    options: CsvReadOptions = {}
  ) {
    this.maxField = options.maxFieldChars ?? MAX_FIELD_CHARS
  }

  /** Parses what it can of `text` and returns the complete records so far. */
  push(text: string): CsvBatch {
    this.parse(this.carry === '' ? text : this.carry + text, false)
    return this.take()
  }

  /** Parses the rest (a last line without a newline) and returns it. */
  finish(): CsvBatch {
    if (this.carry !== '') this.parse(this.carry, true)
    if (this.header === null) throw new ImportError(`${this.displayName} is empty: expected a CSV header line.`, this.displayName)
    return this.take()
  }

  private take(): CsvBatch {
    const done = this.batch
    done.fields.length = done.count * done.width
    this.batch = emptyBatch(this.width)
    return done
  }

  private parse(s: string, final: boolean): void {
    const n = s.length
    let pos = 0
    let nextQuote = s.indexOf('"')
    if (this.skipping) {
      const nl = s.indexOf('\n')
      if (nl === -1) {
        this.carry = ''
        return
      }
      this.skipping = false
      this.line++
      pos = nl + 1
    }
    while (pos < n) {
      const nl = s.indexOf('\n', pos)
      if (nl === -1 && !final) {
        if (n - pos > MAX_RECORD_CHARS) this.skipLongLine()
        else this.carry = s.slice(pos)
        return
      }
      const end = nl === -1 ? n : nl
      if (nextQuote !== -1 && nextQuote < pos) nextQuote = s.indexOf('"', pos)
      if (nextQuote === -1 || nextQuote > end) {
        // Fast path: no quote on this line.
        let lineEnd = end
        if (lineEnd > pos && s.charCodeAt(lineEnd - 1) === CR) lineEnd--
        if (lineEnd > pos) this.simpleRecord(s, pos, lineEnd)
        this.line++
        pos = end + 1
        continue
      }
      const record = parseQuotedRecord(s, pos, final)
      if (record === null && n - pos <= MAX_RECORD_CHARS) break // the record continues in the next chunk
      // A quote that opens a field and does not close where the record can end (never, or only
      // lines later with the wrong column count) is a stray quote: only its own line is rejected, and
      // reading resumes on the next line, so one bad character never swallows the rows after it.
      const spansLines = record === null || record === 'unterminated' || record.newlines > 0
      const wrongShape = record === null || record === 'unterminated' || (this.header !== null && record.fields.length !== this.slotOfColumn.length)
      if (spansLines && wrongShape && this.header !== null) {
        this.malformed(this.line, 'a quote opens a field that is not closed on this line (a stray quote, or the file is cut short)')
        if (nl === -1) {
          // The line has not ended yet: drop the rest of it as it arrives.
          this.skipping = !final
          this.carry = ''
          return
        }
        this.line++
        pos = nl + 1
        continue
      }
      if (record === null || record === 'unterminated') {
        throw new ImportError(
          `${this.displayName} line ${this.line}: a quoted field is never closed (the file may be truncated or not CSV).`,
          this.displayName,
          this.line
        )
      }
      this.fullRecord(record.fields, this.line)
      this.line += 1 + record.newlines
      pos = record.next
    }
    this.done(pos < n ? pos : n, s)
  }

  private done(pos: number, s: string): void {
    this.carry = pos < s.length ? s.slice(pos) : ''
  }

  /** The open line is longer than MAX_RECORD_CHARS: reject it and drop text up to its newline. */
  private skipLongLine(): void {
    this.malformed(this.line, `the line is longer than ${MAX_RECORD_CHARS.toLocaleString('en-US')} characters (not a CSV record)`)
    this.skipping = true
    this.carry = ''
  }

  private malformed(line: number, reason: string): void {
    if (this.header === null) {
      throw new ImportError(`${this.displayName} line ${line}: ${reason}; the header cannot be read.`, this.displayName, line)
    }
    this.batch.malformed.push({ line, reason })
  }

  /** Null when every field fits, else the reason naming the first field that does not. */
  private oversizedField(lengths: (column: number) => number, columns: number): string | null {
    for (let column = 0; column < columns; column++) {
      const length = lengths(column)
      if (length > this.maxField) {
        const name = this.header?.[column]
        return (
          `column ${column + 1}${name ? ` (${normaliseHeader(name)})` : ''} is ${length.toLocaleString('en-US')} characters long, ` +
          `above the limit of ${this.maxField.toLocaleString('en-US')}`
        )
      }
    }
    return null
  }

  private simpleRecord(s: string, start: number, lineEnd: number): void {
    if (this.header === null) {
      this.fullRecord(s.slice(start, lineEnd).split(','), this.line)
      return
    }
    const batch = this.batch
    const base = batch.count * this.width
    const slots = this.slotOfColumn
    const columns = slots.length
    const fields = batch.fields
    let column = 0
    let fieldStart = start
    let longest = 0
    for (;;) {
      let comma = s.indexOf(',', fieldStart)
      if (comma === -1 || comma > lineEnd) comma = lineEnd
      if (comma - fieldStart > longest) longest = comma - fieldStart
      if (column < columns) {
        const slot = slots[column]!
        if (slot >= 0) fields[base + slot] = s.slice(fieldStart, comma)
      }
      column++
      if (comma === lineEnd) break
      fieldStart = comma + 1
    }
    if (column !== columns) {
      batch.malformed.push({ line: this.line, reason: `expected ${columns} columns, found ${column}` })
      return
    }
    if (longest > this.maxField) {
      const fields = s.slice(start, lineEnd).split(',')
      batch.malformed.push({ line: this.line, reason: this.oversizedField((c) => fields[c]!.length, fields.length)! })
      return
    }
    // A line of only commas is an empty record; keep it (the importer rejects it for its empty ids).
    batch.lines.push(this.line)
    batch.count++
  }

  private fullRecord(values: string[], line: number): void {
    if (this.header === null) {
      this.header = values
      const selected = this.onHeader(values)
      if (selected === null) return
      this.width = selected.length
      this.slotOfColumn = new Int32Array(values.length).fill(-1)
      selected.forEach((name, slot) => {
        const column = name === '' ? -1 : values.findIndex((h) => normaliseHeader(h) === name)
        if (column >= 0) this.slotOfColumn[column] = slot
      })
      this.optionalMissing = selected.map((name, slot) => (name === '' ? slot : -1)).filter((slot) => slot >= 0)
      this.batch = emptyBatch(this.width)
      return
    }
    const batch = this.batch
    if (values.length !== this.slotOfColumn.length) {
      batch.malformed.push({ line, reason: `expected ${this.slotOfColumn.length} columns, found ${values.length}` })
      return
    }
    const oversized = this.oversizedField((c) => values[c]!.length, values.length)
    if (oversized) {
      batch.malformed.push({ line, reason: oversized })
      return
    }
    const base = batch.count * this.width
    for (let column = 0; column < values.length; column++) {
      const slot = this.slotOfColumn[column]!
      if (slot >= 0) batch.fields[base + slot] = values[column]!
    }
    batch.lines.push(line)
    batch.count++
  }

  /** Slots of optional columns absent from the header: filled with '' by fillMissing(). */
  optionalMissing: number[] = []
}

/** The parser's own batch, filled by push(). */
interface ParsedBatch extends CsvBatch {
  lines: number[]
}

function emptyBatch(width: number): ParsedBatch {
  return { count: 0, width, fields: [], lines: [], malformed: [] }
}

/** Header names are compared trimmed, lower-cased and without a UTF-8 byte-order mark. */
export function normaliseHeader(name: string): string {
  return name.replace(/^\uFEFF/, '').trim().replace(/^"|"$/g, '').toLowerCase()
}

interface QuotedRecord {
  fields: string[]
  /** Index just after the record's terminating newline (or the end of the text). */
  next: number
  /** Newlines inside quoted fields (the record spans 1 + newlines lines). */
  newlines: number
}

/**
 * Parses one record that contains quotes, starting at `pos`. Returns null when the record is not
 * complete in `s` (more text is needed), 'unterminated' when `final` and a quote is never closed.
 * A quote inside an unquoted field is kept literally (lenient, as real exports contain `5" x 3"`).
 */
function parseQuotedRecord(s: string, pos: number, final: boolean): QuotedRecord | null | 'unterminated' {
  const n = s.length
  const fields: string[] = []
  let newlines = 0
  let i = pos
  for (;;) {
    let value: string
    if (i < n && s.charCodeAt(i) === QUOTE) {
      let text = ''
      let segment = i + 1
      let closed = false
      while (!closed) {
        const q = s.indexOf('"', segment)
        if (q === -1) return final ? 'unterminated' : null
        if (q + 1 >= n && !final) return null // cannot tell a closing quote from a doubled one yet
        if (s.charCodeAt(q + 1) === QUOTE) {
          text += s.slice(segment, q + 1)
          segment = q + 2
        } else {
          text += s.slice(segment, q)
          i = q + 1
          closed = true
        }
      }
      // Anything between the closing quote and the next separator is kept literally.
      while (i < n) {
        const c = s.charCodeAt(i)
        if (c === COMMA || c === LF || (c === CR && (i + 1 >= n || s.charCodeAt(i + 1) === LF))) break
        text += s[i]
        i++
      }
      value = text
    } else {
      let j = i
      while (j < n) {
        const c = s.charCodeAt(j)
        if (c === COMMA || c === LF) break
        j++
      }
      value = s.slice(i, j)
      if (j >= n || s.charCodeAt(j) === LF) {
        if (value.endsWith('\r')) value = value.slice(0, -1)
      }
      i = j
    }
    fields.push(value)
    for (let k = value.indexOf('\n'); k !== -1; k = value.indexOf('\n', k + 1)) newlines++
    if (i >= n) {
      if (!final) return null
      return { fields, next: n, newlines }
    }
    const c = s.charCodeAt(i)
    if (c === COMMA) {
      i++
      continue
    }
    if (c === CR) i++
    if (i < n && s.charCodeAt(i) === LF) i++
    else if (i >= n && !final) return null
    return { fields, next: i, newlines }
  }
}

/** One parsed CSV record with the 1-based line number where it starts (for error messages). */
export interface CsvRecord {
  line: number
  fields: string[]
}

/**
 * Parses a whole CSV text (a few MB at most: reference tables, drug master files) with the importers' record
 * parser. Blank lines are skipped. A quoted field that never closes is an error naming `fileLabel` and the line.
 */
export function parseCsv(text: string, fileLabel: string): CsvRecord[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const records: CsvRecord[] = []
  let line = 1
  let pos = 0
  while (pos < body.length) {
    const record = parseQuotedRecord(body, pos, true)
    if (record === null || record === 'unterminated') throw new Error(`${fileLabel}:${line}: a quoted field is never closed.`)
    const blank = record.fields.length === 1 && record.fields[0] === '' && body.charCodeAt(pos) !== QUOTE
    if (!blank) records.push({ line, fields: record.fields })
    line += 1 + record.newlines
    pos = record.next
  }
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

/**
 * Reads the header line of a CSV (gzipped or not) without reading the rest. Used to check the
 * layout of every input file before anything is written.
 */
export async function readCsvHeader(source: CsvSource): Promise<string[]> {
  let header: string[] | null = null
  const parser = new CsvParser(source.displayName, (h) => {
    header = h
    return null
  })
  // Rows after the header are checked when read; here an invalid byte among them must not stop the check.
  for await (const text of decodedChunks(source, 64 * 1024, undefined, 'utf-8', false)) {
    parser.push(text)
    if (header) return header
  }
  parser.finish()
  if (!header) throw new ImportError(`${source.displayName} is empty: expected a CSV header line.`, source.displayName)
  return header
}

/** Names of the required columns absent from a header (compared case-insensitively). */
export function missingColumns(header: readonly string[], required: readonly string[]): string[] {
  const present = new Set(header.map(normaliseHeader))
  return required.filter((name) => !present.has(name.toLowerCase()))
}

/**
 * Streams a CSV file as batches of records holding only the selected columns. Throws ImportError
 * naming the file for a missing file, a missing required column, a truncated or corrupt gzip
 * stream, or a quoted field that never closes. Large files are read and parsed on a worker thread
 * (csv-off-thread.ts), small ones here; both run parseCsvText on readCsvText.
 */
export async function* readCsv(source: CsvSource, columns: CsvColumns, onBytes?: BytesRead, options: CsvReadOptions = {}): AsyncGenerator<CsvBatch> {
  if (readsOffThread(source, options)) yield* readCsvOffThread(source, columns, onBytes, options)
  else yield* parseCsvText(source, columns, readCsvText(source, onBytes, options.encoding), options)
}

/** The file's text, chunk by chunk (gunzipped, decoded and, for UTF-8, checked), on the calling thread. */
export function readCsvText(source: CsvSource, onBytes?: BytesRead, encoding?: string): AsyncGenerator<string> {
  return decodedChunks(source, READ_CHUNK, onBytes, encoding, true)
}

/** Parses text chunks into batches of the selected columns (the header checked against `columns`). */
export async function* parseCsvText(
  source: CsvSource,
  columns: CsvColumns,
  texts: AsyncIterable<string>,
  options: CsvReadOptions = {}
): AsyncGenerator<CsvBatch> {
  const wanted = [...columns.required, ...(columns.optional ?? [])].map((c) => c.toLowerCase())
  const parser = new CsvParser(
    source.displayName,
    (header) => {
      const missing = missingColumns(header, columns.required)
      if (missing.length > 0) throw headerError(source, header, missing)
      const present = new Set(header.map(normaliseHeader))
      return wanted.map((name) => (present.has(name) ? name : ''))
    },
    options
  )
  const fill = (batch: CsvBatch): CsvBatch => {
    for (const slot of parser.optionalMissing) for (let r = 0; r < batch.count; r++) batch.fields[r * batch.width + slot] = ''
    return batch
  }
  for await (const text of texts) {
    const batch = parser.push(text)
    if (batch.count > 0 || batch.malformed.length > 0) yield fill(batch)
  }
  const last = parser.finish()
  if (last.count > 0 || last.malformed.length > 0) yield fill(last)
}

/** Whether a file is read and parsed on a worker thread (see CsvReadOptions.offThread). */
function readsOffThread(source: CsvSource, options: CsvReadOptions): boolean {
  const offThread = options.offThread ?? 'auto'
  return offThread === true || (offThread === 'auto' && sizeOf(source.path) >= OFF_THREAD_MIN_BYTES)
}

/** Size in bytes; -1 when the file cannot be read (the reader then names the problem). */
function sizeOf(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return -1
  }
}

export function headerError(source: CsvSource, header: readonly string[], missing: readonly string[]): ImportError {
  const shown = header.length > 12 ? [...header.slice(0, 12), '…'] : header
  return new ImportError(
    `${source.displayName}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
      `(its header is: ${shown.join(',')}). Is this file from the layout you chose?`,
    source.displayName,
    1
  )
}

/**
 * The file as text chunks, through gunzip when it ends in .gz; errors name the file. UTF-8 (the
 * default) is checked: a byte sequence that is not UTF-8 stops the read with the line it is on and the
 * option to use, instead of becoming U+FFFD in stored data.
 */
async function* decodedChunks(
  source: CsvSource,
  chunkSize: number,
  onBytes?: BytesRead,
  encoding = 'utf-8',
  checked = true
): AsyncGenerator<string> {
  const gzipped = source.path.toLowerCase().endsWith('.gz')
  const utf8 = checked && isUtf8Label(encoding)
  const decoder = textDecoder(source, encoding, utf8)
  const chunks = readFileChunks(source.path, gzipped, chunkSize)
  let reported = 0
  /** Newlines in the bytes decoded so far, to name the line of an invalid byte. */
  let newlines = 0
  let previous: Buffer = Buffer.alloc(0)
  try {
    for await (const { chunk, bytesRead } of chunks) {
      if (onBytes && bytesRead !== reported) {
        reported = bytesRead
        onBytes(reported)
      }
      let text: string
      try {
        text = decoder.decode(chunk, { stream: true })
      } catch {
        throw notUtf8(source, previous, chunk, newlines)
      }
      if (utf8) {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++
        previous = chunk.subarray(Math.max(0, chunk.length - 3))
      }
      yield text
    }
    let rest: string
    try {
      rest = decoder.decode()
    } catch {
      throw notUtf8(source, previous, Buffer.alloc(0), newlines)
    }
    if (rest) yield rest
  } catch (error) {
    throw streamError(source, error, gzipped)
  } finally {
    await chunks.return(undefined)
  }
}

/** The file's (decompressed) bytes, with the compressed bytes read so far (for progress). */
async function* readFileChunks(path: string, gzipped: boolean, chunkSize: number): AsyncGenerator<{ chunk: Buffer; bytesRead: number }> {
  const file = createReadStream(path, { highWaterMark: chunkSize })
  const gunzip = gzipped ? createGunzip({ chunkSize: GUNZIP_CHUNK }) : null
  if (gunzip) {
    file.on('error', (error) => gunzip.destroy(error))
    file.pipe(gunzip)
  }
  try {
    for await (const chunk of (gunzip ?? file) as AsyncIterable<Buffer>) yield { chunk, bytesRead: file.bytesRead }
  } finally {
    file.destroy()
    gunzip?.destroy()
  }
}

const isUtf8Label = (encoding: string): boolean => /^utf-?8$/i.test(encoding)

function textDecoder(source: CsvSource, encoding: string, fatal: boolean): { decode(input?: Uint8Array, options?: { stream?: boolean }): string } {
  try {
    // fatal: invalid UTF-8 throws. Single-byte encodings (latin1 = windows-1252 in the WHATWG table)
    // map every byte to a character, so they never throw.
    return new TextDecoder(encoding, { fatal })
  } catch {
    throw new ImportError(`${source.displayName}: unknown text encoding "${encoding}" (use utf-8 or latin1).`, source.displayName)
  }
}

/** The error for the first invalid UTF-8 sequence: the line it is on (header = line 1) and the byte. */
function notUtf8(source: CsvSource, previousTail: Buffer, chunk: Buffer, newlinesBefore: number): ImportError {
  const bytes = Buffer.concat([previousTail, chunk])
  const at = firstInvalidUtf8(bytes)
  let line = newlinesBefore + 1
  // Newlines of the previous chunk's tail are already counted.
  for (let i = previousTail.length; i < Math.min(at, bytes.length); i++) if (bytes[i] === 10) line++
  const byte = at < bytes.length ? ` (byte 0x${bytes[at]!.toString(16).toUpperCase().padStart(2, '0')})` : ' (the file ends inside a character)'
  return new ImportError(
    `${source.displayName} line ${line}: not valid UTF-8${byte}. If the export is Latin-1 (ISO-8859-1 or Windows-1252), ` +
      'import it with --encoding latin1; nothing was imported.',
    source.displayName,
    line
  )
}

/**
 * Offset of the first byte that does not start or continue a valid UTF-8 sequence (bytes.length if
 * none): the same bytes TextDecoder's fatal mode refuses (overlong forms, surrogates, above U+10FFFF).
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]!
    if (b < 0x80) {
      i++
      continue
    }
    const extra = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1
    if (extra < 0 || i + extra >= bytes.length) return i
    // The second byte's range is narrower after E0, ED, F0 and F4.
    const second = bytes[i + 1]!
    const [low, high] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf]
    if (second < low || second > high) return i
    for (let k = 2; k <= extra; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    i += extra + 1
  }
  return bytes.length
}

function streamError(source: CsvSource, error: unknown, gzipped: boolean): Error {
  if (error instanceof ImportError) return error
  const code = (error as NodeJS.ErrnoException).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'ENOENT') return new ImportError(`${source.displayName} not found (${source.path}).`, source.displayName)
  if (code === 'EISDIR') return new ImportError(`${source.displayName} is a folder, expected a CSV file.`, source.displayName)
  if (gzipped && (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(message))) {
    return new ImportError(
      `${source.displayName} is truncated: the gzip data ends unexpectedly (the file is incomplete; copy it again).`,
      source.displayName
    )
  }
  if (gzipped && (code === 'Z_DATA_ERROR' || /header check|invalid/i.test(message))) {
    return new ImportError(`${source.displayName} is not valid gzip data (${message}).`, source.displayName)
  }
  return new ImportError(`${source.displayName}: cannot read the file (${message}).`, source.displayName)
}
