import { createHash } from 'node:crypto'
import { userInfo } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { appendAudit, auditDdiCheck, currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { seededDatabase } from '../fixtures/models/seed-patients'

const hash = (text: string) => createHash('sha256').update(text).digest('hex')

describe('audit log', () => {
  const cleanups: Array<() => void> = []
  /** The entries the test wrote: without the seal row the migration appended. */
  const written = (db: Parameters<typeof listAudit>[0]) => listAudit(db).filter((e) => e.kind !== 'audit-trail-sealed')
  const fresh = () => {
    const seeded = seededDatabase()
    cleanups.push(seeded.cleanup)
    return seeded.db
  }
  afterEach(() => cleanups.splice(0).forEach((c) => c()))

  const entry = (overrides: Partial<Parameters<typeof appendAudit>[1]> = {}): Parameters<typeof appendAudit>[1] => ({
    kind: 'recommendation',
    patientId: 1,
    sourcePatientId: '10001',
    inputsHash: hash('inputs'),
    modelId: 'fixture-linear',
    modelVersion: '1.0.0-fixture',
    outputs: { combination: ['B01A', 'N02B'] },
    ...overrides
  })

  it('appends entries with who, when, inputs hash, model and outputs, newest first', () => {
    const db = fresh()
    const first = appendAudit(db, entry())
    const second = appendAudit(db, entry({ kind: 'ddi-check', modelId: null, modelVersion: null, outputs: { pairs: 0 } }))
    expect(second).toBeGreaterThan(first)
    const [latest, earlier] = listAudit(db)
    expect(earlier).toMatchObject({
      id: first,
      kind: 'recommendation',
      userName: currentUserName(),
      patientId: 1,
      sourcePatientId: '10001',
      inputsHash: hash('inputs'),
      modelId: 'fixture-linear',
      modelVersion: '1.0.0-fixture',
      outputs: { combination: ['B01A', 'N02B'] }
    })
    expect(Date.parse(earlier!.createdAt)).not.toBeNaN()
    expect(latest).toMatchObject({ id: second, kind: 'ddi-check', userName: currentUserName(), modelId: null })
    expect(listAudit(db, { patientId: 2 })).toEqual([])
  })

  it('records a DDI check with a hash of the checked drugs', async () => {
    const db = fresh()
    const id = await auditDdiCheck(db, { drugs: ['B01AC06', 'N02BA01'], outputs: { warnings: 1 } })
    const again = await auditDdiCheck(db, { drugs: ['B01AC06', 'N02BA01'], outputs: { warnings: 1 } })
    const other = await auditDdiCheck(db, { drugs: ['N02BA01'], outputs: { warnings: 0 } })
    const entries = written(db)
    expect(entries.map((e) => e.id)).toEqual([other, again, id])
    expect(entries[2]).toMatchObject({ kind: 'ddi-check', userName: currentUserName(), modelId: null, patientId: null, outputs: { warnings: 1 } })
    expect(entries[1]!.inputsHash).toBe(entries[2]!.inputsHash)
    expect(entries[0]!.inputsHash).not.toBe(entries[2]!.inputsHash)
  })

  it('records the operating-system user', () => {
    let expected: string
    try {
      expected = userInfo().username
    } catch {
      expected = process.env.USER ?? 'unknown'
    }
    expect(currentUserName()).toBe(expected)
  })

  it('refuses UPDATE and DELETE: the table is append-only', () => {
    const db = fresh()
    const id = appendAudit(db, entry())
    expect(() => db.prepare(`UPDATE audit_log SET outputs_json = '{}' WHERE id = ?`).run(id)).toThrow('audit_log is append-only: rows cannot be updated')
    expect(() => db.prepare('DELETE FROM audit_log WHERE id = ?').run(id)).toThrow('audit_log is append-only: rows cannot be deleted')
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/)
    expect(written(db)).toHaveLength(1)
    expect(written(db)[0]!.outputs).toEqual({ combination: ['B01A', 'N02B'] })
  })

  it('keeps entries when their patient is deleted (no cascade from patients)', () => {
    const db = fresh()
    appendAudit(db, entry({ patientId: 1 }))
    db.prepare('DELETE FROM patients WHERE id = 1').run()
    expect(listAudit(db, { patientId: 1 })).toHaveLength(1)
  })

  it('rejects an entry without a sha256 inputs hash, and a rolled-back transaction leaves nothing', () => {
    const db = fresh()
    expect(() => appendAudit(db, entry({ inputsHash: 'abc' }))).toThrow('Audit entry needs a sha256 hex inputs hash, got "abc".')
    expect(() =>
      db.transaction(() => {
        appendAudit(db, entry())
        throw new Error('the recommendation failed after the audit row')
      })()
    ).toThrow('the recommendation failed')
    expect(written(db)).toEqual([])
  })
})
