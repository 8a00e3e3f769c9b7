import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { clearActiveModel, getActiveModelId, setActiveModel } from '../../src/main/services/models/active-model'
import { checkManifest } from '../../src/main/services/models/manifest'
import type { EncodedPatient } from '../../src/main/services/inference/encode'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { CodeVocabulary, UNKNOWN_INDEX } from '../../src/main/services/inference/vocabulary'
import { signAsTest } from '../fixtures/keys/test-key'
import { FIXTURE_MODELS_DIR } from '../fixtures/models/seed-patients'

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** fixture-linear's limits: 4 visits x 8 diagnoses x 4 procedures x 8 medications; one visit with a few codes. */
function probePatient(): EncodedPatient {
  const row = { diagnoses: new BigInt64Array(4 * 8), procedures: new BigInt64Array(4 * 4), medications: new BigInt64Array(4 * 8), visitMask: new Float32Array(4) }
  row.diagnoses[0] = 2n
  row.diagnoses[1] = 3n
  row.procedures[0] = 2n
  row.visitMask[0] = 1
  return { ...row, fed: [], summary: {} as EncodedPatient['summary'] }
}

describe('model registry', () => {
  const dirs: string[] = []
  const registries: ModelRegistry[] = []
  const open = (dir: string): ModelRegistry => {
    const registry = new ModelRegistry(dir, { providers: ['cpu'] })
    registries.push(registry)
    return registry
  }
  /** A models folder holding a copy of fixture-linear, to be damaged by the test. */
  const copyOfLinear = (folder = 'fixture-linear'): { root: string; dir: string } => {
    const root = mkdtempSync(join(tmpdir(), 'medrec-registry-'))
    dirs.push(root)
    const dir = join(root, folder)
    cpSync(join(FIXTURE_MODELS_DIR, 'fixture-linear'), dir, { recursive: true })
    return { root, dir }
  }
  const editManifest = (dir: string, edit: (m: Record<string, unknown>) => void): void => {
    const path = join(dir, 'manifest.json')
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    edit(manifest)
    writeFileSync(path, JSON.stringify(manifest, null, 2))
  }
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((r) => r.close()))
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }))
  })

  it('lists the valid fixtures and refuses the one whose ONNX inputs differ from its manifest', async () => {
    const list = await open(FIXTURE_MODELS_DIR).list()
    expect(list.models.map((m) => m.id)).toEqual(['fixture-linear', 'fixture-symmetric'])
    const linear = list.models[0]!
    expect(linear).toMatchObject({ family: 'logistic', version: '1.0.0-fixture', medicationCount: 8, threshold: 0.5 })
    expect(linear.modalities.map((m) => m.id)).toEqual(['diagnoses', 'procedures', 'medication-history', 'molecule'])
    expect(list.refused).toHaveLength(1)
    const refused = list.refused[0]!
    expect(refused.id).toBe('fixture-mismatched-io')
    expect(refused.reasons).toEqual([
      'fixture-mismatched-io/model.onnx: input "diagnoses" is int32 in the ONNX model but int64 in manifest.json',
      expect.stringContaining('fixture-mismatched-io/model.onnx: input "modality_mask" is declared in manifest.json but the ONNX model has no such input'),
      'fixture-mismatched-io/model.onnx: input "mask" of the ONNX model is not declared in manifest.json'
    ])
  })

  it('refuses a model whose ONNX file changed after the manifest was written (hash mismatch)', async () => {
    const { root, dir } = copyOfLinear()
    const onnx = readFileSync(join(dir, 'model.onnx'))
    writeFileSync(join(dir, 'model.onnx'), Buffer.concat([onnx, Buffer.from([0])]))
    const list = await open(root).list()
    expect(list.models).toEqual([])
    expect(list.refused[0]!.reasons).toEqual([
      expect.stringMatching(/^fixture-linear\/model\.onnx: sha256 is [0-9a-f]{64} but manifest\.json says [0-9a-f]{64}/),
      expect.stringMatching(/^fixture-linear\/model\.onnx: sha256 is [0-9a-f]{64} but the signature covers [0-9a-f]{64} \(changed after signing\)/)
    ])
  })

  it('refuses a tampered manifest: a hash that no longer matches, and a changed extra file', async () => {
    const { root, dir } = copyOfLinear()
    editManifest(dir, (m) => {
      ;(m.onnx as { sha256: string }).sha256 = 'f'.repeat(64)
    })
    writeFileSync(join(dir, 'weights.json'), '{}\n')
    signAsTest(dir) // a trusted signer vouching for the broken folder: the hashes alone must still refuse it
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toHaveLength(2)
    expect(reasons[0]).toMatch(/fixture-linear\/model\.onnx: sha256 is .* but manifest\.json says f{64}/)
    expect(reasons[1]).toMatch(/fixture-linear\/weights\.json: sha256 is .* but manifest\.json says/)
  })

  it('applies a declared calibration to every probability the session returns, and refuses a forged one', async () => {
    const { root, dir } = copyOfLinear()
    const plain = open(FIXTURE_MODELS_DIR)
    const raw = await (await plain.get('fixture-linear')).session.predict([probePatient()])
    const calibration = JSON.stringify({ method: 'temperature', medications: 8, epsilon: 1e-7, fittedOn: 'validation patients (test)', parameters: { temperature: 2 } })
    writeFileSync(join(dir, 'calibration.json'), calibration)
    editManifest(dir, (m) => {
      m.calibration = { file: 'calibration.json', sha256: sha256(calibration), method: 'temperature', fittedOn: 'validation patients (test)' }
    })
    signAsTest(dir)
    const registry = open(root)
    const model = await registry.get('fixture-linear')
    expect(model.summary.probabilities).toEqual({ calibrated: true, method: 'temperature', fittedOn: 'validation patients (test)' })
    const calibrated = await model.session.predict([probePatient()])
    const logit = (p: number): number => Math.log(p) - Math.log1p(-p)
    raw.forEach((p, i) => expect(calibrated[i]).toBeCloseTo(1 / (1 + Math.exp(-logit(p) / 2)), 6))
    expect((await plain.list()).models[0]!.probabilities.calibrated).toBe(false)

    // changed after the manifest was written (and re-signed by a trusted key): the hash still refuses it
    writeFileSync(join(dir, 'calibration.json'), calibration.replace('"temperature": 2', '"temperature": 3').replace('"temperature":2', '"temperature":3'))
    signAsTest(dir)
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toEqual([expect.stringMatching(/^fixture-linear\/calibration\.json: sha256 is [0-9a-f]{64} but manifest\.json says/)])
    // a file for another vocabulary size, with a matching hash: refused with the reason
    const wrong = JSON.stringify({ method: 'temperature', medications: 5, epsilon: 1e-7, fittedOn: 'x', parameters: { temperature: 2 } })
    writeFileSync(join(dir, 'calibration.json'), wrong)
    editManifest(dir, (m) => {
      ;(m.calibration as { sha256: string }).sha256 = sha256(wrong)
    })
    signAsTest(dir)
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      "fixture-linear/calibration.json: not a usable calibration (it calibrates 5 medications but the model's vocabulary has 8)"
    ])
  })

  it('refuses a corrupted ONNX file even when the manifest hash was updated to match it', async () => {
    const { root, dir } = copyOfLinear()
    const corrupted = readFileSync(join(dir, 'model.onnx')).subarray(0, 1000)
    writeFileSync(join(dir, 'model.onnx'), corrupted)
    editManifest(dir, (m) => {
      ;(m.onnx as { sha256: string }).sha256 = sha256(corrupted)
    })
    signAsTest(dir)
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toEqual([expect.stringMatching(/^fixture-linear\/model\.onnx: onnxruntime cannot load it \(.+\)/)])
  })

  it('reports every schema violation of a manifest with the field that is wrong', async () => {
    const { root, dir } = copyOfLinear()
    editManifest(dir, (m) => {
      delete m.threshold
      m.createdAt = 'last Tuesday'
      m.family = 'transformer'
      m.unexpected = true
    })
    signAsTest(dir)
    const refused = (await open(root).list()).refused[0]!
    expect(refused.id).toBe('fixture-linear')
    expect(refused.reasons).toEqual(
      expect.arrayContaining([
        "fixture-linear/manifest.json: (top level): must have required property 'threshold'",
        'fixture-linear/manifest.json: (top level): unexpected property "unexpected"',
        'fixture-linear/manifest.json: /createdAt: must match format "date-time"',
        expect.stringContaining('fixture-linear/manifest.json: /family: must be equal to one of the allowed values')
      ])
    )
  })

  it('checks what the schema cannot: modality count against modality_mask, the id against its folder', async () => {
    const { root, dir } = copyOfLinear('renamed-model')
    editManifest(dir, (m) => {
      ;(m.modalities as unknown[]).push({ id: 'text', label: 'Drug text', side: 'drug' })
    })
    signAsTest(dir)
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toEqual([
      'renamed-model/manifest.json: input "modality_mask" dimension 1 is 4, but the manifest implies 5'
    ])
    editManifest(dir, (m) => {
      ;(m.modalities as unknown[]).pop()
    })
    signAsTest(dir)
    const again = (await open(root).list()).refused[0]!.reasons
    expect(again).toEqual(['renamed-model/manifest.json: id "fixture-linear" differs from its folder name "renamed-model"'])
  })

  it('refuses a model whose fixed ONNX sizes differ from the limits when the manifest leaves them symbolic', async () => {
    const { root, dir } = copyOfLinear()
    editManifest(dir, (m) => {
      const inputs = m.inputs as Array<{ name: string; shape: Array<number | string> }>
      for (const input of inputs) if (input.shape.length >= 2) input.shape[1] = 'visits'
      ;(m.limits as { maxVisits: number }).maxVisits = 6
    })
    signAsTest(dir)
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toEqual(
      ['diagnoses', 'procedures', 'medications', 'visit_mask'].map(
        (name) => `fixture-linear/model.onnx: input "${name}" dimension 1 is 4 in the ONNX model but the manifest's limits/modalities make it 6`
      )
    )
  })

  it('refuses unreadable JSON and a folder without a manifest, and keeps the good models listed', async () => {
    const { root, dir } = copyOfLinear()
    cpSync(dir, join(root, 'broken-json'), { recursive: true })
    writeFileSync(join(root, 'broken-json', 'manifest.json'), '{ "id": ')
    cpSync(dir, join(root, 'no-manifest'), { recursive: true })
    rmSync(join(root, 'no-manifest', 'manifest.json'))
    const list = await open(root).list()
    expect(list.models.map((m) => m.id)).toEqual(['fixture-linear'])
    expect(list.refused.map((r) => r.reasons[0])).toEqual([
      expect.stringMatching(/^broken-json\/manifest\.json: not valid JSON/),
      'no-manifest/manifest.json: missing'
    ])
  })

  it('an absent models folder gives an empty list, and asking for a model says there is none', async () => {
    const registry = open(join(tmpdir(), 'medrec-no-such-models-folder'))
    expect(await registry.list()).toEqual({ models: [], refused: [], activeModelId: null, defaultModelId: null })
    await expect(registry.resolve(null, null)).rejects.toThrow(/No valid model in/)
  })

  it('get() explains a refused model and names the valid ones for an unknown id', async () => {
    const registry = open(FIXTURE_MODELS_DIR)
    await expect(registry.get('fixture-mismatched-io')).rejects.toThrow(/Model "fixture-mismatched-io" was refused:\n {2}fixture-mismatched-io\/model\.onnx: input "diagnoses" is int32/)
    await expect(registry.get('nope')).rejects.toThrow('No model "nope" in ' + FIXTURE_MODELS_DIR + '. Valid models: fixture-linear, fixture-symmetric.')
  })

  it('reads the DEFAULT file once per scan: a changed file counts after rescan()', async () => {
    const { root } = copyOfLinear()
    writeFileSync(join(root, 'DEFAULT'), 'fixture-linear\n')
    const registry = open(root)
    expect(registry.defaultModelId()).toBe('fixture-linear')
    expect((await registry.resolve(null, null)).manifest.id).toBe('fixture-linear')
    writeFileSync(join(root, 'DEFAULT'), 'no-such-model\n')
    expect(registry.defaultModelId()).toBe('fixture-linear')
    await registry.rescan()
    expect(registry.defaultModelId()).toBe('no-such-model')
    await expect(registry.resolve(null, null)).rejects.toThrow(/The default model .* "no-such-model" is not in/)
  })

  it('creates each session once and reuses it', async () => {
    const registry = open(FIXTURE_MODELS_DIR)
    const first = await registry.get('fixture-linear')
    const second = await registry.get('fixture-linear')
    expect(second.session).toBe(first.session)
    expect(first.session.loadMs).toBeGreaterThan(0)
  })

  describe('active model', () => {
    const dbDir = mkdtempSync(join(tmpdir(), 'medrec-active-'))
    afterAll(() => rmSync(dbDir, { recursive: true, force: true }))

    it('persists the choice in the patient database and uses it by default', async () => {
      const path = join(dbDir, 'a.sqlite')
      const registry = open(FIXTURE_MODELS_DIR)
      const db = openDatabase(path)
      expect(getActiveModelId(db)).toBeNull()
      expect((await registry.resolve(null, null)).manifest.id).toBe('fixture-linear')
      await setActiveModel(db, registry, 'fixture-symmetric')
      db.close()
      const reopened = openDatabase(path)
      expect(getActiveModelId(reopened)).toBe('fixture-symmetric')
      expect((await registry.list(getActiveModelId(reopened))).activeModelId).toBe('fixture-symmetric')
      expect((await registry.resolve(null, getActiveModelId(reopened))).manifest.id).toBe('fixture-symmetric')
      expect((await registry.resolve('fixture-linear', getActiveModelId(reopened))).manifest.id).toBe('fixture-linear')
      clearActiveModel(reopened)
      expect(getActiveModelId(reopened)).toBeNull()
      reopened.close()
    })

    it('refuses to activate a refused or unknown model and keeps the previous choice', async () => {
      const registry = open(FIXTURE_MODELS_DIR)
      const db = openDatabase(join(dbDir, 'b.sqlite'))
      await setActiveModel(db, registry, 'fixture-linear')
      await expect(setActiveModel(db, registry, 'fixture-mismatched-io')).rejects.toThrow(/was refused/)
      await expect(setActiveModel(db, registry, 'missing')).rejects.toThrow(/No model "missing"/)
      expect(getActiveModelId(db)).toBe('fixture-linear')
      db.close()
    })
  })
})

describe('manifest validation and vocabularies', () => {
  const manifest = (): Record<string, unknown> =>
    JSON.parse(readFileSync(join(FIXTURE_MODELS_DIR, 'fixture-linear', 'manifest.json'), 'utf8')) as Record<string, unknown>

  it('accepts the fixture manifests and rejects a renamed contract input', () => {
    expect(checkManifest(manifest()).ok).toBe(true)
    const m = manifest()
    ;(m.inputs as Array<{ name: string }>)[3]!.name = 'visits'
    const result = checkManifest(m)
    expect(result.ok).toBe(false)
    if (!result.ok) {
      expect(result.problems).toEqual([
        expect.stringMatching(/^input "visit_mask" is missing/),
        'inputs "visits" are not part of the model contract'
      ])
    }
  })

  it('rejects an output whose width differs from the medication vocabulary', () => {
    const m = manifest()
    ;(m.outputs as Array<{ shape: unknown[] }>)[0]!.shape = ['batch', 9]
    const result = checkManifest(m)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.problems).toEqual(['output "probabilities" has 9 columns but the medication vocabulary has 8 entries'])
  })

  it('maps entry i to index i + 2, unknown codes to 1, by system when the entry names one', () => {
    const vocab = new CodeVocabulary([
      { system: 'ICD-9-CM', code: '4019' },
      { system: 'ICD-10-CM', code: 'I10' },
      { code: 'X1' }
    ])
    expect(vocab.indexOf('ICD-9-CM', '4019')).toBe(2)
    expect(vocab.indexOf('ICD-9-CM', '401.9')).toBe(2)
    expect(vocab.indexOf('ICD-10-CM', 'i10')).toBe(3)
    expect(vocab.indexOf('ICD-9-CM', 'I10')).toBe(UNKNOWN_INDEX)
    expect(vocab.indexOf('other', 'X1')).toBe(4)
    expect(vocab.indexOf('ICD-9-CM', '25000')).toBe(UNKNOWN_INDEX)
    // Without a system: the one entry with that code, unknown when two systems share it.
    expect(vocab.indexOf(null, '4019')).toBe(2)
    const shared = new CodeVocabulary([
      { system: 'ICD-9-CM', code: '0389' },
      { system: 'ICD-10-PCS', code: '0389' }
    ])
    expect(shared.indexOf(null, '0389')).toBe(UNKNOWN_INDEX)
    expect(shared.indexOf('ICD-10-PCS', '0389')).toBe(3)
  })
})
