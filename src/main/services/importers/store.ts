// The write side of an import: prepared statements over the schema-v1 tables, called synchronously
// per parsed batch inside the import's one transaction. Child rows (codes, medications) go through
// multi-row INSERTs, which cost a fraction of one statement call per row at tens of millions of rows.
// Call flush() before reading back what this import wrote.
//
// Cost at scale (bench/import.ts, synthetic MIMIC-IV cohort): one SQLite row per prescription (~63 per
// admission) was about half the CPU. Consecutive rows of the same drug in the same visit are therefore
// folded into one medications row with order_count (schema v3); a visit whose rows come back later in
// the file simply gets another row for that drug.
import type { CodeKind, CodeSystem, EhrFormat } from '../../../shared/types'
import type { Db } from '../db/database'
import type { DrugMapping } from '../reference'

const CODE_SYSTEMS: CodeSystem[] = ['ICD-9-CM', 'ICD-10-CM', 'ICD-10-PCS', 'other']

/** Accumulates rows and inserts them `rowsPerStatement` at a time; flush() writes the remainder. */
class BatchedInsert {
  private readonly values: unknown[] = []
  private readonly many: ReturnType<Db['prepare']>
  private readonly one: ReturnType<Db['prepare']>
  /** Rows given to add(), and rows actually inserted (INSERT OR IGNORE skips duplicates). */
  added = 0
  inserted = 0

  /** `sql` turns a VALUES list ("(?,?),(?,?)") into the statement. */
  constructor(
    db: Db,
    sql: (valuesList: string) => string,
    private readonly width: number,
    private readonly rowsPerStatement = 64
  ) {
    const tuple = `(${new Array(width).fill('?').join(',')})`
    this.many = db.prepare(sql(new Array(rowsPerStatement).fill(tuple).join(',')))
    this.one = db.prepare(sql(tuple))
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

const plainInsert = (head: string, tail = '') => (valuesList: string) => `${head} VALUES ${valuesList} ${tail}`

/** A drug as written in the source; its ATC mapping depends on nothing else. */
export interface DrugInput {
  rawName: string
  ndc: string | null
  gsn: string | null
  otherId: string | null
}

/** Distinct drugs held at once before the product table is emptied (bounds memory on any input). */
const MAX_PRODUCTS = 200_000

export interface VisitInput {
  patientId: number
  sourceVisitId: string
  admitTime: string | null
  dischargeTime: string | null
  sortKey: string
  orderLabel: string
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
  private readonly insertProduct
  /** Drug key → row id in temp.import_drug_products, and that drug's ATC mapping. */
  private readonly productIds = new Map<string, number>()
  private productMappings: DrugMapping[] = []
  /** The visit whose medication rows are being folded, and per drug id: source rows seen, earliest start. */
  private foldingVisitId: number | null = null
  private readonly foldedOrders = new Map<number, { count: number; startTime: string | null }>()
  /** Source medication rows given to medication() (stored rows are fewer: see foldedOrders). */
  private medicationSourceRows = 0
  private readonly titleOverwrite: BatchedInsert
  private readonly titleKeep: BatchedInsert
  /** True when this source already has visits: re-imported visits then get their children replaced. */
  private readonly replacing: boolean

  constructor(
    private readonly db: Db,
    private readonly source: EhrFormat,
    private readonly runId: number,
    private readonly maxProducts = MAX_PRODUCTS
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
    this.diagnoses = new BatchedInsert(db, plainInsert('INSERT OR IGNORE INTO diagnoses (visit_id, seq, code_system, code)'), 4)
    this.procedures = new BatchedInsert(db, plainInsert('INSERT OR IGNORE INTO procedures (visit_id, seq, code_system, code)'), 4)
    // A medication row repeats its drug's name, codes and mapping, the same for thousands of rows.
    // Each distinct drug is written once to a temporary table and a row binds only (visit, drug id,
    // start time): SQLite copies the strings itself, which halves the cost per row (measured 2.1 vs
    // 4.2 µs of CPU) at tens of millions of prescription rows.
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_drug_products (
      id INTEGER PRIMARY KEY, raw_name TEXT NOT NULL, ndc TEXT, gsn TEXT, other_id TEXT, atc5 TEXT, atc3 TEXT, mapping_method TEXT NOT NULL)`)
    db.exec('DELETE FROM temp.import_drug_products')
    this.insertProduct = db.prepare(
      'INSERT INTO temp.import_drug_products (id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    )
    this.medications = new BatchedInsert(
      db,
      (valuesList) =>
        `INSERT INTO medications (visit_id, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method, start_time, order_count)
         SELECT v.column1, p.raw_name, p.ndc, p.gsn, p.other_id, p.atc5, p.atc3, p.mapping_method, v.column3, v.column4
         FROM (VALUES ${valuesList}) AS v JOIN temp.import_drug_products AS p ON p.id = v.column2`,
      4
    )
    this.titleOverwrite = new BatchedInsert(
      db,
      plainInsert(
        'INSERT INTO code_titles (kind, code_system, code, title)',
        'ON CONFLICT (kind, code_system, code) DO UPDATE SET title = excluded.title WHERE title <> excluded.title'
      ),
      4
    )
    this.titleKeep = new BatchedInsert(db, plainInsert('INSERT OR IGNORE INTO code_titles (kind, code_system, code, title)'), 4)
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

  /**
   * Adds a medication row; `mapDrug` is called once per distinct drug (name, NDC, GSN, other id).
   * Returns the drug's mapping, for the report's tally.
   */
  medication(visitId: number, drug: DrugInput, startTime: string | null, mapDrug: (drug: DrugInput) => DrugMapping): DrugMapping {
    const key = `${drug.rawName}\u0001${drug.ndc ?? ''}\u0001${drug.gsn ?? ''}\u0001${drug.otherId ?? ''}`
    if (visitId !== this.foldingVisitId) {
      this.writeFoldedOrders()
      this.foldingVisitId = visitId
    }
    this.medicationSourceRows++
    let id = this.productIds.get(key)
    if (id === undefined) {
      if (this.productIds.size >= this.maxProducts) {
        // Rows already written hold copies, so the table can start over (pending rows first).
        this.writeFoldedOrders()
        this.medications.flush()
        this.db.exec('DELETE FROM temp.import_drug_products')
        this.productIds.clear()
        this.productMappings = []
      }
      const mapping = mapDrug(drug)
      id = this.productIds.size + 1
      this.insertProduct.run(id, drug.rawName, drug.ndc, drug.gsn, drug.otherId, mapping.atc5, mapping.atc3, mapping.method)
      this.productIds.set(key, id)
      this.productMappings[id] = mapping
    }
    const folded = this.foldedOrders.get(id)
    if (!folded) this.foldedOrders.set(id, { count: 1, startTime })
    else {
      folded.count++
      if (startTime !== null && (folded.startTime === null || startTime < folded.startTime)) folded.startTime = startTime
    }
    return this.productMappings[id]!
  }

  /** Writes the folded rows of the current visit (ISO start times compare as strings). */
  private writeFoldedOrders(): void {
    if (this.foldingVisitId === null) return
    for (const [productId, order] of this.foldedOrders) this.medications.add(this.foldingVisitId, productId, order.startTime, order.count)
    this.foldedOrders.clear()
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

  /** Writes pending rows and drops the temporary drug table (call before COMMIT). */
  finish(): void {
    this.flush()
    this.db.exec('DROP TABLE IF EXISTS temp.import_drug_products')
  }

  flush(): void {
    this.writeFoldedOrders()
    this.titleOverwrite.flush()
    this.titleKeep.flush()
    this.diagnoses.flush()
    this.procedures.flush()
    this.medications.flush()
  }

  /** Rows written; `repeated*` codes were already on the visit (the same code twice in one admission). */
  get counts(): {
    diagnoses: number
    procedures: number
    medications: number
    storedMedicationRows: number
    repeatedDiagnoses: number
    repeatedProcedures: number
  } {
    this.flush()
    return {
      diagnoses: this.diagnoses.inserted,
      procedures: this.procedures.inserted,
      medications: this.medicationSourceRows,
      storedMedicationRows: this.medications.inserted,
      repeatedDiagnoses: this.diagnoses.added - this.diagnoses.inserted,
      repeatedProcedures: this.procedures.added - this.procedures.inserted
    }
  }
}
