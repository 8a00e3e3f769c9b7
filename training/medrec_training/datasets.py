"""Patients and visits read from the app's SQLite patient store (schema: src/main/services/db/migrations.ts).

There is one ingestion path: the app's importer fills the database (`npm run setup` builds
resources/demo.sqlite from the MIMIC-IV and eICU demos) and training reads that database, so the
model sees exactly the codes the app will later feed it.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CodeKey = tuple[str, str]  # (code system, code); ICD-9 and ICD-10 may share a string, so the system is part of the key
MEDICATION_SYSTEM = "ATC"
REQUIRED_TABLES = ("patients", "visits", "diagnoses", "procedures", "medications", "code_titles", "atc_names")


class DatasetError(ValueError):
    """The database cannot be used for training; the message says which file and what is wrong."""


@dataclass(frozen=True)
class Visit:
    visit_id: int
    sort_key: str
    diagnoses: tuple[CodeKey, ...]  # in the source's priority order (seq), without repeats
    procedures: tuple[CodeKey, ...]
    medications: tuple[str, ...]  # ATC level-3 classes (4 characters), sorted, without repeats


@dataclass(frozen=True)
class PatientRecord:
    patient_id: int
    source: str
    source_patient_id: str
    visits: tuple[Visit, ...]  # in sort_key order


@dataclass(frozen=True)
class MedicationCoverage:
    """How medication rows map to ATC3 classes, and to classes with known molecular structures."""

    rows: int
    rows_with_atc3: int
    rows_with_known_structure: int | None  # None: the structure file was not found
    distinct_atc3: int
    distinct_atc3_with_structure: int | None
    structures_file: str | None

    def share_with_atc3(self) -> float:
        return self.rows_with_atc3 / self.rows if self.rows else 0.0

    def share_with_structure(self) -> float | None:
        if self.rows_with_known_structure is None:
            return None
        return self.rows_with_known_structure / self.rows if self.rows else 0.0

    def describe(self) -> str:
        text = (
            f"{self.rows} medication rows; {self.rows_with_atc3} ({100 * self.share_with_atc3():.1f}%) map to an ATC3 class "
            f"({self.distinct_atc3} classes)"
        )
        share = self.share_with_structure()
        if share is not None:
            text += (
                f"; {self.rows_with_known_structure} ({100 * share:.1f}%) map to one of the "
                f"{self.distinct_atc3_with_structure} used classes with known structures "
                f"({'/'.join(Path(self.structures_file).parts[-3:])})"
            )
        return text


@dataclass
class Cohort:
    database: Path
    patients: list[PatientRecord]
    diagnosis_titles: dict[CodeKey, str] = field(default_factory=dict)
    procedure_titles: dict[CodeKey, str] = field(default_factory=dict)
    atc_names: dict[str, str] = field(default_factory=dict)
    coverage: MedicationCoverage | None = None

    def source_counts(self) -> dict[str, int]:
        return dict(Counter(p.source for p in self.patients))

    def describe(self) -> str:
        visits = sum(len(p.visits) for p in self.patients)
        with_target = sum(1 for p in self.patients for v in p.visits if v.medications)
        multi = sum(1 for p in self.patients if len(p.visits) >= 2)
        sources = ", ".join(f"{name} {count}" for name, count in sorted(self.source_counts().items()))
        return (
            f"{len(self.patients)} patients ({sources}), {multi} with 2+ visits; {visits} visits, "
            f"{with_target} with at least one ATC3 medication"
        )


def _connect_read_only(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise DatasetError(
            f"Patient database {path} does not exist. Build the demo database with `npm run setup`, "
            "or point MEDREC_DB / --database at an imported database."
        )
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise DatasetError(f"{path} is not a readable SQLite database: {error}.") from error
    return connection


def _check_schema(connection: sqlite3.Connection, path: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if version < 1 or missing:
        raise DatasetError(
            f"{path} is not a MedRec patient database (schema version {version}; missing tables: "
            f"{', '.join(missing) or 'none'}). Open it once with the app or `npm run setup` to create the schema."
        )


def load_atc3_structures(path: Path | None) -> set[str] | None:
    """ATC3 classes that have at least one SMILES in knowledge/molecules/atc3_smiles.json (None if absent)."""
    if path is None or not path.exists():
        return None
    with path.open(encoding="utf-8") as handle:
        table = json.load(handle)
    if not isinstance(table, dict):
        raise DatasetError(f"{path}: expected a JSON object mapping ATC3 codes to SMILES lists.")
    return {code for code, smiles in table.items() if smiles}


def load_cohort(database: Path | str, structures_file: Path | None = None) -> Cohort:
    """Every patient of the database with its visits in sort_key order.

    All visits are kept (also those without medications: they are history for later visits), and so
    are single-visit patients (their history is empty).
    """
    path = Path(database).resolve()
    connection = _connect_read_only(path)
    try:
        _check_schema(connection, path)
        return _read_cohort(connection, path, structures_file)
    finally:
        connection.close()


def _read_cohort(connection: sqlite3.Connection, path: Path, structures_file: Path | None) -> Cohort:
    diagnoses: dict[int, list[CodeKey]] = {}
    for visit_id, system, code in connection.execute(
        "SELECT visit_id, code_system, code FROM diagnoses ORDER BY visit_id, seq, code"
    ):
        diagnoses.setdefault(visit_id, []).append((system, code))
    procedures: dict[int, list[CodeKey]] = {}
    for visit_id, system, code in connection.execute(
        "SELECT visit_id, code_system, code FROM procedures ORDER BY visit_id, seq, code"
    ):
        procedures.setdefault(visit_id, []).append((system, code))

    structures = load_atc3_structures(structures_file)
    medications: dict[int, set[str]] = {}
    rows = rows_with_atc3 = rows_with_structure = 0
    used_classes: set[str] = set()
    # atc3 is what the importer mapped; fall back to the ATC5 prefix for rows that only carry atc5.
    for visit_id, atc3 in connection.execute(
        "SELECT visit_id, COALESCE(NULLIF(atc3, ''), substr(NULLIF(atc5, ''), 1, 4)) FROM medications"
    ):
        rows += 1
        if not atc3 or len(atc3) != 4:
            continue
        atc3 = atc3.upper()
        rows_with_atc3 += 1
        used_classes.add(atc3)
        if structures is not None and atc3 in structures:
            rows_with_structure += 1
        medications.setdefault(visit_id, set()).add(atc3)

    visits_by_patient: dict[int, list[Visit]] = {}
    for visit_id, patient_id, sort_key in connection.execute(
        "SELECT id, patient_id, sort_key FROM visits ORDER BY patient_id, sort_key, id"
    ):
        visits_by_patient.setdefault(patient_id, []).append(
            Visit(
                visit_id=visit_id,
                sort_key=sort_key,
                diagnoses=tuple(dict.fromkeys(diagnoses.get(visit_id, []))),
                procedures=tuple(dict.fromkeys(procedures.get(visit_id, []))),
                medications=tuple(sorted(medications.get(visit_id, set()))),
            )
        )
    patients = [
        PatientRecord(patient_id, source, source_patient_id, tuple(visits_by_patient[patient_id]))
        for patient_id, source, source_patient_id in connection.execute(
            "SELECT id, source, source_patient_id FROM patients ORDER BY id"
        )
        if patient_id in visits_by_patient
    ]

    titles: dict[str, dict[CodeKey, str]] = {"diagnosis": {}, "procedure": {}}
    for kind, system, code, title in connection.execute("SELECT kind, code_system, code, title FROM code_titles"):
        titles[kind][(system, code)] = title
    atc_names = dict(connection.execute("SELECT code, name FROM atc_names").fetchall())

    coverage = MedicationCoverage(
        rows=rows,
        rows_with_atc3=rows_with_atc3,
        rows_with_known_structure=rows_with_structure if structures is not None else None,
        distinct_atc3=len(used_classes),
        distinct_atc3_with_structure=len(used_classes & structures) if structures is not None else None,
        structures_file=str(structures_file) if structures is not None else None,
    )
    return Cohort(path, patients, titles["diagnosis"], titles["procedure"], atc_names, coverage)
