"""Calibration on synthetic data with known answers (twin of tests/unit/calibration.test.ts)."""

import json

import numpy as np
import pytest

from medrec_training.calibration import (
    ECE_GOAL,
    JACCARD_TOLERANCE,
    Calibration,
    choose_calibration,
    preferred_method,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    logit,
    parity_fixture,
    sigmoid,
)
from medrec_training.metrics import expected_calibration_error
from medrec_training.paths import project_root


def overconfident(rng, visits=20000, medications=3, factor=2.0):
    """True probability sigmoid(z); the model reports sigmoid(factor * z): temperature `factor` undoes it."""
    z = rng.normal(-1.0, 1.5, size=(visits, medications))
    truth = (rng.random(z.shape) < sigmoid(z)).astype(float)
    return truth, sigmoid(factor * z)


def test_temperature_recovers_the_overconfidence_factor():
    truth, reported = overconfident(np.random.default_rng(0))
    calibration = fit_temperature(truth, reported)
    assert calibration.temperature == pytest.approx(2.0, rel=0.05)


def test_platt_recovers_each_drugs_slope_and_intercept():
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 1.5, size=(40000, 2))
    slopes, intercepts = np.array([0.5, 1.5]), np.array([-1.0, 0.5])
    truth = (rng.random(z.shape) < sigmoid(z * slopes + intercepts)).astype(float)
    calibration = fit_platt(truth, sigmoid(z))
    np.testing.assert_allclose(calibration.slope, slopes, atol=0.06)
    np.testing.assert_allclose(calibration.intercept, intercepts, atol=0.06)


def test_platt_keeps_a_never_prescribed_drug_finite():
    truth = np.zeros((50, 1))
    calibration = fit_platt(truth, np.linspace(0.01, 0.9, 50)[:, None])
    out = calibration.apply(np.array([[0.5], [0.99]]))
    assert np.all(np.isfinite(out)) and np.all(out < 0.1)


def test_isotonic_is_pool_adjacent_violators():
    # scores 0.1..0.4 with outcomes 0, 1, 0, 1: the violating middle pair pools to 0.5
    calibration = fit_isotonic(np.array([[0], [1], [0], [1]]), np.array([[0.1], [0.2], [0.3], [0.4]]))
    np.testing.assert_allclose(calibration.apply(np.array([[0.1], [0.2], [0.3], [0.4]]))[:, 0], [0.0, 0.5, 0.5, 1.0])
    # clipped outside the fitted range, linear between knots
    np.testing.assert_allclose(calibration.apply(np.array([[0.0], [0.9], [0.35]]))[:, 0], [0.0, 1.0, 0.75])


def test_choice_follows_the_rule_on_its_cross_fitted_scores_and_lowers_ece_on_new_patients():
    rng = np.random.default_rng(2)
    truth, reported = overconfident(rng, visits=6000)
    patients = np.repeat(np.arange(3000), 2)
    choice = choose_calibration(truth, reported, patients, seed=0)
    assert set(choice.cross_fitted_ece) == set(choice.cross_fitted_jaccard) == {"temperature", "platt", "isotonic"}
    assert choice.calibration.method == preferred_method(choice.cross_fitted_ece, choice.cross_fitted_jaccard, choice.uncalibrated_jaccard)
    fresh_truth, fresh = overconfident(rng, visits=6000)
    before = expected_calibration_error(fresh_truth, fresh)
    after = expected_calibration_error(fresh_truth, choice.calibration.apply(fresh))
    assert before > 0.05 and after < 0.02


def test_the_lowest_ece_that_keeps_the_jaccard_wins_and_the_lowest_ece_when_none_does():
    raw_jaccard = 0.38
    keeps, loses = raw_jaccard - JACCARD_TOLERANCE / 2, raw_jaccard - 3 * JACCARD_TOLERANCE
    # Platt has the lowest ECE but costs Jaccard; temperature meets the goal and keeps it: temperature.
    ece = {"temperature": ECE_GOAL * 0.8, "platt": 0.006, "isotonic": 0.013}
    assert preferred_method(ece, {"temperature": keeps, "platt": loses, "isotonic": loses}, raw_jaccard) == "temperature"
    # Two keep it: the lower ECE of the two.
    assert preferred_method(ece, {"temperature": keeps, "platt": loses, "isotonic": keeps}, raw_jaccard) == "isotonic"
    # Temperature keeps the Jaccard but misses the ECE goal: no method qualifies, so the lowest ECE (Platt).
    ece_missing_goal = {**ece, "temperature": ECE_GOAL * 1.1}
    assert preferred_method(ece_missing_goal, {"temperature": keeps, "platt": loses, "isotonic": loses}, raw_jaccard) == "platt"
    # Every method keeps it: plain lowest ECE.
    assert preferred_method(ece, dict.fromkeys(ece, raw_jaccard), raw_jaccard) == "platt"


def test_a_step_shaped_miscalibration_chooses_isotonic():
    rng = np.random.default_rng(4)
    reported = rng.random((8000, 2))
    true_probability = np.where(reported < 0.5, 0.05, 0.95)  # no sigmoid of a linear logit map fits this
    truth = (rng.random(reported.shape) < true_probability).astype(float)
    choice = choose_calibration(truth, reported, np.arange(8000), seed=0)
    assert choice.calibration.method == "isotonic"


def test_json_round_trip_applies_identically():
    truth, reported = overconfident(np.random.default_rng(5), visits=500)
    for fit in (fit_temperature, fit_platt, fit_isotonic):
        calibration = fit(truth, reported)
        document = {"method": calibration.method, "medications": calibration.medications, "parameters": json.loads(json.dumps(calibration.parameters_json()))}
        np.testing.assert_array_equal(Calibration.from_json(document).apply(reported), calibration.apply(reported))


def test_logit_clips_so_zero_and_one_stay_finite():
    assert np.all(np.isfinite(logit(np.array([0.0, 1.0]))))


def test_committed_parity_fixture_is_what_python_computes_now():
    committed = json.loads((project_root() / "tests" / "fixtures" / "calibration" / "parity.json").read_text(encoding="utf-8"))
    fresh = parity_fixture()
    assert [c["document"]["method"] for c in committed["cases"]] == ["temperature", "platt", "isotonic"]
    for old, new in zip(committed["cases"], fresh["cases"]):
        np.testing.assert_allclose(old["calibrated"], new["calibrated"], atol=1e-9)
        np.testing.assert_allclose(old["raw"], new["raw"], atol=0)
