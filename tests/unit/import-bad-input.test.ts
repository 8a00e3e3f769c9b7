import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { DatabaseBusyError } from '../../src/main/services/db/busy'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { ImportError, importDataset } from '../../src/main/services/imports'
import { DATA_DIR, fullSnapshot, HAS_OPEN_DATA, TempSpace, ACCEPT_BAD_ROWS } from './import-helpers'

describe.skipIf(!HAS_OPEN_DATA)('bad input', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  /** A database holding the eICU fixture, to show a failed import changes nothing already stored. */
  async function storeWithData(): Promise<Db> {
    const db = space.db()
    await importDataset(db, { format: 'eicu', dir: space.fixture('eicu-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    return db
  }

  async function expectFailureLeavesStore(db: Db, run: Promise<unknown>, message: RegExp): Promise<void> {
    const before = fullSnapshot(db)
    await expect(run).rejects.toThrow(ImportError)
    await expect(run).rejects.toThrow(message)
    expect(fullSnapshot(db)).toEqual(before)
    expect(db.inTransaction).toBe(false)
  }

  it('a missing file names it', async () => {
    const db = await storeWithData()
    const dir = space.fixture('mimic-iv-mini', true)
    rmSync(join(dir, 'hosp', 'prescriptions.csv.gz'))
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }),
      /is not a complete MIMIC-IV export: missing hosp\/prescriptions\.csv\.gz/
    )
  })

  it('a folder of another layout says which layout it looks like', async () => {
    const db = await storeWithData()
    const eicu = space.fixture('eicu-mini', true)
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'mimic-iv', dir: eicu, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }),
      /not a complete MIMIC-IV export: missing patients\.csv\.gz, admissions\.csv\.gz, .*looks like an eICU export: use --format eicu/
    )
    const mimicIv = space.fixture('mimic-iv-mini', true)
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'eicu', dir: mimicIv, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }),
      /not a complete eICU export: missing patient\.csv\.gz.*looks like a MIMIC-IV export: use --format mimic-iv/
    )
    // MIMIC-III and MIMIC-IV share file names; the columns tell them apart.
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'mimic-iii', dir: join(mimicIv, 'hosp'), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }),
      /diagnoses_icd\.csv\.gz: missing column icd9_code .*looks like a MIMIC-IV export/
    )
    await expectFailureLeavesStore(db, importDataset(db, { format: 'eicu', dir: join(eicu, 'nowhere'), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }), /does not exist/)
  })

  it('a truncated gzip file mid-way rolls back everything written before it', async () => {
    const db = await storeWithData()
    const dir = space.fixture('mimic-iv-mini', true)
    // Enough prescription rows that patients, admissions and codes are written before the cut.
    const path = join(dir, 'hosp', 'prescriptions.csv.gz')
    const [header, ...rows] = readFileSync(join(space.fixture('mimic-iv-mini'), 'hosp', 'prescriptions.csv'), 'utf8').trim().split('\n')
    const many = Array.from({ length: 40_000 }, (_, i) => rows[i % rows.length]!.replace(/,\d+,/, `,${5000 + i},`))
    const zipped = gzipSync([header, ...many].join('\n') + '\n')
    writeFileSync(path, zipped.subarray(0, Math.floor(zipped.length * 0.6)))
    const progress: string[] = []
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS, onProgress: (p) => progress.push(p.phase) }),
      /hosp\/prescriptions\.csv\.gz is truncated/
    )
    expect(progress).toContain('Importing admissions')
  })

  it('missing reference tables are a clear error before anything is written', async () => {
    const db = await storeWithData()
    await expectFailureLeavesStore(
      db,
      importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini', true), dataDir: space.dir() }),
      /Reference table .*gsn_atc_ndc_mapping\.csv\.gz not found.*MEDREC_DATA_DIR/
    )
  })

  it('malformed rows are rejected with file, line and reason; the rest imports', async () => {
    const db = space.db()
    const dir = space.fixture('mimic-iv-mini')
    const hosp = join(dir, 'hosp')
    const append = (file: string, lines: string[]): void => writeFileSync(join(hosp, file), readFileSync(join(hosp, file), 'utf8') + lines.join('\n') + '\n')
    // admissions.csv has 5 lines; new rows are lines 6-9, the quoted note spans lines 8-9.
    append('admissions.csv', [
      '100003,20000020,2171-01-01 10:00:00,2171-01-02 10:00:00,,URGENT,P9,HOME,HOME,Medicare,ENGLISH', // too few columns
      '100003,20000021,21/01/2171 10:00,2171-01-02 10:00:00,,URGENT,P9,HOME,HOME,Medicare,ENGLISH,SINGLE,WHITE,,,0',
      '100003,20000022,2171-03-01 10:00:00,2171-03-02 10:00:00,,URGENT,P9,"CLINIC',
      'REFERRAL",HOME,Medicare,ENGLISH,SINGLE,WHITE,,,0',
      '100009,20000023,2171-04-01 10:00:00,2171-04-02 10:00:00,,URGENT,P9,HOME,HOME,Medicare,ENGLISH,SINGLE,WHITE,,,0',
      '100003,20000022,2171-05-01 10:00:00,2171-05-02 10:00:00,,URGENT,P9,HOME,HOME,Medicare,ENGLISH,SINGLE,WHITE,,,0'
    ])
    append('diagnoses_icd.csv', ['100003,20000099,1,4019,9', '100003,20000022,1,XYZ,9', '100003,20000022,2,I10,11', '100003,20000022,3,I10,10'])
    append('prescriptions.csv', ['100003,20000022,2001,,,,not a time,,MAIN,Heparin,HEP,,0,,,,,,,,SC'])
    const report = await importDataset(db, { format: 'mimic-iv', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report.rejectedSamples).toEqual([
      { file: 'hosp/admissions.csv', line: 6, reason: 'expected 16 columns, found 11' },
      { file: 'hosp/admissions.csv', line: 7, reason: 'unparseable admittime "21/01/2171 10:00" (expected YYYY-MM-DD HH:MM:SS)' },
      { file: 'hosp/admissions.csv', line: 10, reason: 'admission 20000023 of unknown patient subject_id "100009" (not in the patients file)' },
      { file: 'hosp/admissions.csv', line: 11, reason: 'duplicate admission hadm_id 20000022' },
      { file: 'hosp/diagnoses_icd.csv', line: 10, reason: 'diagnosis for unknown admission hadm_id "20000099"' },
      { file: 'hosp/diagnoses_icd.csv', line: 11, reason: '"XYZ" is not a valid ICD-9-CM diagnosis code' },
      { file: 'hosp/diagnoses_icd.csv', line: 12, reason: 'unknown icd_version "11" (expected 9 or 10)' },
      { file: 'hosp/prescriptions.csv', line: 9, reason: 'unparseable starttime "not a time"' }
    ])
    expect(report.rejectedRows).toBe(8)
    // The good rows around them are in: the admission with the two-line quoted field and its valid code.
    expect(report.visits).toBe(5)
    expect(db.prepare(`SELECT code FROM diagnoses d JOIN visits v ON v.id = d.visit_id WHERE v.source_visit_id = '20000022'`).pluck().all()).toEqual(['I10'])
  })

  it('a database another connection is writing to is reported as busy, and nothing is written', async () => {
    const db = await storeWithData()
    const other = openDatabase(db.name)
    other.exec('BEGIN IMMEDIATE')
    db.pragma('busy_timeout = 50')
    try {
      const before = fullSnapshot(db)
      const run = importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini', true), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
      // Busy is retryable, not bad input: the import is staged, then the short final copy finds the lock taken.
      await expect(run).rejects.toThrow(DatabaseBusyError)
      await expect(run).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/The database is busy/) })
      expect(fullSnapshot(db)).toEqual(before)
      expect(db.inTransaction).toBe(false)
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
  })

  it('an empty file is an error naming it', async () => {
    const db = space.db()
    const dir = space.fixture('eicu-mini')
    writeFileSync(join(dir, 'treatment.csv'), '')
    await expectFailureLeavesStore(db, importDataset(db, { format: 'eicu', dir, dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS }), /treatment\.csv is empty/)
  })
})
