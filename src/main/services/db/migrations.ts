// Versioned schema migrations. Each entry runs once, in order, inside a transaction; the applied
// version is kept in PRAGMA user_version. Never edit a released migration: append a new one.
import { chainExistingRows, createAuditTriggers } from '../audit/chain'
import type { Db } from './database'

export interface Migration {
  version: number
  description: string
  sql: string
  /**
   * Rebuilds tables that others reference (SQLite cannot change a CHECK in place): run with foreign keys
   * off, as SQLite's table-rebuild procedure requires, and checked with foreign_key_check before commit.
   */
  rebuildsTables?: boolean
  /** Work SQL cannot do (hashing), run after `sql` in the same transaction. */
  run?: (db: Db) => void
}

/** The migration that hash-chains the audit log; from it on every migration seals the trail (database.ts). */
export const AUDIT_CHAIN_VERSION = 4

export const migrations: Migration[] = [
  {
    version: 1,
    description: 'patients, visits, coded diagnoses/procedures, medications, code titles, import runs',
    sql: `
      CREATE TABLE import_runs (
        id INTEGER PRIMARY KEY,
        format TEXT NOT NULL CHECK (format IN ('mimic-iv', 'mimic-iii', 'eicu')),
        source_dir TEXT NOT NULL,
        -- sha256 over the names, sizes and contents of the input files: an unchanged re-import is skipped.
        input_fingerprint TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('completed', 'skipped-unchanged')),
        report_json TEXT NOT NULL
      );

      CREATE TABLE patients (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL CHECK (source IN ('mimic-iv', 'mimic-iii', 'eicu')),
        source_patient_id TEXT NOT NULL,
        sex TEXT,
        UNIQUE (source, source_patient_id)
      );
      -- Prefix search by id from the patient list (LIKE 'abc%' uses a NOCASE index).
      CREATE INDEX patients_by_source_id ON patients (source_patient_id COLLATE NOCASE);

      CREATE TABLE visits (
        id INTEGER PRIMARY KEY,
        patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        source_visit_id TEXT NOT NULL,
        admit_time TEXT,
        discharge_time TEXT,
        -- Orders a patient's visits: the ISO admission time where the source has one, otherwise a
        -- zero-padded composite key (eICU: discharge year, hospital admission offset, unit visit number).
        sort_key TEXT NOT NULL,
        order_label TEXT NOT NULL,
        import_run_id INTEGER REFERENCES import_runs(id),
        UNIQUE (source, source_visit_id)
      );
      CREATE INDEX visits_by_patient ON visits (patient_id, sort_key);

      CREATE TABLE diagnoses (
        visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        code_system TEXT NOT NULL CHECK (code_system IN ('ICD-9-CM', 'ICD-10-CM', 'ICD-10-PCS', 'other')),
        code TEXT NOT NULL,
        PRIMARY KEY (visit_id, code_system, code)
      ) WITHOUT ROWID;

      CREATE TABLE procedures (
        visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        code_system TEXT NOT NULL CHECK (code_system IN ('ICD-9-CM', 'ICD-10-CM', 'ICD-10-PCS', 'other')),
        code TEXT NOT NULL,
        PRIMARY KEY (visit_id, code_system, code)
      ) WITHOUT ROWID;

      CREATE TABLE medications (
        id INTEGER PRIMARY KEY,
        visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
        raw_name TEXT NOT NULL,
        ndc TEXT,
        gsn TEXT,
        other_id TEXT,
        atc5 TEXT,
        atc3 TEXT,
        mapping_method TEXT NOT NULL CHECK (mapping_method IN ('ndc', 'gsn', 'name', 'unmapped')),
        start_time TEXT
      );
      CREATE INDEX medications_by_visit ON medications (visit_id);
      CREATE INDEX medications_unmapped ON medications (mapping_method) WHERE mapping_method = 'unmapped';

      -- Titles of diagnosis and procedure codes (ICD dictionaries, eICU diagnosis strings).
      CREATE TABLE code_titles (
        kind TEXT NOT NULL CHECK (kind IN ('diagnosis', 'procedure')),
        code_system TEXT NOT NULL,
        code TEXT NOT NULL,
        title TEXT NOT NULL,
        PRIMARY KEY (kind, code_system, code)
      ) WITHOUT ROWID;

      -- ATC class names (all levels) so the timeline can show "N02B Other analgesics and antipyretics".
      CREATE TABLE atc_names (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL
      ) WITHOUT ROWID;
    `
  },
  {
    version: 2,
    description: 'app settings (active model) and the append-only audit log',
    sql: `
      -- Small key/value settings kept with the patient data, e.g. 'active-model-id'.
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) WITHOUT ROWID;

      -- Every recommendation, explanation and DDI check, as it was shown. No foreign key to patients:
      -- the record must outlive a re-imported or deleted patient.
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (length(kind) > 0),
        created_at TEXT NOT NULL,
        user_name TEXT NOT NULL CHECK (length(user_name) > 0),
        patient_id INTEGER,
        source_patient_id TEXT,
        inputs_hash TEXT NOT NULL CHECK (length(inputs_hash) = 64),
        model_id TEXT,
        model_version TEXT,
        outputs_json TEXT NOT NULL CHECK (json_valid(outputs_json))
      );
      CREATE INDEX audit_log_by_patient ON audit_log (patient_id, created_at);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END;
    `
  },
  {
    version: 3,
    description: 'medications: one row per drug order run in a visit, with the number of source rows it stands for',
    sql: `
      -- A source export repeats the same drug order many times per admission (the MIMIC-IV demo averages
      -- ~63 prescription rows per admission). The importer folds consecutive rows of the same drug in the
      -- same visit into one row; order_count says how many source rows it stands for and start_time
      -- keeps the earliest start. Recommendation and training only need the visit's drug set.
      ALTER TABLE medications ADD COLUMN order_count INTEGER NOT NULL DEFAULT 1 CHECK (order_count >= 1);
    `
  },
  {
    version: AUDIT_CHAIN_VERSION,
    description: 'audit log: hash chain (prev_hash, row_hash), display name beside the OS account, inserts that replace refused',
    sql: `
      ALTER TABLE audit_log ADD COLUMN display_name TEXT;
      -- The authenticated remote client (e.g. a CDS Hooks client's verified JWT issuer) when the entry came
      -- through a service rather than the app or the CLI; null otherwise.
      ALTER TABLE audit_log ADD COLUMN client TEXT;
      ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
      ALTER TABLE audit_log ADD COLUMN row_hash TEXT;
      -- Rows written before the chain existed get their hashes here, so the update guard goes for a moment.
      DROP TRIGGER IF EXISTS audit_log_no_update;
      DROP TRIGGER IF EXISTS audit_log_no_delete;
    `,
    run(db) {
      chainExistingRows(db)
      createAuditTriggers(db)
      // After the triggers, so a dropped and recreated trigger is never the last sqlite_master entry.
      db.exec('CREATE INDEX audit_log_by_kind ON audit_log (kind, id)')
    }
  },
  {
    version: 5,
    description: 'FHIR imports: patients and import runs from FHIR, codes of any system, allergies',
    rebuildsTables: true,
    sql: `
      -- FHIR codes keep their own system (SNOMED CT, LOINC, a URI), so code_system is no longer one of
      -- four ICD names, and patients and import runs may come from a FHIR import. SQLite cannot alter a
      -- CHECK: each table is rebuilt with the same columns and indexes and its rows copied (ids kept).
      CREATE TABLE import_runs_v5 (
        id INTEGER PRIMARY KEY,
        format TEXT NOT NULL CHECK (format IN ('mimic-iv', 'mimic-iii', 'eicu', 'fhir')),
        source_dir TEXT NOT NULL,
        input_fingerprint TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('completed', 'skipped-unchanged')),
        report_json TEXT NOT NULL
      );
      INSERT INTO import_runs_v5 SELECT * FROM import_runs;
      DROP TABLE import_runs;
      ALTER TABLE import_runs_v5 RENAME TO import_runs;

      CREATE TABLE patients_v5 (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL CHECK (source IN ('mimic-iv', 'mimic-iii', 'eicu', 'fhir')),
        source_patient_id TEXT NOT NULL,
        sex TEXT,
        UNIQUE (source, source_patient_id)
      );
      INSERT INTO patients_v5 SELECT * FROM patients;
      DROP TABLE patients;
      ALTER TABLE patients_v5 RENAME TO patients;
      CREATE INDEX patients_by_source_id ON patients (source_patient_id COLLATE NOCASE);

      CREATE TABLE diagnoses_v5 (
        visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        code_system TEXT NOT NULL CHECK (length(code_system) > 0),
        code TEXT NOT NULL,
        PRIMARY KEY (visit_id, code_system, code)
      ) WITHOUT ROWID;
      INSERT INTO diagnoses_v5 SELECT * FROM diagnoses;
      DROP TABLE diagnoses;
      ALTER TABLE diagnoses_v5 RENAME TO diagnoses;

      CREATE TABLE procedures_v5 (
        visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        code_system TEXT NOT NULL CHECK (length(code_system) > 0),
        code TEXT NOT NULL,
        PRIMARY KEY (visit_id, code_system, code)
      ) WITHOUT ROWID;
      INSERT INTO procedures_v5 SELECT * FROM procedures;
      DROP TABLE procedures;
      ALTER TABLE procedures_v5 RENAME TO procedures;

      -- Allergies and intolerances (FHIR AllergyIntolerance) per patient, for allergy checks.
      CREATE TABLE allergies (
        id INTEGER PRIMARY KEY,
        patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        source_allergy_id TEXT NOT NULL,
        code_system TEXT,
        code TEXT,
        title TEXT NOT NULL,
        -- AllergyIntolerance.category (food, medication, environment, biologic), comma-separated.
        category TEXT,
        criticality TEXT,
        clinical_status TEXT,
        recorded_at TEXT,
        import_run_id INTEGER REFERENCES import_runs(id),
        UNIQUE (source, source_allergy_id)
      );
      CREATE INDEX allergies_by_patient ON allergies (patient_id);
    `
  },
  {
    version: 6,
    description: 'visits: age in whole years at the visit (top-coded at 90 = "90 or older"; null when unknown)',
    sql: `
      -- The patient's age in whole years when the visit began (admission, ICU unit stay or encounter start),
      -- for subgroups by age band and the timeline. Top-coded as the sources publish it: 90 means "90 or
      -- older" (MIMIC-IV writes anchor_age 91 for anyone over 89, eICU writes "> 89", MIMIC-III shifts
      -- their birth dates by about 300 years), so no stored age singles out the very old. Null when the
      -- source gives no age; visits imported before this version keep null until their source is imported
      -- again (the importers' version changed, so the same files re-import). No birth date or birth year
      -- is kept: the age at each visit is all the app uses.
      ALTER TABLE visits ADD COLUMN age_at_admission INTEGER CHECK (age_at_admission BETWEEN 0 AND 90);
    `
  }
]
