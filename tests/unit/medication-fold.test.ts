// The in-memory medication fold (imports/medication-fold.ts) must store exactly what folding the whole
// file at once stores, whatever the file order, the memory budget (visits written early and then
// reopened) or the drug table's refills: one row per (visit, drug, ingredient), every source row counted,
// the earliest known start, and a visit's drugs in first-appearance order.
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { DrugMapping } from '../../src/main/services/drugs/reference-data'
import { ImportStore } from '../../src/main/services/imports/store'
import { TempSpace } from './import-helpers'

const DRUGS = ['Heparin', 'Insulin', 'Vancomycin', 'Percocet', 'Warfarin', 'Aspirin', 'KCl', 'Furosemide']
/** Percocet is a combination: two stored rows per fold. */
const mappingOf = (name: string): DrugMapping =>
  name === 'Percocet'
    ? { atc5: 'N02AA05', atc3: 'N02A', method: 'name', ingredients: [{ atc5: 'N02AA05', atc3: 'N02A' }, { atc5: 'N02BE01', atc3: 'N02B' }] }
    : { atc5: null, atc3: `X${name.slice(0, 3).toUpperCase()}`, method: 'name' }

type SourceRow = { visit: number; drug: number; ndc: boolean; start: number | null }

interface StoredRow {
  visit_id: number
  raw_name: string
  ndc: string | null
  atc5: string | null
  start_time: string | null
  order_count: number
}

const startText = (minute: number | null) => (minute === null ? null : `2150-01-01T${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}:00`)

/** The fold written out by hand: the specification the store must meet. */
function expectedRows(rows: SourceRow[], visitIds: number[]): Array<Omit<StoredRow, 'visit_id'> & { visit: number }> {
  const byVisit = new Map<number, Map<string, { name: string; ndc: string | null; count: number; start: string | null }>>()
  for (const row of rows) {
    const name = DRUGS[row.drug]!
    const ndc = row.ndc ? `000${row.drug}` : null
    const key = `${name}|${ndc}`
    const drugs = byVisit.get(row.visit) ?? new Map()
    byVisit.set(row.visit, drugs)
    const start = startText(row.start)
    const folded = drugs.get(key)
    if (!folded) drugs.set(key, { name, ndc, count: 1, start })
    else {
      folded.count++
      if (start !== null && (folded.start === null || start < folded.start)) folded.start = start
    }
  }
  const out: Array<Omit<StoredRow, 'visit_id'> & { visit: number }> = []
  for (const visit of [...byVisit.keys()].sort((a, b) => visitIds[a]! - visitIds[b]!)) {
    for (const d of byVisit.get(visit)!.values()) {
      const mapping = mappingOf(d.name)
      for (const ingredient of mapping.ingredients ?? [{ atc5: mapping.atc5 }]) {
        out.push({ visit, raw_name: d.name, ndc: d.ndc, atc5: ingredient.atc5, start_time: d.start, order_count: d.count })
      }
    }
  }
  return out
}

describe('folding medication rows in memory', () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  function importRows(rows: SourceRow[], visits: number, maxProducts?: number, maxOpen?: number) {
    const db = space.db()
    db.exec('BEGIN')
    const runId = Number(
      db.prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('mimic-iv', '/x', 'f', 'now', 'completed', '{}')`).run()
        .lastInsertRowid
    )
    const store = new ImportStore(db, 'mimic-iv', runId, maxProducts, maxOpen)
    const patient = store.patient('p1', 'F')
    const visitIds = Array.from({ length: visits }, (_, v) =>
      store.visit({ patientId: patient, sourceVisitId: `v${v}`, admitTime: null, dischargeTime: null, sortKey: String(v), orderLabel: String(v) })
    )
    for (const row of rows) {
      const name = DRUGS[row.drug]!
      store.medication(visitIds[row.visit]!, { rawName: name, ndc: row.ndc ? `000${row.drug}` : null, gsn: null, otherId: null }, startText(row.start), (d) =>
        mappingOf(d.rawName)
      )
    }
    const counts = store.counts
    store.finish()
    db.exec('COMMIT')
    const stored = db.prepare('SELECT visit_id, raw_name, ndc, atc5, start_time, order_count FROM medications ORDER BY visit_id, id').all() as StoredRow[]
    const visitIndex = new Map(visitIds.map((id, v) => [id, v]))
    return { counts, visitIds, stored: stored.map(({ visit_id, ...rest }) => ({ visit: visitIndex.get(visit_id)!, ...rest })) }
  }

  const rowsArbitrary = fc.array(
    fc.record({
      visit: fc.integer({ min: 0, max: 11 }),
      drug: fc.integer({ min: 0, max: DRUGS.length - 1 }),
      ndc: fc.boolean(),
      start: fc.option(fc.integer({ min: 0, max: 23 * 60 }), { nil: null })
    }),
    { maxLength: 120 }
  )

  it('stores the same rows as folding the whole file at once, with any memory budget and drug-table size', () => {
    fc.assert(
      fc.property(rowsArbitrary, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), (rows, maxOpen, maxProducts) => {
        const roomy = importRows(rows, 12)
        const expected = expectedRows(rows, roomy.visitIds)
        expect(roomy.stored).toEqual(expected)
        // A budget of a few open pairs writes visits early and reopens them; a small drug table refills.
        const tight = importRows(rows, 12, maxProducts, maxOpen)
        expect(tight.stored).toEqual(expected)
        expect(tight.counts.storedMedicationRows).toBe(expected.length)
        expect(tight.counts.medications).toBe(rows.length)
      }),
      { numRuns: 60 }
    )
  })

  it('writes a visit early and merges its later rows into the stored ones (a reopened visit)', () => {
    // Visit 0 gets Heparin, then visits 1-2 push it out of a budget of 2 open pairs, then visit 0 gets
    // Heparin again (merged: one row, two orders, the earlier start) and Insulin (appended after Heparin).
    const rows: SourceRow[] = [
      { visit: 0, drug: 0, ndc: false, start: 600 },
      { visit: 1, drug: 2, ndc: false, start: null },
      { visit: 2, drug: 3, ndc: false, start: 30 },
      { visit: 0, drug: 0, ndc: false, start: 540 },
      { visit: 0, drug: 1, ndc: false, start: null }
    ]
    const { stored } = importRows(rows, 3, undefined, 2)
    expect(stored.filter((r) => r.visit === 0)).toEqual([
      { visit: 0, raw_name: 'Heparin', ndc: null, atc5: null, start_time: '2150-01-01T09:00:00', order_count: 2 },
      { visit: 0, raw_name: 'Insulin', ndc: null, atc5: null, start_time: null, order_count: 1 }
    ])
    expect(stored.filter((r) => r.visit === 2).map((r) => r.atc5)).toEqual(['N02AA05', 'N02BE01'])
  })
})
