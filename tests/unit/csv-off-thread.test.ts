// Reading, gunzipping and parsing a file on a worker thread (imports/csv-off-thread.ts) must give exactly what
// the in-thread reader gives: the same records and lines, the same progress, and the same errors naming file and line
// (invalid UTF-8, a truncated or fake gzip, a missing file), with Latin-1 declared or not.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { readCsv, type CsvReadOptions } from '../../src/main/services/imports/csv'
import { TempSpace } from './import-helpers'

/** Every record, line, malformed row and progress report of a read, or its error message. */
async function readAll(path: string, options: CsvReadOptions): Promise<{ records: string[]; lines: number[]; malformed: string[]; progress: number } | string> {
  const records: string[] = []
  const lines: number[] = []
  const malformed: string[] = []
  let progress = 0
  try {
    for await (const batch of readCsv({ path, displayName: `hosp/${path.split('/').at(-1)}` }, { required: ['id', 'name'], optional: ['absent'] }, (b) => (progress = b), options)) {
      for (let i = 0; i < batch.count; i++) records.push(batch.fields.slice(i * batch.width, (i + 1) * batch.width).join('|'))
      lines.push(...batch.lines)
      malformed.push(...batch.malformed.map((m) => `${m.line}: ${m.reason}`))
    }
  } catch (error) {
    return (error as Error).message
  }
  return { records, lines, malformed, progress }
}

/** ~3 MB of rows (several read chunks, more than the worker's window), some quoted over two lines. */
function bigCsv(badByteAtRow: number | null = null): Buffer {
  const parts: Buffer[] = [Buffer.from('id,name,note\n')]
  for (let i = 0; i < 60_000; i++) {
    if (i === badByteAtRow) parts.push(Buffer.from([0x39, 0x2c, 0xff, 0x0a])) // "9,\xFF\n": not UTF-8
    else if (i % 997 === 0) parts.push(Buffer.from(`${i},"Müller, ""two""\nlines",note ${i}\n`))
    else if (i % 1999 === 0) parts.push(Buffer.from(`${i},short\n`))
    else parts.push(Buffer.from(`${i},café ${i} ${'x'.repeat(i % 40)},note ${i}\n`))
  }
  return Buffer.concat(parts)
}

describe('reading on a worker thread', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('gives the same records, lines, malformed rows and progress as the in-thread reader', async () => {
    const dir = space.dir()
    const text = bigCsv()
    writeFileSync(join(dir, 'plain.csv'), text)
    writeFileSync(join(dir, 'zipped.csv.gz'), gzipSync(text))
    writeFileSync(join(dir, 'latin1.csv'), Buffer.from(text.toString('utf8'), 'latin1'))
    for (const [name, encoding] of [['plain.csv', 'utf-8'], ['zipped.csv.gz', 'utf-8'], ['latin1.csv', 'latin1']] as const) {
      const inThread = await readAll(join(dir, name), { encoding, offThread: false })
      const offThread = await readAll(join(dir, name), { encoding, offThread: true })
      expect(typeof inThread).toBe('object')
      expect(offThread).toEqual(inThread)
      if (typeof inThread === 'object') expect(inThread.records.length).toBeGreaterThan(59_000)
    }
  })

  it('passes fields holding the batch separator character through unchanged', async () => {
    const dir = space.dir()
    // The NUL that joins packed fields, inside fields of a batch in the middle of the file.
    const text = Buffer.concat([bigCsv().subarray(0, 1_500_000), Buffer.from('\n77,"a\u0000b",x\n78,\u0000,\u0000\n'), Buffer.from('79,after,x\n'.repeat(20_000))])
    writeFileSync(join(dir, 'nul.csv'), text)
    const inThread = await readAll(join(dir, 'nul.csv'), { offThread: false })
    const offThread = await readAll(join(dir, 'nul.csv'), { offThread: true })
    expect(typeof inThread).toBe('object')
    expect(offThread).toEqual(inThread)
    if (typeof offThread === 'object') {
      expect(offThread.records).toContain('77|a\u0000b|')
      expect(offThread.records).toContain('78|\u0000|')
    }
  })

  it('stops on invalid UTF-8 with the same line, and reads it when Latin-1 is declared', async () => {
    const dir = space.dir()
    writeFileSync(join(dir, 'bad.csv.gz'), gzipSync(bigCsv(45_000)))
    const inThread = await readAll(join(dir, 'bad.csv.gz'), { offThread: false })
    const offThread = await readAll(join(dir, 'bad.csv.gz'), { offThread: true })
    expect(inThread).toMatch(/^hosp\/bad\.csv\.gz line \d+: not valid UTF-8 \(byte 0xFF\)/)
    expect(offThread).toBe(inThread)
    const latin1 = await readAll(join(dir, 'bad.csv.gz'), { offThread: true, encoding: 'latin1' })
    expect(typeof latin1).toBe('object')
  })

  it('names a truncated gzip file, a fake one, a missing one and an unknown encoding as the in-thread reader does', async () => {
    const dir = space.dir()
    const zipped = gzipSync(bigCsv())
    writeFileSync(join(dir, 'cut.csv.gz'), zipped.subarray(0, Math.floor(zipped.length / 2)))
    writeFileSync(join(dir, 'fake.csv.gz'), Buffer.alloc(2 << 20, 'a,b\n'))
    for (const name of ['cut.csv.gz', 'fake.csv.gz', 'absent.csv.gz']) {
      const offThread = await readAll(join(dir, name), { offThread: true })
      expect(offThread).toBe(await readAll(join(dir, name), { offThread: false }))
      expect(offThread).toMatch(new RegExp(`hosp/${name.replace(/\./g, '\\.')} (is truncated|is not valid gzip data|not found)`))
    }
    expect(await readAll(join(dir, 'cut.csv.gz'), { offThread: true, encoding: 'klingon' })).toMatch(/unknown text encoding "klingon"/)
  })
})
