import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { listAudit, type AuditEntryInput } from '../../src/main/services/audit/audit'
import { verifyAuditChain } from '../../src/main/services/audit/chain'
import { AuditBatcher } from '../../src/main/services/interop/cds-hooks/audit-batch'
import { seededDatabase } from '../fixtures/models/seed-patients'

const hash = (text: string) => createHash('sha256').update(text).digest('hex')
const call = (n: number, inputsHash = hash(`call ${n}`)): AuditEntryInput => ({
  kind: 'cds-hooks-call',
  client: 'bench-client (https://ehr.test)',
  patientId: null,
  sourcePatientId: `p${n}`,
  inputsHash,
  modelId: null,
  modelVersion: null,
  outputs: { n }
})

describe('CDS Hooks audit group commit', () => {
  const cleanups: Array<() => void> = []
  afterEach(() => cleanups.splice(0).forEach((c) => c()))
  const fresh = () => {
    const seeded = seededDatabase()
    cleanups.push(seeded.cleanup)
    return seeded.db
  }
  const calls = (db: ReturnType<typeof fresh>) => listAudit(db, { limit: 1000 }).filter((e) => e.kind === 'cds-hooks-call')

  it('writes concurrent calls in one batch, in arrival order, on an intact chain, before any resolves', async () => {
    const db = fresh()
    const batcher = new AuditBatcher(db)
    const seenAtResolve: number[] = []
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        batcher.append(call(n)).then((id) => {
          seenAtResolve.push(calls(db).length)
          return id
        })
      )
    )
    // Nothing is answered before the whole batch is stored.
    expect(seenAtResolve.every((count) => count === 20)).toBe(true)
    expect(ids).toEqual(Array.from({ length: 20 }, (_, n) => ids[0]! + n))
    expect(calls(db).map((e) => e.sourcePatientId).reverse()).toEqual(Array.from({ length: 20 }, (_, n) => `p${n}`))
    expect(verifyAuditChain(db).ok).toBe(true)
  })

  it('rejects every call of a failed batch and writes none of it; the next batch is written', async () => {
    const db = fresh()
    const batcher = new AuditBatcher(db)
    const results = await Promise.allSettled([batcher.append(call(1)), batcher.append(call(2, 'not-a-sha256')), batcher.append(call(3))])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/sha256/)
    expect(calls(db)).toHaveLength(0)
    await batcher.append(call(4))
    expect(calls(db).map((e) => e.sourcePatientId)).toEqual(['p4'])
    expect(verifyAuditChain(db).ok).toBe(true)
  })
})
