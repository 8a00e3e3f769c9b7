"""Metrics against hand-computed cases (the numbers in comments are worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from medrec_training.metrics import (
    average_precision,
    confidence_interval,
    ddi_rate,
    evaluate,
    expected_calibration_error,
    ground_truth_statistics,
    mean_jaccard,
    set_scores,
)

# Three visits over four drugs: visits A and B belong to patient 1, visit C to patient 2.
TRUTH = np.array(
    [
        [1, 1, 1, 0],  # A
        [0, 0, 0, 1],  # B
        [1, 0, 0, 0],  # C
    ],
    dtype=np.float32,
)
PROBABILITIES = np.array(
    [
        [0.9, 0.6, 0.2, 0.7],  # A: predicts {0, 1, 3}
        [0.1, 0.2, 0.3, 0.8],  # B: predicts {3}
        [0.4, 0.1, 0.1, 0.1],  # C: predicts nothing
    ]
)
PATIENTS = np.array([1, 1, 2])
# Drug 0 interacts with 3, and 1 with 0 (given in one direction only: either direction counts).
DDI = np.zeros((4, 4))
DDI[0, 3] = DDI[3, 0] = 1
DDI[1, 0] = 1


def test_set_scores_of_one_visit():
    scores = set_scores(TRUTH[0] > 0, PROBABILITIES[0] >= 0.5)
    # |{0,1}| / |{0,1,2,3}| ; precision 2/3, recall 2/3
    assert scores["jaccard"] == pytest.approx(0.5)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)


def test_empty_prediction_scores_zero_not_nan():
    scores = set_scores(TRUTH[2] > 0, PROBABILITIES[2] >= 0.5)
    assert scores == {"jaccard": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_average_precision_by_hand():
    # ranked: 0.9 (hit) 0.7 (miss) 0.6 (hit) 0.2 (hit): (1/1 + 2/3 + 3/4) / 3 = 29/36
    assert average_precision(TRUTH[0], PROBABILITIES[0]) == pytest.approx(29 / 36)
    # ties form one threshold: {0.5, 0.5} holds one of two positives -> P 1/2 at R 1/2, then P 2/3 at R 1
    assert average_precision(np.array([1, 0, 1]), np.array([0.5, 0.5, 0.2])) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert average_precision(np.zeros(3), np.array([0.1, 0.2, 0.3])) == 0.0


def test_average_precision_matches_sklearn_on_random_rows():
    rng = np.random.default_rng(3)
    for _ in range(50):
        truth = rng.random(30) < 0.2
        truth[rng.integers(30)] = True
        scores = np.round(rng.random(30), 1)  # rounding makes ties common
        assert average_precision(truth, scores) == pytest.approx(average_precision_score(truth, scores))


def test_ddi_rate_counts_pairs_of_predicted_drugs_pooled_over_visits():
    predicted = PROBABILITIES >= 0.5
    # A predicts {0,1,3}: pairs (0,1) yes, (0,3) yes, (1,3) no; B and C have no pair -> 2 / 3
    assert ddi_rate(predicted, DDI) == pytest.approx(2 / 3)
    assert ddi_rate(np.zeros((2, 4), bool), DDI) == 0.0
    with pytest.raises(ValueError, match="3x3 but there are 4 medications"):
        ddi_rate(predicted, np.zeros((3, 3)))


def test_expected_calibration_error_by_hand():
    # bins: 0.1 x4 (all negative) .1 each; 0.2 x2 (one positive) |.5-.2|; 0.3 neg .3; 0.4 pos .6;
    # 0.6 pos .4; 0.7 neg .7; 0.8 pos .2; 0.9 pos .1  -> (4*.1 + 2*.3 + .3 + .6 + .4 + .7 + .2 + .1) / 12
    assert expected_calibration_error(TRUTH, PROBABILITIES) == pytest.approx(3.3 / 12)
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0


def test_evaluate_averages_per_patient_then_over_patients():
    result = evaluate(TRUTH, PROBABILITIES, PATIENTS, 0.5, {"toy": DDI})
    # patient 1: Jaccard (0.5 + 1) / 2 = 0.75; patient 2: 0  -> 0.375 (a per-visit mean would give 0.5)
    assert result["jaccard"] == pytest.approx(0.375)
    assert result["f1"] == pytest.approx((5 / 6 + 0) / 2)
    assert result["prauc"] == pytest.approx(((29 / 36 + 1) / 2 + 1) / 2)
    assert result["meds"] == pytest.approx(4 / 3)  # pooled: (3 + 1 + 0) / 3 visits
    assert result["ddi_toy"] == pytest.approx(2 / 3)
    assert result["ece"] == pytest.approx(3.3 / 12)
    assert result["visits"] == 3 and result["patients"] == 2
    assert mean_jaccard(TRUTH, PROBABILITIES, PATIENTS, 0.5) == pytest.approx(result["jaccard"])


def test_threshold_changes_the_predicted_sets():
    low = evaluate(TRUTH, PROBABILITIES, PATIENTS, 0.35)
    # C now predicts {0} (J 1); A predicts {0,1,3} (0.5); B {3} (1): patient 1 0.75, patient 2 1
    assert low["jaccard"] == pytest.approx(0.875)


def test_ground_truth_statistics():
    stats = ground_truth_statistics(TRUTH, {"toy": DDI})
    assert stats["meds"] == pytest.approx(5 / 3)
    # only A has pairs: (0,1) yes, (0,2) no, (1,2) no -> 1/3
    assert stats["ddi_toy"] == pytest.approx(1 / 3)


def test_confidence_interval_is_a_t_interval():
    interval = confidence_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd 1 / sqrt(3)
    assert interval.mean == pytest.approx(2.0)
    assert (interval.low, interval.high) == pytest.approx((2 - half, 2 + half))
    assert interval.format(2) == f"2.00 ± {half:.2f}"
    single = confidence_interval([0.4])
    assert single.mean == 0.4 and math.isnan(single.low) and single.to_json()["ci95"] is None
