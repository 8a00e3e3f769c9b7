// Turns FHIR transaction bundles into Bulk Data NDJSON (one file per resource type), as an EHR's
// $export writes it: bundle-local references (urn:uuid:…) become "Type/id". With `replicas` > 1 each
// bundle is written that many times with every id suffixed (-r1, -r2, …), to make large exports from the
// Synthea sample (bench:cds-hooks). Used by the FHIR import tests (replicas = 1) and the bench.
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

type Json = Record<string, unknown>

function rewrite(value: unknown, urls: Map<string, string>, suffix: string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, urls, suffix))
  if (typeof value !== 'object' || value === null) return value
  const out: Json = {}
  for (const [key, v] of Object.entries(value as Json)) {
    if (key === 'reference' && typeof v === 'string') {
      const target = urls.get(v)
      out[key] = target ? target : v.includes('/') && !v.includes('?') && !v.startsWith('urn:') ? `${v}${suffix}` : v
    } else out[key] = rewrite(v, urls, suffix)
  }
  return out
}

export function readBundleFile(path: string): Json {
  const bytes = readFileSync(path)
  return JSON.parse((path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8')) as Json
}

/** Writes <outDir>/<Type>.ndjson for the bundles' resources; returns bytes written and resources per type. */
export async function bundlesToNdjson(
  bundlePaths: readonly string[],
  outDir: string,
  options: { replicas?: number; stopAtBytes?: number } = {}
): Promise<{ bytes: number; resources: Record<string, number> }> {
  const streams = new Map<string, WriteStream>()
  const resources: Record<string, number> = {}
  let bytes = 0
  const replicas = options.replicas ?? 1
  outer: for (let r = 0; r < replicas; r++) {
    const suffix = replicas === 1 ? '' : `-r${r}`
    for (const path of bundlePaths) {
      const bundle = readBundleFile(path)
      const entries = (bundle.entry as Array<{ fullUrl?: string; resource?: Json }>) ?? []
      const urls = new Map<string, string>()
      for (const e of entries) if (e.fullUrl && e.resource?.id) urls.set(e.fullUrl, `${String(e.resource.resourceType)}/${String(e.resource.id)}${suffix}`)
      for (const e of entries) {
        if (!e.resource) continue
        const resource = rewrite(e.resource, urls, suffix) as Json
        if (typeof resource.id === 'string') resource.id = `${resource.id}${suffix}`
        const type = String(resource.resourceType)
        let stream = streams.get(type)
        if (!stream) streams.set(type, (stream = createWriteStream(join(outDir, `${type}.ndjson`))))
        const line = `${JSON.stringify(resource)}\n`
        bytes += Buffer.byteLength(line)
        resources[type] = (resources[type] ?? 0) + 1
        if (!stream.write(line)) await new Promise<void>((done) => stream.once('drain', () => done()))
      }
      if (options.stopAtBytes !== undefined && bytes >= options.stopAtBytes) break outer
    }
  }
  await Promise.all([...streams.values()].map((s) => new Promise<void>((done) => s.end(() => done()))))
  return { bytes, resources }
}
