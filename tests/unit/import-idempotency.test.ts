import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { buildDemoDatabase, importDataset } from '../../src/main/services/imports'
import { ImportStore } from '../../src/main/services/imports/store'
import { DATA_DIR, FIXTURES, fullSnapshot, HAS_OPEN_DATA, snapshot, TempSpace, ACCEPT_BAD_ROWS } from './import-helpers'

describe.skipIf(!HAS_OPEN_DATA)('idempotent, all-or-nothing imports', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('importing the same files twice changes nothing: the second run is recorded as skipped-unchanged', async () => {
    const db = space.db()
    const dir = space.fixture('mimic-iv-mini', true)
    const first = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const after = snapshot(db)
    const second = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(second).toMatchObject({ status: 'skipped-unchanged', previousRunId: first.runId, visits: first.visits, medicationRows: first.medicationRows })
    expect(second.inputFingerprint).toBe(first.inputFingerprint)
    expect(snapshot(db)).toEqual(after)
    expect(db.prepare('SELECT status FROM import_runs ORDER BY id').pluck().all()).toEqual(['completed', 'skipped-unchanged'])
  })

  it('a forced re-import of the same files leaves identical content and ids', async () => {
    const db = space.db()
    const dir = space.fixture('eicu-mini', true)
    await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const after = snapshot(db)
    const again = await importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, force: true, ...ACCEPT_BAD_ROWS })
    expect(again.status).toBe('completed')
    expect(snapshot(db)).toEqual(after)
  })

  it('the final copy stores the same medication rows, ids and order into an empty table as into one holding other rows', async () => {
    // Into an empty table the staged rows are copied whole (SQLite's transfer optimisation), otherwise row by row.
    const mimic = space.fixture('mimic-iv-mini', true)
    const eicu = space.fixture('eicu-mini', true)
    const rows = (db: ReturnType<typeof space.db>, source: string) =>
      db
        .prepare(
          `SELECT m.id, v.source_visit_id, m.raw_name, m.ndc, m.gsn, m.other_id, m.atc5, m.atc3, m.mapping_method, m.start_time, m.order_count
           FROM medications m JOIN visits v ON v.id = m.visit_id WHERE v.source = ? ORDER BY m.id`
        )
        .raw()
        .all(source) as unknown[][]
    const first = space.db()
    await importDataset(first, { format: 'mimic-iv', dir: mimic, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const copiedWhole = rows(first, 'mimic-iv')
    expect(copiedWhole.map((row) => row[0])).toEqual(copiedWhole.map((_, i) => i + 1))
    const after = space.db()
    await importDataset(after, { format: 'eicu', dir: eicu, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const offset = after.prepare('SELECT max(id) FROM medications').pluck().get() as number
    expect(offset).toBeGreaterThan(0)
    await importDataset(after, { format: 'mimic-iv', dir: mimic, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const copiedByRow = rows(after, 'mimic-iv')
    expect(copiedByRow.map((row) => [(row[0] as number) - offset, ...row.slice(1)])).toEqual(copiedWhole)
    // A forced re-import empties the table of this source's rows and copies whole again: the same rows and ids.
    await importDataset(first, { format: 'mimic-iv', dir: mimic, dataDir: DATA_DIR, force: true, ...ACCEPT_BAD_ROWS })
    expect(rows(first, 'mimic-iv')).toEqual(copiedWhole)
  })

  it("changed files replace each re-imported visit's codes and medications wholesale and keep the ids", async () => {
    const db = space.db()
    const dir = space.fixture('mimic-iv-mini')
    await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const visitIds = db.prepare('SELECT source_visit_id, id FROM visits ORDER BY id').all()
    const hosp = join(dir, 'hosp')
    // Visit 20000003 loses N179 and gains R6520; its prescriptions become one row.
    writeFileSync(join(hosp, 'diagnoses_icd.csv'), readFileSync(join(hosp, 'diagnoses_icd.csv'), 'utf8').replace('100002,20000003,2,N179,10', '100002,20000003,2,R6520,10'))
    const prescriptions = readFileSync(join(hosp, 'prescriptions.csv'), 'utf8').split('\n')
    writeFileSync(join(hosp, 'prescriptions.csv'), prescriptions.filter((line) => !line.startsWith('100002,20000003,1007,')).join('\n'))
    // Removing stored rows needs to be asked for (import-safety.test.ts); asked, it replaces them.
    await expect(importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })).rejects.toThrow(
      /would remove 1 diagnoses rows, remove 1 medications rows \(affecting 1 of the 3 stored patients\)/
    )
    const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS, replace: true })
    expect(report.status).toBe('completed')
    expect(report.plan).toMatchObject({ patientsAffected: 1, tables: { diagnoses: { removed: 1, added: 1 }, medications: { removed: 1 } } })
    expect(db.prepare('SELECT source_visit_id, id FROM visits ORDER BY id').all()).toEqual(visitIds)
    const codesOf = (hadm: string): unknown[] =>
      db.prepare(`SELECT code FROM diagnoses d JOIN visits v ON v.id = d.visit_id WHERE v.source_visit_id = ? ORDER BY seq`).pluck().all(hadm)
    expect(codesOf('20000003')).toEqual(['J189', 'R6520'])
    expect(codesOf('20000009')).toEqual(['41401', '4019', '25000'])
    const medsOf = (hadm: string): unknown[] =>
      db.prepare(`SELECT raw_name FROM medications m JOIN visits v ON v.id = m.visit_id WHERE v.source_visit_id = ? ORDER BY m.id`).pluck().all(hadm)
    expect(medsOf('20000003')).toEqual(['Vancomycin'])
    expect(medsOf('20000009')).toEqual(['Furosemide 20mg Tab', 'Aspirin', 'Bag'])
    // The same result as importing the changed files into an empty database.
    const fresh = space.db()
    await importDataset(fresh, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(snapshot(db)).toEqual(snapshot(fresh))
  })

  it('an import that fails mid-way leaves the database exactly as before, and running it again completes it', async () => {
    const db = space.db()
    await importDataset(db, { format: 'eicu', dir: space.fixture('eicu-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const before = fullSnapshot(db)
    const dir = space.fixture('mimic-iv-mini', true)
    // A crash while prescriptions are being written, after patients, visits and codes went in.
    const crash = importDataset(db, {
      format: 'mimic-iv',
      dir,
      dataDir: DATA_DIR,
      onProgress: (p) => {
        if (p.phase === 'Importing prescriptions') throw new Error('simulated crash')
      }
    })
    await expect(crash).rejects.toThrow('simulated crash')
    expect(fullSnapshot(db)).toEqual(before)
    const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report).toMatchObject({ status: 'completed', visits: 4, medicationRows: 7 })
    expect(db.prepare(`SELECT count(*) FROM visits WHERE source = 'mimic-iv'`).pluck().get()).toBe(4)
  })
})

describe('the import store', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('writes every medication row right when its table of distinct drugs fills and starts over', () => {
    const db = space.db()
    db.exec('BEGIN')
    const runId = Number(
      db.prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('eicu', '/x', 'f', 'now', 'completed', '{}')`).run()
        .lastInsertRowid
    )
    const store = new ImportStore(db, 'eicu', runId, 2)
    const patient = store.patient('p1', 'F')
    const visit = store.visit({ patientId: patient, sourceVisitId: 'v1', admitTime: null, dischargeTime: null, sortKey: '1', orderLabel: 'one' })
    const names = ['A', 'B', 'A', 'C', 'D', 'B', 'E', 'A']
    let mapped = 0
    for (const name of names) {
      const drug = { rawName: name, ndc: null, gsn: null, otherId: `hicl-${name}` }
      store.medication(visit, drug, null, (d) => (mapped++, { atc5: null, atc3: `X0${d.rawName}A`, method: 'name' }))
    }
    store.finish()
    db.exec('COMMIT')
    const rows = db.prepare('SELECT raw_name, other_id, atc3, order_count FROM medications ORDER BY id').all() as Array<{
      raw_name: string
      other_id: string
      atc3: string
      order_count: number
    }>
    // Every row keeps its own drug's identity and mapping across refills of the drug table ...
    for (const row of rows) expect(row).toMatchObject({ other_id: `hicl-${row.raw_name}`, atc3: `X0${row.raw_name}A` })
    // ... repeated orders of a drug in the visit fold into fewer rows, and every source row is counted.
    const ordersByName = new Map<string, number>()
    for (const row of rows) ordersByName.set(row.raw_name, (ordersByName.get(row.raw_name) ?? 0) + row.order_count)
    const expected = new Map<string, number>()
    for (const name of names) expected.set(name, (expected.get(name) ?? 0) + 1)
    expect(ordersByName).toEqual(expected)
    expect(rows.length).toBeLessThan(names.length)
    // Each distinct drug is mapped once while it is in the table; a refill maps it again.
    expect(mapped).toBeGreaterThanOrEqual(5)
    expect(mapped).toBeLessThan(names.length)
  })

  it('folds every row of a drug in a visit into one row, wherever the rows are in the file, in first-appearance order', () => {
    const db = space.db()
    db.exec('BEGIN')
    const runId = Number(
      db.prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('mimic-iv', '/x', 'f', 'now', 'completed', '{}')`).run()
        .lastInsertRowid
    )
    const store = new ImportStore(db, 'mimic-iv', runId)
    const patient = store.patient('p1', 'F')
    const visit = (id: string) => store.visit({ patientId: patient, sourceVisitId: id, admitTime: null, dischargeTime: null, sortKey: id, orderLabel: id })
    const first = visit('v1')
    const second = visit('v2')
    // Rows of two admissions interleaved, as in MIMIC-IV's prescriptions file; a drug repeats in both.
    const rows: Array<[number, string, string | null]> = [
      [second, 'Heparin', '2150-01-02T08:00:00'],
      [first, 'Vancomycin', '2150-01-01T12:00:00'],
      [second, 'Insulin', null],
      [first, 'Heparin', '2150-01-01T09:00:00'],
      [second, 'Heparin', '2150-01-01T23:00:00'],
      [first, 'Vancomycin', null],
      [first, 'Vancomycin', '2150-01-01T06:00:00'],
      [second, 'Insulin', null]
    ]
    const mapDrug = () => ({ atc5: null, atc3: null, method: 'unmapped' as const })
    for (const [visitId, name, start] of rows) store.medication(visitId, { rawName: name, ndc: null, gsn: null, otherId: null }, start, mapDrug)
    expect(store.counts).toMatchObject({ medications: 8, storedMedicationRows: 4 })
    store.finish()
    db.exec('COMMIT')
    const stored = db.prepare('SELECT visit_id, raw_name, start_time, order_count FROM medications ORDER BY id').all()
    expect(stored).toEqual([
      // Earliest known start; a drug's rows come in the order each drug first appears for its visit.
      { visit_id: first, raw_name: 'Vancomycin', start_time: '2150-01-01T06:00:00', order_count: 3 },
      { visit_id: first, raw_name: 'Heparin', start_time: '2150-01-01T09:00:00', order_count: 1 },
      { visit_id: second, raw_name: 'Heparin', start_time: '2150-01-01T23:00:00', order_count: 2 },
      { visit_id: second, raw_name: 'Insulin', start_time: null, order_count: 2 }
    ])
  })
})

describe.skipIf(!HAS_OPEN_DATA)('demo database builder', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  /** A data folder whose ehr/ demos are the small fixtures, with the real knowledge tables. */
  function fixtureDataDir(eicuFiles: (dir: string) => void = () => {}): string {
    const root = space.dir()
    mkdirSync(join(root, 'ehr'))
    cpSync(join(FIXTURES, 'mimic-iv-mini'), join(root, 'ehr', 'mimic-iv-demo-2.2'), { recursive: true })
    const eicu = join(root, 'ehr', 'eicu-crd-demo-2.0.1')
    mkdirSync(eicu)
    for (const file of readdirSync(join(FIXTURES, 'eicu-mini'))) writeFileSync(join(eicu, `${file}.gz`), gzipSync(readFileSync(join(FIXTURES, 'eicu-mini', file))))
    eicuFiles(eicu)
    symlinkSync(join(DATA_DIR, 'knowledge'), join(root, 'knowledge'))
    return root
  }

  it('builds one self-contained file with both demos', async () => {
    const out = join(space.dir(), 'demo.sqlite')
    const reports = await buildDemoDatabase(out, { dataDir: fixtureDataDir(), ...ACCEPT_BAD_ROWS })
    expect(reports.map((r) => [r.format, r.visits])).toEqual([
      ['mimic-iv', 4],
      ['eicu', 5]
    ])
    expect(existsSync(`${out}-wal`)).toBe(false)
    const db = openDatabase(out, { readonly: true })
    expect(db.prepare('SELECT source, count(*) AS n FROM patients GROUP BY source ORDER BY source').all()).toEqual([
      { source: 'eicu', n: 3 },
      { source: 'mimic-iv', n: 3 }
    ])
    db.close()
  })

  it('a failure leaves no half database and an existing file untouched', async () => {
    const folder = space.dir()
    const out = join(folder, 'demo.sqlite')
    writeFileSync(out, 'the previous demo')
    const broken = fixtureDataDir((eicu) => {
      const file = join(eicu, 'medication.csv.gz')
      const bytes = readFileSync(file)
      writeFileSync(file, bytes.subarray(0, bytes.length - 12))
    })
    await expect(buildDemoDatabase(out, { dataDir: broken })).rejects.toThrow(/medication\.csv\.gz is truncated/)
    expect(readFileSync(out, 'utf8')).toBe('the previous demo')
    expect(readdirSync(folder)).toEqual(['demo.sqlite'])
  })
})
