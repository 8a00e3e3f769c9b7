// The one drug resolver (services/drugs), by category: route, combination, brand, abbreviation, US name,
// misspelling, non-drug, ambiguity, code table, compiled synonyms, overrides; and title protection in imports.
import Database from 'better-sqlite3'
import { currentUserName } from '../../src/main/services/audit/audit'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDrugResolver } from '../../src/main/services/drugs/load'
import type { DrugResolver } from '../../src/main/services/drugs/resolver'
import { listOverrides, OverrideError, setOverride } from '../../src/main/services/drugs/overrides'
import { buildDrugSynonyms } from '../../src/main/services/drugs/synonym-build'
import { whoAtcFile } from '../../src/main/services/drugs/load'
import type { DrugQuery, DrugResolution } from '../../src/main/services/drugs/types'
import { importDataset } from '../../src/main/services/imports'
import { damageScore, isBetterTitle } from '../../src/main/services/imports/title-quality'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

/** The ingredients' ATC5 codes of a resolved string, or its status. */
function codes(resolver: DrugResolver, text: string, extra: Omit<DrugQuery, 'text'> = {}): string[] | string {
  const r = resolver.resolve({ text, ...extra })
  return r.status === 'resolved' ? r.ingredients.map((i) => i.atc5) : r.status
}
function resolved(r: DrugResolution): Extract<DrugResolution, { status: 'resolved' }> {
  if (r.status !== 'resolved') throw new Error(`expected resolved, got ${r.status}: ${'reason' in r ? r.reason : ''}`)
  return r
}

describe.skipIf(!HAS_OPEN_DATA)('drug resolver (WHO index + curated names, no compiled synonyms)', () => {
  let resolver: DrugResolver
  beforeAll(() => {
    resolver = createDrugResolver({ dataDir: DATA_DIR, kbPath: null })
  })

  it('route: local forms get the local ATC code, never a systemic class', () => {
    // Lidocaine jelly, patch and infiltration are local anaesthesia, not the class I antiarrhythmic C01BB01.
    expect(codes(resolver, 'Lidocaine Jelly 2% (Urojet)')).toEqual(['N01BB02'])
    expect(codes(resolver, 'Lidocaine 5% Patch', { route: 'TD' })).toEqual(['N01BB02'])
    expect(codes(resolver, 'Lidocaine 1%', { route: 'SC' })).toEqual(['N01BB02'])
    expect(codes(resolver, 'Lidocaine 5% Ointment')).toEqual(['D04AB01'])
    // An albuterol inhaler is R03 (inhaled), not nasal R01 nor the oral R03CC02.
    expect(codes(resolver, 'Albuterol Inhaler')).toEqual(['R03AC02'])
    expect(codes(resolver, 'Albuterol 0.083% Neb Soln', { route: 'IH' })).toEqual(['R03AC02'])
    expect(codes(resolver, 'albuterol', { route: 'PO' })).toEqual(['R03CC02'])
    // Eye, ear, nose, skin and mouth products get their S01/S02/R01/D/A01 codes.
    expect(codes(resolver, 'PrednisoLONE Acetate 1% Ophth. Susp.')).toEqual(['S01BA04'])
    expect(codes(resolver, 'Fluticasone Propionate NASAL', { route: 'NU' })).toEqual(['R01AD08'])
    expect(codes(resolver, 'Fluticasone Propionate 110mcg', { route: 'IH' })).toEqual(['R03BA05'])
    expect(codes(resolver, 'Hydrocortisone 10 MG/ML Topical Cream')).toEqual(['D07AA02'])
    expect(codes(resolver, 'Chlorhexidine Gluconate 0.12% Oral Rinse', { route: 'ORAL' })).toEqual(['A01AB03'])
    expect(codes(resolver, 'Ciprofloxacin 0.3% Ophth Soln')).toEqual(['S01AE03'])
    // Without a local word, the substance's principal systemic code (aspirin B01AC06, not A01AD05).
    expect(codes(resolver, 'Aspirin')).toEqual(['B01AC06'])
    expect(codes(resolver, 'Heparin')).toEqual(['B01AB01'])
    // A transdermal system acts systemically.
    expect(codes(resolver, 'Nicotine Patch', { route: 'TD' })).toEqual(['N07BA01'])
    expect(resolved(resolver.resolve({ text: 'Albuterol Inhaler' })).route).toBe('inhaled')
  })

  it('combination: every ingredient, each with its own code', () => {
    expect(codes(resolver, 'Oxycodone-Acetaminophen (5mg-325mg)')).toEqual(['N02AA05', 'N02BE01'])
    expect(codes(resolver, 'Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet')).toEqual(['N02BE01', 'R05DA03'])
    expect(codes(resolver, 'Piperacillin-Tazobactam')).toEqual(['J01CA12', 'J01CG02'])
    expect(codes(resolver, 'Sulfameth/Trimethoprim DS')).toEqual(['J01EC01', 'J01EA01'])
    expect(codes(resolver, 'Ipratropium-Albuterol Neb')).toEqual(['R03BB01', 'R03AC02'])
    const r = resolved(resolver.resolve({ text: 'Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate 0.417 MG/ML Oral Solution' }))
    expect(r.combination).toBe(true)
    expect(r.ingredients.map((i) => i.name)).toEqual(['paracetamol', 'dextromethorphan', 'doxylamine'])
    expect(r.paths).toContain('combination')
    // Part of a combination unknown: unresolved (with the recognised part as a candidate), never half a drug.
    const partial = resolver.resolve({ text: 'Oxycodone-Zorbafen' })
    expect(partial.status).toBe('unresolved')
    expect(partial.status === 'unresolved' && partial.candidates.map((c) => c.name)).toContain('oxycodone')
  })

  it('brand: curated brands, including combination brands', () => {
    expect(codes(resolver, 'Lasix 40mg')).toEqual(['C03CA01'])
    expect(codes(resolver, '24 HR metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]')).toEqual(['C07AB02'])
    expect(codes(resolver, 'PERCOCET 5/325 TAB')).toEqual(['N02AA05', 'N02BE01'])
    expect(codes(resolver, 'Diazepam [Valium]')).toEqual(['N05BA01'])
    const hespan = resolved(resolver.resolve({ text: 'Hespan' }))
    // A plasma expander brand is hydroxyethylstarch, never heparin.
    expect(hespan.ingredients.map((i) => [i.name, i.atc5, i.path])).toEqual([['hydroxyethylstarch', 'B05AA07', 'brand']])
  })

  it('abbreviation and US name', () => {
    expect(codes(resolver, 'KCl 20 mEq')).toEqual(['A12BA01'])
    expect(codes(resolver, 'MgSO4', { route: 'IV' })).toEqual(['B05XA05'])
    expect(codes(resolver, 'APAP 325')).toEqual(['N02BE01'])
    expect(codes(resolver, 'ASA 81 mg')).toEqual(['B01AC06'])
    expect(codes(resolver, 'D50')).toEqual(['V06DC01'])
    expect(resolved(resolver.resolve({ text: 'KCl' })).ingredients[0]!.path).toBe('abbreviation')
    const us = resolved(resolver.resolve({ text: 'Phytonadione' }))
    expect(us.ingredients.map((i) => [i.name, i.atc5, i.path])).toEqual([['phytomenadione', 'B02BA01', 'us-name']])
    expect(codes(resolver, 'acetaminophen')).toEqual(['N02BE01'])
    // Salt and ester words are stripped and reported as such.
    const salt = resolved(resolver.resolve({ text: 'METOPROLOL TARTRATE 25 MG PO TABS' }))
    expect(salt.ingredients.map((i) => [i.atc5, i.path])).toEqual([['C07AB02', 'salt-stripped']])
  })

  it('misspelling: one edit from exactly one substance, reported as such; unknown names are not guessed', () => {
    const r = resolved(resolver.resolve({ text: 'Simvistatin 10 MG' }))
    expect(r.ingredients.map((i) => [i.atc5, i.path])).toEqual([['C10AA01', 'misspelling']])
    expect(r.confidence).toBeLessThan(0.9)
    // Two edits and a different first letter: not tobramycin.
    expect(codes(resolver, 'Zorbamycin (investigational)')).toBe('unresolved')
    expect(codes(resolver, 'ZZZ UNKNOWN COMPOUND')).toBe('unresolved')
  })

  it('non-drug: containers, carriers, diluents, flushes and devices; a syringe never maps to insulin', () => {
    for (const text of ['Bag', 'Vial', 'Syringe', 'Insulin Syringe U-500', 'Sterile Water', '0.9% Sodium Chloride', 'Sodium Chloride 0.9%  Flush', 'D5W', '5% Dextrose', 'NS', 'D5 1/2NS', 'Lactated Ringers', '1000 ML FLEX CONT : SODIUM CHLORIDE 0.9 % IV SOLN', 'SODIUM CHLORIDE 0.9 % SYRINGE : 10 ML SYRINGE', 'Syringe (0.9% Sodium Chloride)', 'D10W', 'RINGERS SOLUTION,LACTATED', 'SODIUM CHLORIDE BACTERIOSTATIC 0.9 % INJ SOLN']) {
      expect([text, codes(resolver, text)]).toEqual([text, 'non-drug'])
    }
    const syringe = resolver.resolve({ text: 'Insulin Syringe U-100' })
    expect(syringe).toMatchObject({ status: 'non-drug' })
    // The drug in a syringe or bag is still the drug; a heparin flush is heparin.
    expect(codes(resolver, 'Lorazepam 2mg Syringe')).toEqual(['N05BA06'])
    expect(codes(resolver, 'Heparin Flush (10 units/ml)')).toEqual(['B01AB01'])
    expect(codes(resolver, 'Potassium Chl 20 mEq / 1000 mL D5 1/2 NS', { route: 'IV' })).toEqual(['B05XA01'])
    // Hypertonic saline and oral sodium chloride are drugs; plain IV sodium chloride is a fluid.
    expect(codes(resolver, 'Sodium Chloride 3% (Hypertonic)', { route: 'IV' })).toEqual(['B05XA03'])
    expect(codes(resolver, 'SODIUM CHLORIDE', { route: 'IV' })).toBe('non-drug')
  })

  it('ambiguity: never a near name (omeprazole/esomeprazole, heparin/enoxaparin); ambiguous names are reported', () => {
    expect(codes(resolver, 'Omeprazole')).toEqual(['A02BC01'])
    expect(codes(resolver, 'Esomeprazole')).toEqual(['A02BC05'])
    expect(codes(resolver, 'Heparin Sodium')).toEqual(['B01AB01'])
    expect(codes(resolver, 'Enoxaparin Sodium')).toEqual(['B01AB05'])
    // A substance used only locally on several sites, with no route in the string: ambiguous, not a guess.
    expect(codes(resolver, 'brimonidine')).toBe('ambiguous')
    expect(codes(resolver, 'brimonidine 0.15% ophth')).toEqual(['S01EA05'])
    // A chemical word after a name makes another substance: carbamide peroxide is not carbamide.
    expect(codes(resolver, 'Carbamide Peroxide 6.5%')).toBe('unresolved')
    const vitaminD = resolver.resolve({ text: 'Vitamin D' })
    expect(vitaminD.status).toBe('ambiguous')
    expect(vitaminD.status === 'ambiguous' && vitaminD.candidates.map((c) => c.name).sort()).toEqual(['colecalciferol', 'ergocalciferol'])
  })

  it('code table: a GSN resolves a name the resolver does not know, with lower confidence', () => {
    const r = resolved(resolver.resolve({ text: 'FURO-TAB HOUSE BRAND', gsn: '008208' }))
    expect(r.ingredients.map((i) => [i.atc5, i.path])).toEqual([['C03CA01', 'code-table']])
    expect(r.confidence).toBeLessThan(0.9)
    // The name wins over the code when it is known.
    expect(resolved(resolver.resolve({ text: 'Furosemide', gsn: '008208' })).ingredients[0]!.path).toBe('exact-inn')
  })

  it('RxNorm-coded FHIR texts resolve through the same path', () => {
    expect(codes(resolver, 'insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML Injectable Suspension [Humulin]', { rxnorm: '106892' })).toEqual([
      'A10AC01',
      'A10AB01'
    ])
    expect(codes(resolver, 'NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule', { rxnorm: '311995' })).toEqual(['J01XE01'])
    expect(codes(resolver, 'Yaz 28 Day Pack', { rxnorm: '748856' })).toEqual(['G03AC10', 'G03CA01'])
  })
})

describe.skipIf(!HAS_OPEN_DATA)('compiled synonyms (FDA UNII names) and local overrides', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('builds drug_synonyms from a UNII Names file: official names, brands, and names shared by two substances', () => {
    const dir = space.dir()
    const unii = join(dir, 'UNII_Names.txt')
    writeFileSync(
      unii,
      [
        'Name\tTYPE\tUNII\tDisplay Name',
        'SALBUTAMOL\tof\tQF8SVZ843E\tALBUTEROL',
        'ALBUTEROL\tof\tQF8SVZ843E\tALBUTEROL',
        'PROVENTIL\tbn\tQF8SVZ843E\tALBUTEROL',
        'FUROSEMIDE\tof\t7LXU5N7ZO5\tFUROSEMIDE',
        'FRUSEMIDE\tcn\t7LXU5N7ZO5\tFUROSEMIDE',
        'LASIX\tbn\t7LXU5N7ZO5\tFUROSEMIDE',
        'OMEPRAZOLE\tof\tKG60484QX9\tOMEPRAZOLE',
        'ESOMEPRAZOLE\tof\tN3PA6559FT\tESOMEPRAZOLE',
        'PRAZOLEX\tbn\tKG60484QX9\tOMEPRAZOLE',
        'PRAZOLEX\tbn\tN3PA6559FT\tESOMEPRAZOLE',
        '4-AMINO-SOMETHING-CHEMICAL-NAME-1234567\tsys\tQF8SVZ843E\tALBUTEROL'
      ].join('\n')
    )
    const kbPath = join(dir, 'kb.sqlite')
    const db = new Database(kbPath)
    const report = buildDrugSynonyms(db, whoAtcFile(DATA_DIR), unii)
    db.close()
    expect(report).toMatchObject({ linkedUniis: 4, brands: 3, ambiguousNames: 1 })
    const resolver = createDrugResolver({ dataDir: DATA_DIR, kbPath })
    expect(resolved(resolver.resolve({ text: 'Proventil HFA', route: 'IH' })).ingredients.map((i) => [i.atc5, i.path])).toEqual([['R03AC02', 'brand']])
    expect(resolved(resolver.resolve({ text: 'Frusemide 40 mg' })).ingredients.map((i) => [i.atc5, i.path])).toEqual([['C03CA01', 'synonym']])
    // A brand filed under two substances is reported ambiguous, never resolved to one of them.
    const both = resolver.resolve({ text: 'Prazolex 20' })
    expect(both.status).toBe('ambiguous')
  })

  it('an override is stored, audited, used by later resolves and re-imports, and validated', async () => {
    const db = space.db()
    const resolver = createDrugResolver({ dataDir: DATA_DIR, kbPath: null })
    expect(resolver.resolve({ text: 'Zorbamycin (investigational)' }).status).toBe('unresolved')
    const { auditId } = setOverride(db, resolver, { raw: 'Zorbamycin (investigational)', target: 'J01XA01', reason: 'site formulary: study vancomycin', userName: 'pharmacist' })
    expect(auditId).toBeGreaterThan(0)
    const audit = db.prepare('SELECT kind, user_name, outputs_json FROM audit_log WHERE id = ?').get(auditId) as { kind: string; user_name: string; outputs_json: string }
    // The audit records the OS account (issue 15), never the name a caller passes.
    expect(audit).toMatchObject({ kind: 'drug-override', user_name: currentUserName() })
    expect(JSON.parse(audit.outputs_json)).toMatchObject({ raw: 'Zorbamycin (investigational)', target: 'J01XA01', previous: null })
    const r = resolved(resolver.resolve({ text: 'ZORBAMYCIN (investigational)' }))
    expect(r.ingredients.map((i) => [i.atc5, i.path])).toEqual([['J01XA01', 'override']])
    expect(r.confidence).toBe(1)
    // non-drug overrides; bad targets and missing reasons change nothing.
    setOverride(db, resolver, { raw: 'Sarna Lotion', target: 'non-drug', reason: 'emollient', userName: 'pharmacist' })
    expect(resolver.resolve({ text: 'Sarna Lotion' }).status).toBe('non-drug')
    expect(() => setOverride(db, resolver, { raw: 'Foo', target: 'Z99ZZ99', reason: 'x', userName: 'p' })).toThrow(OverrideError)
    expect(() => setOverride(db, resolver, { raw: 'Foo', target: 'J01XA01', reason: ' ', userName: 'p' })).toThrow(/reason/)
    // An RxNorm code can carry an override too ("rxnorm:<code>"), for FHIR sources whose texts vary.
    setOverride(db, resolver, { raw: 'rxnorm:999001', target: 'N02BE01+N02AA05', reason: 'local RxNorm product', userName: 'pharmacist' })
    expect(codes(resolver, 'Local combo tablet', { rxnorm: '999001' })).toEqual(['N02BE01', 'N02AA05'])
    expect(listOverrides(db).map((o) => o.rawText)).toEqual(['rxnorm:999001', 'Sarna Lotion', 'Zorbamycin (investigational)'])

    // A later import of the MIMIC-IV fixture uses the override for the investigational drug.
    const report = await importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini', true), dataDir: DATA_DIR })
    expect(report.drugResolution).toMatchObject({ resolved: 6, nonDrug: 1, unresolved: 0 })
    expect(db.prepare(`SELECT atc5 FROM medications WHERE raw_name LIKE 'Zorbamycin%'`).pluck().get()).toBe('J01XA01')
  })
})

describe('title protection', () => {
  it('scores replacement characters and keeps the better title', () => {
    expect(damageScore("M?ni?re's disease")).toBe(2)
    expect(damageScore('M\uFFFDni\uFFFDre')).toBe(2)
    expect(damageScore("Ménière's disease, unspecified?")).toBe(0)
    expect(isBetterTitle("M?ni?re's disease", "Ménière's disease")).toBe(false)
    expect(isBetterTitle("Ménière's disease", "M?ni?re's disease")).toBe(true)
    expect(isBetterTitle('Coronary atherosclerosis', 'Coronary atherosclerosis of native coronary artery')).toBe(false)
    expect(isBetterTitle('Coronary atherosclerosis of native coronary artery', 'Coronary atherosclerosis of nat')).toBe(true)
    // Different wording of the same quality: the stored title stays.
    expect(isBetterTitle('Essential hypertension, unspecified', 'Unspecified essential hypertension')).toBe(false)
  })

  describe.skipIf(!HAS_OPEN_DATA)('in an import', () => {
    const space = new TempSpace()
    afterEach(() => space.cleanup())

    it("a second import with damaged or truncated titles leaves the stored ones and counts the conflicts", async () => {
      const db = space.db()
      const fixture = space.fixture('mimic-iv-mini')
      const titles = join(fixture, 'hosp', 'd_icd_diagnoses.csv')
      const original = readFileSync(titles, 'utf8')
      await importDataset(db, { format: 'mimic-iv', dir: fixture, dataDir: DATA_DIR })
      const title = (code: string): unknown => db.prepare(`SELECT title FROM code_titles WHERE code = ?`).pluck().get(code)
      expect(title('41401')).toBe('Coronary atherosclerosis of native coronary artery')
      writeFileSync(
        titles,
        original
          .replace('Coronary atherosclerosis of native coronary artery', 'C?ronary ather?sclerosis of native c?ronary artery')
          .replace('Unspecified essential hypertension', 'Unspecified essential')
      )
      const report = await importDataset(db, { format: 'mimic-iv', dir: fixture, dataDir: DATA_DIR })
      expect(title('41401')).toBe('Coronary atherosclerosis of native coronary artery')
      expect(title('4019')).toBe('Unspecified essential hypertension')
      expect(report.titleConflicts).toMatchObject({ kept: 2, replaced: 0 })
      expect(report.titleConflicts!.samples.map((s) => s.code).sort()).toEqual(['4019', '41401'])
      // The full title back again is not a conflict; a longer completion of a truncated title replaces it.
      db.prepare(`UPDATE code_titles SET title = 'Unspecified essential hyper' WHERE code = '4019'`).run()
      writeFileSync(titles, original)
      const third = await importDataset(db, { format: 'mimic-iv', dir: fixture, dataDir: DATA_DIR, force: true })
      expect(title('4019')).toBe('Unspecified essential hypertension')
      expect(third.titleConflicts).toMatchObject({ kept: 0, replaced: 1 })
    })
  })
})
