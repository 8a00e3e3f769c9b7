import type { Db } from './database'

/**
 * Prepared statements built once per connection and kept while it lives: preparing costs more than running
 * these small queries, and a WeakMap lets a closed connection's statements go with it.
 */
export function perConnection<T>(prepare: (db: Db) => T): (db: Db) => T {
  const byDb = new WeakMap<Db, T>()
  return (db) => {
    let prepared = byDb.get(db)
    if (prepared === undefined) {
      prepared = prepare(db)
      byDb.set(db, prepared)
    }
    return prepared
  }
}
