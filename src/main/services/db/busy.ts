// A busy database is a retryable condition, not a fault: SQLite has one writer at a time, and a
// caller that meets another writer gets this error within BUSY_TIMEOUT_MS instead of blocking.
import type { Db } from './database'

/**
 * How long a statement waits for another connection's write lock before failing with
 * DatabaseBusyError. Short, because the Electron main process must never freeze: a write that must
 * outlast another process's write (an import's final copy) waits through writeWhenFree instead.
 */
export const BUSY_TIMEOUT_MS = 200

/**
 * How long writeWhenFree waits for the write lock. An import holds it for its final copy, which grows
 * with the import (10,000 synthetic patients: 6-14 s on 2 loaded cores, README "Staging file"); a
 * recommendation waits that out rather than fail. Past this, the holder is taken to be stuck.
 */
export const WRITE_WAIT_MS = 120_000

/** The longest pause between two tries: the wait ends within this of the lock being freed. */
const MAX_PAUSE_MS = 50

export class DatabaseBusyError extends Error {
  override name = 'DatabaseBusyError'
  /** Trying again later can succeed. */
  readonly retryable = true
}

/** True for SQLite's SQLITE_BUSY family (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, …) and "database is locked". */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) || (error instanceof Error && /database is locked/.test(error.message))
}

/**
 * Runs `work` in one write transaction that begins IMMEDIATE, waiting while another connection holds
 * the write lock: each try fails at once if the lock is taken (nothing of `work` has run then), and the
 * event loop runs between tries, so the app stays responsive for however long the other writer takes.
 * The first try runs before this returns. A deferred transaction could not wait at all: a connection
 * that has read inside its transaction gets SQLITE_BUSY on its first write without SQLite's busy
 * handler being called (it would deadlock), or SQLITE_BUSY_SNAPSHOT if the other writer committed.
 * Within a transaction already open on `db`, `work` runs in it as a savepoint, and the caller's
 * transaction decides (it cannot wait here).
 */
export async function writeWhenFree<T>(db: Db, what: string, work: () => T, maxWaitMs = WRITE_WAIT_MS): Promise<T> {
  const transaction = db.transaction(work)
  if (db.inTransaction) return transaction()
  const deadline = performance.now() + maxWaitMs
  for (let pause = 1; ; pause = Math.min(2 * pause, MAX_PAUSE_MS)) {
    const timeout = db.pragma('busy_timeout', { simple: true }) as number
    db.pragma('busy_timeout = 0')
    try {
      return transaction.immediate()
    } catch (error) {
      if (!isBusyError(error)) throw error
      if (performance.now() + pause > deadline) {
        throw new DatabaseBusyError(`${what}: the patient database is busy (another process is writing to it); nothing was written. Try again in a moment.`)
      }
    } finally {
      db.pragma(`busy_timeout = ${timeout}`)
    }
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
}
