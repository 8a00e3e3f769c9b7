// The audit log: every recommendation, explanation and DDI check as it was shown, every review, record view,
// settings change and model activation, who did it and when. The table (migrations 2 and 4) is append-only
// and hash-chained (chain.ts). Who is the operating-system account plus the display name configured in the
// settings (audit.display-name), never a name the caller passes.
import { canonicalJson } from '../canonical-json'
import { createHash } from 'node:crypto'
import { userInfo } from 'node:os'
import type { Db } from '../db/database'
import { writeWhenFree } from '../db/busy'
import { perConnection } from '../db/statements'
import { chainHead, rowHash, schemaFingerprint, SEAL_KIND } from './chain'

export type AuditKind =
  | 'recommendation'
  | 'explanation'
  | 'ddi-check'
  | 'warning-acknowledgement'
  | 'review'
  | 'review-check'
  | 'record-view'
  | 'settings-change'
  | 'model-activation'
  | 'cds-hooks-call'
  | 'cds-hooks-feedback'
  | 'drug-override'
  | typeof SEAL_KIND

export interface AuditEntryInput {
  kind: AuditKind
  /**
   * For entries written by a service on a remote client's behalf: the client's authenticated identity
   * (e.g. the verified issuer of a CDS Hooks JWT). Never a name the request merely states.
   */
  client?: string
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
  /** The operating-system account. */
  userName: string
  /** The display name configured when the entry was written, null when none was. */
  displayName: string | null
  /** The authenticated remote client a service acted for, null for the app and the CLI. */
  client: string | null
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

// A process runs under one OS account: looked up once (userInfo() reads the passwd database every call,
// a measurable share of a CDS Hooks request).
let processUserName: string | undefined
const auditUserName = (): string => (processUserName ??= currentUserName())

// Built once per connection: appendAudit runs on every audited call (each CDS Hooks request), where
// preparing these statements cost more than running them.
const displayNameStatement = perConnection((db) => db.prepare('SELECT value FROM settings WHERE key = ?').pluck())
const insertStatement = perConnection((db) =>
  db.prepare(
    `INSERT INTO audit_log (id, kind, created_at, user_name, display_name, client, patient_id, source_patient_id, inputs_hash, model_id, model_version, outputs_json, prev_hash, row_hash)
     VALUES (@id, @kind, @created_at, @user_name, @display_name, @client, @patient_id, @source_patient_id, @inputs_hash, @model_id, @model_version, @outputs_json, @prev_hash, @row_hash)`
  )
)

const DISPLAY_NAME_KEY = 'audit.display-name'

/** The display name recorded beside the OS account (settings, changed through settings:update; audited). */
export function getDisplayName(db: Db): string | null {
  return (displayNameStatement(db).get(DISPLAY_NAME_KEY) as string | undefined) ?? null
}

export function setDisplayName(db: Db, name: string | null): void {
  if (name === null) db.prepare('DELETE FROM settings WHERE key = ?').run(DISPLAY_NAME_KEY)
  else {
    db.prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
    ).run(DISPLAY_NAME_KEY, name, new Date().toISOString())
  }
}

/** Who the audit records: the OS account and the configured display name. */
export function auditIdentity(db: Db): { userName: string; displayName: string | null } {
  return { userName: auditUserName(), displayName: getDisplayName(db) }
}

/** "Dr Grey (grey)" or the account alone: how results show who acted. */
export function describeActor(identity: { userName: string; displayName: string | null }): string {
  return identity.displayName ? `${identity.displayName} (${identity.userName})` : identity.userName
}

/**
 * Appends one entry at the head of the hash chain and returns its id. Callers write it in the same
 * transaction as anything it records; the read of the head and the insert are one savepoint.
 */
export function appendAudit(db: Db, entry: AuditEntryInput): number {
  if (!/^[0-9a-f]{64}$/.test(entry.inputsHash)) throw new Error(`Audit entry needs a sha256 hex inputs hash, got "${entry.inputsHash}".`)
  const { userName, displayName } = auditIdentity(db)
  // IMMEDIATE: the head is read under the write lock, so two processes appending at once cannot both extend
  // the same head (nested in a caller's transaction this is a savepoint of it).
  return db.transaction(() => {
    const { nextId, prevHash } = chainHead(db)
    const row = {
      id: nextId,
      kind: entry.kind,
      created_at: entry.createdAt ?? new Date().toISOString(),
      user_name: userName,
      display_name: displayName,
      client: entry.client ?? null,
      patient_id: entry.patientId,
      source_patient_id: entry.sourcePatientId,
      inputs_hash: entry.inputsHash,
      model_id: entry.modelId,
      model_version: entry.modelVersion,
      outputs_json: JSON.stringify(entry.outputs)
    }
    insertStatement(db).run({ ...row, prev_hash: prevHash, row_hash: rowHash(row, prevHash) })
    return nextId
  }).immediate()
}

/**
 * Appends one entry in its own write transaction, waiting (without blocking the event loop) while another
 * connection writes, e.g. an import's final copy: what a clinician does is never lost to a busy database.
 */
export function recordAudit(db: Db, entry: AuditEntryInput): Promise<number> {
  return writeWhenFree(db, `Recording the ${entry.kind} in the audit log`, () => appendAudit(db, entry))
}

const hashOf = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex')

/** Records where the guards stand after a migration (chain.ts verifies against the latest seal). */
export function sealAuditTrail(db: Db, reason: string): number {
  const fingerprint = schemaFingerprint(db)
  return appendAudit(db, {
    kind: SEAL_KIND,
    patientId: null,
    sourcePatientId: null,
    inputsHash: hashOf({ seal: reason }),
    modelId: null,
    modelVersion: null,
    outputs: { reason, ...fingerprint }
  })
}

/** A patient's record was opened (timeline shown in the app, `medrec show`). */
export function auditRecordView(db: Db, patient: { id: number; sourcePatientId: string }, via: string): Promise<number> {
  return recordAudit(db, {
    kind: 'record-view',
    patientId: patient.id,
    sourcePatientId: patient.sourcePatientId,
    inputsHash: hashOf({ recordView: patient.id }),
    modelId: null,
    modelVersion: null,
    outputs: { via }
  })
}

/** A settings change with the values before and after (DDI-safe off, threshold override, provider, display name). */
export function auditSettingsChange(db: Db, change: { before: unknown; after: unknown; patch: unknown }): number {
  return appendAudit(db, {
    kind: 'settings-change',
    patientId: null,
    sourcePatientId: null,
    inputsHash: hashOf({ settingsPatch: change.patch }),
    modelId: null,
    modelVersion: null,
    outputs: change
  })
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
  display_name: string | null
  client: string | null
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
    displayName: row.display_name,
    client: row.client,
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
  check: { drugs: readonly string[]; outputs: unknown; patientId?: number | null; sourcePatientId?: string | null }
): Promise<number> {
  return recordAudit(db, {
    kind: 'ddi-check',
    patientId: check.patientId ?? null,
    sourcePatientId: check.sourcePatientId ?? null,
    inputsHash: createHash('sha256').update(canonicalJson({ ddiCheck: check.drugs })).digest('hex'),
    modelId: null,
    modelVersion: null,
    outputs: check.outputs
  })
}
