// Names of codes (ATC names, diagnosis and procedure titles) held per connection between calls.
//
// A recommendation names every ranked member of every class (~150 ATC codes) and a heavy patient's
// timeline titles ~500 distinct codes; looked up one query at a time, or one json_each query per call,
// these were a quarter of the timeline's time and ~0.3 ms of a recommendation. The names change only
// through imports (atc_names and code_titles are written by the import store and its staging apply),
// and every import, on any connection, adds an import_runs row: so a cache is valid while the newest
// import run is the one it was filled under, checked with one indexed lookup per call.
import type { CodeKind, CodeSystem } from '../../../shared/domain/patient'
import type { Db } from './database'
import { perConnection } from './statements'

/** Titles cached per connection at most (a few MB); past it the cache starts over. */
const MAX_CACHED_TITLES = 100_000

interface NameCache {
  importRun: number
  atcNames: Map<string, string> | null
  /** "kind\u0001system\u0001code" → title, or null for a code without one. */
  titles: Map<string, string | null>
}

const statements = perConnection((db) => ({
  newestImportRun: db.prepare('SELECT coalesce(max(id), 0) FROM import_runs').pluck(),
  atcNames: db.prepare('SELECT code, name FROM atc_names').raw(),
  titles: db.prepare(`SELECT code, title FROM code_titles WHERE kind = ? AND code_system = ? AND code IN (SELECT value FROM json_each(?))`).raw()
}))
const caches = new WeakMap<Db, NameCache>()

/** The connection's cache, emptied when an import has run since it was filled. */
function cacheOf(db: Db): NameCache {
  const importRun = statements(db).newestImportRun.get() as number
  let cache = caches.get(db)
  if (!cache || cache.importRun !== importRun) {
    cache = { importRun, atcNames: null, titles: new Map() }
    caches.set(db, cache)
  }
  return cache
}

/** Every ATC name of the patient store (a few thousand rows, read once per import). */
export function atcNames(db: Db): ReadonlyMap<string, string> {
  const cache = cacheOf(db)
  cache.atcNames ??= new Map(statements(db).atcNames.all() as Array<[string, string]>)
  return cache.atcNames
}

/** Titles of `codes` of one kind and system: cached ones from memory, the rest in one query. */
export function codeTitles(db: Db, kind: CodeKind, system: CodeSystem, codes: Iterable<string>): Map<string, string> {
  const cache = cacheOf(db)
  const prefix = `${kind}\u0001${system}\u0001`
  const found = new Map<string, string>()
  const missing: string[] = []
  for (const code of codes) {
    const title = cache.titles.get(prefix + code)
    if (title === undefined) missing.push(code)
    else if (title !== null) found.set(code, title)
  }
  if (missing.length === 0) return found
  if (cache.titles.size + missing.length > MAX_CACHED_TITLES) cache.titles.clear()
  const read = new Map(statements(db).titles.all(kind, system, JSON.stringify(missing)) as Array<[string, string]>)
  for (const code of missing) {
    const title = read.get(code) ?? null
    cache.titles.set(prefix + code, title)
    if (title !== null) found.set(code, title)
  }
  return found
}
