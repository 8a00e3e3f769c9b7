import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { encodePatient, type VisitCodes } from '../../src/main/services/inference/encode'
import { createSessionWithFallback, defaultProviderOrder, providerOrder } from '../../src/main/services/inference/providers'
import { MAX_ROWS_PER_RUN } from '../../src/main/services/inference/session'
import { ModelRegistry, type RegisteredModel } from '../../src/main/services/models/registry'
import { modelsDir } from '../../src/main/services/paths'
import ort from 'onnxruntime-node'
import { ReferenceModel, type ReferenceVisit } from '../fixtures/models/reference-model'
import { FIXTURE_MODELS_DIR } from '../fixtures/models/seed-patients'

const linearDir = join(FIXTURE_MODELS_DIR, 'fixture-linear')
const linearBytes = (): Uint8Array => readFileSync(join(linearDir, 'model.onnx'))

/** Where onnxruntime-node would look for the CUDA provider library; absent on machines without the CUDA build. */
function cudaProviderInstalled(): boolean {
  const require = createRequire(import.meta.url)
  const root = dirname(require.resolve('onnxruntime-node/package.json'))
  return existsSync(join(root, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'))
}

describe('execution providers', () => {
  const savedEnv = process.env.MEDREC_EXECUTION_PROVIDERS
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.MEDREC_EXECUTION_PROVIDERS
    else process.env.MEDREC_EXECUTION_PROVIDERS = savedEnv
  })

  it('prefers CUDA on Linux, DirectML on Windows, CoreML on macOS, and always ends with the CPU', () => {
    expect(defaultProviderOrder('linux')).toEqual(['cuda', 'cpu'])
    expect(defaultProviderOrder('win32')).toEqual(['dml', 'cpu'])
    expect(defaultProviderOrder('darwin')).toEqual(['coreml', 'cpu'])
    expect(defaultProviderOrder('freebsd')).toEqual(['cpu'])
    expect(providerOrder(['cuda'])).toEqual(['cuda', 'cpu'])
    expect(providerOrder(['cpu', 'cuda'])).toEqual(['cpu', 'cuda'])
  })

  it('takes the order from MEDREC_EXECUTION_PROVIDERS and rejects an unknown provider name', () => {
    process.env.MEDREC_EXECUTION_PROVIDERS = 'cpu'
    expect(providerOrder()).toEqual(['cpu'])
    process.env.MEDREC_EXECUTION_PROVIDERS = 'cuda, cpu'
    expect(providerOrder()).toEqual(['cuda', 'cpu'])
    expect(() => providerOrder(['tpu'])).toThrow('Unknown execution provider "tpu" (known: cuda, dml, coreml, cpu).')
  })

  it.skipIf(cudaProviderInstalled())('asking for CUDA without its libraries falls back to the CPU and says why', async () => {
    const { session, report } = await createSessionWithFallback(linearBytes(), providerOrder(['cuda']))
    expect(report.provider).toBe('cpu')
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]!.provider).toBe('cuda')
    expect(report.failed[0]!.error).toMatch(/Cuda|CUDA|shared library/)
    // The fallback session really runs.
    expect(session.inputNames).toContain('modality_mask')
    await session.release()
  })

  it('a provider this platform lacks (DirectML on Linux) also falls back to the CPU', async () => {
    if (process.platform === 'win32') return
    const { session, report } = await createSessionWithFallback(linearBytes(), ['dml', 'cpu'])
    expect(report).toEqual({ provider: 'cpu', failed: [{ provider: 'dml', error: expect.stringMatching(/dml/) }] })
    await session.release()
  })

  it('the registry reports the provider its sessions run on', async () => {
    const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cuda', 'cpu'] })
    const model = await registry.get('fixture-linear')
    const expected = cudaProviderInstalled() ? model.session.provider.provider : 'cpu'
    expect(model.session.provider.provider).toBe(expected)
    if (expected === 'cpu') expect(model.session.provider.failed.map((f) => f.provider)).toEqual(['cuda'])
    await registry.close()
  })

  it('a model the CPU cannot load is an error, not a fallback', async () => {
    await expect(createSessionWithFallback(new Uint8Array([1, 2, 3, 4]), ['cpu'])).rejects.toThrow()
  })
})

describe('encoding and batched inference', () => {
  let registry: ModelRegistry
  let model: RegisteredModel
  const reference = new ReferenceModel(linearDir)
  beforeAll(async () => {
    registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
    model = await registry.get('fixture-linear')
  })
  afterAll(() => registry.close())

  const dx = (code: string, system = 'ICD-9-CM') => ({ system, code })

  // Indices by hand from the fixture vocabularies (entry i → i + 2): diagnoses 4019=2, 25000=3, 4280=4,
  // 42731=5, 5849=6, I10=7; procedures 3893=2, 9604=3, 3995=4; medications B01A=2, C07A=3, N02B=4, A02B=5.
  const visits: VisitCodes[] = [
    { diagnoses: [dx('4019'), dx('25000'), dx('4019')], procedures: [dx('3893')], medications: ['B01A', 'C07A'] },
    { diagnoses: [dx('4280'), dx('V5861')], procedures: [dx('9604')], medications: ['A02B', 'XXXX'] },
    { diagnoses: [dx('5849'), dx('I10', 'ICD-10-CM')], procedures: [dx('3995')], medications: ['N02B'] }
  ]

  it('pads left-aligned visits, offsets vocabulary indices by 2, feeds unknown codes as 1, never feeds the current visit\'s drugs', () => {
    const encoded = encodePatient(model.vocab, model.manifest.limits, visits)
    const row = (data: BigInt64Array, width: number, v: number) => [...data.subarray(v * width, (v + 1) * width)].map(Number)
    expect(row(encoded.diagnoses, 8, 0)).toEqual([2, 3, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.diagnoses, 8, 1)).toEqual([4, 1, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.diagnoses, 8, 2)).toEqual([6, 7, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.diagnoses, 8, 3)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.procedures, 4, 2)).toEqual([4, 0, 0, 0])
    expect(row(encoded.medications, 8, 0)).toEqual([2, 3, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.medications, 8, 1)).toEqual([5, 1, 0, 0, 0, 0, 0, 0])
    expect(row(encoded.medications, 8, 2)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect([...encoded.visitMask]).toEqual([1, 1, 1, 0])
    expect(encoded.summary.unknownCodes).toEqual({ diagnosis: 1, procedure: 0, medication: 1 })
    expect(encoded.summary.unknownCodeList).toEqual([
      { kind: 'diagnosis', system: 'ICD-9-CM', code: 'V5861' },
      { kind: 'medication', system: null, code: 'XXXX' }
    ])
    expect(encoded.summary.codesUsed).toEqual({ diagnosis: 6, procedure: 3, medication: 4 })
    expect(encoded.fed[2]).toEqual({ diagnoses: ['ICD-9-CM|5849', 'ICD-10-CM|I10'], procedures: ['ICD-9-CM|3995'], medications: [] })
  })

  it('keeps the most recent maxVisits visits and the first codes up to each limit', () => {
    const many: VisitCodes[] = Array.from({ length: 6 }, (_, v) => ({
      diagnoses: v === 5 ? ['4019', '25000', '4280', '42731', '5849', '2724', '53081', '41401', '51881', '0389'].map((c) => dx(c)) : [dx('4019')],
      procedures: [],
      medications: ['B01A']
    }))
    const encoded = encodePatient(model.vocab, model.manifest.limits, many)
    expect(encoded.summary.visitsUsed).toBe(4)
    expect(encoded.summary.visitsLeftOut).toBe(2)
    expect(encoded.summary.truncatedCodes).toEqual({ diagnosis: 2, procedure: 0, medication: 0 })
    expect([...encoded.diagnoses.subarray(24, 32)].map(Number)).toEqual([2, 3, 4, 5, 6, 1, 1, 1])
  })

  it('runs many patients and modality masks in one batch and matches the formula computed by hand', async () => {
    const patients: Array<{ codes: VisitCodes[]; indices: ReferenceVisit[] }> = [
      {
        codes: visits,
        indices: [
          { diagnoses: [2, 3], procedures: [2], medications: [2, 3] },
          { diagnoses: [4, 1], procedures: [3], medications: [5, 1] },
          { diagnoses: [6, 7], procedures: [4], medications: [] }
        ]
      },
      { codes: [{ diagnoses: [dx('I10', 'ICD-10-CM')], procedures: [], medications: [] }], indices: [{ diagnoses: [7], procedures: [], medications: [] }] }
    ]
    const masks = [
      [1, 1, 1, 1],
      [0, 1, 0, 1],
      [0, 0, 0, 0]
    ]
    const rows = patients.flatMap((p) => masks.map((mask) => ({ p, mask })))
    const encoded = rows.map(({ p }) => encodePatient(model.vocab, model.manifest.limits, p.codes))
    const output = await model.session.predict(encoded, Float32Array.from(rows.flatMap((r) => r.mask)))
    expect(output).toHaveLength(rows.length * 8)
    rows.forEach(({ p, mask }, r) => {
      const expected = reference.probabilities(p.indices, mask)
      expected.forEach((value, c) => expect(output[r * 8 + c]).toBeCloseTo(value, 6))
    })
  })

  it('splits requests beyond MAX_ROWS_PER_RUN into several runs with the same results', async () => {
    const encoded = encodePatient(model.vocab, model.manifest.limits, visits)
    const rowCount = MAX_ROWS_PER_RUN + 44
    const masks = Float32Array.from({ length: rowCount * 4 }, (_, i) => ((i * 7) % 3 === 0 ? 0 : 1))
    const output = await model.session.predict(new Array(rowCount).fill(encoded), masks)
    const indices: ReferenceVisit[] = [
      { diagnoses: [2, 3], procedures: [2], medications: [2, 3] },
      { diagnoses: [4, 1], procedures: [3], medications: [5, 1] },
      { diagnoses: [6, 7], procedures: [4], medications: [] }
    ]
    for (const row of [0, MAX_ROWS_PER_RUN - 1, MAX_ROWS_PER_RUN, rowCount - 1]) {
      const expected = reference.probabilities(indices, [...masks.subarray(row * 4, row * 4 + 4)])
      expected.forEach((value, c) => expect(output[row * 8 + c]).toBeCloseTo(value, 6))
    }
  })

  it('rejects modality masks of the wrong size', async () => {
    const encoded = encodePatient(model.vocab, model.manifest.limits, visits)
    await expect(model.session.predict([encoded], new Float32Array(3))).rejects.toThrow(
      'modality masks hold 3 values, expected 1 rows × 4 modalities'
    )
  })
})

// Trained models exported by training/ carry parity.json: inputs and the PyTorch outputs the ONNX model
// must reproduce. The app's runtime (onnxruntime-node, the registry's session) must reproduce them too.
const exported = existsSync(modelsDir())
  ? readdirSync(modelsDir(), { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(modelsDir(), e.name, 'parity.json')))
      .map((e) => e.name)
  : []

describe.skipIf(exported.length === 0)('trained models in models/ reproduce their PyTorch parity outputs', () => {
  interface TensorSpec {
    dtype: string
    dims: number[]
    data: number[]
  }
  it.each(exported)('%s', async (id) => {
    const registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
    try {
      const model = await registry.get(id)
      const fixture = JSON.parse(readFileSync(join(model.directory, 'parity.json'), 'utf8')) as {
        tolerance: number
        inputs: Record<string, TensorSpec>
        outputs: { probabilities: TensorSpec }
      }
      const feeds = Object.fromEntries(
        Object.entries(fixture.inputs).map(([name, spec]) => [
          name,
          spec.dtype === 'int64'
            ? new ort.Tensor('int64', BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.dims)
            : new ort.Tensor('float32', Float32Array.from(spec.data), spec.dims)
        ])
      )
      const { probabilities } = await model.session.session.run(feeds)
      const actual = probabilities!.data as Float32Array
      const expected = fixture.outputs.probabilities.data
      expect(actual).toHaveLength(expected.length)
      const worst = Math.max(...expected.map((value, i) => Math.abs(value - actual[i]!)))
      expect(worst).toBeLessThanOrEqual(fixture.tolerance)
    } finally {
      await registry.close()
    }
  })
})
