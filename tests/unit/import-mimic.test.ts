import { afterEach, describe, expect, it } from 'vitest'
import { getPatientTimeline, findPatient } from '../../src/main/services/db/patients-repo'
import { importDataset } from '../../src/main/services/imports'
import { DATA_DIR, HAS_OPEN_DATA, MIMIC_IV_DEMO, TempSpace, visitOrder, ACCEPT_BAD_ROWS } from './import-helpers'

describe.skipIf(!HAS_OPEN_DATA)('MIMIC-IV import', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('imports the fixture (gzipped hosp/ layout): patients, visits in time order, codes with titles, mapped and unmapped drugs', async () => {
    const db = space.db()
    const report = await importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report).toMatchObject({
      format: 'mimic-iv',
      status: 'completed',
      patients: 3,
      visits: 4,
      diagnosisCodes: 8,
      procedureCodes: 3,
      medicationRows: 7,
      mappedDrugs: 5,
      unmappedDrugs: 2,
      // Bag is a container (non-drug); the investigational Zorbamycin is unknown (never read as tobramycin).
      drugResolution: { resolved: 5, combination: 0, nonDrug: 1, ambiguous: 0, unresolved: 1, noName: 0 },
      rejectedRows: 0,
      codesWithoutTitle: 1 // N179 is not in the fixture's d_icd_diagnoses
    })
    // The resolver reads the name first; GSN/NDC tables are its fallback for names it does not know.
    expect(report.mappedBy).toEqual({ name: 5, gsn: 0, ndc: 0, unmapped: 2 })

    // hadm 20000009 was admitted in January, 20000002 in June: time order, not id or file order.
    expect(visitOrder(db, 'mimic-iv', '100001')).toEqual(['20000009', '20000002'])

    const timeline = getPatientTimeline(db, findPatient(db, '100001').id)
    const [first, second] = timeline.visits
    expect(first).toMatchObject({ sourceVisitId: '20000009', admitTime: '2150-01-05T10:00:00', dischargeTime: '2150-01-10T12:00:00', orderLabel: '2150-01-05 10:00' })
    expect(first!.diagnoses).toEqual([
      { system: 'ICD-9-CM', code: '41401', title: 'Coronary atherosclerosis of native coronary artery' },
      { system: 'ICD-9-CM', code: '4019', title: 'Unspecified essential hypertension' },
      {
        system: 'ICD-9-CM',
        code: '25000',
        title: 'Diabetes mellitus without mention of complication, type II or unspecified type, not stated as uncontrolled'
      }
    ])
    expect(second!.procedures).toEqual([{ system: 'ICD-10-PCS', code: '02703ZZ', title: 'Dilation of Coronary Artery, One Artery, Percutaneous Approach' }])
    const meds = Object.fromEntries(first!.medications.concat(second!.medications).map((m) => [m.rawName, m]))
    expect(meds['Furosemide 20mg Tab']).toMatchObject({ gsn: '008208', ndc: '51079007220', atc5: 'C03CA01', atc3: 'C03C', atc3Name: 'High-ceiling diuretics', mappingMethod: 'name' })
    // Aspirin by mouth is the systemic B01AC06, not the stomatological A01AD05.
    expect(meds['Aspirin']).toMatchObject({ atc5: 'B01AC06', atc3: 'B01A', mappingMethod: 'name' })
    expect(meds['Atorvastatin Calcium 40mg Tab']).toMatchObject({ ndc: '00003517806', gsn: null, atc3: 'C10A', atc5: 'C10AA05', mappingMethod: 'name' })
    expect(meds['Bag']).toMatchObject({ atc3: null, atc5: null, mappingMethod: 'unmapped', ndc: null })

    const other = getPatientTimeline(db, findPatient(db, '100002').id)
    const vanco = other.visits[0]!.medications.find((m) => m.rawName === 'Vancomycin')
    expect(vanco).toMatchObject({ atc5: 'J01XA01', mappingMethod: 'name' })
    const investigational = other.visits[0]!.medications.find((m) => m.rawName.startsWith('Zorbamycin'))
    expect(investigational).toMatchObject({ mappingMethod: 'unmapped', atc3: null })
    expect(db.prepare(`SELECT start_time FROM medications WHERE raw_name = 'Vancomycin'`).pluck().get()).toBe('2160-03-03T06:00:00')
    expect(db.prepare(`SELECT name FROM atc_names WHERE code = 'B01A'`).pluck().get()).toBe('Antithrombotic agents')
    expect(findPatient(db, '100002').sex).toBe('M')
  })

  it('accepts the hosp/ folder itself and plain .csv files', async () => {
    const db = space.db()
    const dir = space.fixture('mimic-iv-mini')
    const report = await importDataset(db, { format: 'mimic-iv', dir: `${dir}/hosp`, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report.visits).toBe(4)
  })
})

describe.skipIf(!HAS_OPEN_DATA)('MIMIC-III import', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('imports an export in the public MIMIC-III schema as is (upper-case files and columns, quoted fields, .csv and .csv.gz mixed)', async () => {
    const db = space.db()
    const dir = space.fixture('mimic-iii-mini', /^(PRESCRIPTIONS|D_ICD_DIAGNOSES)\.csv$/)
    const report = await importDataset(db, { format: 'mimic-iii', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report).toMatchObject({
      format: 'mimic-iii',
      patients: 3,
      visits: 4,
      diagnosisCodes: 10,
      procedureCodes: 4,
      medicationRows: 6,
      rejectedRows: 1,
      codesWithoutTitle: 1 // E9342 is used but missing from D_ICD_DIAGNOSES, as happens in MIMIC-III
    })
    expect(report.rejectedSamples).toEqual([{ file: 'DIAGNOSES_ICD.csv', line: 10, reason: 'empty code' }])
    expect(report.unmappedDrugs + report.mappedDrugs).toBe(6)

    // HADM 158975 (2149) precedes HADM 116935 (2155) though its id is larger.
    expect(visitOrder(db, 'mimic-iii', '249')).toEqual(['158975', '116935'])
    const timeline = getPatientTimeline(db, findPatient(db, '249').id)
    expect(timeline.visits[0]!.diagnoses.map((d) => [d.system, d.code, d.title])).toEqual([
      ['ICD-9-CM', '0389', 'Unspecified septicemia'],
      ['ICD-9-CM', '78552', 'Septic shock'],
      ['ICD-9-CM', '5849', 'Acute kidney failure, unspecified']
    ])
    expect(timeline.visits[0]!.procedures).toEqual([{ system: 'ICD-9-CM', code: '3893', title: 'Venous catheterization, not elsewhere classified' }])
    const meds = timeline.visits[0]!.medications
    expect(meds.map((m) => [m.rawName, m.atc3])).toEqual([
      ['Vancomycin', 'J01X'],
      ['Heparin', 'B01A']
    ])
    expect(db.prepare(`SELECT start_time FROM medications WHERE raw_name = 'Heparin'`).pluck().get()).toBe('2149-12-18T00:00:00')
    const pantoprazole = timeline.visits[1]!.medications.find((m) => m.rawName === 'Pantoprazole')
    expect(pantoprazole).toMatchObject({ atc3: 'A02B', gsn: null, ndc: null })
    expect(findPatient(db, '251').sex).toBe('M')
  })
})

describe.skipIf(!HAS_OPEN_DATA)('the MIMIC-IV demo', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('imports 100 patients and 275 admissions with every code kept and 94% of medication rows mapped', async () => {
    const db = space.db()
    const report = await importDataset(db, { format: 'mimic-iv', dir: MIMIC_IV_DEMO, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const rows = report.medicationRows
    console.log(
      `MIMIC-IV demo: ${rows} medication rows; mapped ${((100 * report.mappedDrugs) / rows).toFixed(1)}% ` +
        `(name ${report.mappedBy.name}, GSN ${report.mappedBy.gsn}, NDC ${report.mappedBy.ndc}), unmapped ${report.unmappedDrugs}`
    )
    expect(report).toMatchObject({ patients: 100, visits: 275, diagnosisCodes: 4506, medicationRows: 18087, rejectedRows: 0, codesWithoutTitle: 0 })
    // 722 procedure rows, 55 of them a code repeated within the same admission.
    expect(report.procedureCodes + (report.skippedRows?.['procedure code repeated within the same visit'] ?? 0)).toBe(722)
    // Every row is mapped or honestly flagged: containers and carriers (NS, D5W, bags, flushes) are non-drug.
    const resolution = report.drugResolution!
    console.log(`MIMIC-IV demo drug resolver: ${JSON.stringify({ ...resolution, byPath: undefined })}`)
    expect(report.mappedDrugs / rows).toBeGreaterThan(0.74)
    expect((report.mappedDrugs + resolution.nonDrug) / rows).toBeGreaterThan(0.98)
    expect(resolution.nonDrug).toBeGreaterThan(4000)
    expect(resolution.combination).toBeGreaterThan(300)
    expect(resolution.ambiguous + resolution.unresolved).toBeLessThan(0.015 * rows)
    // A syringe never maps to insulin, and no row of a container maps to a drug.
    expect(db.prepare(`SELECT count(*) FROM medications WHERE raw_name LIKE 'Syringe%' AND atc5 IS NOT NULL`).pluck().get()).toBe(0)
    expect(db.prepare(`SELECT count(*) FROM medications WHERE raw_name IN ('Bag', 'Vial', 'Sterile Water', '0.9% Sodium Chloride') AND atc5 IS NOT NULL`).pluck().get()).toBe(0)
    // Lidocaine jelly and patches are local anaesthetics, never the class I antiarrhythmic C01BB01.
    expect(db.prepare(`SELECT count(*) FROM medications WHERE raw_name LIKE 'Lidocaine%' AND (raw_name LIKE '%Jelly%' OR raw_name LIKE '%Patch%') AND atc5 = 'C01BB01'`).pluck().get()).toBe(0)
    // Oxycodone/acetaminophen keeps the opioid: one stored row per ingredient.
    expect(
      db.prepare(`SELECT group_concat(DISTINCT atc5) FROM (SELECT atc5 FROM medications WHERE raw_name = 'Oxycodone-Acetaminophen (5mg-325mg)' ORDER BY atc5)`).pluck().get()
    ).toBe('N02AA05,N02BE01')
    // The demo's file interleaves admissions; every row of a drug in an admission still folds into one
    // (one per ingredient for a combination product: all ingredient rows carry the same order count).
    const perDrug = `SELECT max(order_count) AS n, count(*) AS ingredients, count(DISTINCT order_count) AS counts
                     FROM medications GROUP BY visit_id, raw_name, ndc, gsn, other_id`
    expect(db.prepare(`SELECT sum(n) FROM (${perDrug})`).pluck().get()).toBe(rows)
    expect(db.prepare(`SELECT count(*) FROM (${perDrug}) WHERE counts > 1`).pluck().get()).toBe(0)
    const repeatedDrugRows = db
      .prepare(`SELECT count(*) FROM (SELECT 1 FROM medications GROUP BY visit_id, raw_name, ndc, gsn, other_id, atc5 HAVING count(*) > 1)`)
      .pluck()
      .get()
    expect(repeatedDrugRows).toBe(0)
    console.log(`MIMIC-IV demo: ${report.storedMedicationRows} stored medication rows for ${rows} source rows`)
    expect(db.prepare('SELECT count(*) FROM visits WHERE admit_time IS NULL').pluck().get()).toBe(0)
    // Every patient's visits are in admission-time order.
    const outOfOrder = db
      .prepare(
        `SELECT count(*) FROM visits a JOIN visits b ON a.patient_id = b.patient_id
         WHERE a.sort_key < b.sort_key AND a.admit_time > b.admit_time`
      )
      .pluck()
      .get()
    expect(outOfOrder).toBe(0)
  })
})
