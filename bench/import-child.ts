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
  /** Wall and CPU seconds spent in each progress phase, in order (where the import's time goes; absent in older results). */
  phases?: Array<{ phase: string; seconds: number; cpuSeconds: number; writingThreadSeconds?: number; peakRssBytesAtEnd?: number }>
  /**
   * CPU seconds of the writing (main) thread alone. cpuSeconds counts every thread of the process,
   * including the CSV reading thread; this is what the thread that parses (or unpacks) and writes spent.
   */
  writingThreadSeconds?: number
}

/** CPU seconds of this process's main thread so far (Linux: /proc/self/task/<pid>/stat), NaN elsewhere. */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
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
  const busyBefore = mainThreadCpuSeconds()
  const started = performance.now()
  let lastPrinted = 0
  const phases: NonNullable<ImportChildResult['phases']> = []
  let phaseStart = { wall: started, cpu: cpuBefore, busy: busyBefore }
  const endPhase = () => {
    const current = phases.at(-1)
    if (!current) return
    const cpu = process.cpuUsage(phaseStart.cpu)
    current.seconds = (performance.now() - phaseStart.wall) / 1000
    current.cpuSeconds = (cpu.user + cpu.system) / 1e6
    current.writingThreadSeconds = mainThreadCpuSeconds() - phaseStart.busy
    // The process's peak so far: the first phase where it jumps is where the peak memory is spent.
    current.peakRssBytesAtEnd = peakRssBytes()
  }
  const db = openDatabase(databasePath)
  const report = await importDataset(db, {
    format: 'mimic-iv',
    dir: cohortDir,
    onProgress: (progress) => {
      if (phases.at(-1)?.phase !== progress.phase) {
        endPhase()
        phaseStart = { wall: performance.now(), cpu: process.cpuUsage(), busy: mainThreadCpuSeconds() }
        phases.push({ phase: progress.phase, seconds: 0, cpuSeconds: 0 })
      }
      const now = performance.now()
      if (now - lastPrinted < 2000) return
      lastPrinted = now
      const fraction = progress.fraction === null ? '' : ` ${(progress.fraction * 100).toFixed(0)}%`
      process.stderr.write(`  [${((now - started) / 1000).toFixed(0)} s] ${progress.phase} ${progress.file ?? ''} ${progress.rowsRead} rows${fraction}\n`)
    }
  })
  db.close()
  endPhase()
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const result: ImportChildResult = {
    seconds,
    peakRssBytes: peakRssBytes(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    writingThreadSeconds: mainThreadCpuSeconds() - busyBefore,
    report,
    phases
  }
  writeFileSync(resultPath, JSON.stringify(result, null, 2) + '\n')
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exit(1)
})
