// Runs one MIMIC-IV import in its own process so bench/import.ts can report this process's peak
// memory alone (VmHWM), free of the generator and the query benchmark.
// Usage (spawned by bench/import.ts): node --import tsx bench/import-child.ts <database> <cohortDir> <resultJson>

import { readFileSync, writeFileSync } from 'node:fs'
import { openDatabase } from '../src/main/services/db/database'
import { importDataset } from '../src/main/services/imports/index'

export interface ImportChildResult {
  seconds: number
  peakRssBytes: number
  cpuSeconds: number
  report: unknown
}

/** Peak resident set size of this process: VmHWM from /proc where available, else maxRSS. */
function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (match) return Number(match[1]) * 1024
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024
}

async function main(): Promise<void> {
  const [databasePath, cohortDir, resultPath] = process.argv.slice(2)
  if (!databasePath || !cohortDir || !resultPath) throw new Error('usage: import-child.ts <database> <cohortDir> <resultJson>')

  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  let lastPrinted = 0
  const db = openDatabase(databasePath)
  const report = await importDataset(db, {
    format: 'mimic-iv',
    dir: cohortDir,
    onProgress: (progress) => {
      const now = performance.now()
      if (now - lastPrinted < 2000) return
      lastPrinted = now
      const fraction = progress.fraction === null ? '' : ` ${(progress.fraction * 100).toFixed(0)}%`
      process.stderr.write(`  [${((now - started) / 1000).toFixed(0)} s] ${progress.phase} ${progress.file ?? ''} ${progress.rowsRead} rows${fraction}\n`)
    }
  })
  db.close()
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const result: ImportChildResult = {
    seconds,
    peakRssBytes: peakRssBytes(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    report
  }
  writeFileSync(resultPath, JSON.stringify(result, null, 2) + '\n')
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exit(1)
})
