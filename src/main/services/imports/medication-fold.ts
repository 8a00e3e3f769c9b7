// Folds an import's prescription rows into one medications row per (visit, drug) as they are read.
//
// What it keeps (importer version 2's rule, unchanged): every source row of a drug in a visit counts
// in that row's order_count, its start_time is the earliest known start, and a visit's rows keep the
// order in which each drug first appears in the file.
//
// Why in memory: the import used to stage every source row in a temporary table and fold them with one
// INSERT … SELECT … GROUP BY at the end; at 6 M prescriptions that sort was the largest single cost of
// the import (27% of its CPU, bench/import.ts --cpu-prof). Here each row costs a lookup among its
// visit's few open drugs, and a visit's folded rows are written once, joined to the drug table inside
// SQLite (the strings are never bound per row).
//
// Memory stays bounded on any file order: past `maxOpenEntries` open (visit, drug) pairs, the visits
// touched longest ago are written out. Prescription files interleave admissions only locally (MIMIC-IV
// and the benchmark's cohort shuffle within a few thousand admissions), so a written visit rarely gets
// rows again; when one does ("reopened"), its later rows are merged into the stored rows by the drug's
// identity (raw name, NDC, GSN, other id), so the result is the same as folding the whole file at once.
import type { Db } from '../db/database'

/** A drug's identity as stored in medications (its ingredients' rows share it). */
export interface FoldedDrugKey {
  rawName: string
  ndc: string | null
  gsn: string | null
  otherId: string | null
}

/**
 * Open (visit, drug) pairs held before the least recently touched visits are written. MIMIC-style files
 * interleave a few thousand admissions (~100k open pairs); more only grows the heap the GC walks.
 */
export const MAX_OPEN_ENTRIES = 200_000
/** Visits with more distinct drugs than this get a map from drug to slot instead of a linear scan. */
const LINEAR_SCAN_LIMIT = 48
const ROWS_PER_STATEMENT = 64
/** Columns of one folded row bound to the insert: visit, drug, start, order count, sequence. */
const WIDTH = 5

class OpenVisit {
  readonly products: number[] = []
  readonly counts: number[] = []
  readonly starts: Array<string | null> = []
  slotOf: Map<number, number> | null = null
  constructor(public lastTouch: number) {}

  slot(product: number): number {
    if (this.slotOf) return this.slotOf.get(product) ?? -1
    const products = this.products
    for (let i = 0; i < products.length; i++) if (products[i] === product) return i
    return -1
  }

  addProduct(product: number, start: string | null): void {
    const slot = this.products.length
    this.products.push(product)
    this.counts.push(1)
    this.starts.push(start)
    if (this.slotOf) this.slotOf.set(product, slot)
    else if (slot + 1 > LINEAR_SCAN_LIMIT) this.slotOf = new Map(this.products.map((p, i) => [p, i]))
  }
}

export class MedicationFold {
  private readonly open = new Map<number, OpenVisit>()
  private openEntries = 0
  private tick = 0
  private sequence = 0
  /** Visits whose rows were written; a later row for one of them is merged into the stored rows. */
  private readonly written = new Set<number>()
  private readonly pending: Array<number | string | null> = []
  private readonly many
  private readonly one
  private readonly merge
  /** Rows written to medications (one per ingredient of each folded drug). */
  storedRows = 0
  /** Visits that got rows after they had been written (merged; see the file comment). */
  reopenedVisits = 0

  /**
   * `drugTable` holds (id, ingredient, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method) per
   * drug id; `keyOf` gives a drug id's identity for merging a reopened visit.
   */
  constructor(
    private readonly db: Db,
    drugTable: string,
    private readonly keyOf: (productId: number) => FoldedDrugKey,
    private readonly maxOpenEntries = MAX_OPEN_ENTRIES
  ) {
    const insert = (rows: number) =>
      db.prepare(
        `INSERT INTO medications (visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time, order_count)
         SELECT v.column1, p.raw_name, p.ndc, p.gsn, p.other_id, p.atc5, p.atc3, p.mapping_method, v.column3, v.column4
         FROM (VALUES ${new Array(rows).fill(`(${new Array(WIDTH).fill('?').join(',')})`).join(',')}) AS v
         JOIN ${drugTable} AS p ON p.id = v.column2
         ORDER BY v.column5, p.ingredient`
      )
    this.many = insert(ROWS_PER_STATEMENT)
    this.one = insert(1)
    // min() of the start times skipping NULL, as the fold does in memory.
    this.merge = db.prepare(
      `UPDATE medications SET order_count = order_count + :count,
         start_time = CASE WHEN :start IS NOT NULL AND (start_time IS NULL OR :start < start_time) THEN :start ELSE start_time END
       WHERE visit_id = :visit AND raw_name = :rawName AND coalesce(ndc, '') = coalesce(:ndc, '')
         AND coalesce(gsn, '') = coalesce(:gsn, '') AND coalesce(other_id, '') = coalesce(:otherId, '')`
    )
  }

  /** Counts one source row of drug `productId` in visit `visitId`. */
  add(visitId: number, productId: number, start: string | null): void {
    const tick = ++this.tick
    let visit = this.open.get(visitId)
    if (visit === undefined) {
      visit = new OpenVisit(tick)
      this.open.set(visitId, visit)
    } else visit.lastTouch = tick
    const slot = visit.slot(productId)
    if (slot < 0) {
      visit.addProduct(productId, start)
      if (++this.openEntries > this.maxOpenEntries) this.evictLeastRecent()
      return
    }
    visit.counts[slot]!++
    if (start !== null) {
      const earliest = visit.starts[slot]
      if (earliest === null || earliest === undefined || start < earliest) visit.starts[slot] = start
    }
  }

  /** Writes one visit's open rows (before its stored children are replaced). */
  flushVisit(visitId: number): void {
    const visit = this.open.get(visitId)
    if (visit) this.write([[visitId, visit]])
  }

  /** Writes every open visit, in visit order. */
  flushAll(): void {
    if (this.open.size === 0) return
    this.write([...this.open].sort((a, b) => a[0] - b[0]))
  }

  /** Writes the visits touched longest ago until half the budget is free. */
  private evictLeastRecent(): void {
    const byAge = [...this.open].sort((a, b) => a[1].lastTouch - b[1].lastTouch)
    const evicted: Array<[number, OpenVisit]> = []
    let freed = 0
    for (const entry of byAge) {
      if (this.openEntries - freed <= this.maxOpenEntries / 2) break
      evicted.push(entry)
      freed += entry[1].products.length
    }
    this.write(evicted.sort((a, b) => a[0] - b[0]))
  }

  private write(visits: Array<[number, OpenVisit]>): void {
    const values = this.pending
    for (const [visitId, visit] of visits) {
      this.open.delete(visitId)
      this.openEntries -= visit.products.length
      if (this.written.has(visitId)) {
        this.mergeReopened(visitId, visit)
        continue
      }
      this.written.add(visitId)
      for (let i = 0; i < visit.products.length; i++) {
        values.push(visitId, visit.products[i]!, visit.starts[i]!, visit.counts[i]!, this.sequence++)
        if (values.length === WIDTH * ROWS_PER_STATEMENT) {
          this.storedRows += this.many.run(values).changes
          values.length = 0
        }
      }
    }
    for (let i = 0; i < values.length; i += WIDTH) this.storedRows += this.one.run(values.slice(i, i + WIDTH)).changes
    values.length = 0
  }

  /** A visit written before got more rows: add them to its stored rows, or append rows for new drugs. */
  private mergeReopened(visitId: number, visit: OpenVisit): void {
    this.reopenedVisits++
    for (let i = 0; i < visit.products.length; i++) {
      const product = visit.products[i]!
      const key = this.keyOf(product)
      const merged = this.merge.run({ ...key, visit: visitId, count: visit.counts[i]!, start: visit.starts[i]! }).changes
      if (merged === 0) this.storedRows += this.one.run([visitId, product, visit.starts[i]!, visit.counts[i]!, this.sequence++]).changes
    }
  }
}
