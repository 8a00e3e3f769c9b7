// Child process for import-concurrency.test.ts: imports an export into a database and, when it
// reaches `pausePhase`, announces "paused" on stdout and waits (synchronously, inside the import)
// until `resumeFile` exists. Prints "done <json report>" at the end.
// Usage: node --import tsx tests/unit/import-pausing-child.ts <db> <format> <dir> <dataDir> <pausePhase> <resumeFile>
import type { EhrFormat } from '../../src/shared/domain/patient'
import { existsSync } from 'node:fs'
import { openDatabase } from '../../src/main/services/db/database'
import { importDataset } from '../../src/main/services/imports'

const [dbPath, format, dir, dataDir, pausePhase, resumeFile] = process.argv.slice(2)
const sleeper = new Int32Array(new SharedArrayBuffer(4))
let paused = false
const db = openDatabase(dbPath!)
const report = await importDataset(db, {
  format: format as EhrFormat,
  dir: dir!,
  dataDir,
  maxRejectedShare: 1,
  onProgress: (progress) => {
    if (paused || progress.phase !== pausePhase) return
    paused = true
    process.stdout.write('paused\n')
    while (!existsSync(resumeFile!)) Atomics.wait(sleeper, 0, 0, 10)
  }
})
db.close()
process.stdout.write(`done ${JSON.stringify({ status: report.status, visits: report.visits })}\n`)
