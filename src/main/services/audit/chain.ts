// The audit log's hash chain and its guards. Each row stores prev_hash (the row_hash of the row before it;
// zeros for the first) and row_hash = sha256 over the canonical JSON of its content plus prev_hash, so an
// edited, deleted or inserted row breaks the chain from that row on. Triggers refuse UPDATE, DELETE and any
// INSERT that does not extend the chain (INSERT OR REPLACE included). Dropping and recreating the triggers
// changes their place in sqlite_master and the schema cookie, which each "seal" row records; verify compares.
// Nothing here stops someone who rewrites the whole file and recomputes every hash: for that, keep the head
// hash that `medrec audit verify` prints (or the exported trail) outside the machine and check it with
// --expect-head.
import { canonicalJson } from '../canonical-json'
import { createHash } from 'node:crypto'
import type { Db } from '../db/database'
import { perConnection } from '../db/statements'

export const GENESIS_HASH = '0'.repeat(64)
export const SEAL_KIND = 'audit-trail-sealed'

/** The guards, exactly as created; verify compares the stored SQL with these. */
export const AUDIT_TRIGGERS: ReadonlyArray<{ name: string; sql: string }> = [
  {
    name: 'audit_log_no_update',
    sql: `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END`
  },
  {
    name: 'audit_log_no_delete',
    sql: `CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END`
  },
  {
    name: 'audit_log_extend_chain_only',
    sql: `CREATE TRIGGER audit_log_extend_chain_only BEFORE INSERT ON audit_log
  WHEN NEW.id IS NOT (SELECT coalesce(max(id), 0) + 1 FROM audit_log)
    OR NEW.prev_hash IS NOT coalesce((SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1), '${GENESIS_HASH}')
    OR NEW.row_hash IS NULL OR length(NEW.row_hash) != 64
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: a new row must extend the hash chain (INSERT OR REPLACE and rows outside the chain are refused)'); END`
  }
]

export interface ChainedRow {
  id: number
  kind: string
  created_at: string
  user_name: string
  display_name: string | null
  client: string | null
  patient_id: number | null
  source_patient_id: string | null
  inputs_hash: string
  model_id: string | null
  model_version: string | null
  outputs_json: string
  prev_hash: string | null
  row_hash: string | null
}

/** sha256 over the row's content (every column but the hashes) and the previous row's hash. */
export function rowHash(row: Omit<ChainedRow, 'prev_hash' | 'row_hash'>, prevHash: string): string {
  const content = {
    id: row.id,
    kind: row.kind,
    createdAt: row.created_at,
    userName: row.user_name,
    displayName: row.display_name,
    client: row.client,
    patientId: row.patient_id,
    sourcePatientId: row.source_patient_id,
    inputsHash: row.inputs_hash,
    modelId: row.model_id,
    modelVersion: row.model_version,
    outputsJson: row.outputs_json,
    prevHash
  }
  return createHash('sha256').update(canonicalJson(content)).digest('hex')
}

/** The id and row_hash the next row must carry. */
const headStatement = perConnection((db) => db.prepare('SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1'))

export function chainHead(db: Db): { nextId: number; prevHash: string } {
  const last = headStatement(db).get() as { id: number; row_hash: string | null } | undefined
  return { nextId: (last?.id ?? 0) + 1, prevHash: last?.row_hash ?? GENESIS_HASH }
}

export function createAuditTriggers(db: Db): void {
  for (const trigger of AUDIT_TRIGGERS) db.exec(`DROP TRIGGER IF EXISTS ${trigger.name};\n${trigger.sql};`)
}

/** Where the guards sit in sqlite_master, and the schema cookie: what a seal row records. */
export function schemaFingerprint(db: Db): { schemaVersion: number; triggers: Array<{ name: string; rowid: number | null }> } {
  const rows = db.prepare(`SELECT rowid, name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`).all() as Array<{ rowid: number; name: string }>
  return {
    schemaVersion: db.pragma('schema_version', { simple: true }) as number,
    triggers: AUDIT_TRIGGERS.map((t) => ({ name: t.name, rowid: rows.find((r) => r.name === t.name)?.rowid ?? null }))
  }
}

/**
 * Migration 4: chains the rows written before the chain existed, in id order. Runs inside the migration's
 * transaction with the old triggers dropped; the caller recreates them and seals.
 */
export function chainExistingRows(db: Db): number {
  const rows = db.prepare('SELECT * FROM audit_log ORDER BY id').all() as ChainedRow[]
  const update = db.prepare('UPDATE audit_log SET prev_hash = ?, row_hash = ? WHERE id = ?')
  let prev = GENESIS_HASH
  for (const row of rows) {
    const hash = rowHash(row, prev)
    update.run(prev, hash, row.id)
    prev = hash
  }
  return rows.length
}

export interface AuditVerification {
  ok: boolean
  rowCount: number
  /** The last row's id and hash: keep them outside the machine and pass them back with --expect-head. */
  head: { id: number; hash: string } | null
  /** The first row (by id) where the chain breaks, null when it holds. */
  firstBrokenRowId: number | null
  problems: string[]
}

const normalizeSql = (sql: string): string => sql.replace(/\s+/g, ' ').trim()

/** Checks the triggers, the seal and every link of the chain; lists every problem, first broken row first. */
export function verifyAuditChain(db: Db, options: { expectHead?: { id: number; hash: string } } = {}): AuditVerification {
  const problems: string[] = []
  const columns = (db.prepare(`SELECT name FROM pragma_table_info('audit_log')`).all() as Array<{ name: string }>).map((c) => c.name)
  if (!columns.includes('row_hash')) {
    return { ok: false, rowCount: 0, head: null, firstBrokenRowId: null, problems: ['audit_log has no hash chain (open the database writable once to migrate it)'] }
  }

  const stored = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`).all() as Array<{ name: string; sql: string }>
  for (const trigger of AUDIT_TRIGGERS) {
    const found = stored.find((s) => s.name === trigger.name)
    if (!found) problems.push(`trigger ${trigger.name} is missing: the audit log is not protected`)
    else if (normalizeSql(found.sql) !== normalizeSql(trigger.sql)) problems.push(`trigger ${trigger.name} differs from the one the app creates: ${normalizeSql(found.sql)}`)
  }
  for (const extra of stored.filter((s) => !AUDIT_TRIGGERS.some((t) => t.name === s.name))) {
    problems.push(`unexpected trigger ${extra.name} on audit_log: ${normalizeSql(extra.sql)}`)
  }

  const rows = db.prepare('SELECT * FROM audit_log ORDER BY id').all() as ChainedRow[]
  let firstBroken: number | null = null
  const broken = (id: number, problem: string): void => {
    firstBroken ??= id
    problems.push(`row ${id}: ${problem}`)
  }
  let prev = GENESIS_HASH
  let expectedId = 1
  for (const row of rows) {
    if (row.id !== expectedId) {
      broken(row.id, row.id > expectedId ? `rows ${expectedId}–${row.id - 1} are missing (deleted)` : `id out of order after row ${expectedId - 1}`)
    }
    if (row.row_hash === null || row.prev_hash === null) {
      broken(row.id, 'has no hash: it was written outside the app (triggers bypassed)')
    } else {
      if (row.prev_hash !== prev) broken(row.id, `prev_hash ${row.prev_hash.slice(0, 12)}… is not the hash of the row before it (${prev.slice(0, 12)}…): a row before it was edited, deleted or replaced`)
      if (rowHash(row, row.prev_hash) !== row.row_hash) broken(row.id, 'its content does not match its row_hash: the row was edited')
    }
    prev = row.row_hash ?? GENESIS_HASH
    expectedId = row.id + 1
  }

  // The guards must sit where the last seal saw them: dropped and recreated triggers move in sqlite_master.
  const seal = db.prepare(`SELECT id, outputs_json FROM audit_log WHERE kind = ? ORDER BY id DESC LIMIT 1`).get(SEAL_KIND) as { id: number; outputs_json: string } | undefined
  if (!seal) problems.push(`no ${SEAL_KIND} row: the chain was never sealed by a migration`)
  else {
    const sealed = JSON.parse(seal.outputs_json) as ReturnType<typeof schemaFingerprint>
    const now = schemaFingerprint(db)
    for (const trigger of now.triggers) {
      const then = sealed.triggers?.find((t) => t.name === trigger.name)
      if (then && trigger.rowid !== null && then.rowid !== trigger.rowid) {
        problems.push(`trigger ${trigger.name} was dropped and recreated after row ${seal.id} sealed the trail (sqlite_master entry ${then.rowid} then, ${trigger.rowid} now)`)
      }
    }
    if (sealed.schemaVersion !== now.schemaVersion) {
      problems.push(`the schema changed outside the app's migrations after row ${seal.id} sealed the trail (schema_version ${sealed.schemaVersion} then, ${now.schemaVersion} now): triggers or tables may have been dropped and recreated`)
    }
  }

  const last = rows.at(-1)
  const head = last?.row_hash ? { id: last.id, hash: last.row_hash } : null
  if (options.expectHead) {
    const anchored = rows.find((r) => r.id === options.expectHead!.id)
    if (!anchored) problems.push(`row ${options.expectHead.id}, the head you recorded, is missing: rows were deleted from the end`)
    else if (anchored.row_hash !== options.expectHead.hash) problems.push(`row ${options.expectHead.id} has hash ${anchored.row_hash ?? 'none'}, not the head you recorded (${options.expectHead.hash}): the trail was rewritten`)
  }
  return { ok: problems.length === 0, rowCount: rows.length, head, firstBrokenRowId: firstBroken, problems }
}
