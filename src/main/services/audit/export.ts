// The audit trail for a hospital's SIEM: CSV (one row per entry, RFC 4180 quoting) or a FHIR R4 Bundle of
// AuditEvent resources. Both carry each row's prev_hash and row_hash, so the receiver can check the chain.
import type { Db } from '../db/database'
import type { ChainedRow } from './chain'

export type AuditExportFormat = 'csv' | 'fhir'

export interface AuditExportQuery {
  patientId?: number
  /** Only rows with an id above this (incremental export to a SIEM). */
  afterId?: number
}

function rowsFor(db: Db, query: AuditExportQuery): ChainedRow[] {
  const where: string[] = []
  const params: unknown[] = []
  if (query.patientId !== undefined) {
    where.push('patient_id = ?')
    params.push(query.patientId)
  }
  if (query.afterId !== undefined) {
    where.push('id > ?')
    params.push(query.afterId)
  }
  return db.prepare(`SELECT * FROM audit_log ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`).all(...params) as ChainedRow[]
}

const CSV_COLUMNS: ReadonlyArray<keyof ChainedRow> = [
  'id',
  'kind',
  'created_at',
  'user_name',
  'display_name',
  'client',
  'patient_id',
  'source_patient_id',
  'inputs_hash',
  'model_id',
  'model_version',
  'outputs_json',
  'prev_hash',
  'row_hash'
]

function csvField(value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = String(value)
  // A leading = + - @ would be run as a formula by a spreadsheet opening the export: prefix a quote.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

export function auditCsv(db: Db, query: AuditExportQuery = {}): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const row of rowsFor(db, query)) lines.push(CSV_COLUMNS.map((c) => csvField(row[c])).join(','))
  return `${lines.join('\r\n')}\r\n`
}

const KIND_SYSTEM = 'https://medrec.example/fhir/CodeSystem/audit-kind'

/** What each kind of entry did, in the FHIR AuditEvent action vocabulary (C create, R read, U update, E execute). */
const ACTION_OF_KIND: Record<string, 'C' | 'R' | 'U' | 'E'> = {
  recommendation: 'E',
  explanation: 'E',
  'ddi-check': 'E',
  'review-check': 'E',
  'warning-acknowledgement': 'C',
  review: 'C',
  'record-view': 'R',
  'settings-change': 'U',
  'model-activation': 'U',
  'audit-trail-sealed': 'U'
}

/** One AuditEvent per row (FHIR R4), in a Bundle of type "collection". */
export function auditFhirBundle(db: Db, query: AuditExportQuery = {}): Record<string, unknown> {
  const entries = rowsFor(db, query).map((row) => {
    const entity: Array<Record<string, unknown>> = []
    if (row.source_patient_id !== null) {
      entity.push({
        what: { identifier: { value: row.source_patient_id }, display: `patient ${row.source_patient_id} (MedRec id ${row.patient_id ?? '?'})` },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' }
      })
    }
    entity.push({
      what: { identifier: { system: 'urn:medrec:audit-row', value: String(row.id) } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      detail: [
        { type: 'inputsHash', valueString: row.inputs_hash },
        { type: 'prevHash', valueString: row.prev_hash ?? '' },
        { type: 'rowHash', valueString: row.row_hash ?? '' },
        ...(row.model_id ? [{ type: 'model', valueString: `${row.model_id} ${row.model_version ?? ''}`.trim() }] : []),
        { type: 'outputs', valueBase64Binary: Buffer.from(row.outputs_json, 'utf8').toString('base64') }
      ]
    })
    const resource = {
      resourceType: 'AuditEvent',
      id: `medrec-audit-${row.id}`,
      type: { system: KIND_SYSTEM, code: row.kind, display: row.kind },
      action: ACTION_OF_KIND[row.kind] ?? 'E',
      recorded: row.created_at,
      outcome: '0',
      agent: [
        {
          who: { identifier: { system: 'urn:medrec:os-account', value: row.user_name }, display: row.display_name ?? row.user_name },
          name: row.display_name ?? row.user_name,
          requestor: row.client === null
        },
        // A service acting for an authenticated remote client: the client asked, the account ran the service.
        ...(row.client ? [{ who: { identifier: { system: 'urn:medrec:client', value: row.client } }, name: row.client, requestor: true }] : [])
      ],
      source: { observer: { display: 'MedRec Desktop' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
      entity
    }
    return { resource }
  })
  return { resourceType: 'Bundle', type: 'collection', timestamp: new Date().toISOString(), entry: entries }
}
