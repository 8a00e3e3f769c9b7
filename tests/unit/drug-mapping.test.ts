import { describe, expect, it } from 'vitest'
import { atcDisplayName } from '../../src/main/services/drugs/atc-names'
import { drugNameCandidates, drugNameKey, drugNameTokens } from '../../src/main/services/drugs/drug-names'
import { normaliseNdc, splitGsn } from '../../src/main/services/drugs/drug-mapper'
import { createDrugMapper, loadReferenceData } from '../../src/main/services/drugs/reference-data'
import { DATA_DIR, HAS_OPEN_DATA } from './import-helpers'

describe('drug-name normalisation', () => {
  it('drops packaging, doses, units, forms and routes but keeps the substance words', () => {
    expect(drugNameKey('METOPROLOL TARTRATE 25 MG PO TABS')).toBe('metoprolol tartrate')
    expect(drugNameKey('5 ML VIAL : DILTIAZEM HCL 25 MG/5ML IV SOLN')).toBe('diltiazem hcl')
    expect(drugNameKey('SODIUM CHLORIDE 0.9 % SYRINGE : 10 ML SYRINGE')).toBe('sodium chloride')
    expect(drugNameKey('100 ML  -  POTASSIUM CHLORIDE 20 MEQ/100ML IV SOLN')).toBe('potassium chloride')
    expect(drugNameKey('TraMADOL (Ultram)')).toBe('tramadol')
    expect(drugNameKey('HYDROCODONE-ACETAMINOPHEN 5-325 MG PO TABS')).toBe('hydrocodone acetaminophen')
    expect(drugNameKey('Sulfameth/Trimethoprim DS')).toBe('sulfameth trimethoprim ds')
  })

  it('expands ward abbreviations and never empties a name', () => {
    expect(drugNameTokens('D50')).toEqual(['dextrose'])
    expect(drugNameTokens('0.9%NaCl 1,000 mL')).toEqual(['sodium', 'chloride'])
    expect(drugNameTokens('Bag')).toEqual(['bag'])
    expect(drugNameTokens('10 ML')).toEqual(['10', 'ml'])
  })

  it('tries the full name, then without salts, then shorter prefixes, never a lone generic word', () => {
    expect(drugNameCandidates('ONDANSETRON HCL 4 MG/2ML IJ SOLN')).toEqual(['ondansetron hcl', 'ondansetron'])
    expect(drugNameCandidates('POTASSIUM CHLORIDE CRYS ER 20 MEQ PO TBCR')).toEqual([
      'potassium chloride crys',
      'crys',
      'potassium chloride'
    ])
    expect(drugNameCandidates('insulin aspart')).toEqual(['insulin aspart'])
  })

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

describe.skipIf(!HAS_OPEN_DATA)('drug mapping with the open tables', () => {
  it('prefers the curated name, then GSN, then NDC (ATC3, with the ATC5 from the name when it agrees), then the normalised name', async () => {
    const mapper = await createDrugMapper(DATA_DIR)
    // The curated name table wins where the GSN table takes a substance's first class: IV magnesium
    // sulfate is A12CC02 by name, A06AD04 (a laxative) by its GSN 063340.
    const { gsnToAtc } = (await loadReferenceData(DATA_DIR)).tables
    expect(gsnToAtc.get('063340')).toBe('A06AD04')
    expect(mapper.map({ name: 'Magnesium Sulfate', gsn: '063340', ndc: '' })).toEqual({ atc5: 'A12CC02', atc3: 'A12C', method: 'name' })
    // A name the curated table does not know: the GSN decides.
    expect(mapper.map({ name: 'FUROSEMIDE 20MG TAB (HOSPITAL X)', gsn: '008208', ndc: '51079007220' })).toEqual({
      atc5: 'C03CA01',
      atc3: 'C03C',
      method: 'gsn'
    })
    // No GSN: the NDC gives C10A, the name the ATC5 within it.
    expect(mapper.map({ name: 'Atorvastatin Calcium 40mg (hospital formulary)', ndc: '00003517806', gsn: '' })).toEqual({ atc5: 'C10AA05', atc3: 'C10A', method: 'ndc' })
    // An unknown GSN and no NDC fall through to the normalised name.
    expect(mapper.map({ name: 'LISINOPRIL 10 MG PO TABS', gsn: '999999', ndc: '0' })).toEqual({ atc5: 'C09AA03', atc3: 'C09A', method: 'name' })
    expect(mapper.map({ name: 'Bag', gsn: '', ndc: '0' })).toEqual({ atc5: null, atc3: null, method: 'unmapped' })
  })

  it('maps eICU free text through normalisation, aliases and word order', async () => {
    const mapper = await createDrugMapper(DATA_DIR)
    const atc3 = (name: string): string | null => mapper.map({ name }).atc3
    expect(atc3('METOPROLOL TARTRATE 25 MG PO TABS')).toBe('C07A')
    expect(atc3('PANTOPRAZOLE SODIUM 40 MG IV SOLR')).toBe('A02B')
    expect(atc3('2 ML VIAL : ONDANSETRON HCL 4 MG/2ML IJ SOLN')).toBe('A04A')
    expect(atc3('POTASSIUM CHLORIDE CRYS ER 20 MEQ PO TBCR')).toBe('A12B')
    expect(atc3('ASPART insulin')).toBe('A10A')
    expect(atc3('ZZZ UNKNOWN COMPOUND')).toBeNull()
  })

  it('moves a local-use class the tables pick alphabetically to the systemic one, unless the name says local use', async () => {
    const mapper = await createDrugMapper(DATA_DIR)
    // The name table maps aspirin to A01AD05 (stomatological) and diltiazem to C05AE03 (anal fissures).
    expect(mapper.lookupName('Aspirin')).toBe('A01AD05')
    expect(mapper.map({ name: 'ASPIRIN EC 81 MG PO TBEC' }).atc5).toBe('B01AC06')
    expect(mapper.map({ name: 'Aspirin', gsn: '004380' })).toEqual({ atc5: 'B01AC06', atc3: 'B01A', method: 'name' })
    expect(mapper.map({ name: 'ASA 81 (ward stock)', gsn: '004380' })).toEqual({ atc5: 'B01AC06', atc3: 'B01A', method: 'gsn' })
    expect(mapper.map({ name: '5 ML VIAL : DILTIAZEM HCL 25 MG/5ML IV SOLN' }).atc5).toBe('C08DB01')
    expect(mapper.map({ name: 'VANCOMYCIN HCL 1000 MG IV SOLR', gsn: '009331' }).atc5).toBe('J01XA01')
    // Local use stays local.
    expect(mapper.map({ name: 'Vancomycin Oral Liquid ward', gsn: '009331' }).atc5).toBe('A07AA09')
    expect(mapper.systemicUnlessLocal('S01XA14', 'Heparin eye drops')).toBe('S01XA14')
    expect(mapper.systemicUnlessLocal('S01XA14', 'Heparin')).toBe('B01AB01')
    // A substance with a single code is left alone.
    expect(mapper.systemicUnlessLocal('C07AB02', 'metoprolol')).toBe('C07AB02')
  })

  it('loads ATC names for every level', async () => {
    const { atcNames } = await loadReferenceData(DATA_DIR)
    expect(atcNames.get('N02B')).toBe('Other analgesics and antipyretics')
    expect(atcNames.get('C07AB02')).toBe('Metoprolol')
    expect(atcNames.get('A')).toBe('Alimentary tract and metabolism')
    expect(atcNames.size).toBeGreaterThan(6000)
  })
})

describe.skipIf(!HAS_OPEN_DATA)('principal ATC code of a substance listed under several classes', () => {
  it('takes the class with an oral DDD over injection-only or local-use classes, unless the name says local use', async () => {
    const mapper = await createDrugMapper(DATA_DIR)
    // The name table maps each of these to a class that is not the substance's usual systemic use.
    expect(mapper.map({ name: 'Ibuprofen' })).toMatchObject({ atc5: 'M01AE01', atc3: 'M01A' })
    expect(mapper.map({ name: 'Diltiazem' })).toMatchObject({ atc5: 'C08DB01', atc3: 'C08D' })
    expect(mapper.map({ name: 'Aspirin' })).toMatchObject({ atc5: 'B01AC06', atc3: 'B01A' })
    // A local route in the name keeps the local class.
    expect(mapper.map({ name: 'Diltiazem 2% ointment' }).atc3).toBe('C05A')
    // A substance with one class is left alone.
    expect(mapper.map({ name: 'Metoprolol Tartrate' })).toMatchObject({ atc5: 'C07AB02' })
  })
})
