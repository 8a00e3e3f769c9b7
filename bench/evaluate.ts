// Evaluation benchmark: wall time, CPU time and peak memory of `medrec evaluate` (one model, one database)
// at several database batch sizes, each in its own process so the peak resident memory is its own. Shows
// that memory follows the batch of patients read, not the database, and how long an evaluation takes.
// Figures are printed, never asserted.
//
//   npm run bench:evaluate -- [--db <patients.sqlite>] [--model <id>] [--batches 32,256,4096] [--bootstrap 1000]

import { spawnSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { evaluateDatabase } from '../src/main/services/evaluate/evaluate'
import { openServices } from '../src/main/services/open-services'
import { defaultDatabasePath, projectRoot, defaultKnowledgeBasePath } from '../src/main/services/paths'

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    model: { type: 'string', default: 'logistic' },
    batches: { type: 'string', default: '32,256,4096' },
    bootstrap: { type: 'string', default: '1000' },
    child: { type: 'string' }
  }
})
const databasePath = values.db ?? defaultDatabasePath()

if (values.child) {
  // One measured run: print a JSON line with the figures.
  const opened = await openServices({ databasePath, readonly: true })
  const { db } = opened.services
  const registry = opened.services.registry()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const report = await evaluateDatabase(
    { db, databasePath, registry, knowledgeBasePath: defaultKnowledgeBasePath(), ddi: opened.ctx.ddi ?? undefined, drugChoice: opened.ctx.drugChoice },
    { modelIds: [values.model], batchSize: Number(values.child), bootstrap: { replicates: Number(values.bootstrap) } }
  )
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const evaluation = report.models[0]!
  console.log(
    JSON.stringify({
      batch: Number(values.child),
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      modelMs: evaluation.durationMs,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      visits: evaluation.visits.evaluated,
      patients: evaluation.visits.patients,
      jaccard: evaluation.summary.metrics.jaccard!.value
    })
  )
  await opened.close()
} else {
  console.log(`Database ${databasePath} · model ${values.model} · bootstrap ${values.bootstrap} replicates · ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`)
  console.log('batch (patients) | wall s | CPU s | peak RSS MB | visits | patients | Jaccard')
  for (const batch of values.batches.split(',').map(Number)) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot(), 'bench', 'evaluate.ts'), '--child', String(batch), '--db', databasePath, '--model', values.model, '--bootstrap', values.bootstrap], {
      encoding: 'utf8'
    })
    if (run.status !== 0) throw new Error(`batch ${batch} failed: ${run.stderr}`)
    const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, number>
    console.log(`${batch} | ${(r.wallMs! / 1000).toFixed(2)} | ${(r.cpuMs! / 1000).toFixed(2)} | ${r.peakRssMb!.toFixed(0)} | ${r.visits} | ${r.patients} | ${r.jaccard!.toFixed(4)}`)
  }
}
