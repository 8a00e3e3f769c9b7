// A clinician's recommendation never fails because an import runs. An import holds SQLite's one write lock
// for its final copy (imports/staging.ts), and every recommendation, explanation and review appends an audit
// row: that write waits for the lock (db/busy.ts writeWhenFree) instead of failing with "database is locked".
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateCohort } from '../../bench/synthetic-cohort'
import { listAudit, recordAudit, type AuditEntryInput } from '../../src/main/services/audit/audit'
import { verifyAuditChain } from '../../src/main/services/audit/chain'
import { DatabaseBusyError, writeWhenFree } from '../../src/main/services/db/busy'
import { openDatabase } from '../../src/main/services/db/database'
import { getPatientTimeline } from '../../src/main/services/db/patients-repo'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { projectRoot } from '../../src/main/services/paths'
import { recommendMany } from '../../src/main/services/recommend/recommend'
import type { ServiceContext } from '../../src/main/services/service-context'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'
import { DATA_DIR, HAS_OPEN_DATA } from './import-helpers'

const entry = (n: number): AuditEntryInput => ({
  kind: 'record-view',
  patientId: null,
  sourcePatientId: `p${n}`,
  inputsHash: createHash('sha256').update(`view ${n}`).digest('hex'),
  modelId: null,
  modelVersion: null,
  outputs: { n }
})

describe('clinician writes while another connection writes (an import)', () => {
  const seeded = seededDatabase()
  const registry = new ModelRegistry(FIXTURE_MODELS_DIR, { providers: ['cpu'] })
  const ctx: ServiceContext = { db: seeded.db, registry, ddi: null, drugChoice: null }
  const ask = () => recommendMany(ctx, [{ patient: '10001' }], { modelId: 'fixture-linear' })
  const recommendations = () => listAudit(seeded.db, { limit: 100_000 }).filter((e) => e.kind === 'recommendation').length
  /** A second connection holding the write lock, as an import's final copy does (BEGIN IMMEDIATE … COMMIT). */
  const holdWriteLock = () => {
    const other = openDatabase(seeded.db.name)
    other.exec('BEGIN IMMEDIATE')
    other.prepare(`INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('import-in-progress', 'yes', 'now')`).run()
    return {
      commit: () => {
        other.exec('COMMIT')
        other.close()
      },
      rollback: () => {
        if (other.inTransaction) other.exec('ROLLBACK')
        other.close()
      }
    }
  }
  beforeAll(async () => {
    await ask() // loads the model session
  })
  afterAll(async () => {
    await registry.close()
    seeded.cleanup()
  })

  it('an audit entry written while the lock is held waits for it, then lands on an intact chain', async () => {
    const lock = holdWriteLock()
    let pending: Promise<number>
    try {
      // The first try runs before recordAudit returns, so it has met the held lock here.
      pending = recordAudit(seeded.db, entry(1))
    } finally {
      lock.commit()
    }
    const id = await pending
    expect(listAudit(seeded.db, { limit: 1 })[0]).toMatchObject({ id, kind: 'record-view', sourcePatientId: 'p1' })
    expect(seeded.db.prepare(`SELECT value FROM settings WHERE key = 'import-in-progress'`).pluck().get()).toBe('yes')
    expect(verifyAuditChain(seeded.db).ok).toBe(true)
  })

  it('a recommendation made while the lock is held waits for it and is audited (before: "database is locked" at once)', async () => {
    const before = recommendations()
    const lock = holdWriteLock()
    // Released later, on a timer: the recommendation reaches its audit write long before (a few ms, warm model).
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        lock.commit()
        resolve()
      }, 300)
    )
    try {
      const [result] = await ask()
      expect(result!.auditId).toBeGreaterThan(0)
    } finally {
      await released
    }
    expect(recommendations()).toBe(before + 1)
    expect(verifyAuditChain(seeded.db).ok).toBe(true)
  })

  it('a writer that never lets go: DatabaseBusyError once the wait is over, and nothing of the work is written', async () => {
    const lock = holdWriteLock()
    try {
      const insert = () => seeded.db.prepare(`INSERT INTO settings (key, value, updated_at) VALUES ('never', 'x', 'now')`).run()
      const write = writeWhenFree(seeded.db, 'Saving a test row', insert, 20)
      await expect(write).rejects.toThrow(DatabaseBusyError)
      await expect(write).rejects.toThrow(/Saving a test row: the patient database is busy .*nothing was written/)
    } finally {
      lock.rollback()
    }
    expect(seeded.db.prepare(`SELECT count(*) FROM settings WHERE key = 'never'`).pluck().get()).toBe(0)
  })

  it.skipIf(!HAS_OPEN_DATA)('while another process imports a generated cohort, every recommendation, audit write and read succeeds; the import lands whole', async () => {
    const cohortDir = mkdtempSync(join(tmpdir(), 'medrec-cohort-'))
    try {
      const manifest = await generateCohort({ patients: 150, seed: 3, outDir: cohortDir })
      const before = recommendations()
      const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'tests', 'unit', 'import-pausing-child.ts'), seeded.db.name, 'mimic-iv', cohortDir, DATA_DIR, 'no such phase', join(cohortDir, 'never')], {
        cwd: projectRoot(),
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
      let exited = false
      const done = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exited = true), resolve(code))))
      // Calls one after another for the whole import, its final copy included, as a busy ward would.
      const failures: string[] = []
      let calls = 0
      let audits = 0
      while (!exited) {
        calls++
        try {
          await ask()
          await recordAudit(seeded.db, entry(calls))
          audits++
          getPatientTimeline(seeded.db, seeded.ids.get('10001')!)
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error))
        }
      }
      expect(await done, err).toBe(0)
      expect(failures).toEqual([])
      expect(calls).toBeGreaterThan(0)
      expect(recommendations()).toBe(before + calls)
      expect(audits).toBe(calls)
      expect(out).toContain('done {"status":"completed"')
      expect(seeded.db.prepare(`SELECT count(*) FROM patients WHERE length(source_patient_id) = 8`).pluck().get()).toBe(manifest.patients)
      expect(verifyAuditChain(seeded.db).ok).toBe(true)
    } finally {
      rmSync(cohortDir, { recursive: true, force: true })
    }
  })
})
