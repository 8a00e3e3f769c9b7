// The write side of an import: prepared statements over the schema-v1 tables, called synchronously
// per parsed batch inside the import's one transaction. Child rows (codes, staged medication orders)
// go through multi-row INSERTs, which cost a fraction of one statement call per row at tens of millions
// of rows. Call flush() before reading back what this import wrote.
//
// Medications (importer version 2): all source rows of the same drug in the same visit fold into one
// medications row whose order_count says how many rows it stands for and whose start_time is the
// earliest start; rows within a visit keep the order in which each drug first appears in the file.
// Prescription files interleave admissions (MIMIC-IV's does), so the rows are folded in memory as they
// are read and each visit's rows are written together (imports/medication-fold.ts says how, and why
// memory stays bounded).
import type { CodeKind, CodeSystem, EhrFormat } from '../../../shared/domain/patient'
import type { Db } from '../db/database'
import type { DrugMapping } from '../drugs/reference-data'
import type { AgeCoverage } from '../../../shared/domain/imports'
import { AGE_TOP_CODE } from '../../../shared/domain/patient'
import type { VisitAge } from './age'
import { MedicationFold } from './medication-fold'
import { isBetterTitle } from './title-quality'

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
  /**
   * The source's route column, given to the resolver (not stored, and not part of the drug's identity:
   * the first row of a drug in an import decides its mapping, so a drug still folds into one row per visit).
   */
  route?: string | null
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
  /** The age when the visit began (imports/age.ts); absent: unknown, the source gives none. */
  age?: VisitAge
}

export class ImportStore {
  patients = 0
  visits = 0
  /** This import's visits with and without an age, for the report. */
  readonly ages: AgeCoverage = { known: 0, topCoded: 0, unknown: {} }
  private readonly upsertPatientStatement
  private readonly upsertVisitStatement
  private readonly findVisitStatement
  private readonly deleteChildren: Array<ReturnType<Db['prepare']>>
  private readonly diagnoses: BatchedInsert
  private readonly procedures: BatchedInsert
  /** Medication source rows, folded per (visit, drug) as they come. */
  private readonly fold: MedicationFold
  private readonly insertProduct
  /**
   * Raw name → the row ids in temp.import_drug_products of the drugs with that name (they differ by NDC,
   * GSN or other id), each id's ATC mapping and identity. Keyed by the name alone so a row builds no key
   * string (tens of millions of rows).
   */
  private readonly productIds = new Map<string, number[]>()
  private productCount = 0
  private productMappings: DrugMapping[] = []
  private productInputs: DrugInput[] = []
  /** Source medication rows given to medication() (stored rows are fewer: see foldStagedOrders). */
  private medicationSourceRows = 0
  private readonly titleOverwrite: BatchedInsert
  private readonly titleKeep: BatchedInsert
  /** True when this source already has visits: re-imported visits then get their children replaced. */
  private readonly replacing: boolean
  private readonly visitOwnerStatement
  /** Authoritative titles that differed from the stored one: kept (offered one not better) or replaced. */
  readonly titleConflicts = { kept: 0, replaced: 0, samples: [] as Array<{ code: string; kept: string; offered: string }> }

  constructor(
    private readonly db: Db,
    private readonly source: EhrFormat,
    private readonly runId: number,
    private readonly maxProducts = MAX_PRODUCTS,
    /** Open (visit, drug) pairs the medication fold holds (tests lower it to exercise reopened visits). */
    maxOpenMedicationEntries?: number
  ) {
    this.upsertPatientStatement = db.prepare(
      `INSERT INTO patients (source, source_patient_id, sex) VALUES (?, ?, ?)
       ON CONFLICT (source, source_patient_id) DO UPDATE SET sex = excluded.sex RETURNING id`
    )
    this.upsertVisitStatement = db.prepare(
      `INSERT INTO visits (patient_id, source, source_visit_id, admit_time, discharge_time, sort_key, order_label, import_run_id, age_at_admission)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, source_visit_id) DO UPDATE SET admit_time = excluded.admit_time,
         discharge_time = excluded.discharge_time, sort_key = excluded.sort_key, order_label = excluded.order_label,
         import_run_id = excluded.import_run_id,
         -- An import that cannot tell the age (e.g. a FHIR export without the Patient) keeps the stored one.
         age_at_admission = coalesce(excluded.age_at_admission, age_at_admission)
         WHERE patient_id = excluded.patient_id
       RETURNING id`
    )
    this.findVisitStatement = db.prepare(`SELECT id FROM visits WHERE source = ? AND source_visit_id = ?`).pluck()
    this.deleteChildren = ['diagnoses', 'procedures', 'medications'].map((table) => db.prepare(`DELETE FROM ${table} WHERE visit_id = ?`))
    // The staging file's id placeholder (an empty source id, imports/staging.ts) is not a stored visit: a
    // first import then skips the per-visit lookups.
    this.replacing = db.prepare(`SELECT 1 FROM visits WHERE source = ? AND source_visit_id <> '' LIMIT 1`).pluck().get(source) !== undefined
    this.visitOwnerStatement = db.prepare(
      `SELECT v.patient_id AS patientId, p.source_patient_id AS sourcePatientId FROM visits v JOIN patients p ON p.id = v.patient_id
       WHERE v.source = ? AND v.source_visit_id = ?`
    )
    this.diagnoses = new BatchedInsert(db, plainInsert('INSERT OR IGNORE INTO diagnoses (visit_id, seq, code_system, code)'), 4)
    this.procedures = new BatchedInsert(db, plainInsert('INSERT OR IGNORE INTO procedures (visit_id, seq, code_system, code)'), 4)
    // A medication row repeats its drug's name, codes and mapping, the same for thousands of rows.
    // Each distinct drug is written once to a temporary table and a row binds only (visit, drug id,
    // start time): SQLite copies the strings itself, which halves the cost per row (measured 2.1 vs
    // 4.2 µs of CPU) at tens of millions of prescription rows.
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_drug_products (
      id INTEGER NOT NULL, ingredient INTEGER NOT NULL, raw_name TEXT NOT NULL, ndc TEXT, gsn TEXT, other_id TEXT, atc5 TEXT, atc3 TEXT,
      mapping_method TEXT NOT NULL, PRIMARY KEY (id, ingredient))`)
    db.exec('DELETE FROM temp.import_drug_products')
    this.insertProduct = db.prepare(
      'INSERT INTO temp.import_drug_products (id, ingredient, raw_name, ndc, gsn, other_id, atc5, atc3, mapping_method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
    )
    this.fold = new MedicationFold(db, 'temp.import_drug_products', (id) => this.productInputs[id]!, maxOpenMedicationEntries)
    // Called by SQLite only where a stored title differs from the offered one: decides and counts.
    db.function('medrec_title_replaces', { deterministic: false }, (code: unknown, offered: unknown, stored: unknown) => {
      const better = isBetterTitle(String(offered), String(stored))
      if (better) this.titleConflicts.replaced++
      else {
        this.titleConflicts.kept++
        if (this.titleConflicts.samples.length < 20) this.titleConflicts.samples.push({ code: String(code), kept: String(stored), offered: String(offered) })
      }
      return better ? 1 : 0
    })
    this.titleOverwrite = new BatchedInsert(
      db,
      plainInsert(
        'INSERT INTO code_titles (kind, code_system, code, title)',
        `ON CONFLICT (kind, code_system, code) DO UPDATE SET title = excluded.title
         WHERE title <> excluded.title AND medrec_title_replaces(code, excluded.title, title)`
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
   * The source id of the patient a visit id is stored for, when that is not `patientId`: an export
   * reusing another patient's visit id is rejected by the importers, never moved (null: no conflict).
   */
  storedForAnotherPatient(sourceVisitId: string, patientId: number): string | null {
    if (!this.replacing) return null
    const stored = this.visitOwnerStatement.get(this.source, sourceVisitId) as { patientId: number; sourcePatientId: string } | undefined
    return stored && stored.patientId !== patientId ? stored.sourcePatientId : null
  }

  /**
   * Inserts or updates a visit. A visit imported before keeps its id, and its diagnoses, procedures
   * and medications are deleted here so this import's rows replace them wholesale (idempotent). A
   * visit stored for another patient is never moved: callers check storedForAnotherPatient() first,
   * and the upsert refuses it as a last guard.
   */
  visit(v: VisitInput): number {
    this.visits++
    const age = v.age?.age ?? null
    if (age !== null) {
      this.ages.known++
      if (age >= AGE_TOP_CODE) this.ages.topCoded++
    } else {
      const reason = v.age?.unknown ?? 'the source gives no age'
      this.ages.unknown[reason] = (this.ages.unknown[reason] ?? 0) + 1
    }
    if (this.replacing) {
      const existing = this.findVisitStatement.get(this.source, v.sourceVisitId) as number | undefined
      if (existing !== undefined) {
        this.flushCodes() // batched rows may belong to this visit
        this.fold.flushVisit(existing)
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
      this.runId,
      age
    ) as { id: number } | undefined
    if (!row) throw new Error(`visit ${v.sourceVisitId} is stored for another patient; an import never moves visits between patients`)
    return row.id
  }

  diagnosis(visitId: number, seq: number, system: CodeSystem, code: string): void {
    this.diagnoses.add(visitId, seq, system, code)
    this.usedCodesOf('diagnosis', system).add(code)
  }

  procedure(visitId: number, seq: number, system: CodeSystem, code: string): void {
    this.procedures.add(visitId, seq, system, code)
    this.usedCodesOf('procedure', system).add(code)
  }

  /** FHIR brings systems beyond the four ICD ones: their sets are made on first use. */
  private usedCodesOf(kind: CodeKind, system: CodeSystem): Set<string> {
    let codes = this.usedCodes[kind].get(system)
    if (!codes) this.usedCodes[kind].set(system, (codes = new Set()))
    return codes
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
    this.medicationSourceRows++
    let id = this.productIdOf(drug)
    if (id === undefined) {
      if (this.productCount >= this.maxProducts) {
        // Open folds refer to the table's ids: write them first. A visit with rows on both sides of
        // a refill is merged by the drug's identity (medication-fold.ts), so it still has one row per drug.
        this.fold.flushAll()
        this.db.exec('DELETE FROM temp.import_drug_products')
        this.productIds.clear()
        this.productCount = 0
        this.productMappings = []
        this.productInputs = []
      }
      const mapping = mapDrug(drug)
      id = ++this.productCount
      // A combination product (oxycodone/acetaminophen) is stored as one medications row per ingredient.
      const ingredients = mapping.ingredients ?? [{ atc5: mapping.atc5, atc3: mapping.atc3 }]
      ingredients.forEach((ingredient, index) =>
        this.insertProduct.run(id, index, drug.rawName, drug.ndc, drug.gsn, drug.otherId, ingredient.atc5, ingredient.atc3, mapping.method)
      )
      const sameName = this.productIds.get(drug.rawName)
      if (sameName) sameName.push(id)
      else this.productIds.set(drug.rawName, [id])
      this.productMappings[id] = mapping
      this.productInputs[id] = drug
    }
    this.fold.add(visitId, id, startTime)
    return this.productMappings[id]!
  }

  /** The row id of a drug seen before with the same name, NDC, GSN and other id. */
  private productIdOf(drug: DrugInput): number | undefined {
    const sameName = this.productIds.get(drug.rawName)
    if (sameName === undefined) return undefined
    for (const id of sameName) {
      const seen = this.productInputs[id]!
      // An empty code and no code are the same drug (as in the stored identity the fold merges by).
      if ((seen.ndc ?? '') === (drug.ndc ?? '') && (seen.gsn ?? '') === (drug.gsn ?? '') && (seen.otherId ?? '') === (drug.otherId ?? '')) return id
    }
    return undefined
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
    this.flushCodes()
    this.fold.flushAll()
  }

  private flushCodes(): void {
    this.titleOverwrite.flush()
    this.titleKeep.flush()
    this.diagnoses.flush()
    this.procedures.flush()
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
      storedMedicationRows: this.fold.storedRows,
      repeatedDiagnoses: this.diagnoses.added - this.diagnoses.inserted,
      repeatedProcedures: this.procedures.added - this.procedures.inserted
    }
  }
}
