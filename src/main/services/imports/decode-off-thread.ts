// Reads and gunzips an import file on a worker thread, so the thread that parses and writes spends no
// time in zlib. The decompressed bytes come back as transferred buffers (no copy on this thread); the
// text decoding, its UTF-8 check and the parse stay in imports/csv.ts, one way for both paths.
//
// The worker's code is a plain script with only node: built-ins (no TypeScript, no bundler entry), so
// the same code runs under tsx, vitest and the Electron build. Stream errors come back with their code
// (csv.ts names the file: truncated gzip, not gzip, not found). Flow control: the worker runs at most
// WINDOW chunks ahead of the parser, so memory stays a few MB per file.
import { Worker } from 'node:worker_threads'

/** Decompressed chunks the worker may have in flight before the parser asks for more. */
const WINDOW = 4

export interface OffThreadReadOptions {
  path: string
  gzipped: boolean
  readChunk: number
  gunzipChunk: number
}

/** A decompressed chunk, and the compressed bytes of the file read so far (for progress). */
export interface ReadChunk {
  chunk: Buffer
  bytesRead: number
}

type WorkerMessage =
  | { type: 'chunk'; chunk: Uint8Array; bytesRead: number }
  | { type: 'end' }
  | { type: 'error'; code: string | undefined; message: string }

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createReadStream } = require('node:fs')
const { createGunzip } = require('node:zlib')
const { path, gzipped, readChunk, gunzipChunk, window } = workerData
let credit = window
let wake = null
parentPort.on('message', () => {
  credit++
  if (wake) { const w = wake; wake = null; w() }
})
async function run() {
  const file = createReadStream(path, { highWaterMark: readChunk })
  const gunzip = gzipped ? createGunzip({ chunkSize: gunzipChunk }) : null
  if (gunzip) { file.on('error', (e) => gunzip.destroy(e)); file.pipe(gunzip) }
  try {
    for await (const data of gunzip || file) {
      if (credit <= 0) await new Promise((resolve) => { wake = resolve })
      credit--
      // A chunk may be a view of a larger pooled buffer: copy it into its own, then hand that over.
      const chunk = new Uint8Array(data)
      parentPort.postMessage({ type: 'chunk', chunk, bytesRead: file.bytesRead }, [chunk.buffer])
    }
    parentPort.postMessage({ type: 'end' })
  } catch (error) {
    parentPort.postMessage({ type: 'error', code: error && error.code, message: error instanceof Error ? error.message : String(error) })
  } finally {
    file.destroy()
    if (gunzip) gunzip.destroy()
  }
}
run()
`

/** The file's (decompressed) bytes, chunk by chunk, read on a worker thread; errors keep their code. */
export async function* readOffThread(options: OffThreadReadOptions): AsyncGenerator<ReadChunk> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...options, window: WINDOW } })
  const queue: WorkerMessage[] = []
  let failure: Error | null = null
  let exited = false
  let notify: (() => void) | null = null
  const wake = () => {
    const resolve = notify
    notify = null
    resolve?.()
  }
  worker.on('message', (message: WorkerMessage) => (queue.push(message), wake()))
  worker.on('error', (error) => ((failure = error), wake()))
  worker.on('exit', () => ((exited = true), wake()))
  try {
    for (;;) {
      while (queue.length === 0 && failure === null && !exited) await new Promise<void>((resolve) => (notify = resolve))
      const message = queue.shift()
      if (message === undefined) throw failure ?? new Error('the reading thread stopped before the end of the file')
      if (message.type === 'end') return
      if (message.type === 'error') throw Object.assign(new Error(message.message), { code: message.code })
      worker.postMessage('more')
      const { chunk } = message
      yield { chunk: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), bytesRead: message.bytesRead }
    }
  } finally {
    await worker.terminate()
  }
}
