// The drug resolver's rules added with the second labelled set (dev2), by category, and the RxNorm code
// table: each rule is generic (a route, a form, a strength), never keyed to a labelled string.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDrugResolver, curatedNameSynonyms, loadResolverData, rxnormTablePath } from '../../src/main/services/drugs/load'
import type { DrugResolver } from '../../src/main/services/drugs/resolver'
import { collectRxnormCodings, readRxnormTable, RXNORM_SYSTEM } from '../../src/main/services/drugs/rxnorm-table'
import type { DrugQuery } from '../../src/main/services/drugs/types'
import { usToWhoName } from '../../src/main/services/drugs/who-names'
import { DATA_DIR, HAS_OPEN_DATA } from './import-helpers'

function codes(resolver: DrugResolver, text: string, extra: Omit<DrugQuery, 'text'> = {}): string[] | string {
  const r = resolver.resolve({ text, ...extra })
  return r.status === 'resolved' ? r.ingredients.map((i) => i.atc5) : r.status
}

describe.skipIf(!HAS_OPEN_DATA)('resolver rules (WHO index + curated names)', () => {
  let resolver: DrugResolver
  beforeAll(() => {
    resolver = createDrugResolver({ dataDir: DATA_DIR, kbPath: null, rxnormPath: null })
  })

  it('route: the route decides among a substance’s codes', () => {
    // Acetylcysteine into a vein is the paracetamol antidote; nebulised it is the mucolytic.
    expect(codes(resolver, 'Acetylcysteine (IV)', { route: 'IV' })).toEqual(['V03AB23'])
    expect(codes(resolver, 'Acetylcysteine 20%', { route: 'NEB' })).toEqual(['R05CB01'])
    // Vancomycin by enema acts in the colon (A07AA09), IV it is the systemic antibiotic.
    expect(codes(resolver, 'Vancomycin Enema', { route: 'PR' })).toEqual(['A07AA09'])
    expect(codes(resolver, 'Vancomycin', { route: 'IV' })).toEqual(['J01XA01'])
    // Clotrimazole by mouth is the troche (A01AB18), never the vaginal G01AF02; a cream is the skin code.
    expect(codes(resolver, 'Clotrimazole', { route: 'PO' })).toEqual(['A01AB18'])
    expect(codes(resolver, 'Clotrimazole Cream', { route: 'TP' })).toEqual(['D01AC01'])
    // A capsaicin cream is the topical analgesic, not the local-anaesthetic patch code.
    expect(codes(resolver, 'Capsaicin 0.025%', { route: 'TP' })).toEqual(['M02AB01'])
    // An ointment of a substance never given through the skin acts locally; nitroglycerin ointment is for angina.
    expect(codes(resolver, 'Diltiazem 2% ointment')).toEqual(['C05AE03'])
    expect(codes(resolver, 'Nitroglycerin Ointment  2%', { route: 'TP' })).toEqual(['C01DA02'])
    // Into a vein, an IV-solution code (mannitol B05BC01) before the laxative or the inhaled powder.
    expect(codes(resolver, 'Mannitol 20%', { route: 'IV' })).toEqual(['B05BC01'])
    // Saline by a local route has no local code: not the oral salt supplement A12CA01.
    expect(codes(resolver, 'Sodium Chloride 3% Inhalation Soln', { route: 'NEB' })).toBe('unresolved')
  })

  it('combination: strengths joined by a hyphen separate ingredients; phosphate supplements keep both salts', () => {
    // Amino acids with dextrose is parenteral nutrition (the dextrose is a nutrient there, not a carrier).
    expect(codes(resolver, 'Amino Acids 4.25%-Dextrose 5%', { route: 'IV' })).toEqual(['B05BA10'])
    // "50%-water" is one product, not dextrose plus water.
    expect(codes(resolver, 'DEXTROSE 50%-WATER', { route: 'INTRAVENOU' })).toEqual(['V06DC01'])
    const phosphates = codes(resolver, 'POTASSIUM & SODIUM PHOSPHATES 280-160-250 MG PO PACK', { route: 'PO' })
    expect(Array.isArray(phosphates) && phosphates[0]).toBe('B05XA06')
    expect(Array.isArray(phosphates) && phosphates.length).toBe(2)
  })

  it('brand and abbreviation: curated names', () => {
    expect(codes(resolver, '3.5 G  -  REFRESH P.M. OP OINT', { route: 'BOTH EYES' })).toEqual(['S01XA20'])
    expect(codes(resolver, 'Thyroid', { route: 'PO/NG' })).toEqual(['H03AA05'])
    expect(codes(resolver, 'BUFFERED LIDOCAINE 1%', { route: 'IDrm' })).toEqual(['N01BB02'])
  })

  it('non-drug: bacteriostatic saline, dextrose 10% and the inverted "Ringers solution, lactated" are fluids', () => {
    for (const text of ['SODIUM CHLORIDE BACTERIOSTATIC 0.9 % INJ SOLN', 'D10W', 'RINGERS SOLUTION,LACTATED', 'sodium chloride infusion 0.9%', 'Insulin Syringe U-500']) {
      expect([text, codes(resolver, text, { route: 'IV' })]).toEqual([text, 'non-drug'])
    }
    // A syringe that names its insulin is that insulin, prefilled.
    expect(codes(resolver, 'INSULIN GLARGINE SYRINGE', { route: 'SubQ' })).toEqual(['A10AE04'])
    // Parenteral nutrition is a drug product (B05BA10), not a carrier.
    expect(codes(resolver, 'TPN', { route: 'IV' })).toEqual(['B05BA10'])
  })

  it('ambiguity: no route or no strength where they decide the drug is reported, never guessed', () => {
    // Bacitracin with no route: skin, eye, throat, or the injection; with a form it resolves.
    const bacitracin = resolver.resolve({ text: 'BACITRACIN', route: '.ROUTE' })
    expect(bacitracin.status).toBe('ambiguous')
    expect(bacitracin.status === 'ambiguous' && bacitracin.candidates.map((c) => c.atc5)).toContain('D06AX05')
    expect(codes(resolver, 'Bacitracin Ointment')).toEqual(['D06AX05'])
    // Dextrose IV with no strength: carrier (5%) or hypoglycaemia dose (50%).
    expect(codes(resolver, 'dextrose', { route: 'IntraVENOUS' })).toBe('ambiguous')
    expect(codes(resolver, 'dextrose 50 % inj', { route: 'IV PUSH' })).toEqual(['V06DC01'])
    // ACD-A (citrate dextrose for a circuit) has no ATC5 code of its own: never glucose.
    expect(codes(resolver, 'Citrate Dextrose 3% (ACD-A) CRRT', { route: 'DIALYS' })).toBe('ambiguous')
    // An injector is an injection: epinephrine keeps its systemic code.
    expect(codes(resolver, 'NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector')).toEqual(['C01CA24'])
  })

  it('one name table: the knowledge build and the drug picker read US names from the resolver’s curated table', () => {
    expect(usToWhoName('albuterol')).toBe('salbutamol')
    expect(usToWhoName('methylene blue')).toBe('methylthioninium chloride')
    // A curated name may fix a code (niacin: the lipid agent), and the resolver gives the same.
    expect(curatedNameSynonyms().get('niacin')).toBe('C10AD02')
    expect(codes(resolver, 'niacin')).toEqual(['C10AD02'])
    expect(usToWhoName('percocet')).toBeUndefined() // brands and combinations are not one-to-one names
  })
})

describe.skipIf(!HAS_OPEN_DATA)('RxNorm code table', () => {
  const work = mkdtempSync(join(tmpdir(), 'medrec-rxnorm-'))
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  it('an RxNorm code of the table resolves by code first, whatever the text; an unknown code falls back to the text', () => {
    const resolver = createDrugResolver({ dataDir: DATA_DIR, kbPath: null })
    const byCode = resolver.resolve({ text: 'something the name reader would not know', rxnorm: '106892' })
    expect(byCode.status === 'resolved' && byCode.ingredients.map((i) => [i.atc5, i.path])).toEqual([
      ['A10AC01', 'rxnorm'],
      ['A10AB01', 'rxnorm']
    ])
    expect(byCode.status === 'resolved' && byCode.paths).toEqual(['rxnorm', 'combination'])
    // A code the table does not hold: the text decides.
    expect(codes(resolver, 'Furosemide 40 MG Oral Tablet', { rxnorm: '999999999' })).toEqual(['C03CA01'])
    // The inhaler's code keeps the inhaled code the display names.
    const table = readRxnormTable(rxnormTablePath(), loadResolverData({ dataDir: DATA_DIR, kbPath: null, rxnormPath: null }).codeInfo)
    const inhaler = [...table].find(([, e]) => /Metered Dose Inhaler/.test(e.display) && /albuterol/i.test(e.display))
    expect(inhaler && inhaler[1].atc5).toEqual(['R03AC02'])
    expect(table.size).toBeGreaterThanOrEqual(100)
  })

  it('a malformed table row is an error naming the file, line and reason', () => {
    const codeInfo = loadResolverData({ dataDir: DATA_DIR, kbPath: null, rxnormPath: null }).codeInfo
    const bad = join(work, 'bad.csv')
    writeFileSync(bad, 'rxnorm,display,atc5,resolved_by\n123,Thing,C03CA01,exact-inn\n456,Other,Z99ZZ99,exact-inn\n')
    expect(() => readRxnormTable(bad, codeInfo)).toThrow(/bad\.csv:3: "Z99ZZ99" is not an ATC5 code of the WHO index/)
    writeFileSync(bad, 'rxnorm,display,atc5,resolved_by\nabc,Thing,C03CA01,exact-inn\n')
    expect(() => readRxnormTable(bad, codeInfo)).toThrow(/bad\.csv:2: "abc" is not an RxNorm code/)
    writeFileSync(bad, 'rxnorm,display,atc5,resolved_by\n123,Thing,C03CA01,x\n123,Thing,C03CA01,x\n')
    expect(() => readRxnormTable(bad, codeInfo)).toThrow(/bad\.csv:3: RxNorm 123 is listed twice/)
  })

  it('collects the RxNorm codings of medication resources from bundles and NDJSON', async () => {
    const coding = (code: string, display: string): unknown => ({ coding: [{ system: RXNORM_SYSTEM, code, display }], text: display })
    const bundle = {
      resourceType: 'Bundle',
      entry: [
        { resource: { resourceType: 'MedicationRequest', medicationCodeableConcept: coding('310965', 'Ibuprofen 200 MG Oral Tablet') } },
        { resource: { resourceType: 'Condition', code: coding('1', 'not a drug') } },
        { resource: { resourceType: 'MedicationRequest', medicationCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '2', display: 'x' }] } } }
      ]
    }
    writeFileSync(join(work, 'a.json.gz'), gzipSync(JSON.stringify(bundle)))
    writeFileSync(join(work, 'Medication.ndjson'), `${JSON.stringify({ resourceType: 'Medication', code: coding('197361', 'Amlodipine 5 MG Oral Tablet') })}\n`)
    expect(await collectRxnormCodings(work)).toEqual([
      { code: '197361', display: 'Amlodipine 5 MG Oral Tablet' },
      { code: '310965', display: 'Ibuprofen 200 MG Oral Tablet' }
    ])
  })
})
