// Finding and reading FHIR input files. Bundles (.json, .json.gz) are parsed whole, one bundle at a
// time (an EHR writes one per patient or per transaction); Bulk Data NDJSON (.ndjson, .ndjson.gz) is
// streamed line by line, so a file of any size is read in bounded memory.
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { Transform } from 'node:stream'
import { gunzipSync, createGunzip } from 'node:zlib'
import { ImportError } from '../errors'
import { isObject, type Json } from './resources'

export interface FhirFile {
  path: string
  /** The path relative to the imported folder (or the file name), as reports show it. */
  displayName: string
  kind: 'bundle' | 'ndjson'
  size: number
}

const KIND_BY_SUFFIX: Array<[RegExp, FhirFile['kind']]> = [
  [/\.ndjson(\.gz)?$/i, 'ndjson'],
  [/\.json(\.gz)?$/i, 'bundle']
]

const kindOf = (name: string): FhirFile['kind'] | null => KIND_BY_SUFFIX.find(([pattern]) => pattern.test(name))?.[1] ?? null

/** The FHIR files of a folder (searched recursively, in name order) or the one file given. */
export function listFhirFiles(input: string): FhirFile[] {
  if (!existsSync(input)) throw new ImportError(`${input} does not exist.`)
  if (statSync(input).isFile()) {
    const kind = kindOf(input)
    if (!kind) throw new ImportError(`${basename(input)} is not a FHIR file: expected .json, .json.gz (bundles), .ndjson or .ndjson.gz (Bulk Data).`, basename(input))
    return [{ path: input, displayName: basename(input), kind, size: statSync(input).size }]
  }
  const files: FhirFile[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else {
        const kind = kindOf(name)
        if (kind) files.push({ path, displayName: relative(input, path), kind, size: statSync(path).size })
      }
    }
  }
  walk(input)
  if (files.length === 0) throw new ImportError(`${input} holds no FHIR files (.json, .json.gz bundles or .ndjson, .ndjson.gz Bulk Data).`)
  return files
}

/**
 * The offset of the first syntax error in `text` (V8's JSON.parse messages do not always say where).
 * A plain recursive-descent check of the JSON grammar, run only after JSON.parse has failed.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const fail = (): never => {
    throw i
  }
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length
    else fail()
  }
  const string = (): void => {
    if (text[i] !== '"') fail()
    i++
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail()
      if (text[i] === '\\') {
        i++
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail()
          i += 4
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail()
      }
      i++
    }
    if (i >= text.length) fail()
    i++
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') return void i++
      for (;;) {
        ws()
        string()
        ws()
        if (text[i] !== ':') fail()
        i++
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === '}') return void i++
        else fail()
      }
    } else if (c === '[') {
      i++
      ws()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === ']') return void i++
        else fail()
      }
    } else if (c === '"') string()
    else if (c === 't') literal('true')
    else if (c === 'f') literal('false')
    else if (c === 'n') literal('null')
    else {
      const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
      if (!m) fail()
      i += m![0].length
    }
  }
  try {
    value()
    ws()
    return i < text.length ? i : -1
  } catch (offset) {
    return offset as number
  }
}

function lineAt(text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

function parseJson(textContent: string, file: string, lineOffset: number): unknown {
  try {
    return JSON.parse(textContent)
  } catch (error) {
    const message = (error as Error).message
    const offset = jsonErrorOffset(textContent)
    const line = lineOffset + lineAt(textContent, offset < 0 ? textContent.length : offset) - 1
    throw new ImportError(`${file} line ${line}: malformed JSON (${message}). Nothing was imported.`, file, line)
  }
}

async function fileText(file: FhirFile): Promise<string> {
  const bytes = await readFile(file.path)
  let raw: Buffer = bytes
  if (/\.gz$/i.test(file.path)) {
    try {
      raw = gunzipSync(bytes)
    } catch (error) {
      throw new ImportError(`${file.displayName}: not a readable gzip file (${(error as Error).message}). Nothing was imported.`, file.displayName)
    }
  }
  // FHIR JSON is UTF-8 (RFC 8259): other bytes stop the import instead of turning into U+FFFD.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw)
  } catch {
    throw new ImportError(`${file.displayName}: bytes that are not UTF-8 (FHIR JSON must be UTF-8). Nothing was imported.`, file.displayName)
  }
}

/** A bundle file as a Bundle resource; anything else (a bare resource, a wrong resourceType) is an ImportError. */
export async function readBundle(file: FhirFile): Promise<Json> {
  const bundle = parseJson(await fileText(file), file.displayName, 1)
  if (!isObject(bundle)) throw new ImportError(`${file.displayName}: expected a FHIR Bundle object, found ${Array.isArray(bundle) ? 'an array' : typeof bundle}.`, file.displayName)
  if (bundle.resourceType !== 'Bundle') {
    throw new ImportError(
      `${file.displayName}: resourceType is ${JSON.stringify(bundle.resourceType ?? null)}, expected "Bundle" (a .json file must hold a transaction or collection ` +
        'Bundle; single resources go in Bulk Data .ndjson files).',
      file.displayName
    )
  }
  if (!['transaction', 'collection', 'batch', 'searchset'].includes(bundle.type as string)) {
    throw new ImportError(`${file.displayName}: Bundle.type ${JSON.stringify(bundle.type ?? null)} is not one MedRec reads (transaction, collection, batch or searchset).`, file.displayName)
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) throw new ImportError(`${file.displayName}: Bundle.entry is not an array.`, file.displayName)
  return bundle
}

function lineStream(file: FhirFile): AsyncIterable<string> {
  const raw = createReadStream(file.path, { highWaterMark: 1 << 20 })
  const input = /\.gz$/i.test(file.path) ? raw.pipe(createGunzip()) : raw
  // Strict UTF-8 (FHIR JSON is UTF-8): invalid bytes fail the read instead of turning into U+FFFD.
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const text = new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _encoding, done) {
      try {
        done(null, decoder.decode(chunk, { stream: true }))
      } catch {
        done(new Error('bytes that are not UTF-8 (FHIR JSON must be UTF-8)'))
      }
    },
    flush(done) {
      try {
        done(null, decoder.decode())
      } catch {
        done(new Error('bytes that are not UTF-8 (FHIR JSON must be UTF-8)'))
      }
    }
  })
  raw.on('error', (error) => input.destroy(error))
  input.on('error', (error: Error) => text.destroy(error))
  return createInterface({ input: input.pipe(text), crlfDelay: Infinity })
}

/** Each non-empty line of an NDJSON file as parsed JSON with its 1-based line number. Malformed JSON throws. */
export async function* readNdjson(file: FhirFile): AsyncGenerator<{ value: unknown; line: number }> {
  let line = 0
  try {
    for await (const textLine of lineStream(file)) {
      line++
      if (textLine.trim() === '') continue
      yield { value: parseJson(textLine, file.displayName, line), line }
    }
  } catch (error) {
    if (error instanceof ImportError) throw error
    throw new ImportError(`${file.displayName} after line ${line}: cannot be read (${(error as Error).message}). Nothing was imported.`, file.displayName, line)
  }
}

/** The resourceType of an NDJSON file's first resource (Bulk Data writes one type per file), or null. */
export async function firstResourceType(file: FhirFile): Promise<string | null> {
  const lines = lineStream(file)[Symbol.asyncIterator]()
  try {
    for (;;) {
      const next = await lines.next()
      if (next.done) return null
      if (next.value.trim() === '') continue
      const match = /"resourceType"\s*:\s*"([A-Za-z]+)"/.exec(next.value)
      return match ? match[1]! : null
    }
  } catch {
    return null // read errors surface with their line when the file is imported
  } finally {
    await lines.return?.()
  }
}
