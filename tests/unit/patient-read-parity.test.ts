// The patient read of a recommendation (recommend/patient-input.ts, and the patient's drugs that drug-choice.ts
// takes from the rows it read) against the reader it replaced (tests/reference/patient-read-reference.ts: titles
// and names joined per row, the drugs read again by a query of their own), on every demo patient: the same
// visits, codes, titles and unmapped counts, and the same drugs by class, for the latest visit, an earlier stored
// visit, and a current visit given by the caller. Rows with untidy stored codes (spaces, lower case, no atc3)
// are added to check the drug-code normalisation that moved from SQL into drug-choice.ts.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { dataDir, resourcesDir } from '../../src/main/services/paths'
import { atcNameLookup, patientDrugs } from '../../src/main/services/recommend/drug-choice'
import { loadPatientInput, type PatientModelInput } from '../../src/main/services/recommend/patient-input'
import { testDatabase, type TestDatabase } from '../e2e/demo-database'
import { referencePatientDrugs, referencePatientInput } from '../reference/patient-read-reference'

const hasDemo = existsSync(join(resourcesDir(), 'demo.sqlite')) || existsSync(join(dataDir(), 'ehr'))
if (!hasDemo) console.warn('patient-read-parity.test: needs the demo database (or the open data to build it); skipped')

describe.skipIf(!hasDemo)('the patient read of a recommendation equals the reader it replaced', () => {
  let demo: TestDatabase
  let workDir: string
  let db: Db
  let patients: number[]

  beforeAll(async () => {
    demo = await testDatabase()
    workDir = mkdtempSync(join(tmpdir(), 'medrec-patient-read-'))
    copyFileSync(demo.path, join(workDir, 'demo.sqlite'))
    db = openDatabase(join(workDir, 'demo.sqlite'))
    patients = (db.prepare('SELECT id FROM patients ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id)
    // Untidy rows on the first patient's visits: codes as a hand-written import might store them.
    const visits = (db.prepare('SELECT id FROM visits WHERE patient_id = ? ORDER BY sort_key, id').all(patients[0]) as Array<{ id: number }>).map((r) => r.id)
    const insert = db.prepare(`INSERT INTO medications (visit_id, raw_name, atc3, atc5, mapping_method) VALUES (?, 'untidy', ?, ?, 'name')`)
    for (const visit of visits) {
      insert.run(visit, null, '  n02be01 ')
      insert.run(visit, '', 'c07ab02')
      insert.run(visit, ' a02b', null)
      insert.run(visit, null, 'N02BE01\t')
    }
  })
  afterAll(() => {
    db?.close()
    if (workDir) rmSync(workDir, { recursive: true, force: true })
    demo?.remove()
  })

  const drugsOf = (input: PatientModelInput): ReturnType<typeof patientDrugs> =>
    patientDrugs(input, input.currentVisit.from === 'stored' ? input.currentVisit.visitId : null, atcNameLookup(db))

  function expectSameRead(patient: number, current?: Parameters<typeof loadPatientInput>[2], visit?: string): void {
    const input = loadPatientInput(db, patient, current, visit)
    const reference = referencePatientInput(db, patient, current, visit)
    expect(input.visits).toEqual(reference.visits)
    expect(input.titles).toEqual(reference.titles)
    expect(input.unmappedMedications).toBe(reference.unmappedMedications)
    expect(input.storedVisitIds).toEqual(reference.storedVisitIds)
    const currentVisitId = input.currentVisit.from === 'stored' ? input.currentVisit.visitId : null
    expect(drugsOf(input)).toEqual(referencePatientDrugs(db, patient, reference.storedVisitIds, currentVisitId))
    // Without titles, the same codes and drugs; only the titles are left out.
    const untitled = loadPatientInput(db, patient, current, visit, { titles: false })
    expect(untitled.visits).toEqual(input.visits)
    expect(untitled.titles.size).toBe(0)
    expect(drugsOf(untitled)).toEqual(drugsOf(input))
  }

  it('reads every demo patient at its latest visit as before', () => {
    for (const patient of patients) expectSameRead(patient)
  })

  it('reads up to an earlier stored visit, and with a current visit given by the caller, as before', () => {
    const withSeveral = db.prepare('SELECT patient_id FROM visits GROUP BY patient_id HAVING count(*) > 1 ORDER BY patient_id').pluck().all() as number[]
    expect(withSeveral.length).toBeGreaterThan(10)
    const earliest = db.prepare('SELECT source_visit_id FROM visits WHERE patient_id = ? ORDER BY sort_key, id LIMIT 1').pluck()
    for (const id of withSeveral) expectSameRead(id, undefined, earliest.get(id) as string)
    const code = db.prepare('SELECT code_system, code FROM diagnoses LIMIT 1').get() as { code_system: string; code: string }
    for (const id of withSeveral.slice(0, 50)) {
      expectSameRead(id, { diagnoses: [{ system: code.code_system, code: code.code }, { system: null, code: 'I21.4' }], procedures: [] })
    }
  })

  it('normalises untidy stored drug codes as the query did (spaces trimmed, ASCII upper-cased, tabs kept)', () => {
    const input = loadPatientInput(db, patients[0]!)
    const drugs = drugsOf(input)
    const all = [...drugs.current.values(), ...drugs.history.values()].flat().map((d) => d.atc5)
    expect(all).toContain('N02BE01')
    expect(all).toContain('C07AB02')
    expect(all).not.toContain('N02BE01\t')
  })
})
