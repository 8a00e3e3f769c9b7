// Figures of NLA-MMR's text path in the app: tokenizer agreement with Python, ONNX-vs-PyTorch embedding
// difference, embedding throughput, and cold-start recommendation latency against the contract graph.
//
//   npx tsx bench/text-encoder.ts [folder]
//
// folder: where text_encoder.onnx, text_vocab.txt, text_encoder.json and text_encoder_fixture.json are
// (default test-artifacts/text-encoder, written by
// `python3 -m medrec_training.text.onnx_export --out test-artifacts/text-encoder --fixture`).
// The cold-start part runs when models/nla-mmr exists. Medians of repeated runs; no assertions.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePatient, type VisitCodes } from '../src/main/services/inference/encode'
import { ModelRegistry } from '../src/main/services/models/registry'
import { modelsDir, projectRoot } from '../src/main/services/paths'
import { ColdStartModel } from '../src/main/services/inference/text/cold-start'
import { TextEncoder } from '../src/main/services/inference/text/text-encoder'

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function main(): Promise<void> {
  const folder = process.argv[2] ?? join(projectRoot(), 'test-artifacts', 'text-encoder')
  const fixturePath = join(folder, 'text_encoder_fixture.json')
  if (!existsSync(fixturePath)) {
    console.error(`${fixturePath} is missing: run python3 -m medrec_training.text.onnx_export --out ${folder} --fixture (from training/)`)
    process.exit(1)
  }
  const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { titles: string[]; inputIds: number[][]; embeddings: number[][] }
  const encoder = await TextEncoder.load(folder)
  const same = fixture.titles.filter((t, i) => JSON.stringify(encoder.tokenizer.encode(t)) === JSON.stringify(fixture.inputIds[i])).length
  console.log(`tokenizer: ${same}/${fixture.titles.length} titles give the Python tokenizer's ids`)

  const tokenizeMs: number[] = []
  for (let run = 0; run < 5; run++) {
    const started = performance.now()
    for (const title of fixture.titles) encoder.tokenizer.encode(title)
    tokenizeMs.push(performance.now() - started)
  }
  console.log(`tokenizer: ${((median(tokenizeMs) * 1000) / fixture.titles.length).toFixed(1)} µs per title (median of 5)`)

  const embeddings = await encoder.embed(fixture.titles)
  let largest = 0
  fixture.embeddings.forEach((row, r) => row.forEach((v, c) => (largest = Math.max(largest, Math.abs(v - embeddings[r * encoder.dimension + c]!)))))
  console.log(`encoder: max |onnxruntime-node − PyTorch| over ${fixture.titles.length} titles = ${largest.toExponential(2)}`)

  const short = fixture.titles.filter((t) => encoder.tokenizer.encode(t).length <= 32).slice(0, 64)
  for (const count of [1, 8, 64]) {
    const texts = short.slice(0, count)
    const times: number[] = []
    for (let run = 0; run < 5; run++) {
      const started = performance.now()
      await encoder.embed(texts)
      times.push(performance.now() - started)
    }
    console.log(`encoder: ${count} code title(s) in ${median(times).toFixed(1)} ms (median of 5)`)
  }
  await encoder.release()

  if (!existsSync(join(modelsDir(), 'nla-mmr', 'manifest.json'))) {
    console.log('cold start: models/nla-mmr not exported; skipped')
    return
  }
  const registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
  const model = await registry.get('nla-mmr')
  const coldStart = await ColdStartModel.load(model.manifest, model.directory)
  const entry = model.manifest.vocabularies.diagnosis.entries[0]!
  const visits: VisitCodes[] = [
    { diagnoses: [{ system: entry.system ?? null, code: entry.code }], procedures: [], medications: [] },
    { diagnoses: [{ system: 'ICD-10-CM', code: 'NEW1' }, { system: 'ICD-10-CM', code: 'NEW2' }], procedures: [], medications: [] }
  ]
  const encoded = encodePatient(model.vocab, model.manifest.limits, visits)
  const titles = new Map([
    ['ICD-10-CM|NEW1', 'Acute kidney failure, unspecified'],
    ['ICD-10-CM|NEW2', 'Sepsis, unspecified organism']
  ])
  const contractMs: number[] = []
  const coldMs: number[] = []
  for (let run = 0; run < 7; run++) {
    let started = performance.now()
    await model.session.predict([encoded])
    contractMs.push(performance.now() - started)
    started = performance.now()
    await coldStart.predict([encoded], (_kind, key) => titles.get(key))
    coldMs.push(performance.now() - started)
  }
  console.log(
    `cold start: one patient with 2 new titled codes ${median(coldMs).toFixed(1)} ms (embedding + cold-start graph) vs ` +
      `${median(contractMs).toFixed(1)} ms for model.onnx (median of 7)`
  )
  await coldStart.release()
  await registry.close()
}

void main()
