// The tamper-evident audit trail (issue 15, "Audit"): each forgery measured on main is a test here, done the
// way an attacker with the database file would (a raw better-sqlite3 connection), then caught by
// `medrec audit verify`.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { appendAudit, currentUserName, listAudit, setDisplayName } from '../../src/main/services/audit/audit'
import { AUDIT_TRIGGERS, GENESIS_HASH, verifyAuditChain } from '../../src/main/services/audit/chain'
import { auditCsv, auditFhirBundle } from '../../src/main/services/audit/export'
import { openDatabase } from '../../src/main/services/db/database'
import { AUDIT_CHAIN_VERSION, migrations } from '../../src/main/services/db/migrations'
import { importDataset } from '../../src/main/services/imports/import-dataset'
import { seededDatabase } from '../fixtures/models/seed-patients'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

const hash = (text: string): string => createHash('sha256').update(text).digest('hex')

/** Every migration from the chain on seals the trail: a new database's first rows are these seals. */
const SEALS = migrations.filter((m) => m.version >= AUDIT_CHAIN_VERSION).length
/** The first of the three rows trail() writes after the seals. */
const FIRST = SEALS + 1

describe('hash-chained audit trail', () => {
  const cleanups: Array<() => void> = []
  afterEach(() => {
    vi.restoreAllMocks()
    cleanups.splice(0).forEach((c) => c())
  })
  /** A patient database with three audit rows written by the app; the app's connection is closed. */
  const trail = (): string => {
    const seeded = seededDatabase()
    cleanups.push(seeded.cleanup)
    for (const n of [1, 2, 3]) {
      appendAudit(seeded.db, {
        kind: 'recommendation',
        patientId: 1,
        sourcePatientId: '10001',
        inputsHash: hash(`inputs ${n}`),
        modelId: 'fixture-linear',
        modelVersion: '1.0.0-fixture',
        outputs: { combination: ['B01A'], n }
      })
    }
    seeded.db.close()
    return seeded.path
  }
  /** The attacker: a plain connection to the file, none of the app's code. */
  const raw = (path: string, sql: string): void => {
    const db = new Database(path)
    try {
      db.exec(sql)
    } finally {
      db.close()
    }
  }
  const verify = (path: string, expectHead?: { id: number; hash: string }) => {
    const db = openDatabase(path, { readonly: true })
    try {
      return verifyAuditChain(db, { expectHead })
    } finally {
      db.close()
    }
  }
  const cli = async (...args: string[]): Promise<{ code: number; out: string }> => {
    const out: string[] = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    const code = await main(args)
    return { code, out: out.join('\n') }
  }
  const recreateTriggers = AUDIT_TRIGGERS.map((t) => `${t.sql};`).join('\n')
  const dropTriggers = AUDIT_TRIGGERS.map((t) => `DROP TRIGGER ${t.name};`).join('\n')

  it('an untouched trail verifies, with a seal row from the migration and the head printed', async () => {
    const path = trail()
    const result = verify(path)
    expect(result).toMatchObject({ ok: true, problems: [], firstBrokenRowId: null, rowCount: SEALS + 3 })
    const { code, out } = await cli('audit', 'verify', '--db', path)
    expect(code).toBe(0)
    expect(out).toContain(`Head: ${result.head!.id}:${result.head!.hash}`)
    expect(out).toContain('OK: every row is chained')
  })

  it('INSERT OR REPLACE of an existing row is refused (before: it rewrote the row)', () => {
    const path = trail()
    const db = new Database(path)
    try {
      const row = db.prepare('SELECT * FROM audit_log WHERE id = 2').get() as Record<string, unknown>
      expect(() =>
        db
          .prepare(
            `INSERT OR REPLACE INTO audit_log (id, kind, created_at, user_name, patient_id, source_patient_id, inputs_hash, model_id, model_version, outputs_json, prev_hash, row_hash)
             VALUES (@id, @kind, @created_at, @user_name, @patient_id, @source_patient_id, @inputs_hash, @model_id, @model_version, '{"combination":[]}', @prev_hash, @row_hash)`
          )
          .run(row)
      ).toThrow(/audit_log is append-only: a new row must extend the hash chain/)
      // A plain INSERT outside the chain (no hashes) is refused too.
      expect(() =>
        db.prepare(`INSERT INTO audit_log (kind, created_at, user_name, inputs_hash, outputs_json) VALUES ('review', '2026-01-01', 'mallory', ?, '{}')`).run(hash('x'))
      ).toThrow(/must extend the hash chain/)
    } finally {
      db.close()
    }
    expect(verify(path).ok).toBe(true)
  })

  it('INSERT OR REPLACE with the triggers dropped and recreated is caught: the row and the triggers are named', async () => {
    const path = trail()
    raw(path, `${dropTriggers}
      INSERT OR REPLACE INTO audit_log (id, kind, created_at, user_name, patient_id, source_patient_id, inputs_hash, model_id, model_version, outputs_json, prev_hash, row_hash)
        SELECT id, kind, created_at, user_name, patient_id, source_patient_id, inputs_hash, model_id, model_version, '{"combination":[]}', prev_hash, row_hash FROM audit_log WHERE id = ${FIRST};
      ${recreateTriggers}`)
    const result = verify(path)
    expect(result.ok).toBe(false)
    expect(result.firstBrokenRowId).toBe(FIRST)
    expect(result.problems).toContain(`row ${FIRST}: its content does not match its row_hash: the row was edited`)
    expect(result.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^trigger audit_log_no_update was dropped and recreated after row ${SEALS} sealed the trail`))])
    )
    const { code, out } = await cli('audit', 'verify', '--db', path)
    expect(code).toBe(1)
    expect(out).toContain(`FAILED: the chain first breaks at row ${FIRST}.`)
  })

  it('dropping and recreating the triggers leaves a trace even when no row was touched (before: no trace)', () => {
    const path = trail()
    raw(path, `${dropTriggers}\n${recreateTriggers}`)
    const result = verify(path)
    expect(result.ok).toBe(false)
    expect(result.firstBrokenRowId).toBeNull()
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^trigger audit_log_no_delete was dropped and recreated after row ${SEALS} sealed the trail \\(sqlite_master entry \\d+ then, \\d+ now\\)$`)),
        expect.stringMatching(new RegExp(`^the schema changed outside the app's migrations after row ${SEALS} sealed the trail`))
      ])
    )
    // Dropped and left dropped: named as missing.
    raw(path, dropTriggers)
    expect(verify(path).problems).toEqual(expect.arrayContaining(['trigger audit_log_no_update is missing: the audit log is not protected']))
  })

  it('a row edited through a raw connection is named, also when the editor recomputed its own hash', () => {
    const path = trail()
    raw(path, `DROP TRIGGER audit_log_no_update;
      UPDATE audit_log SET user_name = 'someone-else' WHERE id = 2;
      ${AUDIT_TRIGGERS[0]!.sql};`)
    const edited = verify(path)
    expect(edited.firstBrokenRowId).toBe(2)
    expect(edited.problems).toContain('row 2: its content does not match its row_hash: the row was edited')

    // The editor recomputes row 2's hash with the published formula: row 3's link to it breaks instead.
    const db = new Database(path)
    const row2 = db.prepare('SELECT * FROM audit_log WHERE id = 2').get() as Parameters<typeof import('../../src/main/services/audit/chain').rowHash>[0] & { prev_hash: string }
    db.close()
    return import('../../src/main/services/audit/chain').then(({ rowHash }) => {
      raw(path, `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET row_hash = '${rowHash(row2, row2.prev_hash)}' WHERE id = 2; ${AUDIT_TRIGGERS[0]!.sql};`)
      const relinked = verify(path)
      expect(relinked.firstBrokenRowId).toBe(3)
      expect(relinked.problems[0]).toMatch(/^row 3: prev_hash [0-9a-f]{12}… is not the hash of the row before it/)
    })
  })

  it('a deleted row is named; rows deleted from the end are caught against the recorded head', async () => {
    const path = trail()
    const head = verify(path).head!
    raw(path, `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 2; ${AUDIT_TRIGGERS[1]!.sql};`)
    const middle = verify(path)
    expect(middle.firstBrokenRowId).toBe(3)
    expect(middle.problems).toEqual(expect.arrayContaining(['row 3: rows 2–2 are missing (deleted)', expect.stringMatching(/^row 3: prev_hash/)]))

    const path2 = trail()
    const head2 = verify(path2).head!
    raw(path2, `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = ${head2.id}; ${AUDIT_TRIGGERS[1]!.sql};`)
    const tail = verify(path2, head2)
    expect(tail.problems).toContain(`row ${head2.id}, the head you recorded, is missing: rows were deleted from the end`)
    const { code } = await cli('audit', 'verify', '--db', path2, '--expect-head', `${head2.id}:${head2.hash}`)
    expect(code).toBe(1)
    expect(head.id).toBe(SEALS + 3)
  })

  it.skipIf(!HAS_OPEN_DATA)('an import (temporary tables, one long transaction) leaves the trail verifiable: no false alarm', async () => {
    const space = new TempSpace()
    cleanups.push(() => space.cleanup())
    const db = space.db()
    await importDataset(db, { format: 'mimic-iv', dir: space.fixture('mimic-iv-mini'), dataDir: DATA_DIR })
    appendAudit(db, { kind: 'ddi-check', patientId: null, sourcePatientId: null, inputsHash: hash('after import'), modelId: null, modelVersion: null, outputs: {} })
    expect(verifyAuditChain(db)).toMatchObject({ ok: true, problems: [] })
  })

  it('the chain migration hashes the rows of an existing database and seals it', () => {
    const seeded = seededDatabase()
    cleanups.push(seeded.cleanup)
    seeded.db.close()
    const path = join(seeded.path, '..', 'v3.sqlite')
    const old = new Database(path)
    // A database from before the chain: every earlier migration applied.
    for (const m of migrations.filter((m) => m.version < AUDIT_CHAIN_VERSION)) old.exec(m.sql)
    old.pragma(`user_version = ${AUDIT_CHAIN_VERSION - 1}`)
    const insert = old.prepare(
      `INSERT INTO audit_log (kind, created_at, user_name, patient_id, source_patient_id, inputs_hash, model_id, model_version, outputs_json) VALUES (?, ?, ?, NULL, NULL, ?, NULL, NULL, ?)`
    )
    insert.run('ddi-check', '2026-01-01T00:00:00.000Z', 'old-user', hash('a'), '{"warnings":1}')
    insert.run('review', '2026-01-02T00:00:00.000Z', 'old-user', hash('b'), '{"record":{}}')
    old.close()

    const db = openDatabase(path)
    try {
      const rows = db.prepare('SELECT id, kind, user_name, prev_hash, row_hash FROM audit_log ORDER BY id').all() as Array<Record<string, unknown>>
      expect(rows.map((r) => [r.id, r.kind, r.user_name])).toEqual([
        [1, 'ddi-check', 'old-user'],
        [2, 'review', 'old-user'],
        // One seal per migration from the chain on (version 4, the FHIR tables of version 5, the age at the visit of 6).
        ...Array.from({ length: SEALS }, (_, i) => [3 + i, 'audit-trail-sealed', currentUserName()])
      ])
      expect(rows[0]!.prev_hash).toBe(GENESIS_HASH)
      expect(rows[1]!.prev_hash).toBe(rows[0]!.row_hash)
      expect(verifyAuditChain(db)).toMatchObject({ ok: true, rowCount: 2 + SEALS })
    } finally {
      db.close()
    }
  })

  it('who is the OS account plus the configured display name, never a name the caller passes', () => {
    const seeded = seededDatabase()
    cleanups.push(seeded.cleanup)
    setDisplayName(seeded.db, 'Dr. Grey')
    const entry = { kind: 'ddi-check' as const, patientId: null, sourcePatientId: null, inputsHash: hash('d'), modelId: null, modelVersion: null, outputs: {} }
    // A userName smuggled in by a caller is not part of the entry and is not recorded.
    appendAudit(seeded.db, { ...entry, userName: 'mallory' } as typeof entry)
    expect(listAudit(seeded.db, { limit: 1 })[0]).toMatchObject({ userName: currentUserName(), displayName: 'Dr. Grey', client: null })
    // A service acting for an authenticated remote client records it beside the account, in the chain and the export.
    appendAudit(seeded.db, { ...entry, client: 'https://ehr.example/cds-client' })
    expect(listAudit(seeded.db, { limit: 1 })[0]).toMatchObject({ userName: currentUserName(), client: 'https://ehr.example/cds-client' })
    const agents = (auditFhirBundle(seeded.db).entry as Array<{ resource: { agent: Array<{ name: string; requestor: boolean }> } }>).at(-1)!.resource.agent
    expect(agents).toEqual([expect.objectContaining({ requestor: false }), expect.objectContaining({ name: 'https://ehr.example/cds-client', requestor: true })])
    expect(verifyAuditChain(seeded.db).ok).toBe(true)
  })

  it('medrec audit whoami shows and sets the display name recorded beside the OS account (audited)', async () => {
    const path = trail()
    expect(await cli('audit', 'whoami', '--db', path)).toEqual({ code: 0, out: `The audit log records you as: ${currentUserName()}` })
    expect(await cli('audit', 'whoami', '--set-display-name', 'Dr. Grey', '--db', path)).toEqual({ code: 0, out: `The audit log records you as: Dr. Grey (${currentUserName()})` })
    const db = openDatabase(path, { readonly: true })
    try {
      expect(listAudit(db, { limit: 1 })[0]).toMatchObject({ kind: 'settings-change', userName: currentUserName(), outputs: { patch: { displayName: 'Dr. Grey' } } })
      expect(verifyAuditChain(db).ok).toBe(true)
    } finally {
      db.close()
    }
  })

  it('exports the trail as CSV and as a FHIR R4 AuditEvent bundle with the chain hashes', async () => {
    const path = trail()
    const db = openDatabase(path, { readonly: true })
    try {
      const csv = auditCsv(db)
      const lines = csv.trimEnd().split('\r\n')
      expect(lines[0]).toBe('id,kind,created_at,user_name,display_name,client,patient_id,source_patient_id,inputs_hash,model_id,model_version,outputs_json,prev_hash,row_hash')
      expect(lines).toHaveLength(1 + SEALS + 3)
      expect(lines[1]).toMatch(/^1,audit-trail-sealed,.*,0{64},[0-9a-f]{64}$/)
      expect(lines[SEALS]).toMatch(new RegExp(`^${SEALS},audit-trail-sealed,.*,[0-9a-f]{64},[0-9a-f]{64}$`))
      expect(lines[FIRST]).toMatch(new RegExp(`^${FIRST},recommendation,.*,"{""combination"":\\[""B01A""\\],""n"":1}",[0-9a-f]{64},[0-9a-f]{64}$`))
      const bundle = auditFhirBundle(db, { patientId: 1 }) as { resourceType: string; type: string; entry: Array<{ resource: Record<string, unknown> }> }
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' })
      expect(bundle.entry).toHaveLength(3)
      const event = bundle.entry[0]!.resource
      expect(event).toMatchObject({
        resourceType: 'AuditEvent',
        type: { code: 'recommendation' },
        action: 'E',
        outcome: '0',
        agent: [{ who: { identifier: { value: currentUserName() } }, requestor: true }],
        source: { observer: { display: 'MedRec Desktop' } }
      })
      expect(Date.parse(event.recorded as string)).not.toBeNaN()
      const details = (event.entity as Array<{ detail?: Array<{ type: string; valueString?: string }> }>).flatMap((e) => e.detail ?? [])
      expect(details.find((d) => d.type === 'prevHash')!.valueString).toMatch(/^[0-9a-f]{64}$/)
    } finally {
      db.close()
    }
    const { code, out } = await cli('audit', 'export', '--format', 'fhir', '--db', path)
    expect(code).toBe(0)
    expect((JSON.parse(out) as { entry: unknown[] }).entry).toHaveLength(SEALS + 3)
    expect((await cli('audit', 'export', '--format', 'xml', '--db', path)).code).toBe(2)
  })

  it('the README documents the audit commands', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
    expect(readme).toContain('medrec -- audit verify')
    expect(readme).toContain('medrec -- audit export --format fhir')
    expect(readme).toContain('medrec -- audit whoami')
  })
})
