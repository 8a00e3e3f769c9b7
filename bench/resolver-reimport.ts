// npm run bench:resolver-reimport -- --before <old.sqlite> [--after <new.sqlite>]
// Compares the stored medication rows of two demo databases: one imported before a change (e.g. a copy of
// resources/demo.sqlite built by an earlier version) and one imported with the resolver as it is now
// (built fresh into a temporary file when --after is not given). A drug of a visit is matched by (source,
// visit, raw name, NDC, GSN, other id); its set of ATC5 codes before and after (one stored row per
// ingredient) are compared and the changes counted by reason. Figures are printed, never asserted.
import Database from 'better-sqlite3'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createDrugResolver } from '../src/main/services/drugs/load'
import { buildDemoDatabase } from '../src/main/services/imports'
import { dataDir, defaultKnowledgeBasePath } from '../src/main/services/paths'

const { values } = parseArgs({ options: { before: { type: 'string' }, after: { type: 'string' } } })
if (!values.before || !existsSync(values.before)) {
  console.error('Usage: npm run bench:resolver-reimport -- --before <database imported by the old mapper> [--after <database>]')
  process.exit(2)
}
let afterPath = values.after
let cleanup: string | null = null
if (!afterPath) {
  cleanup = mkdtempSync(join(tmpdir(), 'medrec-reimport-'))
  afterPath = join(cleanup, 'after.sqlite')
  const started = performance.now()
  await buildDemoDatabase(afterPath)
  console.log(`Re-imported the demos with the resolver into a fresh database in ${((performance.now() - started) / 1000).toFixed(1)} s.`)
}

interface Row {
  source: string
  visit: string
  raw: string
  ndc: string | null
  gsn: string | null
  other: string | null
  atc5: string | null
  method: string
  orders: number
}
function read(path: string): Map<string, Row[]> {
  const db = new Database(path, { readonly: true })
  const rows = db
    .prepare(
      `SELECT v.source, v.source_visit_id AS visit, m.raw_name AS raw, m.ndc, m.gsn, m.other_id AS other, m.atc5, m.mapping_method AS method, m.order_count AS orders
       FROM medications m JOIN visits v ON v.id = m.visit_id`
    )
    .all() as Row[]
  db.close()
  const out = new Map<string, Row[]>()
  for (const r of rows) {
    const key = [r.source, r.visit, r.raw, r.ndc ?? '', r.gsn ?? '', r.other ?? ''].join('\u0001')
    const list = out.get(key) ?? []
    list.push(r)
    out.set(key, list)
  }
  return out
}

const before = read(values.before)
const after = read(afterPath)
const kb = defaultKnowledgeBasePath()
const resolver = createDrugResolver({ dataDir: dataDir(), kbPath: existsSync(kb) ? kb : null })
const substance = (code: string): string => resolver.substanceOfCode(code)?.name ?? code

const reasons = new Map<string, { drugs: number; examples: string[] }>()
const note = (reason: string, example: string): void => {
  const entry = reasons.get(reason) ?? { drugs: 0, examples: [] }
  entry.drugs++
  if (entry.examples.length < 4 && !entry.examples.includes(example)) entry.examples.push(example)
  reasons.set(reason, entry)
}
let unchanged = 0
let changed = 0
for (const [key, oldRows] of before) {
  const newRows = after.get(key)
  const raw = oldRows[0]!.raw
  if (!newRows) {
    note('drug of a visit absent after (folded differently)', raw)
    changed++
    continue
  }
  // A database built by the resolver already stores one row per ingredient: compare the sets of codes.
  const oldCodes = [...new Set(oldRows.map((r) => r.atc5).filter((c): c is string => c !== null))].sort()
  const newCodes = [...new Set(newRows.map((r) => r.atc5).filter((c): c is string => c !== null))].sort()
  if (oldCodes.join('+') === newCodes.join('+')) {
    unchanged++
    continue
  }
  changed++
  const example = `"${raw}": ${oldCodes.join('+') || 'unmapped'} → ${newCodes.join('+') || 'unmapped'}`
  if (newCodes.length === 0) {
    const r = resolver.resolve({ text: raw })
    const reason =
      r.status === 'non-drug'
        ? 'mapped before, non-drug now (container/carrier/device)'
        : r.status === 'resolved'
          ? 'mapped before, not now: decided by the source route (IV sodium chloride a carrier, IV dextrose without a strength ambiguous)'
          : raw === ''
            ? 'no name, mapped before through its HICL, not now (HICL votes disagree or point at a non-drug)'
            : `mapped before, ${r.status} now`
    note(reason, example)
  } else if (oldCodes.length === 0) note('unmapped before, resolved now', example)
  else if (newCodes.length > oldCodes.length && oldCodes.every((c) => newCodes.includes(c))) note('combination: the other ingredient(s) added', example)
  else if (newCodes.length > 1 || oldCodes.length > 1) {
    const same = oldCodes.map(substance).sort().join('+') === newCodes.map(substance).sort().join('+')
    note(same ? 'combination: same ingredients, route-appropriate codes' : 'combination: different ingredients', example)
  } else if (substance(newCodes[0]!) === substance(oldCodes[0]!)) note('same substance, route-appropriate code (e.g. local vs systemic)', example)
  else note('different substance', example)
}
const newOnly = [...after.keys()].filter((k) => !before.has(k)).length
console.log(`Before: ${values.before}\nAfter:  ${afterPath}`)
console.log(`Drugs of a visit (source, visit, raw name, NDC, GSN, other id): ${before.size} before, ${after.size} after (${newOnly} only after)`)
console.log(`Stored medication rows: ${[...before.values()].reduce((n, l) => n + l.length, 0)} before, ${[...after.values()].reduce((n, l) => n + l.length, 0)} after (one row per ingredient of a combination)`)
const rowsChanged = [...before].filter(([key, rows]) => {
  const now = after.get(key)
  return !now || rows.map((r) => r.atc5 ?? '').sort().join('+') !== now.map((r) => r.atc5 ?? '').sort().join('+')
}).reduce((n, [, rows]) => n + rows.length, 0)
console.log(`Unchanged ATC: ${unchanged}; changed: ${changed} drugs of a visit (${rowsChanged} stored rows before)\n`)
for (const [reason, { drugs, examples }] of [...reasons.entries()].sort((a, b) => b[1].drugs - a[1].drugs)) {
  console.log(`${String(drugs).padStart(6)}  ${reason}`)
  for (const e of examples) console.log(`          ${e}`)
}
if (cleanup) rmSync(cleanup, { recursive: true, force: true })
