// The write side of an import: prepared statements over the schema-v1 tables, called synchronously
// per parsed batch inside the import's one transaction. Child rows (codes, medications) go through
// multi-row INSERTs, which cost a fraction of one statement call per row at tens of millions of rows.
import type { CodeKind, CodeSystem, DrugMappingMethod, EhrFormat } from '../../../shared/types'
import type { Db } from '../db/database'

const CODE_SYSTEMS: CodeSystem[] = ['ICD-9-CM', 'ICD-10-CM', 'ICD-10-PCS', 'other']

/** Accumulates rows and inserts them `rowsPerStatement` at a time; flush() writes the remainder. */
class BatchedInsert {
  private readonly values: unknown[] = []
  private readonly many: ReturnType<Db['prepare']>
  private readonly one: ReturnType<Db['prepare']>
  /** Rows given to add(), and rows actually inserted (INSERT OR IGNORE skips duplicates). */
  added = 0
  inserted = 0

  constructor(
    db: Db,
    head: string,
    private readonly width: number,
    tail = '',
    private readonly rowsPerStatement = 64
  ) {
    const tuple = `(${new Array(width).fill('?').join(',')})`
    this.many = db.prepare(`${head} VALUES ${new Array(rowsPerStatement).fill(tuple).join(',')} ${tail}`)
    this.one = db.prepare(`${head} VALUES ${tuple} ${tail}`)
  }

  add(...row: unknown[]): void {
    this.added++
    for (const value of row) this.values.push(value)
    if (this.values.length === this.width * this.rowsPerStatement) {
      this.inserted += this.many.run(this.values).changes
      this.values.length = 0
    }
  }

  flush(): void {
    for (let i = 0; i < this.values.length; i += this.width) this.inserted += this.one.run(this.values.slice(i, i + this.width)).changes
    this.values.length = 0
  }
}

export interface VisitInput {
  patientId: number
  sourceVisitId: string
  admitTime: string | null
  dischargeTime: string | null
  sortKey: string
  orderLabel: string
}

export interface MedicationInput {
  rawName: string
  ndc: string | null
  gsn: string | null
  otherId: string | null
  atc5: string | null
  atc3: string | null
  method: DrugMappingMethod
  startTime: string | null
}

export class ImportStore {
  patients = 0
  visits = 0
  private readonly upsertPatientStatement
  private readonly upsertVisitStatement
  private readonly findVisitStatement
  private readonly deleteChildren: Array<ReturnType<Db['prepare']>>
  private readonly diagnoses: BatchedInsert
  private readonly procedures: BatchedInsert
  private readonly medications: BatchedInsert
  private readonly titleOverwrite: BatchedInsert
  private readonly titleKeep: BatchedInsert
  /** True when this source already has visits: re-imported visits then get their children replaced. */
  private readonly replacing: boolean

  constructor(
    private readonly db: Db,
    private readonly source: EhrFormat,
    private readonly runId: number
  ) {
    this.upsertPatientStatement = db.prepare(
      `INSERT INTO patients (source, source_patient_id, sex) VALUES (?, ?, ?)
       ON CONFLICT (source, source_patient_id) DO UPDATE SET sex = excluded.sex RETURNING id`
    )
    this.upsertVisitStatement = db.prepare(
      `INSERT INTO visits (patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, order_label, import_run_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, source_visit_id) DO UPDATE SET patient_id = excluded.patient_id, admit_time = excluded.admit_time,
         discharge_time = excluded.discharge_time, sort_key = excluded.sort_key, order_label = excluded.order_label,
         import_run_id = excluded.import_run_id
       RETURNING id`
    )
    this.findVisitStatement = db.prepare(`SELECT id FROM visits WHERE source = ? AND source_visit_id = ?`).pluck()
    this.deleteChildren = ['diagnoses', 'procedures', 'medications'].map((table) => db.prepare(`DELETE FROM ${table} WHERE visit_id = ?`))
    this.replacing = db.prepare(`SELECT 1 FROM visits WHERE source = ? LIMIT 1`).pluck().get(source) !== undefined
    this.diagnoses = new BatchedInsert(db, 'INSERT OR IGNORE INTO diagnoses (visit_id, seq, code_system, code)', 4)
    this.procedures = new BatchedInsert(db, 'INSERT OR IGNORE INTO procedures (visit_id, seq, code_system, code)', 4)
    this.medications = new BatchedInsert(
      db,
      'INSERT INTO medications (visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time)',
      9
    )
    this.titleOverwrite = new BatchedInsert(
      db,
      'INSERT INTO code_titles (kind, code_system, code, title)',
      4,
      'ON CONFLICT (kind, code_system, code) DO UPDATE SET title = excluded.title WHERE title <> excluded.title'
    )
    this.titleKeep = new BatchedInsert(db, 'INSERT OR IGNORE INTO code_titles (kind, code_system, code, title)', 4)
  }

  patient(sourcePatientId: string, sex: string | null): number {
    this.patients++
    return (this.upsertPatientStatement.get(this.source, sourcePatientId, sex) as { id: number }).id
  }

  /**
   * Inserts or updates a visit. A visit imported before keeps its id, and its diagnoses, procedures
   * and medications are deleted here so this import's rows replace them wholesale (idempotent).
   */
  visit(v: VisitInput): number {
    this.visits++
    if (this.replacing) {
      const existing = this.findVisitStatement.get(this.source, v.sourceVisitId) as number | undefined
      if (existing !== undefined) {
        this.flush() // batched rows may belong to this visit
        for (const statement of this.deleteChildren) statement.run(existing)
      }
    }
    const row = this.upsertVisitStatement.get(
      v.patientId,
      this.source,
      v.sourceVisitId,
      v.admitTime,
      v.dischargeTime,
      v.sortKey,
      v.orderLabel,
      this.runId
    ) as { id: number }
    return row.id
  }

  diagnosis(visitId: number, seq: number, system: CodeSystem, code: string): void {
    this.diagnoses.add(visitId, seq, system, code)
    this.usedCodes.diagnosis.get(system)!.add(code)
  }

  procedure(visitId: number, seq: number, system: CodeSystem, code: string): void {
    this.procedures.add(visitId, seq, system, code)
    this.usedCodes.procedure.get(system)!.add(code)
  }

  /** Distinct codes this import wrote, by kind and system (a few thousand; nested to avoid key strings per row). */
  private readonly usedCodes: Record<CodeKind, Map<CodeSystem, Set<string>>> = {
    diagnosis: new Map(CODE_SYSTEMS.map((system) => [system, new Set<string>()])),
    procedure: new Map(CODE_SYSTEMS.map((system) => [system, new Set<string>()]))
  }

  /** How many distinct codes written by this import have no title in code_titles. */
  codesWithoutTitle(): number {
    this.flush()
    const titled = this.db.prepare(`SELECT 1 FROM code_titles WHERE kind = ? AND code_system = ? AND code = ?`).pluck()
    let missing = 0
    for (const kind of ['diagnosis', 'procedure'] as const) {
      for (const [system, codes] of this.usedCodes[kind]) for (const code of codes) if (titled.get(kind, system, code) === undefined) missing++
    }
    return missing
  }

  medication(visitId: number, m: MedicationInput): void {
    this.medications.add(visitId, m.rawName, m.ndc, m.gsn, m.otherId, m.atc5, m.atc3, m.method, m.startTime)
  }

  /** `authoritative` titles (the ICD dictionaries) replace others; eICU strings only fill gaps. */
  title(kind: CodeKind, system: CodeSystem, code: string, title: string, authoritative: boolean): void {
    ;(authoritative ? this.titleOverwrite : this.titleKeep).add(kind, system, code, title)
  }

  atcNames(names: Map<string, string>): void {
    const statement = this.db.prepare(
      `INSERT INTO atc_names (code, name) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET name = excluded.name WHERE name <> excluded.name`
    )
    for (const [code, name] of names) statement.run(code, name)
  }

  flush(): void {
    this.titleOverwrite.flush()
    this.titleKeep.flush()
    this.diagnoses.flush()
    this.procedures.flush()
    this.medications.flush()
  }

  /** Rows written; `repeated*` codes were already on the visit (the same code twice in one admission). */
  get counts(): { diagnoses: number; procedures: number; medications: number; repeatedDiagnoses: number; repeatedProcedures: number } {
    this.flush()
    return {
      diagnoses: this.diagnoses.inserted,
      procedures: this.procedures.inserted,
      medications: this.medications.inserted,
      repeatedDiagnoses: this.diagnoses.added - this.diagnoses.inserted,
      repeatedProcedures: this.procedures.added - this.procedures.inserted
    }
  }
}
