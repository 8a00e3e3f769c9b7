// Signed model folders and the checks a signature cannot make (issue 15, "Models"): every forgery the issue
// measured on main is one test here, built on a copy of a fixture model signed with the TEST-ONLY key.
import { createHash, generateKeyPairSync } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { getActiveModelId, setActiveModel } from '../../src/main/services/models/active-model'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { keyIdOf, loadTrustedKeys, SIGNATURE_FILE, trustedKeyDirectories, unsignableReasons, verifyModelFolder } from '../../src/main/services/models/signature'
import { modelsDir, projectRoot } from '../../src/main/services/paths'
import { recommend } from '../../src/main/services/recommend/recommend'
import { signAsTest, TEST_KEYS_DIR, TEST_SIGNING_KEY, TEST_TRUSTED_KEYS_DIR } from '../fixtures/keys/test-key'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

describe('signed model folders', () => {
  const dirs: string[] = []
  const registries: ModelRegistry[] = []
  const open = (dir: string, options: ConstructorParameters<typeof ModelRegistry>[1] = {}): ModelRegistry => {
    const registry = new ModelRegistry(dir, { providers: ['cpu'], ...options })
    registries.push(registry)
    return registry
  }
  const scratch = (): string => {
    const root = mkdtempSync(join(tmpdir(), 'medrec-signed-'))
    dirs.push(root)
    return root
  }
  /** A models folder with a signed copy of fixture-linear. */
  const copyOfLinear = (): { root: string; dir: string } => {
    const root = scratch()
    const dir = join(root, 'fixture-linear')
    cpSync(join(FIXTURE_MODELS_DIR, 'fixture-linear'), dir, { recursive: true })
    return { root, dir }
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests edit arbitrary manifest fields
  type LooseManifest = Record<string, any>
  const readManifest = (dir: string): LooseManifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as LooseManifest
  const writeManifest = (dir: string, manifest: unknown): void => writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2))
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((r) => r.close()))
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }))
  })

  it('the four shipped models are signed by the project key in resources/trusted-keys/', () => {
    const projectKeys = loadTrustedKeys([join(projectRoot(), 'resources', 'trusted-keys')])
    expect(projectKeys).toHaveLength(1)
    for (const id of ['logistic', 'nla-mmr', 'mkmed', 'cafemed']) {
      const check = verifyModelFolder(join(projectRoot(), 'models', id), id, id, projectKeys)
      expect(check, id).toEqual({ ok: true, keyId: projectKeys[0]!.keyId, keySource: expect.stringMatching(/medrec-project\.pem$/) })
      const signed = JSON.parse(readFileSync(join(projectRoot(), 'models', id, SIGNATURE_FILE), 'utf8')) as { files: Array<{ file: string }> }
      expect(signed.files.map((f) => f.file)).toEqual(expect.arrayContaining(['manifest.json', 'metrics.json', 'model.onnx']))
    }
    // The test key is not the project key: tests trust it on top, the app never does.
    expect(keyIdOf(TEST_SIGNING_KEY)).not.toBe(projectKeys[0]!.keyId)
  })

  it('edited weights with a re-hashed manifest are refused: the signature breaks (before: accepted and run)', async () => {
    const { root, dir } = copyOfLinear()
    // Other weights with the same contract (fixture-symmetric's graph), and the manifest hash updated to match.
    const forged = readFileSync(join(FIXTURE_MODELS_DIR, 'fixture-symmetric', 'model.onnx'))
    writeFileSync(join(dir, 'model.onnx'), forged)
    const manifest = readManifest(dir)
    manifest.onnx.sha256 = sha256(forged)
    writeManifest(dir, manifest)
    const list = await open(root).list()
    expect(list.models).toEqual([])
    expect(list.refused[0]!.reasons).toEqual([
      expect.stringMatching(/^fixture-linear\/manifest\.json: sha256 is [0-9a-f]{64} but the signature covers [0-9a-f]{64} \(changed after signing\)$/),
      expect.stringMatching(/^fixture-linear\/model\.onnx: sha256 is [0-9a-f]{64} but the signature covers/)
    ])
    // Re-listing the forged hashes in signature.json without the private key breaks the Ed25519 signature.
    const signature = JSON.parse(readFileSync(join(dir, SIGNATURE_FILE), 'utf8')) as { files: Array<{ file: string; sha256: string }> }
    for (const f of signature.files) f.sha256 = sha256(readFileSync(join(dir, f.file)))
    writeFileSync(join(dir, SIGNATURE_FILE), JSON.stringify(signature))
    const again = await open(root).list()
    expect(again.refused[0]!.reasons).toEqual([
      'fixture-linear/signature.json: the Ed25519 signature does not match its content (signature.json was edited or signed by another key)'
    ])
  })

  it('edited metrics are refused (the signature covers metrics.json), and so is a file added after signing', async () => {
    const { root, dir } = copyOfLinear()
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ ...metrics, jaccard: 0.99 }))
    writeFileSync(join(dir, 'extra.onnx'), 'not signed')
    const reasons = (await open(root).list()).refused[0]!.reasons
    expect(reasons).toEqual([
      'fixture-linear/extra.onnx: not covered by the signature (a file was added after signing)',
      expect.stringMatching(/^fixture-linear\/metrics\.json: sha256 is [0-9a-f]{64} but the signature covers/)
    ])
  })

  it('refuses an unsigned model and one signed by a key nobody trusts, naming the key', async () => {
    const { root, dir } = copyOfLinear()
    rmSync(join(dir, SIGNATURE_FILE))
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      'fixture-linear/signature.json: missing: the model is unsigned (sign it with scripts/sign-models.ts)'
    ])
    const stranger = generateKeyPairSync('ed25519').privateKey
    signAsTest(dir, stranger)
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      expect.stringMatching(new RegExp(`^fixture-linear/signature\\.json: signed by key ${keyIdOf(stranger)}, which is not trusted \\(trusted: ed25519:`))
    ])
  })

  it("a hospital's own key, put in its trusted-keys folder, makes its own signed models valid", async () => {
    const { root, dir } = copyOfLinear()
    const hospital = generateKeyPairSync('ed25519')
    signAsTest(dir, hospital.privateKey)
    const hospitalKeys = join(scratch(), 'trusted-keys')
    mkdirSync(hospitalKeys)
    writeFileSync(join(hospitalKeys, 'st-elsewhere.pem'), hospital.publicKey.export({ type: 'spki', format: 'pem' }))
    const previous = process.env.MEDREC_TRUSTED_KEYS
    process.env.MEDREC_TRUSTED_KEYS = hospitalKeys
    try {
      expect(trustedKeyDirectories()).toEqual([join(projectRoot(), 'resources', 'trusted-keys'), hospitalKeys])
      const list = await open(root).list()
      expect(list.refused).toEqual([])
      expect(list.models.map((m) => m.id)).toEqual(['fixture-linear'])
      // A file there that is not an Ed25519 public key is an error naming it, not silently skipped.
      writeFileSync(join(hospitalKeys, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }))
      expect(() => loadTrustedKeys()).toThrow(/rsa\.pem is a rsa key; only Ed25519 keys are accepted/)
      // The registry then refuses every model with that reason rather than failing.
      expect((await open(root).list()).refused[0]!.reasons).toEqual([expect.stringMatching(/^fixture-linear: the trusted keys cannot be read: .*rsa\.pem is a rsa key/)])
    } finally {
      if (previous === undefined) delete process.env.MEDREC_TRUSTED_KEYS
      else process.env.MEDREC_TRUSTED_KEYS = previous
    }
  })

  it('a threshold of 0.01 is refused even when a trusted key signed it (before: it recommended every class)', async () => {
    const { root, dir } = copyOfLinear()
    writeManifest(dir, { ...readManifest(dir), threshold: 0.01 })
    signAsTest(dir)
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      'fixture-linear/manifest.json: threshold 0.01 is outside 0.05–0.95: a decision threshold that far out recommends (almost) every class or none'
    ])
  })

  it('swapped medication labels are refused against the knowledge base names (before: accepted)', async () => {
    const { root, dir } = copyOfLinear()
    const original = readManifest(dir)
    const names = new Map<string, string>(original.vocabularies.medication.entries.map((e: { code: string; title: string }) => [e.code, e.title]))
    const manifest = readManifest(dir)
    const entries = manifest.vocabularies.medication.entries as Array<{ code: string; title: string }>
    ;[entries[0]!.title, entries[1]!.title] = [entries[1]!.title, entries[0]!.title]
    writeManifest(dir, manifest)
    signAsTest(dir)
    const reasons = (await open(root, { atcName: (code) => names.get(code) ?? null }).list()).refused[0]!.reasons
    expect(reasons).toEqual([
      'fixture-linear/manifest.json: medication entry 0 "B01A" is titled "Beta blocking agents" but the knowledge base names B01A "Antithrombotic agents" (vocabulary labels swapped or edited)',
      'fixture-linear/manifest.json: medication entry 1 "C07A" is titled "Antithrombotic agents" but the knowledge base names C07A "Beta blocking agents" (vocabulary labels swapped or edited)'
    ])
  })

  it('a medication vocabulary longer than the ONNX output is refused when the manifest leaves the width symbolic', async () => {
    const { root, dir } = copyOfLinear()
    const manifest = readManifest(dir)
    manifest.outputs[0].shape = ['batch', 'classes']
    manifest.vocabularies.medication.entries.push({ system: 'ATC', code: 'J01C', title: 'Beta-lactam antibacterials, penicillins' })
    writeManifest(dir, manifest)
    signAsTest(dir)
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      'fixture-linear/model.onnx: output "probabilities" has 8 columns in the ONNX model but the medication vocabulary has 9 entries'
    ])
  })

  it('medrec models verify names an unsigned folder; medrec models sign signs it with a key from a path', async () => {
    const { dir } = copyOfLinear()
    rmSync(join(dir, SIGNATURE_FILE))
    const out: string[] = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    try {
      expect(await main(['models', 'verify', dir])).toBe(1)
      expect(out.join('\n')).toContain('fixture-linear: REFUSED')
      expect(await main(['models', 'sign', dir])).toBe(2) // no key given
      const keyPath = join(TEST_KEYS_DIR, 'TEST-ONLY-signing-key.pem')
      expect(await main(['models', 'sign', '--key', keyPath, dir])).toBe(0)
      out.length = 0
      expect(await main(['models', 'verify', dir])).toBe(0)
      expect(out.join('\n')).toContain(`fixture-linear: signed by ${keyIdOf(TEST_SIGNING_KEY)}`)
    } finally {
      vi.restoreAllMocks()
    }
  })

  it('a diagnosis vocabulary longer than the ONNX embedding table is refused by a probe run (before: failed on the first rare code)', async () => {
    const { root, dir } = copyOfLinear()
    const manifest = readManifest(dir)
    manifest.vocabularies.diagnosis.entries.push({ system: 'ICD-10-CM', code: 'Z99', title: 'Dependence on enabling machines' })
    writeManifest(dir, manifest)
    signAsTest(dir)
    expect((await open(root).list()).refused[0]!.reasons).toEqual([
      expect.stringMatching(/^fixture-linear\/model\.onnx: a run with the highest index of each vocabulary \(diagnosis 9, procedure 4, medication 8 entries\) fails: the vocabularies do not fit the model/)
    ])
  })

  it('a declared metrics hash is checked, and the signing script refuses a folder its manifest does not describe', () => {
    const { dir } = copyOfLinear()
    expect(unsignableReasons(dir)).toEqual([])
    writeFileSync(join(dir, 'notes.txt'), 'stray')
    writeManifest(dir, { ...readManifest(dir), metricsSha256: 'a'.repeat(64) })
    expect(unsignableReasons(dir)).toEqual([
      expect.stringMatching(/^fixture-linear\/metrics\.json: sha256 is [0-9a-f]{64} but manifest\.json says a{64}$/),
      'fixture-linear/notes.txt: not named by manifest.json (remove it or declare it in extraFiles)'
    ])
  })
})

describe('the active and the default model', () => {
  const dirs: string[] = []
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('the benchmark\'s selected model is models/DEFAULT, the README names it, and the registry uses it (one source of truth)', async () => {
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8')
    const line = readme.split('\n').find((l) => /^\| `models\/[^`]+` \|.*the default/.test(l))
    expect(line).toBeDefined()
    const named = /^\| `models\/([^`]+)`/.exec(line!)![1]
    const registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
    try {
      // models/benchmark.json records what `npm run bench:models` selected (best mean validation Jaccard); it writes
      // models/DEFAULT from the same choice, so README, registry, CLI and app all follow the benchmark.
      const selected = (JSON.parse(readFileSync(join(projectRoot(), 'models', 'benchmark.json'), 'utf8')) as { defaultModel: string }).defaultModel
      expect(registry.defaultModelId()).toBe(selected)
      expect(named).toBe(selected)
      expect((await registry.resolve(null, null)).manifest.id).toBe(selected)
      expect((await registry.list(null)).defaultModelId).toBe(selected)
    } finally {
      await registry.close()
    }
  })

  it('a refused active model stops recommending with the reason instead of switching to another (before: silent switch)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'medrec-active-refused-'))
    dirs.push(root)
    for (const id of ['fixture-linear', 'fixture-symmetric']) cpSync(join(FIXTURE_MODELS_DIR, id), join(root, id), { recursive: true })
    const database = seededDatabase()
    const registry = new ModelRegistry(root, { providers: ['cpu'] })
    try {
      await setActiveModel(database.db, registry, 'fixture-symmetric')
      // The active model's weights are edited on disk; the app restarts (a new registry).
      writeFileSync(join(root, 'fixture-symmetric', 'model.onnx'), readFileSync(join(root, 'fixture-linear', 'model.onnx')))
      const restarted = new ModelRegistry(root, { providers: ['cpu'] })
      try {
        const ctx = { db: database.db, registry: restarted, ddi: null }
        await expect(recommend(ctx, '10001')).rejects.toThrow(
          /^The active model "fixture-symmetric" was refused:\n {2}fixture-symmetric\/model\.onnx: sha256 is [\s\S]*Recommending stops until another model is chosen/
        )
        await expect(recommend(ctx, '10001')).rejects.toMatchObject({ name: 'RefusedError' })
        const list = await restarted.list(getActiveModelId(database.db))
        expect(list.activeModelId).toBe('fixture-symmetric')
        expect(list.models.map((m) => m.id)).toEqual(['fixture-linear'])
        // Someone chooses another model (audited): recommending resumes with it.
        await setActiveModel(database.db, restarted, 'fixture-linear')
        expect((await recommend(ctx, '10001')).model.id).toBe('fixture-linear')
      } finally {
        await restarted.close()
      }
    } finally {
      await registry.close()
      database.db.close()
      database.cleanup()
    }
  })

  it('keeps the test key trusted only through the test setup', () => {
    expect(process.env.MEDREC_TRUSTED_KEYS).toBe(TEST_TRUSTED_KEYS_DIR)
  })
})
