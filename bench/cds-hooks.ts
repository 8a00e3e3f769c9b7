// CDS Hooks and FHIR import benchmark. Figures are printed, never asserted.
//  1. order-sign under bounded load: the service runs in its own process on 127.0.0.1 with JWT
//     authentication on; Synthea patients (active medications, conditions, allergies) go as prefetch and
//     each request orders one drug from a rotating list of commonly interacting ones. For 1, 8 and 32
//     concurrent clients: a counted number of requests (each with its own pre-signed JWT), p50/p99
//     latency, requests/s and errors.
//  2. FHIR import: the Synthea sample converted to Bulk Data NDJSON and replicated (ids suffixed) to at
//     least each of --import-gb GiB (default 0.25 and 1) in a temporary folder, imported in its own process: resources/s, MB/s, CPU and
//     peak memory (VmHWM). The folder is deleted afterwards.
// Synthea is synthetic: these are throughput figures of the service and the importer, nothing clinical.
//
//   npm run bench:cds-hooks [-- --requests 1500] [--clients 1,8,32] [--import-gb 0.25,1] [--skip-import] [--skip-load] [--profile-server dir]
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { openDatabase } from '../src/main/services/db/database'
import { importFhir } from '../src/main/services/imports/fhir'
import { dataDir, projectRoot } from '../src/main/services/paths'
import type { FhirImportChildResult } from './cds-hooks-child'
import { bundlesToNdjson, readBundleFile } from './fhir-ndjson'

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '1500' },
    clients: { type: 'string', default: '1,8,32' },
    'import-gb': { type: 'string', default: '0.25,1' },
    'skip-import': { type: 'boolean', default: false },
    'skip-load': { type: 'boolean', default: false },
    /** Write a V8 CPU profile of the service process into this folder (node --cpu-prof), to see where a request's time goes. */
    'profile-server': { type: 'string' }
  }
})
const REQUESTS = Number(values.requests)
const CLIENTS = values.clients.split(',').map(Number)
/** Sizes of the replicated export, smallest first: peak memory that does not grow with the input is bounded. */
const IMPORT_SIZES = values['import-gb'].split(',').map((gb) => Number(gb) * 1024 ** 3).sort((a, b) => a - b)
const SYNTHEA = join(dataDir(), 'ehr', 'synthea-r4-sample', 'bundles')
const ISSUER = 'https://ehr.bench.invalid'
const SERVICE_PATH = '/cds-services/medrec-order-sign'

type Json = Record<string, unknown>
const rx = (code: string, text: string) => ({ coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code, display: text }], text })
const ORDERS = [
  rx('197806', 'Ibuprofen 400 MG Oral Tablet'),
  rx('855332', 'Warfarin Sodium 5 MG Oral Tablet'),
  rx('243670', 'Aspirin 81 MG Oral Tablet'),
  rx('197517', 'Clarithromycin 500 MG Oral Tablet'),
  rx('312961', 'Simvastatin 20 MG Oral Tablet'),
  rx('833528', 'Amiodarone hydrochloride 200 MG Oral Tablet')
]

const work = mkdtempSync(join(tmpdir(), 'medrec-bench-cds-'))
/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
function cpuSecondsOf(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null
  }
}
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** One order-sign request body per Synthea patient: their latest medications marked active, conditions, allergies. */
function requestBodies(): string[] {
  const bodies: string[] = []
  let n = 0
  for (const file of readdirSync(SYNTHEA).sort()) {
    const entries = ((readBundleFile(join(SYNTHEA, file)).entry as Array<{ resource: Json }>) ?? []).map((e) => e.resource)
    const patient = entries.find((r) => r.resourceType === 'Patient')
    if (!patient) continue
    const id = String(patient.id)
    const meds = entries
      .filter((r) => r.resourceType === 'MedicationRequest')
      .sort((a, b) => String(b.authoredOn).localeCompare(String(a.authoredOn)))
      .slice(0, 8)
      .map((r) => ({ ...r, status: 'active', subject: { reference: `Patient/${id}` }, encounter: undefined }))
    const search = (resources: Json[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) })
    const conditions = entries.filter((r) => r.resourceType === 'Condition' && !('abatementDateTime' in r))
    const allergies = entries.filter((r) => r.resourceType === 'AllergyIntolerance')
    const order = { resourceType: 'MedicationRequest', id: `draft-${n}`, status: 'draft', intent: 'order', subject: { reference: `Patient/${id}` }, medicationCodeableConcept: ORDERS[n % ORDERS.length] }
    bodies.push(
      JSON.stringify({
        hook: 'order-sign',
        hookInstance: randomUUID(),
        context: { userId: 'Practitioner/bench', patientId: id, draftOrders: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: order }] } },
        prefetch: { patient: { resourceType: 'Patient', id, gender: patient.gender }, medications: search(meds), conditions: search(conditions), allergies: search(allergies) }
      })
    )
    n++
  }
  return bodies
}

async function startServer(databasePath: string, authConfig: string): Promise<{ child: ChildProcess; address: string }> {
  const profile = values['profile-server'] ? ['--cpu-prof', '--cpu-prof-dir', values['profile-server']] : []
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', join('bench', 'cds-hooks-child.ts'), 'serve', databasePath, authConfig], { cwd: projectRoot(), stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  for await (const line of lines) return { child, address: (JSON.parse(line) as { address: string }).address }
  throw new Error('The CDS Hooks service process exited before it listened.')
}

/** `tokens.length` requests from `clients` concurrent loops (keep-alive connections), bodies in rotation. */
async function run(url: string, bodies: string[], tokens: string[], clients: number): Promise<{ latencies: number[]; errors: number; critical: number; firstError: string | null }> {
  const out = { latencies: [] as number[], errors: 0, critical: 0, firstError: null as string | null }
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < tokens.length; i = next++) {
      const started = performance.now()
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i]}` }, body: bodies[i % bodies.length] })
        const text = await res.text()
        out.latencies.push(performance.now() - started)
        if (res.status !== 200) {
          out.errors++
          out.firstError ??= `${res.status} ${text.slice(0, 200)}`
        } else if (text.includes('"indicator":"critical"')) out.critical++
      } catch (error) {
        out.latencies.push(performance.now() - started)
        out.errors++
        out.firstError ??= String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, worker))
  return out
}

async function loadTest(): Promise<void> {
  const databasePath = join(work, 'cds.sqlite')
  const db = openDatabase(databasePath)
  const imported = await importFhir(db, { input: SYNTHEA })
  db.close()
  const bodies = requestBodies()
  const { publicKey, privateKey } = await generateKeyPair('ES384')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES384' }
  const authConfig = join(work, 'auth.json')
  writeFileSync(authConfig, JSON.stringify({ trustedIssuers: [{ iss: ISSUER, jwks: { keys: [jwk] } }] }))
  const { child, address } = await startServer(databasePath, authConfig)
  const url = `${address}${SERVICE_PATH}`
  const sign = () =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: 'bench' }).setIssuer(ISSUER).setSubject('bench-client').setAudience(url).setIssuedAt().setExpirationTime('5m').setJti(randomUUID()).sign(privateKey)
  console.log(`CDS Hooks order-sign on ${address}: ${bodies.length} Synthea patients as prefetch (≤ 8 active medications each, ${imported.patients} also in the store), JWT ES384 on every request`)
  console.log(`machine: ${cpus().length} CPU(s), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start\n`)
  console.log('clients  requests  seconds    req/s   p50 ms   p99 ms   max ms  errors  critical cards  service CPU ms/req  load avg (1 min)')
  try {
    for (const clients of CLIENTS) {
      const warmup = Math.max(50, clients * 4)
      const tokens = await Promise.all(Array.from({ length: REQUESTS + warmup }, sign))
      await run(url, bodies, tokens.slice(0, warmup), clients) // connections, JIT and caches warm; not counted
      const cpuBefore = cpuSecondsOf(child.pid)
      const started = performance.now()
      const measured = await run(url, bodies, tokens.slice(warmup), clients)
      const seconds = (performance.now() - started) / 1000
      const cpuAfter = cpuSecondsOf(child.pid)
      const sorted = measured.latencies.sort((a, b) => a - b)
      console.log(
        `${String(clients).padStart(7)}  ${String(sorted.length).padStart(8)}  ${seconds.toFixed(2).padStart(7)}  ${(sorted.length / seconds).toFixed(0).padStart(7)}  ` +
          `${percentile(sorted, 50).toFixed(2).padStart(7)}  ${percentile(sorted, 99).toFixed(2).padStart(7)}  ${sorted.at(-1)!.toFixed(2).padStart(7)}  ${String(measured.errors).padStart(6)}  ` +
          `${`${((100 * measured.critical) / Math.max(1, sorted.length - measured.errors)).toFixed(0)}%`.padStart(14)}  ` +
          `${(cpuBefore === null || cpuAfter === null ? 'n/a' : ((1000 * (cpuAfter - cpuBefore)) / sorted.length).toFixed(2)).padStart(18)}  ${loadavg()[0]!.toFixed(2).padStart(16)}`
      )
      if (measured.firstError) console.log(`         first error: ${measured.firstError}`)
    }
    console.log('\n(goal from issue 16: p99 ≤ 50 ms at 32 clients on 2 cores, 0 errors)')
  } finally {
    child.kill('SIGTERM')
  }
}

async function importBench(bytes: number): Promise<void> {
  const ndjsonDir = join(work, `ndjson-${bytes}`)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(ndjsonDir)
  const bundles = readdirSync(SYNTHEA).sort().map((f) => join(SYNTHEA, f))
  const generated = performance.now()
  const written = await bundlesToNdjson(bundles, ndjsonDir, { replicas: 1000, stopAtBytes: bytes })
  const total = Object.values(written.resources).reduce((a, b) => a + b, 0)
  console.log(
    `\nFHIR import: Synthea replicated to ${(written.bytes / 1024 ** 3).toFixed(2)} GiB of NDJSON (${total.toLocaleString('en-US')} resources, ${Object.keys(written.resources).length} files) ` +
      `in ${((performance.now() - generated) / 1000).toFixed(0)} s`
  )
  const resultPath = join(work, 'import-result.json')
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'cds-hooks-child.ts'), 'import', join(work, `import-${bytes}.sqlite`), ndjsonDir, resultPath], {
      cwd: projectRoot(),
      stdio: ['ignore', 'inherit', 'inherit']
    })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`import child exited with ${code}`))))
  })
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as FhirImportChildResult
  const report = result.report as { patients: number; visits: number; medicationResources: number; rejected: number }
  console.log(
    `  ${result.resources.toLocaleString('en-US')} resources in ${result.seconds.toFixed(1)} s wall (${result.cpuSeconds.toFixed(1)} s CPU): ` +
      `${Math.round(result.resources / result.seconds).toLocaleString('en-US')} resources/s, ${(written.bytes / 1024 ** 2 / result.seconds).toFixed(0)} MB/s; ` +
      `peak RSS ${(result.peakRssBytes / 1024 ** 2).toFixed(0)} MiB`
  )
  console.log(`  stored ${report.patients} patients, ${report.visits} visits, ${report.medicationResources} medication resources; ${report.rejected} rejected`)
  rmSync(ndjsonDir, { recursive: true, force: true })
}

try {
  if (!values['skip-load']) await loadTest()
  if (!values['skip-import']) for (const bytes of IMPORT_SIZES) await importBench(bytes)
} finally {
  rmSync(work, { recursive: true, force: true })
}
