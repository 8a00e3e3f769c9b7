// npm run setup [-- --out <file>] [--data-dir <dir>] [--json] [--if-missing]
// Builds the demo patient database (resources/demo.sqlite) from the open MIMIC-IV demo and eICU demo
// in ../shared/data/ehr (or $MEDREC_DATA_DIR/ehr): progress on stderr, the import reports on stdout.
// The file is built beside the target and renamed into place, so a failure leaves no half database.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { buildDemoDatabase } from '../src/main/services/imports'
import { formatImportReport, progressPrinter } from '../src/cli/commands/import'
import { dataDir, resourcesDir } from '../src/main/services/paths'

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      'if-missing': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    console.log(`Usage: npm run setup [-- --out <file>] [--data-dir <dir>] [--json] [--if-missing]

Builds the demo patient database from the MIMIC-IV demo and the eICU demo.
  --out <file>       output file (default: resources/demo.sqlite)
  --data-dir <dir>   open data folder holding ehr/ and knowledge/ (default: $MEDREC_DATA_DIR or ../shared/data)
  --json             print the import reports as JSON
  --if-missing       do nothing when the output file exists (npm run bench:models uses it)`)
    return 0
  }
  const out = resolve(values.out ?? resolve(resourcesDir(), 'demo.sqlite'))
  const data = resolve(values['data-dir'] ?? dataDir())
  if (values['if-missing'] && existsSync(out)) {
    console.error(`Demo database: using ${out} (delete it or run npm run setup to rebuild).`)
    return 0
  }
  const printProgress = progressPrinter()
  const started = performance.now()
  const reports = await buildDemoDatabase(out, { dataDir: data, onProgress: (p) => printProgress({ ...p, phase: `[${p.format}] ${p.phase}` }) })
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
  if (values.json) console.log(JSON.stringify(reports, null, 2))
  else {
    for (const report of reports) console.log(`${formatImportReport(report)}\n`)
    console.log(`Demo database written to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s.`)
  }
  return 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`setup failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
