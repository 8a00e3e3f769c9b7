// Group commit for the CDS Hooks audit: the hook calls that finish within one turn of the event loop are
// appended to the audit log in ONE write transaction, and none of them is answered before that transaction
// has committed. Every call is still audited before its cards leave the service (a crash can lose a call,
// never an answered call's audit row), but 32 concurrent EHR clients cost one BEGIN IMMEDIATE / COMMIT per
// batch instead of one per request.
import type { Db } from '../../db/database'
import { appendAudit, type AuditEntryInput } from '../../audit/audit'
import { writeWhenFree } from '../../db/busy'

interface Pending {
  entry: AuditEntryInput
  resolve: (id: number) => void
  reject: (error: unknown) => void
}

export class AuditBatcher {
  private pending: Pending[] = []
  /** A flush is scheduled or in progress; calls arriving meanwhile go into the next batch. */
  private flushing = false

  constructor(private readonly db: Db) {}

  /** Resolves with the entry's audit row id once its batch has committed; rejects when the batch failed. */
  append(entry: AuditEntryInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject })
      if (!this.flushing) {
        this.flushing = true
        setImmediate(() => void this.flush())
      }
    })
  }

  /** One batch at a time, so batches are written in arrival order even when one waits for another writer. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending
      this.pending = []
      try {
        // Waits out another process's write (an import's final copy) instead of failing the calls.
        const ids = await writeWhenFree(this.db, 'Recording CDS Hooks calls in the audit log', () => batch.map((p) => appendAudit(this.db, p.entry)))
        batch.forEach((p, i) => p.resolve(ids[i]!))
      } catch (error) {
        for (const p of batch) p.reject(error) // nothing of the batch was written
      }
    }
    this.flushing = false
  }
}
