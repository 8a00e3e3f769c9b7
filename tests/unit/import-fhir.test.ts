// FHIR R4 import: the Synthea sample's counts, NDJSON and bundles giving the same database, and bad
// input (malformed JSON, a wrong resourceType, dangling references, an interrupted import) changing
// nothing stored.
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { bundlesToNdjson } from '../../bench/fhir-ndjson'
import type { Db } from '../../src/main/services/db/database'
import { ImportError } from '../../src/main/services/imports'
import { importFhir } from '../../src/main/services/imports/fhir'
import { ImportRefusedError } from '../../src/main/services/imports/safety'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

const SYNTHEA = join(DATA_DIR, 'ehr', 'synthea-r4-sample', 'bundles')
const HAS_SYNTHEA = HAS_OPEN_DATA && existsSync(SYNTHEA)
const space = new TempSpace()
afterEach(() => space.cleanup())

const count = (db: Db, table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number

/** Everything a FHIR import stores, keyed by source ids (row ids depend on the order files are read). */
function content(db: Db): Record<string, unknown[]> {
  return {
    patients: db.prepare(`SELECT source_patient_id, sex FROM patients ORDER BY 1`).all(),
    visits: db
      .prepare(`SELECT p.source_patient_id, v.source_visit_id, v.admit_time, v.discharge_time, v.sort_key, v.order_label FROM visits v JOIN patients p ON p.id = v.patient_id ORDER BY 2`)
      .all(),
    diagnoses: db.prepare(`SELECT v.source_visit_id, d.seq, d.code_system, d.code FROM diagnoses d JOIN visits v ON v.id = d.visit_id ORDER BY 1, 2, 3, 4`).all(),
    procedures: db.prepare(`SELECT v.source_visit_id, d.seq, d.code_system, d.code FROM procedures d JOIN visits v ON v.id = d.visit_id ORDER BY 1, 2, 3, 4`).all(),
    medications: db
      .prepare(`SELECT v.source_visit_id, m.raw_name, m.other_id, m.atc5, m.atc3, m.mapping_method, m.start_time, m.order_count FROM medications m JOIN visits v ON v.id = m.visit_id ORDER BY 1, 2, 3, 7`)
      .all(),
    allergies: db.prepare(`SELECT p.source_patient_id, a.source_allergy_id, a.code_system, a.code, a.title, a.category, a.criticality, a.clinical_status, a.recorded_at FROM allergies a JOIN patients p ON p.id = a.patient_id ORDER BY 2`).all(),
    titles: db.prepare(`SELECT * FROM code_titles ORDER BY 1, 2, 3`).all()
  }
}

/** Everything in the database, import runs included: a failed import must leave all of it as it was. */
function everything(db: Db): Record<string, unknown[]> {
  return { ...content(db), runs: db.prepare('SELECT * FROM import_runs ORDER BY id').all() }
}

// --- a small hand-made export --------------------------------------------------------------------

const patient = (id: string, gender = 'female') => ({ resourceType: 'Patient', id, gender })
const encounter = (id: string, patientId: string, start: string) => ({
  resourceType: 'Encounter',
  id,
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  subject: { reference: `Patient/${patientId}` },
  period: { start, end: start }
})
const condition = (id: string, patientId: string, encounterId: string, system: string, code: string, display: string) => ({
  resourceType: 'Condition',
  id,
  code: { coding: [{ system, code, display }] },
  subject: { reference: `Patient/${patientId}` },
  encounter: { reference: `Encounter/${encounterId}` }
})
const medicationRequest = (id: string, patientId: string, encounterId: string, medication: Record<string, unknown>) => ({
  resourceType: 'MedicationRequest',
  id,
  status: 'active',
  intent: 'order',
  subject: { reference: `Patient/${patientId}` },
  encounter: { reference: `Encounter/${encounterId}` },
  authoredOn: '2020-03-01T10:00:00+02:00',
  ...medication
})
const warfarin = { medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '855332', display: 'Warfarin Sodium 5 MG Oral Tablet' }], text: 'Warfarin Sodium 5 MG Oral Tablet' } }

function writeNdjson(dir: string, name: string, resources: unknown[], gzip = false): void {
  const text = resources.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n'
  writeFileSync(join(dir, name + (gzip ? '.gz' : '')), gzip ? gzipSync(text) : text)
}

/** Two patients, three encounters (given out of time order), a Medication followed by reference. */
function smallExport(): string {
  const dir = space.dir('medrec-fhir-')
  writeNdjson(dir, 'Patient.ndjson', [patient('p1'), patient('p2', 'male')])
  writeNdjson(dir, 'Encounter.ndjson', [encounter('e2', 'p1', '2020-03-01T10:00:00Z'), encounter('e1', 'p1', '2019-01-05'), encounter('e3', 'p2', '2021-06-01T08:00:00-05:00')], true)
  writeNdjson(dir, 'Medication.ndjson', [{ resourceType: 'Medication', id: 'm1', code: { text: 'ibuprofen 400 mg tablet' } }])
  writeNdjson(dir, 'Condition.ndjson', [
    condition('c1', 'p1', 'e1', 'http://snomed.info/sct', '38341003', 'Hypertension'),
    condition('c2', 'p1', 'e2', 'http://hl7.org/fhir/sid/icd-10-cm', 'I48.91', 'Atrial fibrillation, unspecified')
  ])
  writeNdjson(dir, 'MedicationRequest.ndjson', [
    medicationRequest('mr1', 'p1', 'e2', warfarin),
    medicationRequest('mr2', 'p1', 'e2', { medicationReference: { reference: 'Medication/m1' } })
  ])
  writeNdjson(dir, 'AllergyIntolerance.ndjson', [
    { resourceType: 'AllergyIntolerance', id: 'a1', patient: { reference: 'Patient/p2' }, category: ['medication'], criticality: 'high', code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005', display: 'Allergy to penicillin' }] } }
  ])
  writeNdjson(dir, 'Observation.ndjson', [{ resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' } }])
  return dir
}

describe('FHIR import of a small Bulk Data export', () => {
  it.runIf(HAS_OPEN_DATA)('stores patients, visits in time order, codes with their system and title, mapped drugs and allergies', async () => {
    const db = space.db()
    const report = await importFhir(db, { input: smallExport(), dataDir: DATA_DIR })
    expect(report).toMatchObject({ patients: 2, visits: 3, diagnosisCodes: 2, medicationResources: 2, allergies: 1, rejected: 0, skippedTypes: { Observation: 1 } })
    expect(report.files).toEqual({ bundles: 0, ndjson: 7 })
    const visits = db.prepare(`SELECT source_visit_id, sort_key FROM visits v JOIN patients p ON p.id = v.patient_id WHERE p.source_patient_id = 'p1' ORDER BY sort_key`).all()
    expect(visits).toEqual([
      { source_visit_id: 'e1', sort_key: '2019-01-05T00:00:00' },
      { source_visit_id: 'e2', sort_key: '2020-03-01T10:00:00' }
    ])
    expect(db.prepare(`SELECT code_system, code FROM diagnoses ORDER BY code`).all()).toEqual([
      { code_system: 'SNOMED CT', code: '38341003' },
      { code_system: 'ICD-10-CM', code: 'I4891' }
    ])
    expect(db.prepare(`SELECT title FROM code_titles WHERE code_system = 'SNOMED CT' AND code = '38341003'`).pluck().get()).toBe('Hypertension')
    const meds = db.prepare(`SELECT raw_name, other_id, atc5, start_time FROM medications ORDER BY raw_name`).all()
    expect(meds).toEqual([
      { raw_name: 'Warfarin Sodium 5 MG Oral Tablet', other_id: 'RxNorm:855332', atc5: 'B01AA03', start_time: '2020-03-01T08:00:00' },
      { raw_name: 'ibuprofen 400 mg tablet', other_id: null, atc5: 'M01AE01', start_time: '2020-03-01T08:00:00' }
    ])
    expect(db.prepare(`SELECT code, title, category, criticality FROM allergies`).get()).toEqual({ code: '91936005', title: 'Allergy to penicillin', category: 'medication', criticality: 'high' })
  })

  it.runIf(HAS_OPEN_DATA)('rejects resources whose patient, encounter or medication is missing, with file, line and reason, and stores the rest', async () => {
    const dir = smallExport()
    writeNdjson(dir, 'MedicationRequest.ndjson', [
      medicationRequest('ok', 'p1', 'e2', warfarin),
      medicationRequest('no-patient', 'ghost', 'e2', warfarin),
      medicationRequest('no-encounter', 'p1', 'missing-encounter', warfarin),
      medicationRequest('other-patient', 'p2', 'e2', warfarin),
      medicationRequest('no-medication', 'p1', 'e2', { medicationReference: { reference: 'Medication/unknown' } }),
      { resourceType: 'MedicationRequest', id: 'no-subject', status: 'active', intent: 'order', ...warfarin },
      { id: 'untyped' }
    ])
    const db = space.db()
    // Above the default limit (1% of the resources read) the import fails and writes nothing, as the CSV importers do.
    await expect(importFhir(db, { input: dir, dataDir: DATA_DIR })).rejects.toThrow(/6 of \d+ resources rejected .*above the limit of 1% \(--max-rejected\)\. Nothing was changed/)
    expect(count(db, 'patients')).toBe(0)
    const report = await importFhir(db, { input: dir, dataDir: DATA_DIR, maxRejectedShare: 1 })
    expect(report.medicationResources).toBe(1)
    expect(report.rejected).toBe(6)
    const reasons = report.rejectedSamples.map((r) => `${r.file}:${r.line} ${r.resource ?? '-'} ${r.reason}`)
    expect(reasons).toEqual([
      'MedicationRequest.ndjson:2 MedicationRequest/no-patient subject Patient/ghost is neither in this import nor in the database',
      'MedicationRequest.ndjson:3 MedicationRequest/no-encounter encounter Encounter/missing-encounter is neither in this import nor in the database',
      'MedicationRequest.ndjson:4 MedicationRequest/other-patient encounter Encounter/e2 belongs to Patient/p1, not to Patient/p2',
      'MedicationRequest.ndjson:5 MedicationRequest/no-medication medicationReference Medication/unknown is not a Medication in this import',
      'MedicationRequest.ndjson:6 MedicationRequest/no-subject no subject reference',
      'MedicationRequest.ndjson:7 - no resourceType'
    ])
    expect(count(db, 'medications')).toBe(1)
  })

  it.runIf(HAS_OPEN_DATA)('refuses to alter stored patients or allergies unless asked to replace (dry run shows the plan), like the CSV importers', async () => {
    const db = space.db()
    await importFhir(db, { input: smallExport(), dataDir: DATA_DIR })
    const sexOfP1 = () => db.prepare(`SELECT sex FROM patients WHERE source = 'fhir' AND source_patient_id = 'p1'`).pluck().get()
    const stored = sexOfP1()
    const later = space.dir('medrec-fhir-')
    writeNdjson(later, 'Patient.ndjson', [patient('p1', 'male')])
    writeNdjson(later, 'AllergyIntolerance.ndjson', [
      { resourceType: 'AllergyIntolerance', id: 'a1', patient: { reference: 'Patient/p2' }, criticality: 'low', code: { text: 'Allergy to penicillin' } }
    ])
    const dry = await importFhir(db, { input: later, dataDir: DATA_DIR, dryRun: true })
    expect(dry.status).toBe('dry-run')
    expect(dry.plan).toMatchObject({ destructive: true, patientsAffected: 2, tables: { patients: { changed: 1 } } })
    await expect(importFhir(db, { input: later, dataDir: DATA_DIR })).rejects.toBeInstanceOf(ImportRefusedError)
    expect(sexOfP1()).toBe(stored)
    expect(db.prepare(`SELECT criticality FROM allergies WHERE source_allergy_id = 'a1'`).pluck().get()).toBe('high')
    const replaced = await importFhir(db, { input: later, dataDir: DATA_DIR, replace: true })
    expect(replaced.status).toBe('completed')
    expect(sexOfP1()).not.toBe(stored)
    expect(db.prepare(`SELECT criticality FROM allergies WHERE source_allergy_id = 'a1'`).pluck().get()).toBe('low')
    expect(count(db, 'allergies')).toBe(1)
  })

  it.runIf(HAS_OPEN_DATA)('stops at bytes that are not UTF-8, naming the file, and writes nothing', async () => {
    const dir = smallExport()
    writeFileSync(join(dir, 'Condition.ndjson'), Buffer.concat([Buffer.from('{"resourceType":"Condition","id":"c9","code":{"text":"caf'), Buffer.from([0xe9]), Buffer.from('"}}\n')]))
    const db = space.db()
    await expect(importFhir(db, { input: dir, dataDir: DATA_DIR })).rejects.toThrow(/Condition\.ndjson.*not UTF-8/)
    expect(count(db, 'patients')).toBe(0)
  })

  it.runIf(HAS_OPEN_DATA)('resolves references to patients and encounters of an earlier import (incremental exports)', async () => {
    const db = space.db()
    await importFhir(db, { input: smallExport(), dataDir: DATA_DIR })
    const later = space.dir('medrec-fhir-')
    writeNdjson(later, 'MedicationRequest.ndjson', [medicationRequest('mr9', 'p2', 'e3', warfarin)])
    const report = await importFhir(db, { input: later, dataDir: DATA_DIR })
    expect(report).toMatchObject({ medicationResources: 1, rejected: 0 })
    expect(count(db, 'medications')).toBe(3)
  })

  it.runIf(HAS_OPEN_DATA)('stops at malformed JSON with the file and line, and leaves the database as it was', async () => {
    const db = space.db()
    await importFhir(db, { input: smallExport(), dataDir: DATA_DIR })
    const before = everything(db)
    const dir = smallExport()
    writeNdjson(dir, 'Condition.ndjson', [condition('c9', 'p1', 'e1', 'http://snomed.info/sct', '1', 'x'), '{"resourceType": "Condition", "id": "c10",'])
    await expect(importFhir(db, { input: dir, dataDir: DATA_DIR })).rejects.toThrow(/Condition\.ndjson line 2: malformed JSON/)
    const bundleDir = space.dir('medrec-fhir-')
    writeFileSync(join(bundleDir, 'b.json'), '{\n  "resourceType": "Bundle",\n  "type": "collection",\n  "entry": [\n    {"resource": }\n  ]\n}\n')
    await expect(importFhir(db, { input: bundleDir, dataDir: DATA_DIR })).rejects.toThrow(/b\.json line 5: malformed JSON/)
    expect(everything(db)).toEqual(before)
  })

  it.runIf(HAS_OPEN_DATA)('refuses a .json file that is not a Bundle, naming the resourceType found', async () => {
    const dir = space.dir('medrec-fhir-')
    writeFileSync(join(dir, 'patient.json'), JSON.stringify(patient('p1')))
    const db = space.db()
    const error = await importFhir(db, { input: join(dir, 'patient.json'), dataDir: DATA_DIR }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImportError)
    expect((error as ImportError).message).toMatch(/patient\.json: resourceType is "Patient", expected "Bundle"/)
    expect(count(db, 'patients')).toBe(0)
  })

  it.runIf(HAS_OPEN_DATA)('rolls back an import interrupted by a truncated gzip after other files were written', async () => {
    const db = space.db()
    const dir = smallExport()
    const full = gzipSync(JSON.stringify(condition('c7', 'p1', 'e1', 'http://snomed.info/sct', '2', 'y')) + '\n')
    writeFileSync(join(dir, 'Procedure.ndjson.gz'), full.subarray(0, full.length - 12))
    await expect(importFhir(db, { input: dir, dataDir: DATA_DIR })).rejects.toThrow(/Procedure\.ndjson\.gz/)
    expect(everything(db)).toEqual({ patients: [], visits: [], diagnoses: [], procedures: [], medications: [], allergies: [], titles: [], runs: [] })
  })
})

describe.runIf(HAS_SYNTHEA)('FHIR import of the Synthea R4 sample (386 transaction bundles)', () => {
  it('imports every patient, encounter, condition, medication request and allergy, skips the other types, rejects none, and is idempotent', async () => {
    const db = space.db()
    const report = await importFhir(db, { input: SYNTHEA, dataDir: DATA_DIR })
    expect(report).toMatchObject({
      files: { bundles: 386, ndjson: 0 },
      patients: 384,
      visits: 11_770,
      diagnosisCodes: 2_906,
      medicationResources: 3_128,
      allergies: 234,
      rejected: 0
    })
    expect(report.skippedTypes).toMatchObject({ Observation: 56_975, Claim: 14_898, ExplanationOfBenefit: 11_770, Immunization: 4_734 })
    expect(Object.keys(report.skippedTypes)).not.toContain('MedicationRequest')
    expect([count(db, 'patients'), count(db, 'visits'), count(db, 'diagnoses'), count(db, 'allergies')]).toEqual([384, 11_770, 2_906, 234])
    expect(report.procedureCodes).toBe(count(db, 'procedures'))
    expect(report.mappedDrugs + report.unmappedDrugs).toBe(3_128)
    // Every condition keeps its SNOMED CT code and a title for NLA-MMR's cold start.
    expect(db.prepare(`SELECT count(*) FROM diagnoses d LEFT JOIN code_titles t ON t.kind = 'diagnosis' AND t.code_system = d.code_system AND t.code = d.code WHERE t.title IS NULL OR d.code_system <> 'SNOMED CT'`).pluck().get()).toBe(0)

    const stored = content(db)
    const again = await importFhir(db, { input: SYNTHEA, dataDir: DATA_DIR })
    expect(again.status).toBe('skipped-unchanged')
    await importFhir(db, { input: SYNTHEA, dataDir: DATA_DIR, force: true })
    expect(content(db)).toEqual(stored)
  })

  it('gives the same database from Bulk Data NDJSON (some files gzipped) as from the bundles', async () => {
    const bundles = readdirSync(SYNTHEA).sort().slice(0, 60).map((f) => join(SYNTHEA, f))
    const bundleDir = space.dir('medrec-fhir-bundles-')
    // The bundles as given, and the same data as per-type NDJSON written by a small converter.
    const { cpSync } = await import('node:fs')
    for (const path of bundles) cpSync(path, join(bundleDir, path.split('/').pop()!))
    const ndjsonDir = space.dir('medrec-fhir-ndjson-')
    await bundlesToNdjson(bundles, ndjsonDir)
    const { readFileSync, rmSync } = await import('node:fs')
    for (const name of ['Encounter.ndjson', 'MedicationRequest.ndjson']) {
      writeFileSync(join(ndjsonDir, `${name}.gz`), gzipSync(readFileSync(join(ndjsonDir, name))))
      rmSync(join(ndjsonDir, name))
    }
    const fromBundles = space.db()
    const fromNdjson = space.db()
    const a = await importFhir(fromBundles, { input: bundleDir, dataDir: DATA_DIR })
    const b = await importFhir(fromNdjson, { input: ndjsonDir, dataDir: DATA_DIR })
    expect(a.patients).toBeGreaterThan(50)
    expect(b.files.ndjson).toBeGreaterThan(5)
    expect({ ...b, runId: 0, source: '', files: null, durationMs: 0, inputFingerprint: '' }).toEqual({ ...a, runId: 0, source: '', files: null, durationMs: 0, inputFingerprint: '' })
    expect(content(fromNdjson)).toEqual(content(fromBundles))
  })
})
