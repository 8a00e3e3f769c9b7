// Properties of the CSV reader, shared by the unit suite (tests/unit/csv-properties.test.ts, a few
// hundred cases) and `npm run fuzz` (bench/fuzz.ts, 10,000+ cases per property).
import fc from 'fast-check'
import { CsvParser, firstInvalidUtf8, type CsvBatch } from '../../src/main/services/imports/csv'
import { ImportError } from '../../src/main/services/imports/errors'

export interface NamedProperty {
  name: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each property has its own argument tuple
  property: fc.IPropertyWithHooks<any>
}

interface Parsed {
  records: string[][]
  lines: number[]
  malformed: CsvBatch['malformed']
}

/** Parses `text` (header c0,c1,…) pushed in pieces cut at `cuts` (offsets), selecting every column. */
export function parseInPieces(text: string, cuts: number[] = []): Parsed {
  const parser = new CsvParser('fuzz.csv', (header) => header.map((_, i) => `c${i}`))
  const renamed = text
  const out: Parsed = { records: [], lines: [], malformed: [] }
  const take = (batch: CsvBatch): void => {
    for (let i = 0; i < batch.count; i++) out.records.push(batch.fields.slice(i * batch.width, (i + 1) * batch.width))
    out.lines.push(...batch.lines)
    out.malformed.push(...batch.malformed)
  }
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(0, c), renamed.length)))].sort((a, b) => a - b)
  let from = 0
  for (const at of [...points, renamed.length]) {
    if (at > from) take(parser.push(renamed.slice(from, at)))
    from = Math.max(from, at)
  }
  take(parser.finish())
  return out
}

/** RFC 4180 text for records: fields with a comma, quote, CR or LF are quoted, quotes doubled. */
export function toCsv(rows: string[][], lineEnd: '\n' | '\r\n'): string {
  const field = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)
  return rows.map((row) => row.map(field).join(',')).join(lineEnd) + lineEnd
}

const CSV_CHARS = fc.constantFrom('a', 'b', '1', ' ', ',', '"', '\n', '\r', 'é', '€', '𝄞', ';', '\t')
const fieldText = fc.string({ unit: CSV_CHARS, maxLength: 12 })
const anyText = fc.string({ unit: CSV_CHARS, maxLength: 200 })

/** Header names c0..c{w-1} so the parser selects every column. */
const headerOf = (width: number): string[] => Array.from({ length: width }, (_, i) => `c${i}`)

export function csvProperties(): NamedProperty[] {
  return [
    {
      name: 'any records written as RFC 4180 read back exactly, with their first lines, however the text is cut',
      property: fc.property(
        fc.integer({ min: 2, max: 5 }).chain((width) =>
          fc.tuple(fc.constant(width), fc.array(fc.array(fieldText, { minLength: width, maxLength: width }), { maxLength: 20 }))
        ),
        fc.constantFrom('\n' as const, '\r\n' as const),
        fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
        ([width, rows], lineEnd, cuts) => {
          const text = toCsv([headerOf(width), ...rows], lineEnd)
          const parsed = parseInPieces(text, cuts)
          if (parsed.malformed.length !== 0) throw new Error(`malformed ${JSON.stringify(parsed.malformed)}`)
          if (JSON.stringify(parsed.records) !== JSON.stringify(rows)) throw new Error(`read ${JSON.stringify(parsed.records)}`)
          let line = 2
          rows.forEach((row, i) => {
            if (parsed.lines[i] !== line) throw new Error(`record ${i} starts on line ${parsed.lines[i]}, expected ${line}`)
            line += 1 + row.reduce((n, value) => n + (value.match(/\n/g)?.length ?? 0), 0)
          })
        }
      )
    },
    {
      name: 'arbitrary text: the same records and rejections whatever the chunking, lines increasing, no crash',
      property: fc.property(anyText, fc.array(fc.nat({ max: 220 }), { maxLength: 8 }), (body, cuts) => {
        const text = `c0,c1,c2\n${body}`
        let whole: Parsed
        try {
          whole = parseInPieces(text)
        } catch (error) {
          if (error instanceof ImportError && /fuzz\.csv/.test(error.message)) return
          throw error
        }
        const pieces = parseInPieces(text, cuts)
        if (JSON.stringify(pieces) !== JSON.stringify(whole)) throw new Error(`chunking changed the result: ${JSON.stringify(pieces)} vs ${JSON.stringify(whole)}`)
        const starts = [...whole.lines, ...whole.malformed.map((m) => m.line)].sort((a, b) => a - b)
        const totalLines = text.split('\n').length
        for (let i = 0; i < starts.length; i++) {
          if (starts[i]! < 2 || starts[i]! > totalLines) throw new Error(`line ${starts[i]} outside 2..${totalLines}`)
          if (i > 0 && starts[i] === starts[i - 1]) throw new Error(`line ${starts[i]} counted twice`)
        }
        for (const record of whole.records) if (record.length !== 3) throw new Error(`record of ${record.length} fields`)
        for (const bad of whole.malformed) if (!bad.reason) throw new Error('a rejection without a reason')
      })
    },
    {
      name: 'a UTF-8 check that agrees with TextDecoder: the first invalid byte, and a valid prefix before it',
      property: fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 24 }),
          fc.string({ maxLength: 12 }).map((s) => new TextEncoder().encode(s)),
          fc.tuple(fc.string({ maxLength: 6 }), fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.string({ maxLength: 6 })).map(([a, b, c]) =>
            Uint8Array.from([...new TextEncoder().encode(a), ...b, ...new TextEncoder().encode(c)])
          )
        ),
        (bytes) => {
          const valid = (b: Uint8Array): boolean => {
            try {
              new TextDecoder('utf-8', { fatal: true }).decode(b)
              return true
            } catch {
              return false
            }
          }
          const at = firstInvalidUtf8(bytes)
          if ((at === bytes.length) !== valid(bytes)) throw new Error(`firstInvalidUtf8 = ${at} of ${bytes.length}, TextDecoder says ${valid(bytes)}`)
          if (!valid(bytes.subarray(0, at))) throw new Error(`the prefix before ${at} is not valid`)
        }
      )
    }
  ]
}
