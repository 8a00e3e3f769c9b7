// A small patient database written with plain SQL, shaped like the demo imports: a MIMIC-IV patient
// whose admission ids are NOT in time order, an eICU patient ordered by relative position only, a
// patient without visits, coded titles, ATC names, repeated and unmapped medication orders, and
// enough filler patients to need a second page. The API and IPC unit tests use it; the e2e tests
// run on the real demo database (demo-database.ts).
import { openDatabase, type Db } from '../../src/main/services/db/database'

export const FIXTURE = {
  mimicPatient: '10000032',
  /** Admission ids in the order the visits happened (ids deliberately not ascending). */
  mimicVisitsInTimeOrder: ['29079034', '22595853', '25742920'],
  eicuPatient: '002-34851',
  patientWithoutVisits: '10099999',
  fillerPatients: 120
} as const

export function createFixtureDatabase(path: string): void {
  const db = openDatabase(path)
  try {
    db.transaction(() => seed(db))()
  } finally {
    db.close()
  }
}

function seed(db: Db): void {
  const run = db.prepare(
    `INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, finished_at, status, report_json)
     VALUES (?, 'fixture', 'fixture', '2024-01-01T00:00:00Z', '2024-01-01T00:00:01Z', 'completed', '{}')`
  )
  const mimicRun = Number(run.run('mimic-iv').lastInsertRowid)
  const eicuRun = Number(run.run('eicu').lastInsertRowid)

  const addPatient = db.prepare('INSERT INTO patients (source, source_patient_id, sex) VALUES (?, ?, ?)')
  const addVisit = db.prepare(
    `INSERT INTO visits (patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, order_label, import_run_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const addDiagnosis = db.prepare('INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (?, ?, ?, ?)')
  const addProcedure = db.prepare('INSERT INTO procedures (visit_id, seq, code_system, code) VALUES (?, ?, ?, ?)')
  const addMedication = db.prepare(
    `INSERT INTO medications (visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method)
     VALUES (?, ?, ?, ?, NULL, ?, ?, ?)`
  )
  const addTitle = db.prepare('INSERT INTO code_titles (kind, code_system, code, title) VALUES (?, ?, ?, ?)')
  const addAtcName = db.prepare('INSERT INTO atc_names (code, name) VALUES (?, ?)')

  for (const [kind, system, code, title] of [
    ['diagnosis', 'ICD-9-CM', '5715', 'Cirrhosis of liver without mention of alcohol'],
    ['diagnosis', 'ICD-9-CM', '4019', 'Unspecified essential hypertension'],
    ['diagnosis', 'ICD-10-CM', 'K7469', 'Other cirrhosis of liver'],
    ['diagnosis', 'ICD-10-CM', 'R188', 'Other ascites'],
    ['diagnosis', 'other', 'sepsis', 'infectious diseases|systemic/other infections|sepsis'],
    ['procedure', 'ICD-9-CM', '5491', 'Percutaneous abdominal drainage'],
    ['procedure', 'ICD-10-PCS', '0W9G3ZZ', 'Drainage of Peritoneal Cavity, Percutaneous Approach']
  ] as const) {
    addTitle.run(kind, system, code, title)
  }
  for (const [code, name] of [
    ['N02B', 'Other analgesics and antipyretics'],
    ['N02BE01', 'paracetamol'],
    ['C03C', 'High-ceiling diuretics'],
    ['C03CA01', 'furosemide'],
    ['A06A', 'Drugs for constipation'],
    ['J01D', 'Other beta-lactam antibacterials']
  ] as const) {
    addAtcName.run(code, name)
  }

  const mimicId = Number(addPatient.run('mimic-iv', FIXTURE.mimicPatient, 'F').lastInsertRowid)
  // Inserted in admission-id order, which is not the order they happened in.
  const mimicVisits = [
    { hadm: '22595853', admit: '2180-05-06T22:23:00', discharge: '2180-05-07T17:15:00' },
    { hadm: '25742920', admit: '2180-08-05T23:44:00', discharge: '2180-08-07T17:50:00' },
    { hadm: '29079034', admit: '2180-03-23T11:51:00', discharge: '2180-03-23T21:20:00' }
  ]
  const visitIds = new Map<string, number>()
  for (const visit of mimicVisits) {
    const id = Number(
      addVisit.run(mimicId, 'mimic-iv', visit.hadm, visit.admit, visit.discharge, visit.admit, `Admission ${visit.hadm}`, mimicRun)
        .lastInsertRowid
    )
    visitIds.set(visit.hadm, id)
  }
  const first = visitIds.get('29079034')!
  addDiagnosis.run(first, 1, 'ICD-9-CM', '5715')
  addDiagnosis.run(first, 2, 'ICD-9-CM', '4019')
  addDiagnosis.run(first, 3, 'ICD-9-CM', '07070') // no title on purpose
  addProcedure.run(first, 1, 'ICD-9-CM', '5491')
  addMedication.run(first, 'Acetaminophen', '00904198861', null, 'N02BE01', 'N02B', 'ndc')
  addMedication.run(first, 'Acetaminophen', '00904198861', null, 'N02BE01', 'N02B', 'ndc')
  addMedication.run(first, 'Furosemide', null, '008208', 'C03CA01', 'C03C', 'gsn')
  addMedication.run(first, 'Sodium Chloride 0.9%  Flush', null, null, null, null, 'unmapped')
  const second = visitIds.get('22595853')!
  addDiagnosis.run(second, 1, 'ICD-10-CM', 'K7469')
  addDiagnosis.run(second, 2, 'ICD-10-CM', 'R188')
  addProcedure.run(second, 1, 'ICD-10-PCS', '0W9G3ZZ')
  addMedication.run(second, 'Lactulose', null, null, 'A06AD11', 'A06A', 'name')
  const third = visitIds.get('25742920')!
  addDiagnosis.run(third, 1, 'ICD-10-CM', 'K7469')
  addMedication.run(third, 'Furosemide', null, '008208', 'C03CA01', 'C03C', 'gsn')

  const eicuId = Number(addPatient.run('eicu', FIXTURE.eicuPatient, 'Male').lastInsertRowid)
  for (const [stay, sortKey, label] of [
    ['141765', '2015|000000120|2', '2015, hospital stay 1, unit visit 2'],
    ['141764', '2015|000000000|1', '2015, hospital stay 1, unit visit 1']
  ] as const) {
    const visitId = Number(addVisit.run(eicuId, 'eicu', stay, null, null, sortKey, label, eicuRun).lastInsertRowid)
    addDiagnosis.run(visitId, 1, 'other', 'sepsis')
    addMedication.run(visitId, 'CEFTRIAXONE 1 G IJ SOLR', null, null, 'J01DD04', 'J01D', 'name')
  }

  addPatient.run('mimic-iv', FIXTURE.patientWithoutVisits, 'M')
  for (let n = 0; n < FIXTURE.fillerPatients; n++) {
    const patientId = Number(addPatient.run('mimic-iv', String(10100000 + n), n % 2 ? 'F' : 'M').lastInsertRowid)
    const admit = `2150-01-${String((n % 28) + 1).padStart(2, '0')}T08:00:00`
    const visitId = Number(addVisit.run(patientId, 'mimic-iv', String(20100000 + n), admit, null, admit, `Admission ${20100000 + n}`, mimicRun).lastInsertRowid)
    addDiagnosis.run(visitId, 1, 'ICD-9-CM', '4019')
  }
}
