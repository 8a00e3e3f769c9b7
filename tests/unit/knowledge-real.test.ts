// The knowledge build on the real open data (../shared/data or $MEDREC_DATA_DIR): pair counts per source,
// lifting with justification, a source and license on every fact, and the coverage gap of the open DDInter copy.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DdiService } from '../../src/main/services/interactions'
import { buildKnowledgeBase, type BuildReport } from '../../src/main/services/drugs/knowledge-build'
import { readCsvObjects } from '../../src/main/services/imports/csv'
import { classPairs, coverageMatrix, openKnowledgeBase, type KnowledgeDb } from '../../src/main/services/drugs/knowledge-base'
import { dataDir, defaultCuratedTablePath } from '../../src/main/services/paths'

const hasData = existsSync(join(dataDir(), 'knowledge', 'ddinter'))

describe.skipIf(!hasData)('knowledge build on the real open data', () => {
  let dir: string
  let kbPath: string
  let report: BuildReport
  let db: KnowledgeDb
  let service: DdiService

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-kb-real-'))
    kbPath = join(dir, 'knowledge.sqlite')
    report = buildKnowledgeBase(kbPath, dataDir())
    db = openKnowledgeBase(kbPath)
    service = DdiService.open(kbPath)
  }, 180_000)
  afterAll(() => {
    service?.close()
    db?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('counts the pairs of every source', () => {
    expect(report.ddinter).toMatchObject({
      rows: 222_383,
      pairs: 160_235,
      drugs: 1_939,
      bySeverity: { Major: 26_914, Moderate: 96_675, Minor: 6_833, Unknown: 29_813 }
    })
    expect(report.twosidesAtc3Pairs).toBe(337)
    expect(report.twosidesTop40).toEqual({ rows: 460, pairs: 324, skippedUnmappedRows: 136 })
    expect(report.curatedPairs).toBe(readCsvObjects(defaultCuratedTablePath(), []).rows.length)
    const perSource = db
      .prepare('SELECT s.key, COUNT(*) AS n FROM drug_pairs p JOIN sources s ON s.id = p.source_id GROUP BY s.key ORDER BY s.key')
      .all()
    expect(perSource).toEqual([
      { key: 'curated', n: report.curatedPairs },
      { key: 'ddinter', n: 160_235 },
      { key: 'twosides-top40', n: 324 }
    ])
  })

  it('holds the whole WHO ATC hierarchy and the ATC3 SMILES', () => {
    expect(Object.values(report.atcCodes).reduce((a, b) => a + b, 0)).toBe(6_996)
    expect(report.smilesAtc3).toBe(138) // 140 entries less the two empty special tokens
    expect(db.prepare("SELECT COUNT(*) FROM atc WHERE atc3 = 'N02B' AND level = 5").pluck().get()).toBeGreaterThan(10)
  })

  it('matches most DDInter drugs to WHO ATC-5 codes and keeps the rest by DDInter id', () => {
    expect(report.ddinter.byMatchMethod.exact).toBe(1_427)
    expect(report.ddinter.matchedDrugs).toBeGreaterThan(1_600)
    const unmatched = db.prepare("SELECT COUNT(*) FROM drugs d JOIN sources s ON s.id = d.source_id WHERE s.key = 'ddinter' AND d.match_method = 'unmatched' AND d.external_id LIKE 'DDInter%'").pluck().get()
    expect(unmatched).toBe(report.ddinter.drugs - report.ddinter.matchedDrugs)
    expect(report.ddinter.filedDrugs).toBe(967)
  })

  it('names the source and license of every fact', () => {
    for (const table of ['atc', 'atc3_smiles', 'drugs', 'drug_pairs', 'class_pairs']) {
      const orphans = db
        .prepare(`SELECT COUNT(*) FROM ${table} t LEFT JOIN sources s ON s.id = t.source_id WHERE s.id IS NULL OR s.license = '' OR s.name = ''`)
        .pluck()
        .get()
      expect(orphans, table).toBe(0)
    }
  })

  it('lifts warfarin–ibuprofen (Major) to B01A × M01A with the member pairs that justify it', () => {
    const lifted = classPairs(db, ['ddinter']).find((c) => c.atc3A === 'B01A' && c.atc3B === 'M01A')!
    expect(lifted.severity).toBe('Major')
    const members = db
      .prepare(
        `SELECT m.atc5_a, m.atc5_b, p.severity FROM class_pair_members m JOIN class_pairs c ON c.id = m.class_pair_id
           JOIN sources s ON s.id = c.source_id JOIN drug_pairs p ON p.id = m.drug_pair_id
          WHERE s.key = 'ddinter' AND c.atc3_a = 'B01A' AND c.atc3_b = 'M01A'`
      )
      .all() as { atc5_a: string; atc5_b: string; severity: string }[]
    expect(members).toContainEqual({ atc5_a: 'B01AA03', atc5_b: 'M01AE01', severity: 'Major' })
    expect(members).toHaveLength(Object.values(lifted.counts).reduce((a, b) => a + b, 0))
    expect(members.filter((m) => m.severity === 'Major')).toHaveLength(lifted.counts.Major)
  })

  it('measures that the open DDInter copy does not claim C×N, C×C or J×N pairs', () => {
    const cells = coverageMatrix(db).filter((c) => c.sourceKey === 'ddinter')
    for (const [a, b] of [['C', 'N'], ['C', 'C'], ['J', 'N'], ['G', 'M']]) {
      expect(cells.find((c) => c.groupA === a && c.groupB === b)?.claimed, `${a}×${b}`).toBe(false)
    }
    expect(cells.find((c) => c.groupA === 'B' && c.groupB === 'N')).toMatchObject({ claimed: true })
    expect(cells.find((c) => c.groupA === 'B' && c.groupB === 'N')!.pairs).toBeGreaterThan(1_000)
  })

  it('says that digoxin (C01AA05) with an N drug is not covered, instead of "safe"', () => {
    const result = service.check(['C01AA05', 'N06AB06'])
    expect(result.warnings.filter((w) => w.evidence.some((e) => e.basis === 'drug-pairs'))).toEqual([])
    expect(result.notCovered).toEqual([{ groupA: 'C', groupB: 'N', pairs: [[0, 1]] }])
    expect(result.statement).toContain('C×N (digoxin–sertraline)')
    expect(result.statement).toContain('DDInter (open copy, groups A,B,D,H,L,P,R,V)')
  })

  it('interrupts for warfarin with ibuprofen and for the curated digoxin–amiodarone gap', () => {
    expect(service.check(['warfarin', 'ibuprofen']).warnings[0]).toMatchObject({ severity: 'Major', tier: 'interrupt' })
    const digoxin = service.check(['digoxin', 'amiodarone'])
    expect(digoxin.warnings[0]!.tier).toBe('interrupt')
    expect(digoxin.warnings[0]!.evidence[0]!.source.key).toBe('curated')
  })
})
