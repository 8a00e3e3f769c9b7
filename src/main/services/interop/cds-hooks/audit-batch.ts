// Group commit for the CDS Hooks audit: the hook calls that finish within one turn of the event loop are
// appended to the audit log in ONE write transaction, and none of them is answered before that transaction
// has committed. Every call is still audited before its cards leave the service (a crash can lose a call,
// never an answered call's audit row), but 32 concurrent EHR clients cost one BEGIN IMMEDIATE / COMMIT per
// batch instead of one per request.
import type { Db } from '../../db/database'
import { appendAudit, type AuditEntryInput } from '../../audit/audit'

interface Pending {
  entry: AuditEntryInput
  resolve: (id: number) => void
  reject: (error: unknown) => void
}

export class AuditBatcher {
  private pending: Pending[] = []
  private scheduled = false

  constructor(private readonly db: Db) {}

  /** Resolves with the entry's audit row id once its batch has committed; rejects when the batch failed. */
  append(entry: AuditEntryInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    const batch = this.pending
    this.pending = []
    this.scheduled = false
    let ids: number[]
    try {
      ids = this.db.transaction(() => batch.map((p) => appendAudit(this.db, p.entry))).immediate()
    } catch (error) {
      for (const p of batch) p.reject(error) // nothing of the batch was written
      return
    }
    batch.forEach((p, i) => p.resolve(ids[i]!))
  }
}
