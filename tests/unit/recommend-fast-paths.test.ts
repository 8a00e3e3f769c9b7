// The recommendation's and timeline's fast paths must give exactly what the straightforward code gave: the
// within-class ranking with per-class priors computed once (drug-choice-model.ts) to the last bit, and ATC
// names and code titles held per connection (db/code-names.ts) refreshed by any later import.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { codeTitles } from '../../src/main/services/db/code-names'
import { defaultDrugChoiceDirectory } from '../../src/main/services/paths'
import { atcName, atcNameLookup } from '../../src/main/services/recommend/drug-choice'
import { DrugChoiceModel } from '../../src/main/services/recommend/drug-choice-model'
import { TempSpace } from './import-helpers'

interface Artefact {
  alpha: number
  beta: number
  classes: Record<string, { members: Record<string, number>; codes: Record<string, { visits: number; members: Record<string, number> }> }>
}

/** The ranking as first written: one Map per step, recomputed per call. */
function referenceRank(artefact: Artefact, atc3: string, codeKeys: readonly string[]): Array<{ atc5: string; probability: number }> {
  const entry = artefact.classes[atc3]
  if (!entry) return []
  const members = Object.entries(entry.members)
  if (members.length === 0) return []
  const { alpha, beta } = artefact
  const total = members.reduce((sum, [, n]) => sum + n, 0) + alpha * members.length
  const prior = new Map(members.map(([m, n]) => [m, (n + alpha) / total]))
  const used = [...new Set(codeKeys)].map((key) => entry.codes[key]).filter((c) => c !== undefined)
  let probability = prior
  if (used.length > 0) {
    const mixed = new Map([...prior.keys()].map((m) => [m, 0]))
    for (const byCode of used) for (const [m, p] of prior) mixed.set(m, mixed.get(m)! + ((byCode.members[m] ?? 0) + beta * p) / (byCode.visits + beta))
    const sum = [...mixed.values()].reduce((a, b) => a + b, 0)
    probability = new Map([...mixed].map(([m, v]) => [m, v / sum]))
  }
  return [...probability].map(([atc5, p]) => ({ atc5, probability: p })).sort((a, b) => b.probability - a.probability || (a.atc5 < b.atc5 ? -1 : 1))
}

describe('recommendation fast paths', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('ranks every class of the shipped drug choice exactly as the straightforward code, with and without visit codes', () => {
    const directory = defaultDrugChoiceDirectory()
    const manifest = JSON.parse(readFileSync(join(directory, 'manifest.json'), 'utf8')) as { file: { file: string } }
    const artefact = JSON.parse(readFileSync(join(directory, manifest.file.file), 'utf8')) as Artefact
    const model = DrugChoiceModel.load(directory)
    const allCodes = [...new Set(Object.values(artefact.classes).flatMap((c) => Object.keys(c.codes)))]
    let compared = 0
    for (const [index, atc3] of Object.keys(artefact.classes).entries()) {
      const own = Object.keys(artefact.classes[atc3]!.codes)
      // No codes, the class's own codes (some repeated), and codes of other classes mixed in.
      for (const keys of [[], own.slice(0, 3), [...own.slice(0, 2), ...own.slice(0, 1), allCodes[index % allCodes.length]!, 'd:ICD-10-CM:NOPE']]) {
        expect(model.rank(atc3, keys)).toEqual(referenceRank(artefact, atc3, keys))
        expect(model.rank(atc3, keys)).toEqual(referenceRank(artefact, atc3, keys)) // the cached prior, second call
        compared++
      }
    }
    expect(compared).toBeGreaterThan(100)
    expect(model.rank('Z99Z', ['d:ICD-10-CM:A419'])).toEqual([])
  })

  it('reads ATC names once per connection and again after any import', () => {
    const db = space.db()
    db.prepare(`INSERT INTO atc_names (code, name) VALUES ('B01AA03', 'warfarin'), ('N02BE01', 'paracetamol')`).run()
    const before = atcNameLookup(db)
    expect([before('B01AA03'), before('N02BE01'), before('X00XX00')]).toEqual(['warfarin', 'paracetamol', null])
    // An import changes a name and records its run: the next recommendation's lookup sees the new name.
    db.prepare(`UPDATE atc_names SET name = 'warfarin sodium' WHERE code = 'B01AA03'`).run()
    db.prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('mimic-iv', '/x', 'f', 'now', 'completed', '{}')`).run()
    const after = atcNameLookup(db)
    expect(after('B01AA03')).toBe('warfarin sodium')
    expect(after('B01AA03')).toBe(atcName(db, 'B01AA03'))
  })

  it('titles codes from memory after the first call, and reads them again after any import', () => {
    const db = space.db()
    db.prepare(`INSERT INTO code_titles (kind, code_system, code, title) VALUES ('diagnosis', 'ICD-10-CM', 'A419', 'Sepsis, unspecified organism')`).run()
    expect(codeTitles(db, 'diagnosis', 'ICD-10-CM', ['A419', 'I10'])).toEqual(new Map([['A419', 'Sepsis, unspecified organism']]))
    // Same answer from the cache, including the code without a title; other kinds and systems are separate.
    expect(codeTitles(db, 'diagnosis', 'ICD-10-CM', ['I10', 'A419'])).toEqual(new Map([['A419', 'Sepsis, unspecified organism']]))
    expect(codeTitles(db, 'procedure', 'ICD-10-CM', ['A419'])).toEqual(new Map())
    db.prepare(`INSERT INTO code_titles (kind, code_system, code, title) VALUES ('diagnosis', 'ICD-10-CM', 'I10', 'Essential (primary) hypertension')`).run()
    db.prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('mimic-iv', '/x', 'f', 'now', 'completed', '{}')`).run()
    expect(codeTitles(db, 'diagnosis', 'ICD-10-CM', ['I10', 'A419'])).toEqual(
      new Map([
        ['I10', 'Essential (primary) hypertension'],
        ['A419', 'Sepsis, unspecified organism']
      ])
    )
  })
})
