import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { classifyEicuCodes, codeProblem } from '../../src/main/services/imports/codes'
import { CsvParser, readCsv, readCsvHeader, type CsvBatch } from '../../src/main/services/imports/csv'
import { parseSourceTime } from '../../src/main/services/imports/dates'
import { ImportError } from '../../src/main/services/imports/errors'
import { TempSpace } from './import-helpers'

/** Parses `text` pushed in the given pieces; returns the selected records with their lines. */
function parse(pieces: string[], select: string[]): { records: string[][]; lines: number[]; malformed: CsvBatch['malformed'] } {
  const parser = new CsvParser('test.csv', () => select)
  const records: string[][] = []
  const lines: number[] = []
  const malformed: CsvBatch['malformed'] = []
  const take = (batch: CsvBatch): void => {
    for (let i = 0; i < batch.count; i++) records.push(batch.fields.slice(i * batch.width, (i + 1) * batch.width))
    lines.push(...batch.lines)
    malformed.push(...batch.malformed)
  }
  for (const piece of pieces) take(parser.push(piece))
  take(parser.finish())
  return { records, lines, malformed }
}

const TRICKY = [
  'id,name,note\r\n',
  '1,plain,simple\r\n',
  '2,"with, comma","say ""hi"""\r\n',
  '3,"two\nlines",after\n',
  '\n',
  '4,"",last'
].join('')

describe('CSV parser', () => {
  it('handles quotes, doubled quotes, commas and newlines inside quotes, CRLF, blank lines and a last line without newline', () => {
    const { records, lines } = parse([TRICKY], ['id', 'name', 'note'])
    expect(records).toEqual([
      ['1', 'plain', 'simple'],
      ['2', 'with, comma', 'say "hi"'],
      ['3', 'two\nlines', 'after'],
      ['4', '', 'last']
    ])
    // Line numbers count physical lines: record 3 spans lines 4-5, a blank line 6, record 4 is on line 7.
    expect(lines).toEqual([2, 3, 4, 7])
  })

  it('gives the same records and lines however the text is split into chunks', () => {
    const whole = parse([TRICKY], ['note', 'id'])
    for (let cut = 1; cut < TRICKY.length; cut++) {
      for (const second of [cut + 1, cut + 7]) {
        const pieces = [TRICKY.slice(0, cut), TRICKY.slice(cut, second), TRICKY.slice(second)]
        expect(parse(pieces, ['note', 'id'])).toEqual(whole)
      }
    }
  })

  it('selects columns by name case-insensitively and reports rows with the wrong column count with their line', () => {
    const text = 'SUBJECT_ID,HADM_ID,ICD9_CODE\n1,10,4019\n2,20\n3,30,486,extra\n4,40,"V5861"\n'
    const { records, lines, malformed } = parse([text], ['icd9_code', 'subject_id'])
    expect(records).toEqual([
      ['4019', '1'],
      ['V5861', '4']
    ])
    expect(lines).toEqual([2, 5])
    expect(malformed).toEqual([
      { line: 3, reason: 'expected 3 columns, found 2' },
      { line: 4, reason: 'expected 3 columns, found 4' }
    ])
  })

  it('rejects the line of a quoted field that never closes (the file is cut short), naming it', () => {
    const parser = new CsvParser('broken.csv', () => ['a'])
    const first = parser.push('a,b\n1,2\n3,"open\n')
    const last = parser.finish()
    expect([...first.malformed, ...last.malformed]).toEqual([{ line: 3, reason: expect.stringMatching(/a quote opens a field that is not closed on this line/) }])
    expect(first.count + last.count).toBe(1)
  })

  it('a stray quote rejects only its own line: the rows after it are read, however far the next quote is', () => {
    const rows = ['id,name,note', '1,a,x', '2,"b,y', ...Array.from({ length: 500 }, (_, i) => `${i + 3},c,z`), '600,"d, e",w', '601,f,"g']
    for (const pieces of [[rows.join('\n')], rows.map((row) => `${row}\n`)]) {
      const { records, malformed } = parse(pieces, ['id', 'name'])
      expect(malformed.map((m) => m.line)).toEqual([3, 505])
      expect(records).toHaveLength(502)
      expect(records.at(-1)).toEqual(['600', 'd, e'])
    }
  })

  it('a field above the size limit rejects its row with the column and its length', () => {
    const parser = new CsvParser('big.csv', () => ['id', 'note'], { maxFieldChars: 10 })
    const batch = parser.push(`id,note\n1,short\n2,${'x'.repeat(11)}\n3,"${'y'.repeat(12)}"\n`)
    expect(batch.lines).toEqual([2])
    expect(batch.malformed).toEqual([
      { line: 3, reason: 'column 2 (note) is 11 characters long, above the limit of 10' },
      { line: 4, reason: 'column 2 (note) is 12 characters long, above the limit of 10' }
    ])
  })

  it('rejects an empty file', () => {
    const parser = new CsvParser('empty.csv', () => ['a'])
    expect(() => parser.finish()).toThrow(/empty\.csv is empty/)
  })
})

describe('streaming files', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('reads gzip and plain files alike, strips a byte-order mark and fills absent optional columns', async () => {
    const dir = space.dir()
    const text = '\uFEFFa,b\n1,x\n2,y\n'
    writeFileSync(join(dir, 'plain.csv'), text)
    writeFileSync(join(dir, 'zipped.csv.gz'), gzipSync(text))
    for (const name of ['plain.csv', 'zipped.csv.gz']) {
      const rows: string[][] = []
      for await (const batch of readCsv({ path: join(dir, name), displayName: name }, { required: ['b', 'a'], optional: ['c'] })) {
        for (let i = 0; i < batch.count; i++) rows.push(batch.fields.slice(i * 3, i * 3 + 3))
      }
      expect(rows).toEqual([
        ['x', '1', ''],
        ['y', '2', '']
      ])
      expect(await readCsvHeader({ path: join(dir, name), displayName: name })).toEqual(['a', 'b'])
    }
  })

  it('reports a missing column with the header it found', async () => {
    const dir = space.dir()
    writeFileSync(join(dir, 'x.csv'), 'patientunitstayid,gender\n1,Male\n')
    const read = async (): Promise<void> => {
      for await (const _ of readCsv({ path: join(dir, 'x.csv'), displayName: 'hosp/patients.csv.gz' }, { required: ['subject_id', 'gender'] })) void _
    }
    await expect(read()).rejects.toThrow(/hosp\/patients\.csv\.gz: missing column subject_id \(its header is: patientunitstayid,gender\)/)
  })

  it('reports a truncated gzip file as such, and a non-gzip file', async () => {
    const dir = space.dir()
    const rows = Array.from({ length: 50_000 }, (_, i) => `${i},row ${i},${(i * 7919) % 1000}`).join('\n')
    const zipped = gzipSync(`a,b,c\n${rows}\n`)
    writeFileSync(join(dir, 'cut.csv.gz'), zipped.subarray(0, Math.floor(zipped.length / 2)))
    writeFileSync(join(dir, 'fake.csv.gz'), 'a,b\n1,2\n')
    const drain = async (name: string): Promise<number> => {
      let count = 0
      for await (const batch of readCsv({ path: join(dir, name), displayName: name }, { required: ['a'] })) count += batch.count
      return count
    }
    await expect(drain('cut.csv.gz')).rejects.toThrow(ImportError)
    await expect(drain('cut.csv.gz')).rejects.toThrow(/cut\.csv\.gz is truncated/)
    await expect(drain('fake.csv.gz')).rejects.toThrow(/fake\.csv\.gz is not valid gzip data/)
    await expect(drain('absent.csv.gz')).rejects.toThrow(/absent\.csv\.gz not found/)
  })
})

describe('dates and codes', () => {
  it('parses MIMIC times to ISO and refuses impossible ones', () => {
    expect(parseSourceTime('2196-02-24 14:38:00')).toBe('2196-02-24T14:38:00')
    expect(parseSourceTime('2196-02-24T14:38')).toBe('2196-02-24T14:38:00')
    expect(parseSourceTime('2101-10-20')).toBe('2101-10-20T00:00:00')
    expect(parseSourceTime('2104-02-29 00:00:00')).toBe('2104-02-29T00:00:00')
    for (const bad of ['2101-13-01 00:00:00', '2101-02-30 10:00:00', '2101-02-29 10:00:00', '2101-01-01 24:00:00', '24/02/2196', '', 'yesterday'])
      expect(parseSourceTime(bad), bad).toBeNull()
  })

  it('validates ICD codes by system', () => {
    expect(codeProblem('diagnosis', 'ICD-9-CM', '4019')).toBeNull()
    expect(codeProblem('diagnosis', 'ICD-9-CM', 'V5861')).toBeNull()
    expect(codeProblem('diagnosis', 'ICD-10-CM', 'T391X')).toBeNull()
    expect(codeProblem('procedure', 'ICD-10-PCS', '02703ZZ')).toBeNull()
    expect(codeProblem('diagnosis', 'ICD-9-CM', 'I10')).toMatch(/not a valid ICD-9-CM diagnosis code/)
    expect(codeProblem('procedure', 'ICD-10-PCS', '0270')).toMatch(/not a valid ICD-10-PCS/)
    expect(codeProblem('diagnosis', 'ICD-10-CM', '')).toBe('empty code')
  })

  it('classifies eICU code lists into ICD-9-CM and ICD-10-CM without dots', () => {
    expect(classifyEicuCodes('401.9, I10')).toEqual({
      codes: [
        { system: 'ICD-9-CM', code: '4019' },
        { system: 'ICD-10-CM', code: 'I10' }
      ],
      invalid: []
    })
    expect(classifyEicuCodes('965.4, E980.0, T39.1X').codes).toEqual([
      { system: 'ICD-9-CM', code: '9654' },
      { system: 'ICD-9-CM', code: 'E9800' },
      { system: 'ICD-10-CM', code: 'T391X' }
    ])
    expect(classifyEicuCodes('E87.2, V62.84').codes.map((c) => c.system)).toEqual(['ICD-10-CM', 'ICD-9-CM'])
    expect(classifyEicuCodes('31.1')).toEqual({ codes: [], invalid: ['31.1'] })
    expect(classifyEicuCodes('')).toEqual({ codes: [], invalid: [] })
  })
})
