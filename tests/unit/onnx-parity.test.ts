// Every model folder the training pipeline ships carries parity.json: made-up patients' visits, the
// tensors Python encoded them into, and the PyTorch probabilities. Here the app's own encoder must
// produce the same tensors and onnxruntime-node (CPU) the same probabilities, to the fixture's tolerance.
import type { ModelManifest } from '../../src/shared/domain/manifest'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { encodePatient, type VisitCodes } from '../../src/main/services/inference/encode'
import { vocabulariesOf } from '../../src/main/services/inference/vocabulary'
import { modelsDir } from '../../src/main/services/paths'

interface FixtureTensor {
  dtype: 'int64' | 'float32'
  dims: number[]
  data: number[]
}

interface ParityFixture {
  tolerance: number
  visits: VisitCodes[][]
  inputs: Record<string, FixtureTensor>
  outputs: { probabilities: FixtureTensor }
}

const INPUT_NAMES = ['diagnoses', 'procedures', 'medications', 'visit_mask', 'modality_mask']

const shipped = existsSync(modelsDir())
  ? readdirSync(modelsDir(), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(modelsDir(), entry.name, 'parity.json')))
      .map((entry) => entry.name)
  : []

function load(name: string): { folder: string; manifest: ModelManifest; fixture: ParityFixture } {
  const folder = join(modelsDir(), name)
  return {
    folder,
    manifest: JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as ModelManifest,
    fixture: JSON.parse(readFileSync(join(folder, 'parity.json'), 'utf8')) as ParityFixture
  }
}

function toTensor(spec: FixtureTensor): ort.Tensor {
  return spec.dtype === 'int64'
    ? new ort.Tensor('int64', BigInt64Array.from(spec.data, (value) => BigInt(value)), spec.dims)
    : new ort.Tensor('float32', Float32Array.from(spec.data), spec.dims)
}

/** Row `row` of a [batch, ...] fixture tensor, as plain numbers. */
function rowOf(spec: FixtureTensor, row: number): number[] {
  const width = spec.dims.slice(1).reduce((a, b) => a * b, 1)
  return spec.data.slice(row * width, (row + 1) * width)
}

describe('ONNX parity: the shipped models reproduce PyTorch in onnxruntime-node', () => {
  it('at least one model folder ships a parity fixture', () => {
    expect(shipped.length, `no models/*/parity.json under ${modelsDir()}: run the training benchmark`).toBeGreaterThan(0)
  })

  it.each(shipped)('%s: the app encoder produces the tensors Python encoded', (name) => {
    const { manifest, fixture } = load(name)
    const vocabularies = vocabulariesOf(manifest)
    expect(fixture.visits.length).toBe(fixture.inputs.visit_mask!.dims[0])
    fixture.visits.forEach((visits, row) => {
      const encoded = encodePatient(vocabularies, manifest.limits, visits)
      expect(Array.from(encoded.diagnoses, Number), `example ${row} diagnoses`).toEqual(rowOf(fixture.inputs.diagnoses!, row))
      expect(Array.from(encoded.procedures, Number), `example ${row} procedures`).toEqual(rowOf(fixture.inputs.procedures!, row))
      expect(Array.from(encoded.medications, Number), `example ${row} medications`).toEqual(
        rowOf(fixture.inputs.medications!, row)
      )
      expect(Array.from(encoded.visitMask), `example ${row} visit mask`).toEqual(rowOf(fixture.inputs.visit_mask!, row))
    })
  })

  it.each(shipped)('%s: onnxruntime-node on the CPU agrees with PyTorch', async (name) => {
    const { folder, manifest, fixture } = load(name)
    const session = await ort.InferenceSession.create(join(folder, manifest.onnx.file), { executionProviders: ['cpu'] })
    try {
      expect(session.inputNames).toEqual(INPUT_NAMES)
      const feeds = Object.fromEntries(INPUT_NAMES.map((input) => [input, toTensor(fixture.inputs[input]!)]))
      const results = await session.run(feeds)
      const actual = results.probabilities!
      const expected = fixture.outputs.probabilities
      expect(actual.dims).toEqual(expected.dims)
      const values = actual.data as Float32Array
      let largest = 0
      values.forEach((value, i) => {
        largest = Math.max(largest, Math.abs(value - expected.data[i]!))
      })
      expect(largest).toBeLessThanOrEqual(fixture.tolerance)
    } finally {
      await session.release()
    }
  })
})
