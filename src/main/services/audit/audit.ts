// The audit log: every recommendation, explanation and DDI check as it was shown, who asked and when.
// The table (migration 2) is append-only: triggers abort any UPDATE or DELETE.
import { createHash } from 'node:crypto'
import { userInfo } from 'node:os'
import type { Db } from '../db/database'
import { canonicalJson } from '../recommend/input-hash'

export type AuditKind = 'recommendation' | 'explanation' | 'ddi-check' | 'warning-acknowledgement' | 'review' | 'cds-hooks-call' | 'cds-hooks-feedback'

export interface AuditEntryInput {
  kind: AuditKind
  /** Who asked; defaults to the operating-system user. */
  userName?: string
  patientId: number | null
  sourcePatientId: string | null
  /** sha256 (hex) of the canonical inputs. */
  inputsHash: string
  modelId: string | null
  modelVersion: string | null
  /** What was shown, stored as JSON. */
  outputs: unknown
  /** ISO time; defaults to now. */
  createdAt?: string
}

export interface AuditEntry {
  id: number
  kind: string
  createdAt: string
  userName: string
  patientId: number | null
  sourcePatientId: string | null
  inputsHash: string
  modelId: string | null
  modelVersion: string | null
  outputs: unknown
}

/** The OS account name, falling back to the environment where the OS has no passwd entry (containers). */
export function currentUserName(): string {
  try {
    const name = userInfo().username
    if (name) return name
  } catch {
    // userInfo() throws when the uid has no passwd entry.
  }
  return process.env.USER ?? process.env.USERNAME ?? 'unknown'
}

/** The prepared INSERT per connection: preparing it costs more than the insert (CDS Hooks audits every call). */
const insertStatements = new WeakMap<Db, { run(...params: unknown[]): { lastInsertRowid: number | bigint } }>()

/** Appends one entry and returns its id. Callers write it in the same transaction as anything it records. */
export function appendAudit(db: Db, entry: AuditEntryInput): number {
  if (!/^[0-9a-f]{64}$/.test(entry.inputsHash)) throw new Error(`Audit entry needs a sha256 hex inputs hash, got "${entry.inputsHash}".`)
  const userName = entry.userName?.trim() || currentUserName()
  let insert = insertStatements.get(db)
  if (!insert) {
    insert = db.prepare(
      `INSERT INTO audit_log (kind, created_at, user_name, patient_id, source_patient_id, inputs_hash, model_id, model_version, outputs_json)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )
    insertStatements.set(db, insert)
  }
  const result = insert
    .run(
      entry.kind,
      entry.createdAt ?? new Date().toISOString(),
      userName,
      entry.patientId,
      entry.sourcePatientId,
      entry.inputsHash,
      entry.modelId,
      entry.modelVersion,
      JSON.stringify(entry.outputs)
    )
  return Number(result.lastInsertRowid)
}

interface AuditRow {
  id: number
  kind: string
  created_at: string
  user_name: string
  patient_id: number | null
  source_patient_id: string | null
  inputs_hash: string
  model_id: string | null
  model_version: string | null
  outputs_json: string
}

/** Most recent first; optionally one patient's entries only. */
export function listAudit(db: Db, query: { patientId?: number; limit?: number } = {}): AuditEntry[] {
  const where = query.patientId === undefined ? '' : 'WHERE patient_id = ?'
  const params = query.patientId === undefined ? [] : [query.patientId]
  const rows = db
    .prepare(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT ?`)
    .all(...params, query.limit ?? 100) as AuditRow[]
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    createdAt: row.created_at,
    userName: row.user_name,
    patientId: row.patient_id,
    sourcePatientId: row.source_patient_id,
    inputsHash: row.inputs_hash,
    modelId: row.model_id,
    modelVersion: row.model_version,
    outputs: JSON.parse(row.outputs_json) as unknown
  }))
}

/**
 * Records a drug–drug interaction check (the DDI service's check, e.g. `medrec ddi` or the app's DDI
 * panel). The inputs hash is over the checked drugs in the order given.
 */
export function auditDdiCheck(
  db: Db,
  check: { drugs: readonly string[]; outputs: unknown; userName?: string; patientId?: number | null; sourcePatientId?: string | null }
): number {
  return appendAudit(db, {
    kind: 'ddi-check',
    userName: check.userName,
    patientId: check.patientId ?? null,
    sourcePatientId: check.sourcePatientId ?? null,
    inputsHash: createHash('sha256').update(canonicalJson({ ddiCheck: check.drugs })).digest('hex'),
    modelId: null,
    modelVersion: null,
    outputs: check.outputs
  })
}
