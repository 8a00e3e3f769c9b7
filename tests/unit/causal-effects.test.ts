import type { ModelManifest } from '../../src/shared/domain/manifest'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CAUSAL_EFFECTS_FILE, CausalEffectsError, CausalEffectTable } from '../../src/main/services/explain/causal-effects'
import { AuxiliarySessions } from '../../src/main/services/inference/auxiliary-sessions'
import { encodePatient } from '../../src/main/services/inference/encode'
import { vocabulariesOf } from '../../src/main/services/inference/vocabulary'
import { modelsDir } from '../../src/main/services/paths'
import { FIXTURE_MODELS_DIR } from '../fixtures/models/seed-patients'

const fixtureDir = join(FIXTURE_MODELS_DIR, 'fixture-linear')
const manifest = JSON.parse(readFileSync(join(fixtureDir, 'manifest.json'), 'utf8')) as ModelManifest

/** A table over the fixture's vocabularies: diagnosis 0 (4019) raises B01A, diagnosis 2 lowers it (not significant), procedure 1 raises N02B. */
function document(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'medrec-causal-effects',
    formatVersion: 1,
    scale: 'risk difference',
    estimand: 'effect on the treated',
    estimator: 'doubly robust',
    assumptions: ['exchangeability'],
    settings: { fdr: 0.1 },
    visits: 100,
    medications: 8,
    diagnosis: {
      entries: 8,
      codes: [
        { entry: 0, treatedVisits: 40, adjustment: [{ kind: 'procedure', entry: 1 }], drugs: [0, 2], effect: [0.3, 0.05], standardError: [0.05, 0.04], q: [0.001, 0.4], crude: [0.35, 0.1], used: [1, 0] },
        { entry: 2, treatedVisits: 25, adjustment: [], drugs: [0], effect: [-0.5], standardError: [0.3], q: [0.3], crude: [-0.2], used: [0] }
      ]
    },
    procedure: {
      entries: 4,
      codes: [{ entry: 1, treatedVisits: 30, adjustment: [], drugs: [2], effect: [0.2], standardError: [0.05], q: [0.01], crude: [0.25], used: [1] }]
    },
    ...overrides
  }
}

describe('CafeMed causal effect tables', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'causal-effects-'))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it('ranks the codes behind a drug by effect size, the unused ones only on request', () => {
    const table = CausalEffectTable.parse(JSON.stringify(document()), manifest)
    const used = table.effectsOn('b01a')
    expect(used.map((e) => [e.kind, e.code, e.effect, e.used])).toEqual([['diagnosis', '4019', 0.3, true]])
    const all = table.effectsOn('B01A', { all: true })
    expect(all.map((e) => e.effect)).toEqual([-0.5, 0.3]) // largest |effect| first
    expect(all[0]?.code).toBe(manifest.vocabularies.diagnosis.entries[2]?.code)
    expect(table.effectsOn('N02B').map((e) => [e.kind, e.entry])).toEqual([['procedure', 1]])
    expect(table.effectOf('diagnosis', 0, 2)).toBe(0.05)
    expect(table.effectOf('diagnosis', 5, 0)).toBeNull()
    expect(() => table.effectsOn('Z99Z')).toThrow(/has no medication "Z99Z"/)
  })

  it('refuses documents that do not match the model, naming the file and the field', () => {
    const parse = (doc: unknown) => () => CausalEffectTable.parse(typeof doc === 'string' ? doc : JSON.stringify(doc), manifest, 'x/causal-effects.json')
    expect(parse('{oops')).toThrow(/x\/causal-effects.json: not JSON/)
    expect(parse(document({ format: 'other' }))).toThrow(/x\/causal-effects.json: format/)
    expect(parse(document({ medications: 9 }))).toThrow(/9 medication columns, but the model predicts 8/)
    const shortArrays = document()
    ;(shortArrays.procedure as { codes: { effect: number[] }[] }).codes[0]!.effect = []
    expect(parse(shortArrays)).toThrow(CausalEffectsError)
    expect(parse(document({ diagnosis: { entries: 7, codes: [] } }))).toThrow(/diagnosis.entries is 7, the manifest's diagnosis vocabulary has 8/)
  })

  it('loads only what the manifest lists, with its hash checked', () => {
    expect(CausalEffectTable.load(fixtureDir, manifest)).toBeNull() // the linear fixture ships no table
    const text = JSON.stringify(document())
    writeFileSync(join(scratch, CAUSAL_EFFECTS_FILE), text)
    const listed = { ...manifest, extraFiles: [{ file: CAUSAL_EFFECTS_FILE, sha256: createHash('sha256').update(text).digest('hex') }] }
    expect(CausalEffectTable.load(scratch, listed)?.effectsOn('B01A')).toHaveLength(1)
    const tampered = { ...manifest, extraFiles: [{ file: CAUSAL_EFFECTS_FILE, sha256: '0'.repeat(64) }] }
    expect(() => CausalEffectTable.load(scratch, tampered)).toThrow(/sha256 is [0-9a-f]{64} but manifest.json says 0{64}/)
  })

  // The trained CafeMed folder (python -m medrec_training.benchmark exports models/cafemed/).
  const cafemedDir = join(modelsDir(), 'cafemed')
  it.skipIf(!existsSync(join(cafemedDir, 'manifest.json')))('lists the current visit codes that push a drug for one patient', async () => {
    const cafemed = JSON.parse(readFileSync(join(cafemedDir, 'manifest.json'), 'utf8')) as ModelManifest
    const table = CausalEffectTable.load(cafemedDir, cafemed)
    expect(table).not.toBeNull()
    // The most-used diagnosis and a drug it affects, in a one-visit patient with two more codes.
    const code = table!.document.diagnosis.codes.find((c) => c.used.includes(1))!
    const column = code.drugs[code.used.indexOf(1)]!
    const drug = cafemed.vocabularies.medication.entries[column]!.code
    const entry = cafemed.vocabularies.diagnosis.entries[code.entry]!
    const other = cafemed.vocabularies.diagnosis.entries.find((e, i) => i !== code.entry)!
    const encoded = encodePatient(vocabulariesOf(cafemed), cafemed.limits, [
      { diagnoses: [{ system: entry.system ?? null, code: entry.code }, { system: other.system ?? null, code: other.code }, { system: null, code: 'NOT-A-CODE' }], procedures: [], medications: [] }
    ])
    const sessions = new AuxiliarySessions(['cpu'])
    const ranked = await table!.patientCodes(sessions, cafemedDir, encoded, drug, 10)
    await sessions.release()
    expect(ranked.length).toBeGreaterThan(0)
    expect(ranked.map((r) => r.code)).toContain(entry.code)
    for (const r of ranked) expect([entry.code, other.code]).toContain(r.code) // only codes of this visit
    const weights = ranked.map((r) => Math.abs(r.weight))
    expect([...weights].sort((a, b) => b - a)).toEqual(weights)
    const mine = ranked.find((r) => r.code === entry.code)!
    expect(Math.sign(mine.weight)).toBe(Math.sign(mine.effect ?? 0)) // the CWG rescales an effect, never flips it
  })
})
