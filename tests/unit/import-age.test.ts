// The age at each visit, from every import layout: computed as the source defines it, top-coded at 90 ("90 or
// older") as the sources publish it, null with a counted reason when unknown, and a malformed value refused
// with file, line, column and reason. Also: an existing database gains ages on re-import (a new importer
// version changes the fingerprint), filling a missing age is not a destructive change, and changing a stored
// one is.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Db } from '../../src/main/services/db/database'
import { ageAt, mimicIvAge, parseBirthDate, parseStatedAge } from '../../src/main/services/imports/age'
import { importDataset } from '../../src/main/services/imports'
import { importFhir } from '../../src/main/services/imports/fhir'
import { ImportRefusedError } from '../../src/main/services/imports/safety'
import { formatAge } from '../../src/shared/domain/patient'
import { ACCEPT_BAD_ROWS, DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

const space = new TempSpace()
afterEach(() => space.cleanup())

/** source_visit_id → stored age. */
const agesOf = (db: Db): Record<string, number | null> =>
  Object.fromEntries((db.prepare('SELECT source_visit_id, age_at_admission FROM visits ORDER BY source_visit_id').raw().all() as Array<[string, number | null]>).map(([id, age]) => [id, age]))

describe('age rules', () => {
  it('reads stated ages: whole years, "> 89" and anything above 89 as 90, empty as unknown, the rest refused naming the column', () => {
    expect(parseStatedAge('67', 'age')).toEqual({ age: 67 })
    expect(parseStatedAge(' 0 ', 'age')).toEqual({ age: 0 })
    expect(parseStatedAge('> 89', 'age')).toEqual({ age: 90 })
    expect(parseStatedAge('>89', 'age')).toEqual({ age: 90 })
    expect(parseStatedAge('91', 'anchor_age')).toEqual({ age: 90 })
    expect(parseStatedAge('', 'age')).toEqual({ age: null })
    for (const bad of ['sixty', '-3', '67.5', '121', '> 90']) {
      expect(parseStatedAge(bad, 'age')).toEqual({ problem: `age "${bad}" is not an age (expected a whole number of years 0–120, "> 89" or empty)` })
    }
  })

  it('MIMIC-IV: anchor_age + year(admittime) − anchor_year, top-coded; a top-coded anchor before its year is unknown', () => {
    expect(mimicIvAge(64, 2150, '2150-06-01T08:00:00')).toEqual({ age: 64 })
    expect(mimicIvAge(64, 2150, '2153-01-01T08:00:00')).toEqual({ age: 67 })
    expect(mimicIvAge(88, 2150, '2153-01-01T08:00:00')).toEqual({ age: 90 })
    expect(mimicIvAge(90, 2150, '2150-01-01T08:00:00')).toEqual({ age: 90 })
    expect(mimicIvAge(90, 2150, '2149-12-31T08:00:00')).toMatchObject({ age: null, unknown: expect.stringContaining('over 89') })
    expect(mimicIvAge(20, 2150, '2120-01-01T08:00:00')).toMatchObject({ age: null, unknown: 'visit before the date of birth the source gives' })
    expect(mimicIvAge(null, null, '2150-01-01T08:00:00')).toMatchObject({ age: null })
  })

  it('birth dates: completed years; a partial date counts from its latest possible day (never overstated)', () => {
    const full = parseBirthDate('1950-06-15')!
    expect(ageAt(full, '2020-06-14T23:00:00').age).toBe(69)
    expect(ageAt(full, '2020-06-15T00:00:00').age).toBe(70)
    expect(ageAt(parseBirthDate('1950')!, '2020-12-30T00:00:00').age).toBe(69)
    expect(ageAt(parseBirthDate('1950')!, '2020-12-31T00:00:00').age).toBe(70)
    expect(ageAt(parseBirthDate('1950-02')!, '2020-02-27T00:00:00').age).toBe(69)
    expect(ageAt(parseBirthDate('1950-02')!, '2020-02-28T00:00:00').age).toBe(70)
    // February of a leap year ends on the 29th.
    expect(ageAt(parseBirthDate('1952-02')!, '2020-02-28T00:00:00').age).toBe(67)
    expect(ageAt(parseBirthDate('1952-02')!, '2020-02-29T00:00:00').age).toBe(68)
    // Within the birth year or month of a partial date: 0, not "before birth".
    expect(ageAt(parseBirthDate('2020')!, '2020-03-01T00:00:00').age).toBe(0)
    expect(ageAt(parseBirthDate('2020-03')!, '2020-03-02T00:00:00').age).toBe(0)
    expect(ageAt(parseBirthDate('2020-03')!, '2020-02-28T00:00:00')).toMatchObject({ age: null })
    expect(ageAt(full, '1950-06-14T00:00:00')).toMatchObject({ age: null, unknown: 'visit before the date of birth the source gives' })
    expect(ageAt(parseBirthDate('1850-01-01')!, '2020-01-01T00:00:00').age).toBe(90)
    for (const bad of ['1950-13', '1950-02-30', '50-01-01', '1950/01/01', '']) expect(parseBirthDate(bad)).toBeNull()
  })

  it('shows ages as the sources mean them: 90 is "90+"', () => {
    expect([formatAge(67), formatAge(90), formatAge(0), formatAge(null)]).toEqual(['67', '90+', '0', null])
  })
})

const MIMIC_IV_PATIENTS = `subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod
100001,F,64,2150,2011 - 2013,
100002,M,88,2157,2014 - 2016,2161-02-01
100003,F,91,2171,2017 - 2019,
`

describe.skipIf(!HAS_OPEN_DATA)('age at visit from each import layout', () => {
  it('MIMIC-IV: from anchor_age and anchor_year, top-coded, unknown before a top-coded anchor year', async () => {
    const dir = space.fixture('mimic-iv-mini')
    writeFileSync(join(dir, 'hosp', 'patients.csv'), MIMIC_IV_PATIENTS)
    const db = space.db()
    const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    // 100002 is 88 in 2157, admitted 2160 (91: 90+); 100003 is over 89 in 2171, admitted 2170 (cannot be told).
    expect(agesOf(db)).toEqual({ '20000002': 64, '20000003': 90, '20000004': null, '20000009': 64 })
    expect(report.ages).toEqual({
      known: 3,
      topCoded: 1,
      unknown: { 'over 89 in the anchor year, admitted before it (age cannot be told)': 1 }
    })
    expect(report.warningSamples).toContainEqual({ file: 'hosp/admissions.csv', line: 4, reason: expect.stringContaining('age at admission 20000004 unknown') })
  })

  it('MIMIC-IV: a malformed anchor_age rejects its patient naming file, line, column and reason; no anchor columns: ages unknown', async () => {
    const dir = space.fixture('mimic-iv-mini')
    writeFileSync(join(dir, 'hosp', 'patients.csv'), MIMIC_IV_PATIENTS.replace('100002,M,88,', '100002,M,eighty,'))
    const db = space.db()
    const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report.rejectedSamples[0]).toEqual({
      file: 'hosp/patients.csv',
      line: 3,
      reason: 'anchor_age "eighty" is not an age (expected a whole number of years 0–120, "> 89" or empty)'
    })
    expect(db.prepare(`SELECT count(*) FROM patients WHERE source_patient_id = '100002'`).pluck().get()).toBe(0)
    // Without the default 1% allowance the rejected patient (and its admission) fail the import: nothing stored.
    const strict = space.db()
    await expect(importDataset(strict, { format: 'mimic-iv', dir, dataDir: DATA_DIR })).rejects.toThrow(/hosp\/patients\.csv/)
    expect(strict.prepare('SELECT count(*) FROM visits').pluck().get()).toBe(0)

    const bare = space.fixture('mimic-iv-mini')
    writeFileSync(join(bare, 'hosp', 'patients.csv'), 'subject_id,gender\n100001,F\n100002,M\n100003,F\n')
    const noAges = space.db()
    const plain = await importDataset(noAges, { format: 'mimic-iv', dir: bare, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(plain.ages).toEqual({ known: 0, topCoded: 0, unknown: { 'the patients file gives no age': 4 } })
  })

  it('MIMIC-III: completed years from DOB to ADMITTIME; a DOB shifted ~300 years back (over 89) is 90', async () => {
    const dir = space.fixture('mimic-iii-mini')
    const patients = join(dir, 'PATIENTS.csv')
    const db = space.db()
    await importDataset(db, { format: 'mimic-iii', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    // 249 born 2075-03-13: 74 on 2149-12-17, 79 on 2155-02-03 (before the birthday); 250: 23; 251: 20.
    expect(agesOf(db)).toEqual({ '116935': 79, '117937': 20, '124271': 23, '158975': 74 })

    writeFileSync(
      patients,
      `"ROW_ID","SUBJECT_ID","GENDER","DOB","DOD","DOD_HOSP","DOD_SSN","EXPIRE_FLAG"
234,249,"F","1855-03-13 00:00:00",,,,0
235,250,"F","",,,,1
236,251,"M","2090-15-03 00:00:00",,,,0
`
    )
    const shifted = space.db()
    const report = await importDataset(shifted, { format: 'mimic-iii', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(agesOf(shifted)).toEqual({ '116935': 90, '124271': null, '158975': 90 })
    expect(report.rejectedSamples[0]).toEqual({ file: 'PATIENTS.csv', line: 4, reason: 'dob "2090-15-03 00:00:00" is not a date (expected YYYY-MM-DD HH:MM:SS)' })
    expect(report.ages).toEqual({ known: 2, topCoded: 2, unknown: { 'the patients file gives no age': 1 } })
  })

  it('eICU: the stay\'s age, "> 89" as 90, empty unknown; a malformed age rejects the stay naming file, line and column', async () => {
    const db = space.db()
    const report = await importDataset(db, { format: 'eicu', dir: space.fixture('eicu-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(agesOf(db)).toEqual({ '300003': 87, '300004': 87, '300010': 86, '300020': 76, '300030': 90 })
    expect(report.ages).toEqual({ known: 5, topCoded: 1, unknown: {} })

    const dir = space.fixture('eicu-mini')
    const file = join(dir, 'patient.csv')
    const lines = readFileSync(file, 'utf8').split('\n')
    lines[1] = lines[1]!.replace('Female,87,', 'Female,eighty-seven,')
    lines[4] = lines[4]!.replace('Male,76,', 'Male,,')
    writeFileSync(file, lines.join('\n'))
    const bad = space.db()
    const badReport = await importDataset(bad, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(badReport.rejectedSamples).toContainEqual({
      file: 'patient.csv',
      line: 2,
      reason: 'age "eighty-seven" is not an age (expected a whole number of years 0–120, "> 89" or empty)'
    })
    expect(agesOf(bad)).toEqual({ '300004': 87, '300010': 86, '300020': null, '300030': 90 })
    expect(badReport.ages!.unknown).toEqual({ 'patient.csv gives no age for the unit stay': 1 })
  })

  it('FHIR: from Patient.birthDate (full, year-month or year) to Encounter.period.start; a malformed birthDate rejects the Patient', async () => {
    const dir = space.dir('medrec-fhir-age-')
    const ndjson = (name: string, resources: unknown[]) => writeFileSync(join(dir, name), resources.map((r) => JSON.stringify(r)).join('\n') + '\n')
    const encounter = (id: string, patient: string, start: string) => ({ resourceType: 'Encounter', id, subject: { reference: `Patient/${patient}` }, period: { start } })
    ndjson('Patient.ndjson', [
      { resourceType: 'Patient', id: 'full', birthDate: '1950-06-15' },
      { resourceType: 'Patient', id: 'month', birthDate: '1960-08' },
      { resourceType: 'Patient', id: 'year', birthDate: '1925' },
      { resourceType: 'Patient', id: 'none' },
      { resourceType: 'Patient', id: 'newborn', birthDate: '2020-06-12' },
      { resourceType: 'Patient', id: 'bad', birthDate: '1950-02-30' }
    ])
    ndjson('Encounter.ndjson', [
      encounter('e-full', 'full', '2020-06-14T23:00:00Z'),
      encounter('e-month', 'month', '2020-08-31'),
      encounter('e-year', 'year', '2020-01-01T00:00:00Z'),
      encounter('e-none', 'none', '2020-01-01'),
      // On the birthday in local time, the day before in UTC: age 0, not "before birth".
      encounter('e-newborn', 'newborn', '2020-06-12T01:00:00+02:00'),
      encounter('e-bad', 'bad', '2020-01-01')
    ])
    const db = space.db()
    const report = await importFhir(db, { input: dir, dataDir: DATA_DIR, maxRejectedShare: 1 })
    expect(agesOf(db)).toEqual({ 'e-full': 69, 'e-month': 60, 'e-newborn': 0, 'e-none': null, 'e-year': 90 })
    expect(report.rejectedSamples).toEqual([
      { file: 'Patient.ndjson', line: 6, entry: null, resource: 'Patient/bad', reason: 'Patient.birthDate "1950-02-30" is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)' },
      { file: 'Encounter.ndjson', line: 6, entry: null, resource: 'Encounter/e-bad', reason: 'subject Patient/bad is neither in this import nor in the database' }
    ])
    expect(report.ages).toEqual({ known: 4, topCoded: 1, unknown: { 'Patient without birthDate': 1 } })

    // A later export with a new encounter of a stored patient but not the Patient itself: the age is unknown
    // (no birth date is stored), and a re-sent encounter keeps the age stored for it.
    const later = space.dir('medrec-fhir-age-later-')
    writeFileSync(join(later, 'Encounter.ndjson'), [encounter('e-full', 'full', '2020-06-14T23:00:00Z'), encounter('e-full-2', 'full', '2021-01-01')].map((r) => JSON.stringify(r)).join('\n') + '\n')
    const next = await importFhir(db, { input: later, dataDir: DATA_DIR })
    expect(next.plan!.destructive).toBe(false)
    expect(agesOf(db)).toMatchObject({ 'e-full': 69, 'e-full-2': null })
    expect(next.ages!.unknown).toEqual({ 'the Patient is not in this import (MedRec keeps no birth date)': 2 })
  })

  it('an existing database gains ages on re-import of the same files (not destructive); a changed age needs --replace', async () => {
    const dir = space.fixture('eicu-mini', true)
    const db = space.db()
    await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    // As a database imported before schema version 6: no ages, and the previous importer's fingerprint.
    db.exec('UPDATE visits SET age_at_admission = NULL')
    const before = db.prepare(`SELECT input_fingerprint FROM import_runs WHERE status = 'completed'`).pluck().get() as string
    db.prepare(`UPDATE import_runs SET input_fingerprint = 'importer-3-fingerprint'`).run()
    const again = await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(again.status).toBe('completed')
    expect(again.inputFingerprint).toBe(before)
    expect(again.plan).toMatchObject({ destructive: false, agesFilled: 5 })
    expect(agesOf(db)).toEqual({ '300003': 87, '300004': 87, '300010': 86, '300020': 76, '300030': 90 })
    // The same files once more: skipped as unchanged.
    expect((await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })).status).toBe('skipped-unchanged')

    db.exec(`UPDATE visits SET age_at_admission = 50 WHERE source_visit_id = '300020'`)
    await expect(importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, force: true, ...ACCEPT_BAD_ROWS })).rejects.toBeInstanceOf(ImportRefusedError)
    expect(agesOf(db)['300020']).toBe(50)
    await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, force: true, replace: true, ...ACCEPT_BAD_ROWS })
    expect(agesOf(db)['300020']).toBe(76)
  })
})
