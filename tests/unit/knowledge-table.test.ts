// Loading a hospital's interaction table (docs/hospital-interactions.md): good rows tagged with their
// source, malformed rows reported with file and line, and nothing stored when any row is bad.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { InteractionTableError } from '../../src/main/services/interactions/interaction-table'
import { listSources, loadInteractionTable, openKnowledgeBase, unloadInteractionTable } from '../../src/main/services/drugs/knowledge-base'

const fixtureDir = join(__dirname, '..', 'fixtures', 'knowledge')
const good = join(fixtureDir, 'hospital-good.csv')
const bad = join(fixtureDir, 'hospital-bad.csv')

describe('hospital interaction tables', () => {
  let dir: string
  let kbPath: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-table-'))
    kbPath = join(dir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: join(fixtureDir, 'curated.csv') })
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const rowsOf = (key: string) => {
    const db = openKnowledgeBase(kbPath)
    try {
      return db
        .prepare(
          `SELECT a.external_id AS a, b.external_id AS b, p.severity, p.source_line AS line, p.citation
             FROM drug_pairs p JOIN sources s ON s.id = p.source_id JOIN drugs a ON a.id = p.drug_a JOIN drugs b ON b.id = p.drug_b
            WHERE s.key = ? ORDER BY p.source_line`
        )
        .all(key) as { a: string; b: string; severity: string; line: number; citation: string }[]
    } finally {
      db.close()
    }
  }

  it('loads good rows by ATC code, class code or name, tagged with the source name and license', () => {
    const report = loadInteractionTable(kbPath, good)
    expect(report.rows).toBe(3)
    expect(report.sources).toEqual([
      expect.objectContaining({ key: 'hospital:fixture-hospital-rules', name: 'Fixture hospital rules', license: 'Internal use only, fixture', pairs: 3 })
    ])
    const rows = rowsOf('hospital:fixture-hospital-rules')
    expect(rows.map((r) => [r.line, r.severity])).toEqual([
      [2, 'Moderate'],
      [3, 'Minor'],
      [4, 'Contraindicated']
    ])
    expect(rows.every((r) => r.citation.startsWith('Pharmacy rule'))).toBe(true)
    const db = openKnowledgeBase(kbPath)
    try {
      // "N02B" stands for every level-5 member of the class; "garlic" resolves to no ATC code and stays a name.
      const classDrug = db.prepare("SELECT d.match_method, COUNT(da.atc5) AS codes FROM drugs d LEFT JOIN drug_atc da ON da.drug_id = d.id WHERE d.external_id = 'N02B' GROUP BY d.id").get()
      expect(classDrug).toEqual({ match_method: 'atc-class', codes: 2 })
      expect(db.prepare("SELECT match_method FROM drugs WHERE external_id = 'name:garlic'").pluck().get()).toBe('name-only')
      const source = listSources(db).find((s) => s.key === 'hospital:fixture-hospital-rules')!
      expect(source).toMatchObject({ kind: 'hospital', version: '2026-05', coverage: { kind: 'listed-pairs' } })
    } finally {
      db.close()
    }
  })

  it('reports every malformed row with file and line, and stores nothing', () => {
    const before = listSourcesKeys()
    let error: unknown
    try {
      loadInteractionTable(kbPath, bad)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InteractionTableError)
    const problems = (error as InteractionTableError).errors.map((e) => `${e.line}: ${e.message}`)
    expect(problems).toEqual([
      '3: drug_a: ATC code C01AA99 is not in the WHO ATC index',
      '4: severity "High" is not one of Contraindicated, Major, Moderate, Minor, Unknown',
      '5: drug_a: "notadrug" is neither an ATC code nor a drug name known to the knowledge base; write its ATC code',
      '6: the pair digoxin + amiodarone is already given on line 2',
      '7: expected 7 fields, found 6',
      '8: drug_a: "N02" looks like an ATC code of level 1–2; use level 3, 4 or 5',
      '9: source_license is empty',
      '10: drug_a and drug_b are the same drug (C01AA05)'
    ])
    expect((error as Error).message).toContain(`${bad}:3: drug_a: ATC code C01AA99`)
    expect((error as InteractionTableError).errors.every((e) => e.file === bad)).toBe(true)
    expect(listSourcesKeys()).toEqual(before)
  })

  it('names a missing column on the header line', () => {
    const file = join(dir, 'no-license.csv')
    writeFileSync(file, 'drug_a,drug_b,severity,source_name\nC01AA05,C01BD01,Major,X\n')
    expect(() => loadInteractionTable(kbPath, file)).toThrow(/no-license\.csv:1: missing column\(s\): source_license/)
  })

  it('reloading a source replaces its rows; unloading removes it', () => {
    loadInteractionTable(kbPath, good)
    const smaller = join(dir, 'smaller.csv')
    copyFileSync(good, smaller)
    writeFileSync(
      smaller,
      'drug_a,drug_b,severity,source_name,source_license\nC01AA05,N06AB06,Major,Fixture hospital rules,"Internal use only, fixture"\n'
    )
    loadInteractionTable(kbPath, smaller, { coverage: { kind: 'groups', groups: ['C'] } })
    expect(rowsOf('hospital:fixture-hospital-rules').map((r) => r.severity)).toEqual(['Major'])
    const db = openKnowledgeBase(kbPath)
    expect(listSources(db).find((s) => s.key === 'hospital:fixture-hospital-rules')?.coverage).toEqual({ kind: 'groups', groups: ['C'] })
    db.close()
    expect(unloadInteractionTable(kbPath, 'hospital:fixture-hospital-rules')).toBe(true)
    expect(listSourcesKeys()).not.toContain('hospital:fixture-hospital-rules')
    expect(() => unloadInteractionTable(kbPath, 'ddinter')).toThrow(/Only hospital tables/)
  })

  it('a rebuild carries loaded hospital tables over', () => {
    loadInteractionTable(kbPath, good)
    const report = buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: null })
    expect(report.carriedOverHospitalSources).toEqual(['hospital:fixture-hospital-rules'])
    expect(rowsOf('hospital:fixture-hospital-rules')).toHaveLength(3)
    const db = openKnowledgeBase(kbPath)
    try {
      const lifted = db.prepare("SELECT COUNT(*) FROM class_pairs c JOIN sources s ON s.id = c.source_id WHERE s.key = 'hospital:fixture-hospital-rules'").pluck().get()
      expect(lifted).toBeGreaterThan(0)
    } finally {
      db.close()
    }
  })

  function listSourcesKeys(): string[] {
    const db = openKnowledgeBase(kbPath)
    try {
      return listSources(db).map((s) => s.key)
    } finally {
      db.close()
    }
  }
})
