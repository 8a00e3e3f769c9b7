// The two halves of bench/cds-hooks.ts that run in their own process, so the figures are theirs alone:
//   serve  <database> <authConfig>          the CDS Hooks service on 127.0.0.1 (prints its address on stdout)
//   import <database> <ndjsonDir> <result>  one FHIR import; writes seconds, CPU and peak RSS (VmHWM) as JSON
import { readFileSync, writeFileSync } from 'node:fs'
import { openDatabase } from '../src/main/services/db/database'
import { importFhir } from '../src/main/services/imports/fhir'
import { loadAuthConfig, openCdsService } from '../src/main/services/interop/cds-hooks'

export interface FhirImportChildResult {
  seconds: number
  cpuSeconds: number
  peakRssBytes: number
  resources: number
  report: unknown
}

function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (match) return Number(match[1]) * 1024
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024
}

const [mode, ...args] = process.argv.slice(2)
if (mode === 'serve') {
  const [databasePath, authConfig] = args as [string, string]
  const service = await openCdsService({ databasePath, auth: loadAuthConfig(authConfig) })
  const address = await service.app.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`${JSON.stringify({ address })}\n`)
  process.once('SIGTERM', () => void service.close().then(() => process.exit(0)))
} else if (mode === 'import') {
  const [databasePath, input, resultPath] = args as [string, string, string]
  const db = openDatabase(databasePath)
  const started = performance.now()
  const cpu = process.cpuUsage()
  const report = await importFhir(db, { input })
  const used = process.cpuUsage(cpu)
  db.close()
  const result: FhirImportChildResult = {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssBytes: peakRssBytes(),
    resources: Object.values(report.resourcesRead).reduce((a, b) => a + b, 0),
    report
  }
  writeFileSync(resultPath, JSON.stringify(result))
} else {
  throw new Error('usage: cds-hooks-child.ts serve <db> <authConfig> | import <db> <ndjsonDir> <result>')
}
