import { afterEach, describe, expect, it } from 'vitest'
import { findPatient, getPatientTimeline } from '../../src/main/services/db/patients-repo'
import { importDataset } from '../../src/main/services/imports'
import { DATA_DIR, EICU_DEMO, HAS_OPEN_DATA, TempSpace, visitOrder, ACCEPT_BAD_ROWS } from './import-helpers'

describe.skipIf(!HAS_OPEN_DATA)('eICU import', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('imports the fixture: unit stays as visits ordered by year, hospital stay, offset and unit visit number', async () => {
    const db = space.db()
    const report = await importDataset(db, { format: 'eicu', dir: space.fixture('eicu-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report).toMatchObject({
      format: 'eicu',
      patients: 3,
      visits: 5,
      diagnosisCodes: 11,
      procedureCodes: 2,
      medicationRows: 7,
      mappedDrugs: 5,
      unmappedDrugs: 2,
      mappedBy: { name: 5, gsn: 0, ndc: 0, unmapped: 2 },
      // LOPRESSOR is a brand the drug resolver knows; the unnamed row maps through HICL 18; ZZZ is unknown.
      drugResolution: { resolved: 4, combination: 0, nonDrug: 0, ambiguous: 0, unresolved: 3, noName: 2 },
      rejectedRows: 3,
      warnings: 1,
      codesWithoutTitle: 0
    })
    expect(report.skippedRows).toMatchObject({
      'medication order cancelled (drugordercancelled = Yes)': 1,
      'procedure code repeated within the same visit': 1
    })
    expect(report.rejectedSamples).toEqual([
      { file: 'diagnosis.csv.gz', line: 8, reason: 'diagnosis for unknown unit stay patientunitstayid "399999"' },
      { file: 'treatment.csv.gz', line: 5, reason: 'empty treatmentstring' },
      { file: 'medication.csv.gz', line: 8, reason: 'medication with neither drugname nor drughiclseqno' }
    ])
    expect(report.warningSamples![0]).toMatchObject({ file: 'diagnosis.csv.gz', line: 4 })

    // Stay ids are not chronological: 300010 (2014) first, then hospital stay 5001's unit visits 1 and 2.
    expect(visitOrder(db, 'eicu', '900-0001')).toEqual(['300010', '300004', '300003'])
    const timeline = getPatientTimeline(db, findPatient(db, '900-0001').id)
    expect(timeline.patient.sex).toBe('F')
    expect(timeline.visits.map((v) => [v.orderLabel, v.admitTime])).toEqual([
      ['2014, hospital stay 1, unit visit 1', null],
      ['2015, hospital stay 2, unit visit 1', null],
      ['2015, hospital stay 2, unit visit 2', null]
    ])
    const [renal, first, second] = timeline.visits
    // No ICD code: the diagnosis string is the code, system 'other'.
    expect(renal!.diagnoses).toEqual([
      { system: 'other', code: 'renal|disorder of kidney|acute renal failure', title: 'renal|disorder of kidney|acute renal failure' }
    ])
    // Primary diagnoses first; each ICD code classified and titled by its diagnosis string.
    expect(first!.diagnoses.map((d) => [d.system, d.code])).toEqual([
      ['ICD-9-CM', '51881'],
      ['ICD-10-CM', 'J9600'],
      ['ICD-9-CM', '4019'],
      ['ICD-10-CM', 'I10']
    ])
    expect(first!.diagnoses[2]!.title).toBe('cardiovascular|ventricular disorders|hypertension')
    expect(second!.diagnoses.map((d) => [d.system, d.code])).toEqual([
      ['ICD-9-CM', '9654'],
      ['ICD-9-CM', 'E9800'],
      ['ICD-10-CM', 'T391X'],
      ['other', 'pulmonary|respiratory failure|Tracheostomy performed during this admission for ventilatory support']
    ])
    expect(first!.procedures).toEqual([
      { system: 'other', code: 'pulmonary|ventilation and oxygenation|mechanical ventilation', title: 'pulmonary|ventilation and oxygenation|mechanical ventilation' }
    ])
    // The unnamed row and the brand name share HICL 18 with the named metoprolol row.
    expect(first!.medications.map((m) => [m.rawName, m.otherId, m.atc5, m.mappingMethod])).toEqual([
      ['METOPROLOL TARTRATE 25 MG PO TABS', '18', 'C07AB02', 'name'],
      ['', '18', 'C07AB02', 'name'],
      ['LOPRESSOR', '18', 'C07AB02', 'name']
    ])
    expect(report.mappedBySharedId).toBeGreaterThanOrEqual(1)
    expect(second!.medications.map((m) => [m.rawName, m.atc5])).toEqual([
      ['5 ML VIAL : DILTIAZEM HCL 25 MG/5ML IV SOLN', 'C08DB01'],
      ['ASPIRIN EC 81 MG PO TBEC', 'B01AC06']
    ])
    const unmapped = getPatientTimeline(db, findPatient(db, '900-0002').id).visits[0]!.medications
    expect(unmapped.map((m) => [m.rawName, m.otherId, m.mappingMethod])).toEqual([
      ['ZZZ UNKNOWN COMPOUND', null, 'unmapped'],
      ['', '99999', 'unmapped']
    ])
    expect(findPatient(db, '900-0003').sex).toBeNull()
  })
})

describe.skipIf(!HAS_OPEN_DATA)('the eICU demo', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('imports 2,520 unit stays of 1,841 patients', async () => {
    const db = space.db()
    const report = await importDataset(db, { format: 'eicu', dir: EICU_DEMO, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const rows = report.medicationRows
    console.log(
      `eICU demo: ${rows} medication rows; mapped ${((100 * report.mappedDrugs) / rows).toFixed(1)}% by name ` +
        `(${report.mappedBySharedId} of them through a shared HICL), unmapped ${report.unmappedDrugs}; ` +
        `${JSON.stringify(report.skippedRows)}; rejected ${report.rejectedRows}`
    )
    expect(report).toMatchObject({ patients: 1841, visits: 2520, codesWithoutTitle: 0 })
    // Containers and IV carriers are flagged non-drug (kept unmapped), not mapped to sodium chloride.
    const resolution = report.drugResolution!
    console.log(`eICU demo drug resolver: ${JSON.stringify({ ...resolution, byPath: undefined })}`)
    expect(report.mappedDrugs / rows).toBeGreaterThan(0.8)
    expect((report.mappedDrugs + resolution.nonDrug) / rows).toBeGreaterThan(0.87)
    expect(resolution.nonDrug).toBeGreaterThan(4000)
    expect(resolution.combination).toBeGreaterThan(1000)
    // Named rows the resolver could not place (the rest of the unmapped rows have no name, only a HICL).
    expect(resolution.noName).toBeGreaterThan(25000)
    expect(resolution.ambiguous + resolution.unresolved - resolution.noName!).toBeLessThan(0.02 * rows)
    // Every rejected row is a medication row with neither a name nor a HICL number.
    expect(new Set(report.rejectedSamples.map((r) => r.reason))).toEqual(new Set(['medication with neither drugname nor drughiclseqno']))
    const multiStay = db.prepare(`SELECT count(*) FROM (SELECT patient_id FROM visits GROUP BY patient_id HAVING count(*) > 1)`).pluck().get()
    expect(multiStay).toBeGreaterThan(100)
    // The demo's stay 141764 is unit visit 2 of the hospital stay that 141765 opened.
    expect(visitOrder(db, 'eicu', '002-1039')).toEqual(['141765', '141764'])
  })
})
