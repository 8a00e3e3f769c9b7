// The knowledge build on a small fixture folder (tests/fixtures/knowledge): name matching, DDInter filing,
// lifting to ATC3, sources on every fact, and the all-or-nothing file replacement.
import Database from 'better-sqlite3'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildKnowledgeBase, type BuildReport } from '../../src/main/services/drugs/knowledge-build'
import { atc3Members, atc3Smiles, classPairs, coverageMatrix, listSources, openKnowledgeBase } from '../../src/main/services/drugs/knowledge-base'
import { KB_SCHEMA_VERSION } from '../../src/main/services/drugs/knowledge-schema'

const fixtureDir = join(__dirname, '..', 'fixtures', 'knowledge')
const curated = join(fixtureDir, 'curated.csv')

describe('knowledge build on the fixture folder', () => {
  let dir: string
  let kbPath: string
  let report: BuildReport
  let db: Database.Database

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-kb-'))
    kbPath = join(dir, 'knowledge.sqlite')
    report = buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: curated })
    db = openKnowledgeBase(kbPath)
  })
  afterAll(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const codesOf = (name: string): { codes: string | null; method: string; filed: string | null } =>
    db
      .prepare(
        `SELECT group_concat(da.atc5) AS codes, d.match_method AS method, d.filed_groups AS filed
           FROM drugs d JOIN sources s ON s.id = d.source_id LEFT JOIN drug_atc da ON da.drug_id = d.id
          WHERE s.key = 'ddinter' AND d.name = ? GROUP BY d.id`
      )
      .get(name) as { codes: string | null; method: string; filed: string | null }

  it('writes the schema version and one atc row per code (DDD duplicates folded), all levels', () => {
    expect(db.pragma('user_version', { simple: true })).toBe(KB_SCHEMA_VERSION)
    expect(report.atcCodes).toEqual({ level1: 6, level2: 8, level3: 9, level4: 12, level5: 13 })
    expect(db.prepare("SELECT level, parent, atc3 FROM atc WHERE code = 'N02BE01'").get()).toEqual({ level: 5, parent: 'N02BE', atc3: 'N02B' })
    expect(atc3Members(db, 'N02B').map((m) => m.code)).toEqual(['N02BA01', 'N02BE01'])
  })

  it('stores SMILES per ATC3 and skips the empty special-token entry with a warning', () => {
    expect(atc3Smiles(db, 'N02B')).toHaveLength(2)
    expect(report.smilesAtc3).toBe(2)
    expect(report.warnings.some((w) => w.includes('decoder_point'))).toBe(true)
  })

  it('reads DDInter pairs once even when two group files list them', () => {
    expect(report.ddinter.rows).toBe(14)
    expect(report.ddinter.pairs).toBe(13)
    expect(report.ddinter.bySeverity).toEqual({ Moderate: 7, Minor: 3, Unknown: 1, Major: 2 })
  })

  it('matches DDInter names to WHO ATC-5 codes with synonyms and route qualifiers, and keeps unmatched drugs', () => {
    expect(codesOf('Acetaminophen')).toMatchObject({ codes: 'N02BE01', method: 'synonym' })
    expect(codesOf('Timolol (ophthalmic)')).toMatchObject({ codes: 'S01ED01', method: 'route' })
    expect(codesOf('Timolol')).toMatchObject({ codes: 'C07AA06', method: 'exact' }) // eye-drop code left to the qualified name
    expect(codesOf('Acetylsalicylic acid').codes?.split(',').sort()).toEqual(['B01AC06', 'N02BA01'])
    expect(codesOf('Garlic')).toMatchObject({ codes: null, method: 'unmatched' })
    expect(db.prepare("SELECT external_id FROM drugs WHERE name = 'Garlic'").pluck().get()).toBe('DDInter9')
    expect(report.ddinter).toMatchObject({ drugs: 12, matchedDrugs: 11 })
  })

  it('infers where DDInter files each drug from the group downloads', () => {
    expect(codesOf('Omeprazole').filed).toBe('A')
    expect(codesOf('Warfarin').filed).toBe('B')
    expect(codesOf('Acetylsalicylic acid').filed).toBe('B')
    // Ibuprofen (M) and esomeprazole appear only beside drugs filed under B: not shown to be filed anywhere.
    expect(codesOf('Ibuprofen').filed).toBeNull()
    expect(codesOf('Esomeprazole').filed).toBeNull()
    expect(report.ddinter.matchedOpenButNotFiled).toBe(1) // esomeprazole: an A code, but not filed under A
  })

  it('lifts drug pairs to ATC3 class pairs with counts per severity and the member pairs', () => {
    const lifted = classPairs(db, ['ddinter']).find((c) => c.atc3A === 'B01A' && c.atc3B === 'M01A')
    expect(lifted).toMatchObject({ basis: 'lifted', severity: 'Major', counts: { Major: 1, Moderate: 1, Minor: 0, Unknown: 0, Contraindicated: 0 } })
    const members = db
      .prepare(
        `SELECT m.rank, m.atc5_a, m.atc5_b, p.severity FROM class_pair_members m
           JOIN class_pairs c ON c.id = m.class_pair_id JOIN sources s ON s.id = c.source_id JOIN drug_pairs p ON p.id = m.drug_pair_id
          WHERE s.key = 'ddinter' AND c.atc3_a = 'B01A' AND c.atc3_b = 'M01A' ORDER BY m.rank`
      )
      .all()
    expect(members).toEqual([
      { rank: 0, atc5_a: 'B01AA03', atc5_b: 'M01AE01', severity: 'Major' },
      { rank: 1, atc5_a: 'B01AC06', atc5_b: 'M01AE01', severity: 'Moderate' }
    ])
    // Aspirin is also N02BA01, so its pair with ibuprofen lifts to N02B × M01A as well.
    expect(classPairs(db, ['ddinter']).some((c) => c.atc3A === 'M01A' && c.atc3B === 'N02B')).toBe(true)
  })

  it('keeps TWOSIDES as class-level and STITCH-mapped sources of unspecified severity', () => {
    expect(report.twosidesAtc3Pairs).toBe(2)
    expect(classPairs(db, ['twosides-atc3']).map((c) => [c.atc3A, c.atc3B, c.basis, c.severity])).toEqual([
      ['B01A', 'N02B', 'class', 'Unknown'],
      ['C01A', 'C01B', 'class', 'Unknown']
    ])
    expect(report.twosidesTop40).toEqual({ rows: 2, pairs: 1, skippedUnmappedRows: 1 })
    expect(report.warnings.some((w) => w.includes('Z99ZZ99'))).toBe(true)
    const names = listSources(db).map((s) => s.name)
    expect(names.some((n) => /TWOSIDES.*severity unspecified/.test(n))).toBe(true)
  })

  it('names the source and license of every fact', () => {
    for (const s of listSources(db)) {
      expect(s.license.length, s.key).toBeGreaterThan(0)
      expect(s.attribution.length, s.key).toBeGreaterThan(0)
      expect(s.version.length, s.key).toBeGreaterThan(0)
    }
    for (const table of ['atc', 'atc3_smiles', 'drugs', 'drug_pairs', 'class_pairs']) {
      const orphans = db.prepare(`SELECT COUNT(*) FROM ${table} t LEFT JOIN sources s ON s.id = t.source_id WHERE s.id IS NULL OR s.license = ''`).pluck().get()
      expect(orphans, table).toBe(0)
    }
    const ddinter = listSources(db).find((s) => s.key === 'ddinter')!
    expect(ddinter.coverage).toEqual({ kind: 'groups', groups: ['A', 'B'] }) // the group files present
    expect(ddinter.license).toMatch(/CC BY-NC-SA 4\.0/)
  })

  it('loads the curated table through the hospital-table loader as source "curated"', () => {
    expect(report.curatedPairs).toBe(2)
    const curatedSource = listSources(db).find((s) => s.key === 'curated')!
    expect(curatedSource).toMatchObject({ kind: 'curated', name: 'Fixture curated list', coverage: { kind: 'listed-pairs' } })
  })

  it('measures coverage per anatomical group pair against the source claim', () => {
    const cells = coverageMatrix(db).filter((c) => c.sourceKey === 'ddinter')
    expect(cells.find((c) => c.groupA === 'C' && c.groupB === 'C')).toMatchObject({ pairs: 0, claimed: false }) // digoxin–amiodarone absent
    // Aspirin is B and N: its pair with timolol counts under B×C (claimed) and C×N (not claimed).
    expect(cells.find((c) => c.groupA === 'C' && c.groupB === 'N')).toMatchObject({ pairs: 1, claimed: false })
    expect(cells.find((c) => c.groupA === 'B' && c.groupB === 'M')).toMatchObject({ pairs: 2, claimed: true })
    expect(cells.find((c) => c.groupA === '?' || c.groupB === '?')).toMatchObject({ pairs: 1 }) // garlic–warfarin
  })
})

describe('knowledge build failures', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-kb-fail-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('a failed build leaves the previous file untouched and no temporary file', () => {
    const kbPath = join(dir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: curated })
    const before = readFileSync(kbPath)
    const mtime = statSync(kbPath).mtimeMs

    const broken = join(dir, 'broken')
    cpSync(fixtureDir, broken, { recursive: true })
    const file = join(broken, 'knowledge', 'ddinter', 'ddinter_downloads_code_B.csv')
    writeFileSync(file, readFileSync(file, 'utf8').replace('DDInter11,Ibuprofen,Major', 'DDInter11,Ibuprofen,Severe'))
    expect(() => buildKnowledgeBase(kbPath, broken, { curatedTablePath: curated })).toThrow(/ddinter_downloads_code_B\.csv:5: unknown DDInter level "Severe"/)

    expect(readFileSync(kbPath).equals(before)).toBe(true)
    expect(statSync(kbPath).mtimeMs).toBe(mtime)
    expect(readdirSync(dir).filter((f) => f.includes('.building-'))).toEqual([])
  })

  it('a malformed curated row fails the build with its line', () => {
    const bad = join(dir, 'bad-curated.csv')
    writeFileSync(bad, `${readFileSync(curated, 'utf8')}C01AA05,X99XX99,Major,e,c,Fixture curated list,CC BY 4.0 (fixture),1\n`)
    const kbPath = join(dir, 'other.sqlite')
    expect(() => buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: bad })).toThrow(/bad-curated\.csv:4: drug_b: ATC code X99XX99 is not in the WHO ATC index/)
    expect(existsSync(kbPath)).toBe(false)
  })

  it('names the missing knowledge folder', () => {
    expect(() => buildKnowledgeBase(join(dir, 'x.sqlite'), join(dir, 'nowhere'))).toThrow(/No knowledge folder at .*nowhere/)
  })

  it('refuses to open a knowledge base of another schema version, saying how to rebuild', () => {
    const kbPath = join(dir, 'old.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: null })
    const raw = new Database(kbPath)
    raw.pragma('user_version = 0')
    raw.close()
    expect(() => openKnowledgeBase(kbPath)).toThrow(/schema version 0.*npm run knowledge/)
    expect(() => openKnowledgeBase(join(dir, 'missing.sqlite'))).toThrow(/No knowledge base at .*npm run knowledge/)
  })
})
