import { describe, expect, it } from 'vitest'
import { atcDisplayName } from '../../src/main/services/drugs/atc-names'
import { normaliseNdc, splitGsn } from '../../src/main/services/drugs/drug-mapper'
import { loadReferenceData } from '../../src/main/services/drugs/reference-data'
import { ResolverDrugMapper } from '../../src/main/services/drugs/import-mapping'
import { createDrugResolver } from '../../src/main/services/drugs/load'
import { DATA_DIR, HAS_OPEN_DATA } from './import-helpers'

describe('drug codes and ATC names', () => {
  it('normalises NDCs and GSN lists', () => {
    expect(normaliseNdc('00904404073')).toBe('00904404073')
    expect(normaliseNdc('0904-4040-73')).toBe('00904404073')
    expect(normaliseNdc('0')).toBeNull()
    expect(normaliseNdc('')).toBeNull()
    expect(normaliseNdc('not-an-ndc')).toBeNull()
    expect(splitGsn('027413 001723 ')).toEqual(['027413', '001723'])
    expect(splitGsn('4380')).toEqual(['004380'])
  })

  it('puts WHO capitals in sentence case, keeping acronyms and roman numerals', () => {
    expect(atcDisplayName('OTHER ANALGESICS AND ANTIPYRETICS')).toBe('Other analgesics and antipyretics')
    expect(atcDisplayName('ACE INHIBITORS, PLAIN')).toBe('ACE inhibitors, plain')
    expect(atcDisplayName('ANTIARRHYTHMICS, CLASS I AND III')).toBe('Antiarrhythmics, class I and III')
    expect(atcDisplayName('metoprolol')).toBe('Metoprolol')
  })
})

// The importers map rows through the one drug resolver (the name tables of the old mapper were folded
// into it): these are the behaviours the old mapper's tests pinned, now asserted of the resolver's mapper.
describe.skipIf(!HAS_OPEN_DATA)('importer drug mapping through the resolver', () => {
  const mapper = (): ResolverDrugMapper => new ResolverDrugMapper(createDrugResolver({ dataDir: DATA_DIR, kbPath: null }))

  it('maps by name first; the GSN table only when the name is not recognised', () => {
    // IV magnesium sulfate is the electrolyte by name, not the laxative A06AD04 its GSN 063340 gives.
    expect(mapper().map({ name: 'Magnesium Sulfate', gsn: '063340', route: 'IV' })).toMatchObject({ atc5: 'B05XA05', method: 'name' })
    // A name nobody knows: the GSN decides, and says so.
    expect(mapper().map({ name: 'WARD STOCK ITEM 42', gsn: '008208' })).toMatchObject({ atc5: 'C03CA01', atc3: 'C03C', method: 'gsn' })
    expect(mapper().map({ name: 'LISINOPRIL 10 MG PO TABS', gsn: '999999', ndc: '0' })).toMatchObject({ atc5: 'C09AA03', atc3: 'C09A', method: 'name' })
    expect(mapper().map({ name: 'Bag' })).toMatchObject({ atc5: null, atc3: null, method: 'unmapped', outcome: 'non-drug' })
    expect(mapper().map({ name: 'ZZZ UNKNOWN COMPOUND' })).toMatchObject({ atc5: null, method: 'unmapped', outcome: 'unresolved' })
  })

  it("maps eICU free text (salts, forms, packaging, word order) to the substance's systemic code", () => {
    const atc5 = (name: string): string | null => mapper().map({ name }).atc5
    expect(atc5('METOPROLOL TARTRATE 25 MG PO TABS')).toBe('C07AB02')
    expect(atc5('PANTOPRAZOLE SODIUM 40 MG IV SOLR')).toBe('A02BC02')
    expect(atc5('2 ML VIAL : ONDANSETRON HCL 4 MG/2ML IJ SOLN')).toBe('A04AA01')
    expect(atc5('POTASSIUM CHLORIDE CRYS ER 20 MEQ PO TBCR')).toBe('A12BA01')
    expect(atc5('10 ML VIAL : INSULIN ASPART 100 UNIT/ML SC SOLN')).toBe('A10AB05')
    // A substance listed under several classes gets its systemic one unless the string names a local use.
    expect(atc5('ASPIRIN EC 81 MG PO TBEC')).toBe('B01AC06')
    expect(atc5('5 ML VIAL : DILTIAZEM HCL 25 MG/5ML IV SOLN')).toBe('C08DB01')
    expect(atc5('Diltiazem 2% ointment')).toBe('C05AE03')
    expect(atc5('Ibuprofen')).toBe('M01AE01')
    expect(atc5('Heparin')).toBe('B01AB01')
    expect(mapper().map({ name: 'Vancomycin Oral Liquid' }).atc5).toBe('A07AA09')
    expect(mapper().map({ name: 'VANCOMYCIN HCL 1000 MG IV SOLR' }).atc5).toBe('J01XA01')
  })

  it('loads ATC names for every level', async () => {
    const { atcNames } = await loadReferenceData(DATA_DIR)
    expect(atcNames.get('N02B')).toBe('Other analgesics and antipyretics')
    expect(atcNames.get('C07AB02')).toBe('Metoprolol')
    expect(atcNames.get('A')).toBe('Alimentary tract and metabolism')
    expect(atcNames.size).toBeGreaterThan(6000)
  })
})
