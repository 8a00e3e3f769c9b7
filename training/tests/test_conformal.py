"""Conformal miss-rate threshold on synthetic data with known answers (twin of tests/unit/evaluate-conformal.test.ts)."""

import numpy as np
import pytest

from medrec_training.conformal import miss_rate_threshold


def ladder():
    truth = np.zeros((99, 3))
    truth[:, 0] = 1
    scores = np.zeros((99, 3))
    scores[:, 0] = np.arange(1, 100) / 100
    return truth, scores, list(range(99))


def test_known_threshold_on_a_ladder_of_scores():
    truth, scores, units = ladder()
    result = miss_rate_threshold(truth, scores, units, 0.1)
    assert result.threshold == pytest.approx(0.10)
    assert result.calibration_miss_rate == pytest.approx(9 / 99)
    assert miss_rate_threshold(truth, scores, units, 0.2).threshold == pytest.approx(0.20)
    assert miss_rate_threshold(truth, scores, units, 0.005).threshold == 0.0


def test_a_patient_is_one_unit():
    truth = np.array([[1], [1], [1], [0]])
    scores = np.array([[0.4], [0.9], [0.8], [0.99]])
    result = miss_rate_threshold(truth, scores, [0, 0, 1, 2], 0.5)
    assert result.units == 2
    assert result.threshold == 0.8
    assert result.calibration_miss_rate == pytest.approx(0.25)


def test_expected_miss_rate_of_new_patients_is_at_most_alpha():
    rng = np.random.default_rng(3)

    def simulate(patients):
        truth = (rng.random((patients, 8)) < 0.3).astype(float)
        scores = np.clip(np.where(truth > 0, 0.6, 0.3) + 0.25 * (rng.random((patients, 8, 3)).sum(axis=2) - 1.5), 0, 1)
        return truth, scores

    for alpha in (0.05, 0.1, 0.2):
        rates = []
        for _ in range(200):
            truth, scores = simulate(60)
            threshold = miss_rate_threshold(truth, scores, list(range(60)), alpha).threshold
            test_truth, test_scores = simulate(200)
            keep = test_truth.sum(axis=1) > 0
            missed = ((test_scores < threshold) & (test_truth > 0)).sum(axis=1)[keep] / test_truth.sum(axis=1)[keep]
            rates.append(missed.mean())
        assert np.mean(rates) <= alpha + 0.005
        assert np.mean(rates) > alpha - 0.03


def test_rejects_bad_alpha_and_empty_calibration():
    truth, scores, units = ladder()
    with pytest.raises(ValueError, match="alpha"):
        miss_rate_threshold(truth, scores, units, 1.0)
    with pytest.raises(ValueError, match="prescribed"):
        miss_rate_threshold(np.zeros((2, 3)), np.ones((2, 3)), [0, 1], 0.1)
