// What every format importer gets: the files, the store, the drug mapper, the rejected-row log and
// progress reporting.
import type { ImportProgress, RejectedRow } from '../../../shared/domain/imports'
import type { DrugMappingMethod } from '../../../shared/domain/patient'
import type { Db } from '../db/database'
import { countResolution, emptyResolutionCounts, type DrugResolutionCounts } from '../drugs/import-mapping'
import type { DrugMapping } from '../drugs/reference-data'
import { readCsv, type CsvBatch, type CsvReadOptions } from './csv'
import type { Layout, LayoutFile } from './layout'
import type { ImportStore } from './store'

/** How many rejected rows (and warnings) the report lists; all are counted. */
export const SAMPLE_LIMIT = 100

export class RowLog {
  rejected = 0
  warnings = 0
  readonly rejectedSamples: RejectedRow[] = []
  readonly warningSamples: RejectedRow[] = []
  /** Rows deliberately left out, by reason (e.g. cancelled eICU orders). */
  readonly skipped: Record<string, number> = {}
  /** Per file (as named in messages): data rows read and rows rejected, for the rejected-share limit. */
  readonly rowsRead = new Map<string, number>()
  readonly rejectedByFile = new Map<string, number>()

  read(file: string, rows: number): void {
    this.rowsRead.set(file, (this.rowsRead.get(file) ?? 0) + rows)
  }

  reject(file: string, line: number, reason: string): void {
    this.rejected++
    this.rejectedByFile.set(file, (this.rejectedByFile.get(file) ?? 0) + 1)
    if (this.rejectedSamples.length < SAMPLE_LIMIT) this.rejectedSamples.push({ file, line, reason })
  }

  /** A row kept, but not entirely as written (e.g. an invalid code dropped from it). */
  warn(file: string, line: number, reason: string): void {
    this.warnings++
    if (this.warningSamples.length < SAMPLE_LIMIT) this.warningSamples.push({ file, line, reason })
  }

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1
  }
}

export class MappingTally {
  readonly mappedBy: Record<DrugMappingMethod, number> = { ndc: 0, gsn: 0, name: 0, unmapped: 0 }
  private readonly counted = emptyResolutionCounts()
  /** Rows per mapping object not yet added to `resolution` (one object per distinct drug: no string per row). */
  private readonly pending = new Map<DrugMapping, number>()

  count(mapping: DrugMapping): void {
    this.mappedBy[mapping.method]++
    this.pending.set(mapping, (this.pending.get(mapping) ?? 0) + 1)
  }

  /** The drug resolver's outcomes over source rows (resolved, non-drug, ambiguous, unresolved; by path). */
  get resolution(): DrugResolutionCounts {
    for (const [mapping, rows] of this.pending) countResolution(this.counted, mapping, rows)
    this.pending.clear()
    return this.counted
  }
}

/** Throttled progress over the compressed bytes of all files of the import. */
export class ProgressTracker {
  private bytesBefore = 0
  private lastEmit = 0

  constructor(
    private readonly totalBytes: number,
    private readonly listener: ((p: ImportProgress) => void) | undefined,
    /** How files are decoded and bounded, and the log that counts the rows read per file. */
    private readonly reading: { options: CsvReadOptions; log: RowLog } | null = null
  ) {}

  phase(phase: string, file: string | null, rowsRead = 0): void {
    this.emit({ phase, file, rowsRead, fraction: this.totalBytes > 0 ? this.bytesBefore / this.totalBytes : null }, true)
  }

  /** Streams one file's batches, reporting progress as it goes. */
  async *batches(file: LayoutFile, phase: string): AsyncGenerator<CsvBatch> {
    let rows = 0
    let bytes = 0
    this.phase(phase, file.displayName)
    for await (const batch of readCsv(file, file.columns, (b) => (bytes = b), this.reading?.options)) {
      rows += batch.count + batch.malformed.length
      this.reading?.log.read(file.displayName, batch.count + batch.malformed.length)
      yield batch
      this.emit(
        { phase, file: file.displayName, rowsRead: rows, fraction: this.totalBytes > 0 ? (this.bytesBefore + bytes) / this.totalBytes : null },
        false
      )
    }
    this.bytesBefore += file.size
    this.emit({ phase, file: file.displayName, rowsRead: rows, fraction: this.totalBytes > 0 ? this.bytesBefore / this.totalBytes : null }, true)
  }

  private emit(progress: ImportProgress, force: boolean): void {
    if (!this.listener) return
    const now = performance.now()
    if (!force && now - this.lastEmit < 200) return
    this.lastEmit = now
    this.listener(progress)
  }
}

export interface ImportContext {
  db: Db
  /** The import_runs row of this import; visits written by it carry this id. */
  runId: number
  layout: Layout
  store: ImportStore
  /** Every drug string goes through the one drug resolver (services/drugs). */
  mapper: {
    map(row: { name: string; ndc?: string | null; gsn?: string | null; route?: string | null }): DrugMapping
    /** The substance an ATC5 code belongs to (route variants of one drug share it). */
    substanceOf?(atc5: string): string | null
  }
  log: RowLog
  tally: MappingTally
  progress: ProgressTracker
  /** Rows of medications mapped through another row's identifier (eICU HICL), counted in mappedBy.name. */
  mappedBySharedId: number
}

/** Rejects each malformed record of a batch (wrong column count) with its line. */
export function rejectMalformed(ctx: ImportContext, file: LayoutFile, batch: CsvBatch): void {
  for (const bad of batch.malformed) ctx.log.reject(file.displayName, bad.line, bad.reason)
}
