// The DDI check service on the fixture knowledge base: resolution, evidence per source, tiers, class-level
// members, and the "checked sources / not covered" statement that never presents silence as safety.
import type { DdiCheckResult } from '../../src/shared/domain/interaction'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DdiService, tierFor, UnknownDrugError } from '../../src/main/services/interactions'
import { ddiCheckerFromService } from '../../src/main/services/interactions/checker'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { loadInteractionTable } from '../../src/main/services/drugs/knowledge-base'

const fixtureDir = join(__dirname, '..', 'fixtures', 'knowledge')

describe('DDI check service', () => {
  let dir: string
  let kbPath: string
  let service: DdiService

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-ddi-'))
    kbPath = join(dir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: join(fixtureDir, 'curated.csv') })
    service = DdiService.open(kbPath)
  })
  afterAll(() => {
    service.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const evidenceKeys = (result: DdiCheckResult, index = 0) => result.warnings[index]!.evidence.map((e) => `${e.source.key}:${e.basis}:${e.severity}`)

  it('lists drug pairs among ATC5 codes, one per source with its most severe member pair, for drug-level recommendation', () => {
    const pairs = service.drugInteractions(['M01AE01', 'B01AA03', 'C01BD01', 'N02BE01', 'B01A', 'Z99ZZ99'])
    const shown = pairs.map((p) => [p.a, p.b, p.severity, p.source.kind]).sort()
    // Warfarin + ibuprofen is in DDInter and in the curated list; amiodarone + warfarin and warfarin + paracetamol
    // (acetaminophen) are DDInter pairs. The class code and the unknown code have no drug pairs.
    expect(shown).toEqual(
      [
        ['B01AA03', 'C01BD01', 'Major', 'reference'],
        ['B01AA03', 'M01AE01', 'Major', 'curated'],
        ['B01AA03', 'M01AE01', 'Major', 'reference'],
        ['B01AA03', 'N02BE01', 'Moderate', 'reference']
      ].sort()
    )
    expect(service.drugInteractions(['M01AE01'])).toEqual([])
    // Coverage of one drug pair, as check() reports it: omeprazole is filed under A, esomeprazole is not.
    expect(service.coversDrugPair('A02BC01', 'N06AB06')).toBe(true)
    expect(service.coversDrugPair('A02BC05', 'N06AB06')).toBe(false)
    expect(service.coversDrugPair('C01AA05', 'N06AB06')).toBe(false)
    expect(service.coversDrugPair('Z99ZZ99', 'N06AB06')).toBe(false)
  })

  it('checks only the pairs of one input when asked (pairsWith), the same warnings and gaps as the full check gives for it', () => {
    const drugs = ['C01BD01', 'B01AA03', 'M01AE01', 'N02BE01', 'A02BC05']
    const full = service.check(drugs)
    const partial = service.check(drugs, { pairsWith: 2 })
    const involving = (w: { a: number; b: number }) => w.a === 2 || w.b === 2
    expect(full.warnings.some((w) => !involving(w))).toBe(true) // the full check has pairs without ibuprofen
    expect(partial.warnings.length).toBeGreaterThan(0)
    expect(partial.warnings).toEqual(full.warnings.filter(involving))
    const gapsOf = (r: typeof full) => r.notCovered.map((g) => ({ ...g, pairs: g.pairs.filter(([i, j]) => i === 2 || j === 2) })).filter((g) => g.pairs.length > 0)
    expect(gapsOf(partial)).toEqual(gapsOf(full))
    expect(partial.notCovered.every((g) => g.pairs.every(([i, j]) => i === 2 || j === 2))).toBe(true)
  })

  it('tiers severities: contraindicated/major interrupt, moderate inline, minor/unknown in details', () => {
    expect(tierFor('Contraindicated')).toBe('interrupt')
    expect(tierFor('Major')).toBe('interrupt')
    expect(tierFor('Moderate')).toBe('inline')
    expect(tierFor('Minor')).toBe('details')
    expect(tierFor('Unknown')).toBe('details')
  })

  it('warns on a drug pair with every source that lists it, each naming its license', () => {
    const result = service.check(['B01AA03', 'M01AE01'])
    expect(result.warnings).toHaveLength(1)
    const warning = result.warnings[0]!
    expect(warning).toMatchObject({ a: 0, b: 1, severity: 'Major', tier: 'interrupt', level: 'drug' })
    expect(evidenceKeys(result)).toEqual(['ddinter:drug-pairs:Major', 'curated:drug-pairs:Major'])
    const curated = warning.evidence.find((e) => e.source.key === 'curated')!
    expect(curated.members).toEqual([
      { a: { code: 'B01AA03', name: 'warfarin' }, b: { code: 'M01AE01', name: 'ibuprofen' }, severity: 'Major', effect: 'Bleeding', citation: 'Coumadin label' }
    ])
    for (const e of warning.evidence) {
      expect(e.source.name.length).toBeGreaterThan(0)
      expect(e.source.license.length).toBeGreaterThan(0)
    }
  })

  it('resolves names (US synonyms included) and tiers a moderate pair inline', () => {
    const result = service.check(['warfarin', 'acetaminophen'])
    expect(result.drugs.map((d) => [d.kind, d.atcCodes])).toEqual([
      ['name', ['B01AA03']],
      ['name', ['N02BE01']]
    ])
    expect(result.warnings.map((w) => [w.severity, w.tier])).toEqual([['Moderate', 'inline']])
    // Paracetamol is N02B, warfarin B01A: the TWOSIDES class signal between them is shown too.
    expect(evidenceKeys(result)).toEqual(['ddinter:drug-pairs:Moderate', 'twosides-atc3:class-signal:Unknown'])
  })

  it('keeps eye drops and tablets apart: timolol S01ED01 interacts here, C07AA06 does not', () => {
    const drops = service.check(['warfarin', 'S01ED01'])
    expect(drops.warnings.map((w) => [w.severity, w.tier])).toEqual([['Minor', 'details']])
    expect(service.check(['warfarin', 'C07AA06']).warnings).toEqual([])
  })

  it('lifts to ATC3 classes with counts and the member pairs, most severe first', () => {
    const result = service.check(['B01A', 'M01A'])
    expect(result.warnings).toHaveLength(1)
    const warning = result.warnings[0]!
    expect(warning).toMatchObject({ level: 'class', severity: 'Major', tier: 'interrupt' })
    const ddinter = warning.evidence.find((e) => e.source.key === 'ddinter')!
    expect(ddinter.counts).toEqual({ Contraindicated: 0, Major: 1, Moderate: 1, Minor: 0, Unknown: 0 })
    expect(ddinter.members.map((m) => `${m.a.code}+${m.b.code}:${m.severity}`)).toEqual(['B01AA03+M01AE01:Major', 'B01AC06+M01AE01:Moderate'])
    expect(evidenceKeys(result)).toEqual(['ddinter:drug-pairs:Major', 'curated:drug-pairs:Major', 'twosides-top40:drug-pairs:Unknown'])
    const limited = service.check(['B01A', 'M01A'], { maxMembers: 1 }).warnings[0]!.evidence.find((e) => e.source.key === 'ddinter')!
    expect(limited.members).toHaveLength(1)
    expect(limited.counts.Moderate).toBe(1) // counts still cover every member
  })

  it('checks a class against a drug through the members of the class', () => {
    const result = service.check(['ibuprofen', 'B01A'])
    const ddinter = result.warnings[0]!.evidence.find((e) => e.source.key === 'ddinter')!
    // Oriented like the input: ibuprofen first, then the B01A member.
    expect(ddinter.members.map((m) => `${m.a.name}+${m.b.name}:${m.severity}`)).toEqual(['ibuprofen+warfarin:Major', 'ibuprofen+acetylsalicylic acid:Moderate'])
    expect(result.warnings[0]!.level).toBe('class')
  })

  it('never presents silence as safety: a C×N pair no source covers is named', () => {
    const result = service.check(['C01AA05', 'N06AB06'])
    expect(result.warnings).toEqual([])
    expect(result.notCovered).toEqual([{ groupA: 'C', groupB: 'N', pairs: [[0, 1]] }])
    expect(result.statement).toMatch(/^No interaction found among 2 drug\(s\) in: DDInter \(open copy, groups A,B\);/)
    expect(result.statement).toContain('Fixture curated list')
    expect(result.statement).toContain('Not covered by any complete source: C×N (digoxin–sertraline)')
    expect(result.statement).toContain('Absence of a warning is not proof that a combination is safe')
    expect(result.checkedSources.map((s) => s.key)).toEqual(['ddinter', 'twosides-atc3', 'twosides-top40', 'curated'])
  })

  it('a warning from the curated list does not hide the gap in coverage', () => {
    const result = service.check(['digoxin', 'amiodarone'])
    expect(evidenceKeys(result)).toEqual(['curated:drug-pairs:Major', 'twosides-atc3:class-signal:Unknown'])
    expect(result.notCovered.map((g) => `${g.groupA}×${g.groupB}`)).toEqual(['C×C'])
  })

  it('counts a pair as covered only when DDInter files one of its drugs under an open group', () => {
    // Omeprazole is filed under A, so all its pairs are in the open copy.
    expect(service.check(['omeprazole', 'sertraline']).notCovered).toEqual([])
    // Esomeprazole has an A code but DDInter does not file it under A (it appears only beside B drugs).
    expect(service.check(['esomeprazole', 'sertraline']).notCovered.map((g) => `${g.groupA}×${g.groupB}`)).toEqual(['A×N'])
  })

  it('finds drugs without an ATC code by name', () => {
    const result = service.check(['garlic', 'warfarin'])
    expect(result.drugs[0]).toMatchObject({ kind: 'name', atcCodes: [], groups: ['?'], label: 'Garlic (no ATC code)' })
    expect(result.warnings.map((w) => w.severity)).toEqual(['Moderate'])
  })

  it('names every unknown input with a reason and suggestions', () => {
    let error: unknown
    try {
      service.check(['digoxn', 'C01AA99', 'N02', 'warfarin'])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnknownDrugError)
    const unknown = (error as UnknownDrugError).unknown
    expect(unknown.map((u) => u.input)).toEqual(['digoxn', 'C01AA99', 'N02'])
    expect(unknown[0]!.suggestions).toEqual(['Digoxin'])
    expect(unknown[1]!.reason).toBe('"C01AA99" is not a code of the WHO ATC index.')
    expect(unknown[1]!.suggestions).toEqual(['C01AA05'])
    expect(unknown[2]!.reason).toMatch(/level 2; give a level-3 class or a level-5 drug/)
    expect(() => service.check([''])).toThrow(/empty drug name/)
  })

  it('counts the same drug given twice once', () => {
    expect(service.check(['warfarin', 'B01AA03', 'WARFARIN']).drugs).toHaveLength(1)
  })

  it('serves recommendation decoding with class pairs that name their source', () => {
    const checker = ddiCheckerFromService(service)
    const pairs = checker.check(['B01A', 'M01A', 'N02B'])
    expect(pairs).toContainEqual({ a: 'B01A', b: 'M01A', severity: 'Major', source: 'DDInter (open copy, groups A,B)' })
    expect(pairs).toContainEqual({ a: 'B01A', b: 'N02B', severity: 'Unknown', source: 'TWOSIDES ATC3 pairs (SafeDrug/GAMENet DDI matrix; severity unspecified)' })
    expect(pairs.every((p) => p.a < p.b)).toBe(true)
    expect(checker.source).toContain('Fixture curated list')
  })
})

describe('DDI check with a hospital table', () => {
  it('warns from the hospital source and drops the gap the table claims to cover', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medrec-ddi-hospital-'))
    try {
      const kbPath = join(dir, 'knowledge.sqlite')
      buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: join(fixtureDir, 'curated.csv') })
      loadInteractionTable(kbPath, join(fixtureDir, 'hospital-good.csv'), { coverage: { kind: 'all' } })
      const service = DdiService.open(kbPath)
      try {
        const result = service.check(['digoxin', 'sertraline', 'garlic', 'amiodarone'])
        const garlicAmiodarone = result.warnings.find((w) => w.severity === 'Contraindicated')!
        expect(result.drugs[garlicAmiodarone.a]!.input).toBe('garlic')
        expect(garlicAmiodarone.evidence.map((e) => e.source.name)).toContain('Fixture hospital rules')
        expect(garlicAmiodarone.evidence[0]!.source.license).toBe('Internal use only, fixture')
        const digoxinSertraline = result.warnings.find((w) => w.a === 0 && w.b === 1)!
        expect(digoxinSertraline.severity).toBe('Moderate')
        expect(result.notCovered).toEqual([]) // the hospital table claims to cover every pair
      } finally {
        service.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
