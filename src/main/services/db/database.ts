import Database from 'better-sqlite3'
import { sealAuditTrail } from '../audit/audit'
import { BUSY_TIMEOUT_MS } from './busy'
import { AUDIT_CHAIN_VERSION, migrations } from './migrations'

export type Db = Database.Database

/**
 * Opens (creating if needed) the patient store with WAL and foreign keys on, and applies pending
 * migrations. A database written by a newer version of the app is refused rather than touched.
 */
export function openDatabase(path: string, options: { readonly?: boolean } = {}): Db {
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false })
  db.pragma('foreign_keys = ON')
  if (!options.readonly) {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
  }
  // Fail fast (a retryable DatabaseBusyError where callers wrap it) rather than block for seconds.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
  const current = db.pragma('user_version', { simple: true }) as number
  const latest = migrations.at(-1)?.version ?? 0
  if (current > latest) {
    db.close()
    throw new Error(
      `Database ${path} has schema version ${current}, newer than this app supports (${latest}). Update MedRec Desktop.`
    )
  }
  if (!options.readonly) applyMigrations(db, current)
  else if (current < latest) {
    db.close()
    throw new Error(`Database ${path} has schema version ${current}; open it writable once to migrate to ${latest}.`)
  }
  return db
}

function applyMigrations(db: Db, current: number): void {
  for (const migration of migrations) {
    if (migration.version <= current) continue
    const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number
    if (migration.rebuildsTables) db.pragma('foreign_keys = OFF') // a no-op inside a transaction, so set before
    try {
      db.transaction(() => {
        db.exec(migration.sql)
        migration.run?.(db)
        if (migration.rebuildsTables && (db.pragma('foreign_key_check') as unknown[]).length > 0)
          throw new Error(`Migration ${migration.version} would leave rows pointing at missing rows; nothing was changed.`)
        db.pragma(`user_version = ${migration.version}`)
        // Each migration changes the schema: the audit trail records where its guards now stand (audit/chain.ts).
        if (migration.version >= AUDIT_CHAIN_VERSION) sealAuditTrail(db, `schema migrated to version ${migration.version}: ${migration.description}`)
      })()
    } finally {
      db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
    }
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number
}
