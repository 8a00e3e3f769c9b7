"""Post-hoc probability calibration fitted on validation patients only: the twin of
src/main/services/inference/calibration.ts (which applies the exported file in the app).

Three candidates, each a monotone map per medication column (so it never reorders one drug's patients):
  temperature  p' = sigmoid(logit(p) / T), one T for every drug (fitted by log loss)
  platt        p' = sigmoid(a_d * logit(p) + b_d) per drug d (log loss with Platt's smoothed targets, so a drug
               never or always prescribed in the validation set keeps finite parameters)
  isotonic     p' = piecewise-linear interpolation through the pool-adjacent-violators fit of drug d
               (scikit-learn's IsotonicRegression, clipped outside the fitted range)
The method is chosen on cross-fitted predictions: the validation patients are split in two, each half is
calibrated by a map fitted on the other, and each method gets the pooled expected calibration error (ECE,
metrics.py's definition) and the best grid-threshold Jaccard of those predictions. Choosing on the fitting data
itself would always pick isotonic (it fits the data it is scored on best). The winner is the lowest ECE among
the methods that meet the ECE goal (ECE_GOAL) without costing Jaccard (at most JACCARD_TOLERANCE below the
uncalibrated probabilities'); when none does, simply the lowest ECE. Why the Jaccard guard: a per-drug map
(Platt, isotonic) reorders drugs against each other, so one threshold over all drugs picks different sets; for
logistic regression Platt cost 0.012 test Jaccard (0.3778 -> 0.3660, every fold lower), while one temperature
keeps the order of all drugs and the Jaccard. The method is then refitted on all validation patients.

logit(p) clips p to [EPSILON, 1 - EPSILON] first; every computation is float64, on both sides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.isotonic import IsotonicRegression

from .metrics import expected_calibration_error
from .training import choose_threshold

EPSILON = 1e-7
METHODS = ("temperature", "platt", "isotonic")
# Issue 17's goal for the benchmark's test folds: ECE at most 0.03 without losing Jaccard.
ECE_GOAL = 0.03
# A method "keeps" the Jaccard when its cross-fitted validation Jaccard is at most this much below the raw one's.
JACCARD_TOLERANCE = 0.005
CALIBRATION_FILE = "calibration.json"
# Miss-rate thresholds (conformal risk control) stored for these alphas, so `--miss-rate` needs no patient data.
MISS_RATE_ALPHAS = tuple(round(0.01 * step, 2) for step in range(1, 51))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Calibration:
    """One fitted calibration map over D medication columns."""

    method: str
    medications: int
    temperature: float | None = None
    slope: np.ndarray | None = None  # platt: [D]
    intercept: np.ndarray | None = None  # platt: [D]
    knots_x: list[np.ndarray] = field(default_factory=list)  # isotonic: per drug, increasing
    knots_y: list[np.ndarray] = field(default_factory=list)  # isotonic: per drug, non-decreasing

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != self.medications:
            raise ValueError(f"calibration is for {self.medications} medications, got probabilities of shape {p.shape}")
        if self.method == "temperature":
            return sigmoid(logit(p) / self.temperature)
        if self.method == "platt":
            return sigmoid(logit(p) * self.slope[None, :] + self.intercept[None, :])
        if self.method == "isotonic":
            out = np.empty_like(p)
            for d in range(self.medications):
                out[:, d] = np.interp(p[:, d], self.knots_x[d], self.knots_y[d])
            return out
        raise ValueError(f"unknown calibration method {self.method!r}")

    def parameters_json(self) -> dict[str, Any]:
        if self.method == "temperature":
            return {"temperature": self.temperature}
        if self.method == "platt":
            return {"slope": self.slope.tolist(), "intercept": self.intercept.tolist()}
        return {"knots": [{"x": x.tolist(), "y": y.tolist()} for x, y in zip(self.knots_x, self.knots_y)]}

    @staticmethod
    def from_json(document: dict[str, Any]) -> "Calibration":
        method, medications, parameters = document["method"], int(document["medications"]), document["parameters"]
        if method == "temperature":
            return Calibration(method, medications, temperature=float(parameters["temperature"]))
        if method == "platt":
            return Calibration(method, medications, slope=np.asarray(parameters["slope"], np.float64), intercept=np.asarray(parameters["intercept"], np.float64))
        knots = parameters["knots"]
        return Calibration(
            method,
            medications,
            knots_x=[np.asarray(k["x"], np.float64) for k in knots],
            knots_y=[np.asarray(k["y"], np.float64) for k in knots],
        )


def fit_temperature(truth: np.ndarray, probabilities: np.ndarray) -> Calibration:
    z = logit(probabilities).ravel()
    y = (np.asarray(truth) > 0.5).astype(np.float64).ravel()

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, s) - y * s))  # binary cross-entropy on logits

    result = minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded", options={"xatol": 1e-8})
    return Calibration("temperature", probabilities.shape[1], temperature=float(np.exp(result.x)))


def fit_platt(truth: np.ndarray, probabilities: np.ndarray) -> Calibration:
    z = logit(probabilities)
    y = (np.asarray(truth) > 0.5).astype(np.float64)
    positives, negatives = y.sum(axis=0), (1.0 - y).sum(axis=0)
    # Platt (1999): targets (N+ + 1)/(N+ + 2) for positives and 1/(N- + 2) for negatives.
    target = np.where(y > 0.5, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    medications = z.shape[1]

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[:medications], theta[medications:]
        s = z * a + b
        loss = np.sum(np.logaddexp(0.0, s) - target * s)
        residual = sigmoid(s) - target
        return float(loss), np.concatenate([(residual * z).sum(axis=0), residual.sum(axis=0)])

    start = np.concatenate([np.ones(medications), np.zeros(medications)])
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return Calibration("platt", medications, slope=result.x[:medications].copy(), intercept=result.x[medications:].copy())


def fit_isotonic(truth: np.ndarray, probabilities: np.ndarray) -> Calibration:
    p = np.asarray(probabilities, dtype=np.float64)
    y = (np.asarray(truth) > 0.5).astype(np.float64)
    knots_x, knots_y = [], []
    for d in range(p.shape[1]):
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, d], y[:, d])
        knots_x.append(np.asarray(regression.X_thresholds_, np.float64))
        knots_y.append(np.asarray(regression.y_thresholds_, np.float64))
    return Calibration("isotonic", p.shape[1], knots_x=knots_x, knots_y=knots_y)


FITTERS = {"temperature": fit_temperature, "platt": fit_platt, "isotonic": fit_isotonic}


@dataclass(frozen=True)
class CalibrationChoice:
    calibration: Calibration
    cross_fitted_ece: dict[str, float]  # method -> pooled ECE of the two halves' out-of-half predictions
    uncalibrated_ece: float  # ECE of the raw validation probabilities
    validation_patients: int
    cross_fitted_jaccard: dict[str, float] = field(default_factory=dict)  # method -> best grid-threshold Jaccard of the same predictions
    uncalibrated_jaccard: float | None = None  # best grid-threshold Jaccard of the raw validation probabilities


def best_grid_jaccard(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray) -> float:
    """The Jaccard the decision threshold's choice (training.choose_threshold) reaches on these visits."""
    return choose_threshold(SimpleNamespace(targets=truth, patient_ids=patient_ids), probabilities)[1]


def preferred_method(
    cross_fitted_ece: dict[str, float], cross_fitted_jaccard: dict[str, float], uncalibrated_jaccard: float
) -> str:
    """The lowest ECE among the methods that meet ECE_GOAL and keep the Jaccard; otherwise the lowest ECE."""
    keeping = [
        m
        for m in METHODS
        if cross_fitted_ece[m] <= ECE_GOAL and cross_fitted_jaccard[m] >= uncalibrated_jaccard - JACCARD_TOLERANCE
    ]
    return min(keeping or METHODS, key=lambda m: (cross_fitted_ece[m], METHODS.index(m)))


def choose_calibration(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray, seed: int = 0) -> CalibrationChoice:
    """Pick the method by preferred_method on cross-fitted predictions of these (validation) visits and refit it on all of them."""
    truth = np.asarray(truth)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    patients = np.unique(patient_ids)
    if len(patients) < 2:
        raise ValueError("calibration needs validation visits of at least two patients")
    half = np.random.default_rng(seed).permutation(patients)[: len(patients) // 2]
    in_first = np.isin(patient_ids, half)
    scores: dict[str, float] = {}
    jaccards: dict[str, float] = {}
    for method, fit in FITTERS.items():
        out = np.empty_like(probabilities)
        for held_out in (in_first, ~in_first):
            out[held_out] = fit(truth[~held_out], probabilities[~held_out]).apply(probabilities[held_out])
        scores[method] = expected_calibration_error(truth, out)
        jaccards[method] = best_grid_jaccard(truth, out, patient_ids)
    raw_jaccard = best_grid_jaccard(truth, probabilities, patient_ids)
    best = preferred_method(scores, jaccards, raw_jaccard)
    return CalibrationChoice(
        FITTERS[best](truth, probabilities), scores, expected_calibration_error(truth, probabilities), len(patients), jaccards, raw_jaccard
    )


def calibration_document(
    choice: CalibrationChoice, fitted_on: str, miss_rate_thresholds: list[dict[str, float]], decision_threshold: float
) -> dict[str, Any]:
    """What calibration.json holds (models/manifest.schema.json names the file, its sha256 and method)."""
    calibration = choice.calibration
    probe = np.linspace(0.0, 1.0, 11)[:, None].repeat(calibration.medications, axis=1)
    return {
        "method": calibration.method,
        "medications": calibration.medications,
        "epsilon": EPSILON,
        "fittedOn": fitted_on,
        "validationPatients": choice.validation_patients,
        "selection": {
            "criterion": (
                "cross-fitted predictions (two halves of the validation patients, each calibrated by a map fitted on the other): "
                f"the lowest ECE (10 bins) among the methods with ECE <= {ECE_GOAL} whose best-threshold Jaccard is at most "
                f"{JACCARD_TOLERANCE} below the uncalibrated probabilities'; the lowest ECE when none is"
            ),
            "crossFittedEce": choice.cross_fitted_ece,
            "uncalibratedEce": choice.uncalibrated_ece,
            "crossFittedJaccard": choice.cross_fitted_jaccard,
            "uncalibratedJaccard": choice.uncalibrated_jaccard,
        },
        "decisionThreshold": decision_threshold,
        "missRate": {
            "assumption": "the new patient is exchangeable with the validation patients (same population, no drift)",
            "guarantee": "expected share of the prescribed classes scoring below the threshold is at most alpha",
            "method": "conformal risk control (Angelopoulos et al., ICLR 2024) on the calibrated validation probabilities",
            "thresholds": miss_rate_thresholds,
        },
        "parameters": calibration.parameters_json(),
        # A grid of raw probabilities and what this map makes of them, for a reader to check its own application.
        "check": {"raw": probe[:, 0].tolist(), "calibrated": calibration.apply(probe).tolist()},
    }


def write_calibration(document: dict[str, Any], path) -> None:
    path.write_text(json.dumps(document) + "\n", encoding="utf-8")


def parity_fixture() -> dict[str, Any]:
    """Fixed raw probabilities and each method's calibrated output, for the TypeScript twin's parity test
    (tests/fixtures/calibration/parity.json, regenerated by `python -m medrec_training.calibration`)."""
    rng = np.random.default_rng(11)
    visits, medications = 400, 5
    raw = np.clip(rng.beta(0.6, 2.0, size=(visits, medications)), 0.0, 1.0)
    raw[0, :] = [0.0, 1.0, 1e-9, 1.0 - 1e-9, 0.5]  # edges: clipped logits, the boundaries of isotonic knots
    truth = (rng.random((visits, medications)) < sigmoid(1.7 * logit(raw) - 0.4)).astype(np.float64)
    probe = np.vstack([raw[:50], np.linspace(0.0, 1.0, 21)[:, None].repeat(medications, axis=1)])
    cases = []
    for method, fit in FITTERS.items():
        calibration = fit(truth, raw)
        cases.append(
            {
                "document": {"method": method, "medications": medications, "epsilon": EPSILON, "parameters": calibration.parameters_json()},
                "raw": probe.astype(np.float32).astype(np.float64).tolist(),
                "calibrated": calibration.apply(probe.astype(np.float32).astype(np.float64)).tolist(),
            }
        )
    return {"tolerance": 1e-6, "cases": cases}


if __name__ == "__main__":
    from .paths import project_root

    target = project_root() / "tests" / "fixtures" / "calibration" / "parity.json"
    target.write_text(json.dumps(parity_fixture()) + "\n", encoding="utf-8")
    print(f"Wrote {target}")
