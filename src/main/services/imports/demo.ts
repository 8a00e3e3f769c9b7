// The demo database: the open MIMIC-IV demo and eICU demo imported into one SQLite file. It is built
// in a temporary file beside the target and renamed into place only when complete, so a failure
// never leaves a half database (and never touches an existing one).
import type { ImportProgress, ImportReport } from '../../../shared/domain/imports'
import type { EhrFormat } from '../../../shared/domain/patient'
import { existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase } from '../db/database'
import { dataDir as defaultDataDir } from '../paths'
import { ImportError } from './errors'
import { importDataset } from './import-dataset'

/** The demo exports under <dataDir>/ehr, in import order. */
export const DEMO_DATASETS: ReadonlyArray<{ format: EhrFormat; folder: string; maxRejectedShare?: number }> = [
  { format: 'mimic-iv', folder: 'mimic-iv-demo-2.2' },
  // 1,646 of the eICU demo's 75,604 medication rows (2.2%) name no drug at all (neither drugname nor
  // HICL number): rejected and counted, above the 1% default limit, so the demo allows 5%.
  { format: 'eicu', folder: 'eicu-crd-demo-2.0.1', maxRejectedShare: 0.05 }
]

const SQLITE_SIDE_FILES = ['-wal', '-shm', '-journal']

export async function buildDemoDatabase(
  path: string,
  options: {
    dataDir?: string
    onProgress?: (progress: ImportProgress & { format: EhrFormat }) => void
    /** Overrides each dataset's limit on rejected rows (tests build it from fixtures with bad rows). */
    maxRejectedShare?: number
  } = {}
): Promise<ImportReport[]> {
  const dataDir = options.dataDir ?? defaultDataDir()
  for (const dataset of DEMO_DATASETS) {
    const dir = join(dataDir, 'ehr', dataset.folder)
    if (!existsSync(dir)) throw new ImportError(`The ${dataset.folder} demo is not at ${dir}: set MEDREC_DATA_DIR to the open data folder.`)
  }
  const temporary = `${path}.building-${process.pid}`
  const removeTemporary = (): void => {
    for (const suffix of ['', ...SQLITE_SIDE_FILES]) rmSync(temporary + suffix, { force: true })
  }
  removeTemporary()
  const db = openDatabase(temporary)
  const reports: ImportReport[] = []
  try {
    for (const dataset of DEMO_DATASETS) {
      reports.push(
        await importDataset(db, {
          format: dataset.format,
          dir: join(dataDir, 'ehr', dataset.folder),
          dataDir,
          maxRejectedShare: options.maxRejectedShare ?? dataset.maxRejectedShare,
          onProgress: options.onProgress && ((p) => options.onProgress!({ ...p, format: dataset.format }))
        })
      )
    }
    // One self-contained file: fold the WAL back in and leave WAL mode before the rename.
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.pragma('journal_mode = DELETE')
    db.close()
  } catch (error) {
    if (db.open) db.close()
    removeTemporary()
    throw error
  }
  // A stale -wal/-shm of an older file at `path` must not be replayed onto the new one.
  for (const suffix of SQLITE_SIDE_FILES) rmSync(path + suffix, { force: true })
  renameSync(temporary, path)
  return reports
}
