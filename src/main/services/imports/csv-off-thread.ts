// Reads a CSV on a worker thread (imports/csv-worker.ts): reading, gunzip, UTF-8 decoding and checking, and
// parsing all happen there, so the thread that writes the database only unpacks finished batches. The worker
// runs the same reader as the in-thread path (csv.ts parseCsvText), so records, lines, malformed rows,
// progress and errors (ImportError with file and line) are the same either way.
//
// Batches cross the thread boundary packed: the selected fields joined by one separator (one string to copy)
// and the line numbers in a transferred Int32Array, because cloning millions of small strings one by one
// costs the receiving thread about as much as parsing them. A field holding the separator character itself
// (possible only in a malformed or binary export) is detected on the worker and sent unpacked.
//
// Flow control: the worker runs at most WINDOW batches ahead of the reader, so memory stays a few MB a file.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { BytesRead, CsvBatch, CsvColumns, CsvReadOptions, CsvSource } from './csv'
import { ImportError } from './errors'

/** Batches the worker may have in flight before the reader asks for more. */
const WINDOW = 4

/** Joins a batch's fields; chosen because no text field of a clinical export holds it (checked, see above). */
export const FIELD_SEPARATOR = '\u0000'

/** What the worker is asked to read (its workerData). */
export interface CsvWorkerRequest {
  source: CsvSource
  columns: CsvColumns
  options: Pick<CsvReadOptions, 'encoding' | 'maxFieldChars'>
  window: number
}

/** A batch as it crosses the thread boundary: `packed` (fields joined by FIELD_SEPARATOR) or `fields`. */
export interface PackedBatch {
  count: number
  width: number
  packed: string | null
  fields: string[] | null
  lines: Int32Array
  malformed: CsvBatch['malformed']
}

export type CsvWorkerMessage =
  | { type: 'batch'; batch: PackedBatch; bytesRead: number }
  | { type: 'end'; bytesRead: number }
  | { type: 'error'; message: string; file: string | null; line: number | null; importError: boolean }

/** Packs a batch for postMessage; `fieldsMayHoldSeparator` sends the fields as they are. */
export function packBatch(batch: CsvBatch, fieldsMayHoldSeparator: boolean): PackedBatch {
  const { count, width, malformed } = batch
  const fields = batch.fields.length === count * width ? batch.fields : batch.fields.slice(0, count * width)
  return {
    count,
    width,
    packed: fieldsMayHoldSeparator ? null : fields.join(FIELD_SEPARATOR),
    fields: fieldsMayHoldSeparator ? fields : null,
    lines: Int32Array.from(batch.lines),
    malformed
  }
}

export function unpackBatch(batch: PackedBatch): CsvBatch {
  const size = batch.count * batch.width
  const fields = batch.fields ?? (size === 0 ? [] : batch.packed!.split(FIELD_SEPARATOR))
  if (fields.length !== size) throw new Error(`CSV worker: a batch of ${batch.count} × ${batch.width} fields unpacked to ${fields.length}`)
  return { count: batch.count, width: batch.width, fields, lines: batch.lines, malformed: batch.malformed }
}

/**
 * Where the worker's code is: next to this module's own file. From source (tsx, vitest, the `medrec` CLI)
 * that is csv-worker.ts, run through tsx's loader; in the Electron build it is the csv-worker.js entry that
 * electron.vite.config.ts builds beside the main bundle.
 */
export function csvWorkerEntry(moduleUrl: string): { file: string; execArgv: string[] | undefined } {
  const modulePath = fileURLToPath(moduleUrl)
  if (modulePath.endsWith('.ts')) {
    const tsxLoader = createRequire(moduleUrl).resolve('tsx')
    return { file: join(dirname(modulePath), 'csv-worker.ts'), execArgv: ['--import', pathToFileURL(tsxLoader).href] }
  }
  return { file: join(dirname(modulePath), 'csv-worker.js'), execArgv: undefined }
}

/** readCsv on a worker thread: the same batches, progress and errors as the in-thread reader. */
export async function* readCsvOffThread(
  source: CsvSource,
  columns: CsvColumns,
  onBytes: BytesRead | undefined,
  options: CsvReadOptions
): AsyncGenerator<CsvBatch> {
  const entry = csvWorkerEntry(import.meta.url)
  const request: CsvWorkerRequest = {
    source,
    columns,
    options: { encoding: options.encoding, maxFieldChars: options.maxFieldChars },
    window: WINDOW
  }
  const worker = new Worker(entry.file, { workerData: request, execArgv: entry.execArgv })
  const queue: CsvWorkerMessage[] = []
  let failure: Error | null = null
  let exited = false
  let notify: (() => void) | null = null
  const wake = () => {
    const resolve = notify
    notify = null
    resolve?.()
  }
  worker.on('message', (message: CsvWorkerMessage) => (queue.push(message), wake()))
  worker.on('error', (error) => ((failure = error), wake()))
  worker.on('exit', () => ((exited = true), wake()))
  let reported = 0
  const progress = (bytesRead: number) => {
    if (onBytes && bytesRead !== reported) {
      reported = bytesRead
      onBytes(bytesRead)
    }
  }
  try {
    for (;;) {
      while (queue.length === 0 && failure === null && !exited) await new Promise<void>((resolve) => (notify = resolve))
      const message = queue.shift()
      if (message === undefined) {
        throw new ImportError(
          `${source.displayName}: the reading thread stopped before the end of the file (${(failure as Error | null)?.message ?? 'no reason given'}).`,
          source.displayName
        )
      }
      if (message.type === 'error') {
        throw message.importError ? new ImportError(message.message, message.file, message.line) : new Error(message.message)
      }
      progress(message.bytesRead)
      if (message.type === 'end') return
      worker.postMessage('more')
      yield unpackBatch(message.batch)
    }
  } finally {
    await worker.terminate()
  }
}
