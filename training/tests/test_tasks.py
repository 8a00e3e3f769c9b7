"""Encoding visits into the manifest's padded tensors."""

from __future__ import annotations

import numpy as np
import pytest

from medrec_training.datasets import Cohort, PatientRecord, Visit
from medrec_training.tasks import PAD_INDEX, UNKNOWN_INDEX
from medrec_training.tasks import Limits, build_samples, build_vocabularies, encode_history

DX = "ICD-10-CM"


def visit(number: int, diagnoses=(), procedures=(), medications=()) -> Visit:
    return Visit(
        visit_id=number,
        sort_key=f"{number:04d}",
        diagnoses=tuple((DX, code) for code in diagnoses),
        procedures=tuple(("ICD-10-PCS", code) for code in procedures),
        medications=tuple(sorted(medications)),
    )


@pytest.fixture()
def cohort() -> Cohort:
    patients = [
        PatientRecord(1, "mimic-iv", "a", (visit(1, ["I10", "E11"], ["P1"], ["N02B"]), visit(2, ["I10"], ["P1"], ["C07A", "N02B"]))),
        PatientRecord(2, "eicu", "b", (visit(3, ["I10", "RARE"], [], ["N02B"]),)),
        PatientRecord(3, "eicu", "c", (visit(4, ["E11"], ["P1"], []), visit(5, ["E11"], [], ["A02B"]))),
    ]
    return Cohort(database=None, patients=patients, diagnosis_titles={(DX, "I10"): "Hypertension"}, atc_names={"N02B": "Analgesics"})  # type: ignore[arg-type]


def test_vocabularies_keep_frequent_codes_in_frequency_order(cohort: Cohort):
    vocabularies = build_vocabularies(cohort, min_code_visits=2)
    assert [e.code for e in vocabularies.diagnosis.entries] == ["E11", "I10"]  # 3 visits each: ties by code
    assert vocabularies.diagnosis.entries[1].title == "Hypertension"
    assert vocabularies.diagnosis.index((DX, "E11")) == 2  # entry i <-> index i + 2
    assert vocabularies.diagnosis.index((DX, "RARE")) == UNKNOWN_INDEX  # seen once: 'unknown'
    assert vocabularies.medication.codes() == ["N02B", "A02B", "C07A"]  # every class, most frequent first
    assert vocabularies.medication.column("A02B") == 1  # output columns have no offset
    manifest = vocabularies.medication.to_manifest()
    assert manifest["entries"][0] == {"system": "ATC", "code": "N02B", "title": "Analgesics"}


def test_samples_are_visits_with_a_target_and_hide_the_current_medications(cohort: Cohort):
    vocabularies = build_vocabularies(cohort)
    limits = Limits(max_visits=3, max_diagnoses=2, max_procedures=1, max_medications=3)
    samples = build_samples(cohort.patients, vocabularies, limits)
    assert len(samples) == 4  # patient 3's first visit has no medication: history only
    assert samples.patient_ids.tolist() == [1, 1, 2, 3]
    assert samples.history_lengths.tolist() == [0, 1, 0, 1]
    second = 1  # patient 1, visit 2: history = visit 1
    assert samples.visit_mask[second].tolist() == [1, 1, 0]
    n02b, c07a = 2 + vocabularies.medication.column("N02B"), 2 + vocabularies.medication.column("C07A")
    assert samples.medications[second, 0].tolist() == [n02b, PAD_INDEX, PAD_INDEX]  # last visit's drugs
    assert (samples.medications[second, 1] == PAD_INDEX).all()  # the current visit's drugs are never an input
    assert samples.targets[second, vocabularies.medication.column("C07A")] == 1
    assert samples.targets[second].sum() == 2
    assert c07a not in samples.medications[second]
    assert samples.patient_visit_counts.tolist() == [2, 2, 1, 2]
    assert samples.unknown.diagnoses == 1  # RARE
    assert samples.diagnoses.dtype == np.int64 and samples.visit_mask.dtype == np.float32


def test_unknown_codes_at_inference_are_index_1_and_counted(cohort: Cohort):
    vocabularies = build_vocabularies(cohort)
    limits = Limits(max_visits=2, max_diagnoses=3, max_procedures=2, max_medications=2)
    history = [visit(1, ["NEW1"], ["NEWP"], ["Z99Z", "N02B"]), visit(2, ["I10", "NEW2"], [], [])]
    diagnoses, procedures, medications, visit_mask, unknown = encode_history(history, vocabularies, limits)
    assert diagnoses[0].tolist() == [UNKNOWN_INDEX, PAD_INDEX, PAD_INDEX]
    assert diagnoses[1].tolist() == [vocabularies.diagnosis.index((DX, "I10")), UNKNOWN_INDEX, PAD_INDEX]
    assert medications[0].tolist() == [vocabularies.medication.index(("ATC", "N02B")), UNKNOWN_INDEX]
    assert (unknown.diagnoses, unknown.procedures, unknown.medications, unknown.total()) == (2, 1, 1, 4)


def test_long_histories_keep_the_most_recent_visits_and_truncate_code_lists(cohort: Cohort):
    vocabularies = build_vocabularies(cohort, min_code_visits=1)
    limits = Limits(max_visits=2, max_diagnoses=1, max_procedures=1, max_medications=1)
    history = [visit(1, ["RARE"]), visit(2, ["E11", "I10"]), visit(3, ["I10"])]
    diagnoses, _, _, visit_mask, _ = encode_history(history, vocabularies, limits)
    assert visit_mask.tolist() == [1, 1]
    assert diagnoses[:, 0].tolist() == [vocabularies.diagnosis.index((DX, "E11")), vocabularies.diagnosis.index((DX, "I10"))]
    with pytest.raises(ValueError, match="at least the current visit"):
        encode_history([], vocabularies, limits)


def test_limits_are_fitted_to_the_data_and_capped(cohort: Cohort):
    limits = Limits.fit(cohort, visits_cap=8, codes_cap=1)
    assert limits == Limits(max_visits=2, max_diagnoses=1, max_procedures=1, max_medications=1)
    assert Limits.fit(cohort).to_manifest() == {"maxVisits": 2, "maxDiagnoses": 2, "maxProcedures": 1, "maxMedications": 2}
