"""Reading the app's patient database, and clear errors for databases that cannot be used."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from medrec_training.app_schema import create_app_database
from medrec_training.datasets import DatasetError, load_cohort
from medrec_training.harness import prepare_data
from synthetic import write_database


def add_patient(connection: sqlite3.Connection, name: str, visits: list[dict]) -> int:
    """Insert one patient; each visit dict has sort_key and optional diagnoses, procedures, atc3 lists."""
    patient_id = connection.execute(
        "INSERT INTO patients (source, source_patient_id) VALUES ('mimic-iv', ?)", (name,)
    ).lastrowid
    for number, visit in enumerate(visits):
        visit_id = connection.execute(
            "INSERT INTO visits (patient_id, source, source_visit_id, sort_key, order_label) VALUES (?, 'mimic-iv', ?, ?, 'x')",
            (patient_id, f"{name}-{number}", visit["sort_key"]),
        ).lastrowid
        for seq, code in enumerate(visit.get("diagnoses", [])):
            connection.execute("INSERT INTO diagnoses VALUES (?, ?, 'ICD-10-CM', ?)", (visit_id, seq, code))
        for seq, code in enumerate(visit.get("procedures", [])):
            connection.execute("INSERT INTO procedures VALUES (?, ?, 'ICD-10-PCS', ?)", (visit_id, seq, code))
        for atc3 in visit.get("atc3", []):
            connection.execute(
                "INSERT INTO medications (visit_id, raw_name, atc3, mapping_method) VALUES (?, 'x', ?, 'name')",
                (visit_id, atc3),
            )
        for _ in range(visit.get("unmapped", 0)):
            connection.execute("INSERT INTO medications (visit_id, raw_name, mapping_method) VALUES (?, 'y', 'unmapped')", (visit_id,))
    return patient_id


def test_visits_in_sort_key_order_with_code_sets(tmp_path: Path):
    connection = create_app_database(tmp_path / "db.sqlite")
    with connection:
        add_patient(
            connection,
            "p1",
            [
                {"sort_key": "2150-03-01", "diagnoses": ["I10", "E11"], "atc3": ["N02B", "C07A", "N02B"]},
                {"sort_key": "2150-01-01", "procedures": ["0DTJ4ZZ"], "atc3": ["A02B"], "unmapped": 2},
            ],
        )
        connection.execute("INSERT INTO atc_names VALUES ('N02B', 'Other analgesics and antipyretics')")
    connection.close()
    cohort = load_cohort(tmp_path / "db.sqlite")
    (patient,) = cohort.patients
    assert [v.sort_key for v in patient.visits] == ["2150-01-01", "2150-03-01"]
    first, second = patient.visits
    assert first.procedures == (("ICD-10-PCS", "0DTJ4ZZ"),) and first.medications == ("A02B",)
    assert second.diagnoses == (("ICD-10-CM", "I10"), ("ICD-10-CM", "E11"))  # seq order, not alphabetical
    assert second.medications == ("C07A", "N02B")  # a class given twice counts once
    assert cohort.atc_names == {"N02B": "Other analgesics and antipyretics"}
    coverage = cohort.coverage
    assert (coverage.rows, coverage.rows_with_atc3, coverage.distinct_atc3) == (6, 4, 3)
    assert coverage.share_with_atc3() == pytest.approx(4 / 6)
    assert coverage.share_with_structure() is None  # no structure file given


def test_coverage_of_classes_with_known_structures(synthetic_database: Path, structures_file: Path):
    cohort = load_cohort(synthetic_database, structures_file)
    coverage = cohort.coverage
    assert coverage.rows > coverage.rows_with_atc3 > coverage.rows_with_known_structure > 0
    assert coverage.distinct_atc3_with_structure == 8
    assert "known structures" in coverage.describe()
    assert {p.source for p in cohort.patients} == {"mimic-iv", "eicu"}


def test_missing_database_names_the_file_and_the_fix(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"missing\.sqlite does not exist.*npm run setup"):
        load_cohort(tmp_path / "missing.sqlite")


def test_not_a_database(tmp_path: Path):
    path = tmp_path / "notes.sqlite"
    path.write_text("this is not SQLite\n" * 200)
    with pytest.raises(DatasetError, match="not a readable SQLite database"):
        load_cohort(path)


def test_database_without_the_app_schema(tmp_path: Path):
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE things (id INTEGER)").connection.close()
    with pytest.raises(DatasetError, match=r"not a MedRec patient database.*missing tables: patients"):
        load_cohort(path)


def test_empty_database_is_refused_with_a_clear_message(tmp_path: Path):
    create_app_database(tmp_path / "empty.sqlite").close()
    assert load_cohort(tmp_path / "empty.sqlite").patients == []
    with pytest.raises(DatasetError, match="has no patients with visits"):
        prepare_data(tmp_path / "empty.sqlite")


def test_tiny_database_is_refused_naming_the_counts(tmp_path: Path):
    write_database(tmp_path / "tiny.sqlite", patients=4)
    with pytest.raises(DatasetError, match=r"4 patient\(s\) have a visit with a mapped medication; 5-fold cross-validation needs at least 10"):
        prepare_data(tmp_path / "tiny.sqlite", folds=5)


def test_database_without_any_mapped_medication(tmp_path: Path):
    connection = create_app_database(tmp_path / "unmapped.sqlite")
    with connection:
        for number in range(12):
            add_patient(connection, f"p{number}", [{"sort_key": "2150", "diagnoses": ["I10"], "unmapped": 3}])
    connection.close()
    with pytest.raises(DatasetError, match=r"no medication row maps to an ATC level-3 class.*36 medication rows; 0 \(0\.0%\)"):
        prepare_data(tmp_path / "unmapped.sqlite", folds=5)


def test_patient_without_mapped_drugs_is_history_only(tmp_path: Path):
    connection = create_app_database(tmp_path / "db.sqlite")
    with connection:
        for number in range(10):
            add_patient(connection, f"p{number}", [{"sort_key": "1", "diagnoses": ["I10"], "atc3": ["N02B"]}])
        lonely = add_patient(connection, "no-drugs", [{"sort_key": "1", "diagnoses": ["I10"], "unmapped": 2}])
        mixed = add_patient(
            connection,
            "mixed",
            [{"sort_key": "1", "diagnoses": ["E11"], "unmapped": 1}, {"sort_key": "2", "diagnoses": ["I10"], "atc3": ["C07A"]}],
        )
    connection.close()
    data = prepare_data(tmp_path / "db.sqlite", folds=5)
    assert lonely not in data.samples.patient_ids  # nothing to evaluate for that patient, and no crash
    rows = data.samples.patient_ids == mixed
    assert rows.sum() == 1  # only the visit with a target is a sample ...
    assert data.samples.visit_mask[rows].sum() == 2  # ... and the drug-less visit is its history
    assert data.samples.history_lengths[rows][0] == 1
