"""The benchmark's new per-fold figures on inputs with known answers: personalisation, achieved miss rate, the
literature cohort's visits and the DDI-matrix containment note."""

from __future__ import annotations

import numpy as np
import pytest

from medrec_training.benchmark import ddi_containment
from medrec_training.datasets import PatientRecord, Visit
from medrec_training.harness import literature_cohort_rows
from medrec_training.metrics import patient_miss_rate, personalisation


def test_a_population_answer_has_one_distinct_set_and_between_patient_jaccard_one():
    same = np.tile(np.array([[1, 0, 1, 0]], dtype=bool), (6, 1))
    result = personalisation(same, np.array([1, 1, 2, 3, 4, 5]))
    assert result == {"distinctSets": 1.0, "visits": 6.0, "betweenPatientJaccard": 1.0}


def test_between_patient_jaccard_ignores_pairs_of_one_patient():
    predicted = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)
    # visits 0 and 1 belong to patient 7 (not compared); 0-2 and 1-2 each have Jaccard 1/3
    result = personalisation(predicted, np.array([7, 7, 8]))
    assert result["distinctSets"] == 2 and result["betweenPatientJaccard"] == pytest.approx(1 / 3)


def test_miss_rate_is_averaged_per_patient_then_over_patients():
    truth = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
    predicted = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    # patient 1: visits miss 1/2 and 0 -> 0.25; patient 2: misses 2/2 -> 1; the visit without a prescription is left out
    assert patient_miss_rate(truth, predicted, np.array([1, 1, 2, 2])) == pytest.approx((0.25 + 1.0) / 2)


def visit(number: int, dx: bool, px: bool, meds: tuple[str, ...]) -> Visit:
    return Visit(number, f"{number:03d}", (("ICD-10-CM", "I10"),) if dx else (), (("ICD-10-PCS", "0"),) if px else (), meds)


def test_literature_cohort_keeps_complete_visits_of_patients_with_two_of_them():
    patients = [
        PatientRecord(1, "mimic-iv", "1", (visit(1, True, True, ("A02B",)), visit(2, True, False, ("A02B",)), visit(3, True, True, ("B01A",)))),
        PatientRecord(2, "eicu", "2", (visit(4, True, True, ("A02B",)), visit(5, False, True, ("A02B",)))),  # one complete visit only
    ]
    has_target = [[True, True, True], [True, True]]
    assert literature_cohort_rows(patients, has_target).tolist() == [True, False, True, False, False]


def test_containment_note_counts_pairs_inside_the_larger_matrix():
    small = np.zeros((4, 4))
    small[0, 1] = small[1, 0] = 1
    large = small.copy()
    large[2, 3] = 1
    assert "all 1 pairs of `twosides-atc3`" in ddi_containment({"twosides-atc3": small, "twosides-top40": large})
    outside = small.copy()
    outside[0, 3] = 1
    assert "1 of the 2 pairs" in ddi_containment({"twosides-atc3": outside, "twosides-top40": large})
