// The CSV reading thread (started by csv-off-thread.ts): reads, gunzips, decodes and parses one file with
// the in-thread reader's own code, and posts packed batches. It stays at most `window` batches ahead of
// the reader: each 'more' from the reader is one more batch it may send.
import { parentPort, workerData } from 'node:worker_threads'
import { parseCsvText, readCsvText } from './csv'
import { FIELD_SEPARATOR, packBatch, type CsvWorkerMessage, type CsvWorkerRequest } from './csv-off-thread'
import { ImportError } from './errors'

async function serve(request: CsvWorkerRequest): Promise<void> {
  const port = parentPort!
  let credit = request.window
  let wake: (() => void) | null = null
  port.on('message', () => {
    credit++
    const resolve = wake
    wake = null
    resolve?.()
  })
  const send = (message: CsvWorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer)
  let bytesRead = 0
  // Once a decoded chunk holds the separator, batches go unpacked (a field may hold it).
  let separatorSeen = false
  const texts = async function* (): AsyncGenerator<string> {
    for await (const text of readCsvText(request.source, (bytes) => (bytesRead = bytes), request.options.encoding)) {
      if (!separatorSeen && text.includes(FIELD_SEPARATOR)) separatorSeen = true
      yield text
    }
  }
  try {
    for await (const batch of parseCsvText(request.source, request.columns, texts(), request.options)) {
      if (credit <= 0) await new Promise<void>((resolve) => (wake = resolve))
      credit--
      const packed = packBatch(batch, separatorSeen)
      send({ type: 'batch', batch: packed, bytesRead }, [packed.lines.buffer as ArrayBuffer])
    }
    send({ type: 'end', bytesRead })
  } catch (error) {
    const importError = error instanceof ImportError
    send({
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
      file: importError ? error.file : null,
      line: importError ? error.line : null,
      importError
    })
  } finally {
    port.removeAllListeners('message')
  }
}

void serve(workerData as CsvWorkerRequest)
