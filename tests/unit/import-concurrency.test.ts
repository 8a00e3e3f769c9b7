// Reading while writing: the app keeps working (reads and its own audit writes) while another process
// imports into the same database, and a busy database is a quick, retryable error.
import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { appendAudit } from '../../src/main/services/audit/audit'
import { BUSY_TIMEOUT_MS } from '../../src/main/services/db/busy'
import { openDatabase } from '../../src/main/services/db/database'
import { importDataset } from '../../src/main/services/imports'
import { projectRoot } from '../../src/main/services/paths'
import { ACCEPT_BAD_ROWS, DATA_DIR, fullSnapshot, HAS_OPEN_DATA, TempSpace } from './import-helpers'

/** Starts the pausing import child; resolves `paused` when it waits mid-import and `done` with its exit. */
function startImport(args: string[]): {
  paused: Promise<void>
  done: Promise<{ code: number | null; out: string; err: string }>
  kill: () => void
} {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'tests', 'unit', 'import-pausing-child.ts'), ...args], {
    cwd: projectRoot(),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  let onPaused: () => void = () => undefined
  const paused = new Promise<void>((resolve) => (onPaused = resolve))
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    if (out.includes('paused\n')) onPaused()
  })
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, out, err })))
  return {
    paused: Promise.race([paused, done.then(({ err: e }) => Promise.reject(new Error(`import child ended early: ${e}`)))]),
    done,
    kill: () => void child.kill('SIGKILL')
  }
}

describe.skipIf(!HAS_OPEN_DATA)('reading while writing', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  it('while another process is mid-import, this one reads every patient and appends audit rows; then the import lands whole', async () => {
    const db = space.db()
    await importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini'), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const resume = join(space.dir(), 'resume')
    const child = startImport([db.name, 'eicu', space.fixture('eicu-mini'), DATA_DIR, 'Importing medications', resume])
    try {
      await child.paused
      // The child is inside its import now (on main it held the write lock here until it finished).
      const timeline = db.prepare(`SELECT p.source_patient_id, count(v.id) AS visits FROM patients p JOIN visits v ON v.patient_id = p.id GROUP BY p.id ORDER BY p.id`)
      expect(timeline.all()).toEqual([
        { source_patient_id: '100001', visits: 2 },
        { source_patient_id: '100002', visits: 1 },
        { source_patient_id: '100003', visits: 1 }
      ])
      const auditIds: number[] = []
      for (let i = 0; i < 5; i++) {
        auditIds.push(
          appendAudit(db, { kind: 'recommendation', patientId: 1, sourcePatientId: '100001', inputsHash: 'a'.repeat(64), modelId: null, modelVersion: null, outputs: { i } })
        )
      }
      expect(auditIds).toHaveLength(5)
      expect(db.prepare(`SELECT count(*) FROM patients WHERE source = 'eicu'`).pluck().get()).toBe(0)
    } finally {
      writeFileSync(resume, '')
    }
    const ended = await child.done
    expect(ended.err).toBe('')
    expect(ended.code).toBe(0)
    expect(ended.out).toMatch(/done \{"status":"completed","visits":5\}/)
    // The import applied whole, and the audit rows written meanwhile are all still there.
    expect(db.prepare(`SELECT count(*) FROM visits WHERE source = 'eicu'`).pluck().get()).toBe(5)
    // (The audit trail also holds the schema seals its migrations wrote: count the rows written here.)
    expect(db.prepare(`SELECT count(*) FROM audit_log WHERE kind = 'recommendation'`).pluck().get()).toBe(5)
  })

  it('a busy database fails a write within the busy timeout (under 250 ms), never after 5 s', () => {
    const db = space.db()
    expect(db.pragma('busy_timeout', { simple: true })).toBe(BUSY_TIMEOUT_MS)
    expect(BUSY_TIMEOUT_MS).toBeLessThan(250)
    const other = openDatabase(db.name)
    other.exec('BEGIN IMMEDIATE')
    try {
      expect(() =>
        appendAudit(db, { kind: 'recommendation', patientId: null, sourcePatientId: null, inputsHash: 'b'.repeat(64), modelId: null, modelVersion: null, outputs: {} })
      ).toThrow(/database is locked/)
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
  })

  it('kill -9 mid-import leaves the database as it was; the next import removes the dead staging file and completes', async () => {
    const db = space.db()
    await importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini'), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    const before = fullSnapshot(db)
    const stagingFiles = (): string[] => readdirSync(dirname(db.name)).filter((f) => f.startsWith(`${basename(db.name)}.import-`))
    const child = startImport([db.name, 'eicu', space.fixture('eicu-mini'), DATA_DIR, 'Importing medications', join(space.dir(), 'never')])
    await child.paused
    child.kill()
    await child.done
    expect(fullSnapshot(db)).toEqual(before)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(stagingFiles().length).toBeGreaterThan(0)
    const report = await importDataset(db, { format: 'eicu', dir: space.fixture('eicu-mini'), dataDir: DATA_DIR, ...ACCEPT_BAD_ROWS })
    expect(report).toMatchObject({ status: 'completed', visits: 5 })
    expect(stagingFiles()).toEqual([])
  })
})
