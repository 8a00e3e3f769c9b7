// What NLA-MMR's cold start costs in the app: loading the cold-start graph and text encoder (once per
// model, on the first patient who needs it), and one recommendation / explanation through the services
// for patients whose codes the model all knows (model.onnx) and for patients with titled codes new to the
// model (text embedding + cold-start graph), beside the same patients through model.onnx with those codes
// as 'unknown'. Medians of repeated runs; no assertions.
//
//   npm run bench:cold-start [-- --db <patients.sqlite>] [--patients N] [--runs N]
//
// The database is only read (no audit writes); default resources/demo.sqlite (npm run setup).
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { explain } from '../src/main/services/explain/explain'
import { openServices } from '../src/main/services/open-services'
import { resourcesDir } from '../src/main/services/paths'
import { titleKey } from '../src/main/services/recommend/patient-input'
import { prepareInput } from '../src/main/services/recommend/prepare'
import { recommend } from '../src/main/services/recommend/recommend'
import { ColdStartModel, codeText } from '../src/main/services/inference/text/cold-start'
import { TextEncoder } from '../src/main/services/inference/text/text-encoder'

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const fmt = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1))

async function timed(runs: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await fn(i)
    times.push(performance.now() - started)
  }
  return times
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { db: { type: 'string' }, patients: { type: 'string', default: '30' }, runs: { type: 'string', default: '3' } }
  })
  const dbPath = values.db ?? join(resourcesDir(), 'demo.sqlite')
  const patientCount = Number(values.patients)
  const runs = Number(values.runs)
  // The services as the app assembles them, on the CPU and without DDI checks (only the model is timed).
  const opened = await openServices({ databasePath: dbPath, readonly: true, providers: ['cpu'], knowledgeBasePath: null })
  const { db } = opened.services
  const registry = opened.services.registry()
  const model = await registry.get('nla-mmr')
  if (!ColdStartModel.supports(model.manifest)) throw new Error(`models/nla-mmr ships no cold-start graph.`)

  // Patients split by whether any fed diagnosis or procedure is new to the model and has a title.
  const withNew: number[] = []
  const allKnown: number[] = []
  for (const { id } of db.prepare('SELECT id FROM patients ORDER BY id').all() as Array<{ id: number }>) {
    if (withNew.length >= patientCount && allKnown.length >= patientCount) break
    let prepared
    try {
      prepared = prepareInput(model, db, id)
    } catch {
      continue
    }
    const titled = prepared.summary.unknownCodeList.some((c) => c.kind !== 'medication' && prepared.input.titles.has(titleKey(c.kind, c)))
    if (titled && withNew.length < patientCount) withNew.push(id)
    else if (prepared.summary.unknownCodeList.length === 0 && allKnown.length < patientCount) allKnown.push(id)
  }
  const load = loadavg()[0]!
  console.log(`Cold-start benchmark · ${cpus().length} CPU core(s) · load average ${load.toFixed(1)} · onnxruntime CPU provider · ${dbPath}`)
  console.log(`Model ${model.manifest.id} ${model.manifest.version}: ${withNew.length} patients with titled codes new to the model, ${allKnown.length} with every code known`)

  // Loads: the text encoder alone, and the cold-start graph with it (what the first such patient pays).
  const hashes = new Map((model.manifest.extraFiles ?? []).map((f) => [f.file, f.sha256]))
  const encoderLoads = await timed(3, async () => (await TextEncoder.load(model.directory, { expectedHashes: hashes })).release())
  const fullLoads = await timed(3, async () => (await ColdStartModel.load(model.manifest, model.directory)).release())
  console.log(`text encoder load (hash check + tokenizer + ONNX session): first ${fmt(encoderLoads[0]!)} ms, median of 3 ${fmt(median(encoderLoads))} ms`)
  console.log(`cold-start graph + text encoder load:                       first ${fmt(fullLoads[0]!)} ms, median of 3 ${fmt(median(fullLoads))} ms`)

  const ctx = opened.services.context()
  const options = { modelId: 'nla-mmr', audit: false } as const
  // The very first recommendation for a patient with new codes, through a fresh cache (includes the load).
  const firstStarted = performance.now()
  const first = await recommend(ctx, withNew[0]!, options)
  const firstMs = performance.now() - firstStarted
  console.log(
    `first recommendation needing cold start (wall, load included): ${fmt(firstMs)} ms; its reported totalMs ${fmt(first.timing.totalMs)} ms ` +
      `(${first.input.coldStart?.embedded.length ?? 0} code(s) embedded)`
  )

  // First request per patient: its titles are embedded now (unless an earlier patient had the same title).
  const embedded: number[] = []
  const firstPerPatient = await timed(withNew.length, async (i) => {
    embedded.push((await recommend(ctx, withNew[i]!, options)).input.coldStart?.embedded.length ?? 0)
  })
  for (const id of allKnown.slice(0, 3)) await recommend(ctx, id, options)
  // Then `runs` times each: the titles' embeddings are cached in the loaded cold-start model.
  const known = await timed(runs * allKnown.length, (i) => recommend(ctx, allKnown[i % allKnown.length]!, options))
  const cold = await timed(runs * withNew.length, (i) => recommend(ctx, withNew[i % withNew.length]!, options))
  // The same patients through model.onnx with their new codes as 'unknown' (what the app did before).
  const encoded = withNew.map((id) => prepareInput(model, db, id).encoded)
  const asUnknown = await timed(runs * withNew.length, (i) => model.session.predict([encoded[i % encoded.length]!]))
  const coldModel = await ctx.coldStart!.get(model)
  const titleOfPatient = withNew.map((id) => {
    const titles = prepareInput(model, db, id).input.titles
    return (kind: string, key: string) => titles.get(`${kind}:${key}`)
  })
  const coldRunOnly = await timed(runs * withNew.length, (i) => coldModel.predict([encoded[i % encoded.length]!], titleOfPatient[i % encoded.length]!))
  console.log('')
  console.log(`recommendation (service, no audit), median over ${runs}× each patient:`)
  console.log(`  every code known (model.onnx):              ${fmt(median(known))} ms`)
  console.log(`  titled codes new to the model, first request per patient (titles embedded): ${fmt(median(firstPerPatient))} ms   (median ${median(embedded)} code(s) embedded per patient)`)
  console.log(`  titled codes new to the model, again (title embeddings cached):             ${fmt(median(cold))} ms`)
  console.log(`model run only, same cold-start patients:`)
  console.log(`  model.onnx with the new codes as 'unknown': ${fmt(median(asUnknown))} ms`)
  console.log(`  cold-start graph, title embeddings cached:  ${fmt(median(coldRunOnly))} ms   (${(median(coldRunOnly) / median(asUnknown)).toFixed(1)}×)`)
  // The text encoder itself (no cache): one patient's new-code titles in one batched run.
  const patientTexts = withNew.map((id) => {
    const prepared = prepareInput(model, db, id)
    return prepared.summary.unknownCodeList.flatMap((c) => {
      const text = c.kind === 'medication' ? null : codeText(prepared.input.titles.get(titleKey(c.kind, c)))
      return text === null ? [] : [text]
    })
  })
  const embedRuns = await timed(runs * withNew.length, (i) => coldModel.textEncoder.embed(patientTexts[i % patientTexts.length]!))
  const perTitle = embedRuns.map((ms, i) => ms / Math.max(1, patientTexts[i % patientTexts.length]!.length))
  console.log(`  text encoder alone, one patient's titles:   ${fmt(median(embedRuns))} ms   (${fmt(median(perTitle))} ms per title)`)

  const explainRuns = Math.min(10, withNew.length, allKnown.length)
  const explainKnown = await timed(explainRuns, (i) => explain(ctx, allKnown[i]!, options))
  const explainCold = await timed(explainRuns, (i) => explain(ctx, withNew[i]!, options))
  console.log(`explanation (2^${model.manifest.modalities.length} coalitions + occlusion for the top 3 drugs), median of ${explainRuns} patients:`)
  console.log(`  every code known (model.onnx):              ${fmt(median(explainKnown))} ms`)
  console.log(`  titled codes new to the model (cold start): ${fmt(median(explainCold))} ms`)

  await ctx.coldStart!.close()
  await opened.close()
}

void main()
