"""Small patient databases with the app's schema, filled with synthetic records that carry a learnable signal.

Each diagnosis implies a few ATC3 classes, so a model that reads diagnoses beats the frequency baseline.
"""

from __future__ import annotations

import random
from pathlib import Path

from medrec_training.app_schema import create_app_database

DIAGNOSES = [("ICD-10-CM", f"I{n:02d}") for n in range(10, 30)] + [("ICD-9-CM", f"4{n:02d}") for n in range(10)]
PROCEDURES = [("ICD-10-PCS", f"0{n}HT") for n in range(8)] + [("other", f"treatment|step {n}") for n in range(4)]
ATC3 = ["A02B", "B01A", "C07A", "C09A", "C10A", "N02B", "N05B", "J01C", "J01D", "H02A", "A10A", "R03A"]
STRUCTURES = {code: ["CCO"] for code in ATC3[:8]}  # classes with a known molecule (for the coverage report)


def drugs_for(diagnosis: tuple[str, str]) -> list[str]:
    position = DIAGNOSES.index(diagnosis)
    return [ATC3[position % len(ATC3)], ATC3[(position * 7 + 3) % len(ATC3)]]


def write_database(
    path: Path,
    patients: int = 40,
    seed: int = 7,
    unmapped_share: float = 0.1,
    max_visits: int = 4,
) -> Path:
    """A database of `patients` synthetic patients (MIMIC-IV and eICU sources alternate)."""
    rng = random.Random(seed)
    connection = create_app_database(path)
    with connection:
        for patient_number in range(patients):
            source = "mimic-iv" if patient_number % 2 == 0 else "eicu"
            patient_id = connection.execute(
                "INSERT INTO patients (source, source_patient_id, sex) VALUES (?, ?, ?)",
                (source, f"P{patient_number:04d}", rng.choice("FM")),
            ).lastrowid
            for visit_number in range(rng.randint(1, max_visits)):
                sort_key = f"2150-{visit_number + 1:02d}-01T00:00:00"
                visit_id = connection.execute(
                    "INSERT INTO visits (patient_id, source, source_visit_id, sort_key, order_label) VALUES (?, ?, ?, ?, ?)",
                    (patient_id, source, f"{patient_number}-{visit_number}", sort_key, f"visit {visit_number + 1}"),
                ).lastrowid
                diagnoses = rng.sample(DIAGNOSES, rng.randint(1, 4))
                for seq, (system, code) in enumerate(diagnoses):
                    connection.execute(
                        "INSERT INTO diagnoses (visit_id, seq, code_system, code) VALUES (?, ?, ?, ?)", (visit_id, seq, system, code)
                    )
                for seq, (system, code) in enumerate(rng.sample(PROCEDURES, rng.randint(0, 2))):
                    connection.execute(
                        "INSERT INTO procedures (visit_id, seq, code_system, code) VALUES (?, ?, ?, ?)", (visit_id, seq, system, code)
                    )
                drugs = {drug for diagnosis in diagnoses for drug in drugs_for(diagnosis)}
                for drug in sorted(drugs):
                    connection.execute(
                        "INSERT INTO medications (visit_id, raw_name, atc5, atc3, mapping_method) VALUES (?, ?, ?, ?, 'name')",
                        (visit_id, f"drug of {drug}", f"{drug}01", drug),
                    )
                if rng.random() < unmapped_share:
                    connection.execute(
                        "INSERT INTO medications (visit_id, raw_name, mapping_method) VALUES (?, 'house mixture', 'unmapped')",
                        (visit_id,),
                    )
        for system, code in DIAGNOSES:
            connection.execute(
                "INSERT INTO code_titles (kind, code_system, code, title) VALUES ('diagnosis', ?, ?, ?)",
                (system, code, f"Condition {code}"),
            )
        for code in ATC3:
            connection.execute("INSERT INTO atc_names (code, name) VALUES (?, ?)", (code, f"Class {code}"))
    connection.close()
    return path
