// A busy database is a retryable condition, not a fault: SQLite has one writer at a time, and a
// caller that meets another writer gets this error within BUSY_TIMEOUT_MS instead of blocking.
/**
 * How long a statement waits for another connection's write lock before failing with
 * DatabaseBusyError. Short, because the Electron main process must never freeze; imports hold the
 * lock only for their final copy (imports/staging.ts), far less than this on the sizes measured.
 */
export const BUSY_TIMEOUT_MS = 200

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

/** Runs `work`, turning SQLite's busy error into a DatabaseBusyError that says what to do. */
export function whenNotBusy<T>(what: string, work: () => T): T {
  try {
    return work()
  } catch (error) {
    if (isBusyError(error)) {
      throw new DatabaseBusyError(`${what}: the patient database is busy (another process is writing to it); try again in a moment.`)
    }
    throw error
  }
}
