"""Evaluation metrics with the medication recommendation literature's definitions (GAMENet, SafeDrug, MoleRec).

Per visit (predicted set P = drugs with probability >= threshold, true set T):
  Jaccard = |P ∩ T| / |P ∪ T|
  precision = |P ∩ T| / |P| (0 if P is empty), recall = |P ∩ T| / |T|, F1 = 2 p r / (p + r) (0 if p + r = 0)
  PRAUC = average precision of the visit's drug scores against T (sklearn's step-wise definition)
Jaccard, F1 and PRAUC are averaged over each patient's visits, then over patients.
#meds = predicted drugs per visit, pooled over all visits.
DDI rate = interacting predicted pairs / all predicted pairs, pooled over all visits, for one named
binary ATC3 x ATC3 adjacency matrix (a pair interacts if either direction is marked).
ECE = expected calibration error over every (visit, drug) probability, 10 equal-width bins.
Across folds each metric is reported as mean and 95% t-interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

PER_PATIENT_METRICS = ("jaccard", "f1", "prauc", "precision", "recall")


def set_scores(true_row: np.ndarray, predicted_row: np.ndarray) -> dict[str, float]:
    """Jaccard, precision, recall and F1 of one visit's predicted set against its true set (boolean rows)."""
    intersection = float(np.logical_and(true_row, predicted_row).sum())
    union = float(np.logical_or(true_row, predicted_row).sum())
    predicted = float(predicted_row.sum())
    actual = float(true_row.sum())
    precision = intersection / predicted if predicted else 0.0
    recall = intersection / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"jaccard": intersection / union if union else 0.0, "precision": precision, "recall": recall, "f1": f1}


def average_precision(true_row: np.ndarray, scores: np.ndarray) -> float:
    """Area under the step-wise precision-recall curve: sum over score thresholds of (R_n - R_{n-1}) P_n.

    Tied scores form one threshold (as in sklearn.metrics.average_precision_score). 0 if no positive.
    """
    truth = np.asarray(true_row, dtype=bool)
    if not truth.any():
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    sorted_truth = truth[order]
    # last position of each group of tied scores
    last_of_group = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_truth)[last_of_group]
    predicted_positives = last_of_group + 1
    precision = true_positives / predicted_positives
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def ddi_rate(predicted: np.ndarray, adjacency: np.ndarray) -> float:
    """Interacting pairs / all pairs among each visit's predicted drugs, pooled over visits.

    predicted: boolean [N, D]; adjacency: [D, D], nonzero = interaction (either direction counts).
    0 when no visit has two predicted drugs.
    """
    predicted = np.asarray(predicted, dtype=bool)
    interacts = (np.asarray(adjacency) != 0)
    interacts = np.triu(interacts | interacts.T, k=1)
    if interacts.shape != (predicted.shape[1], predicted.shape[1]):
        raise ValueError(
            f"DDI matrix is {interacts.shape[0]}x{interacts.shape[1]} but there are {predicted.shape[1]} medications."
        )
    hot = predicted.astype(np.float64)
    interacting_pairs = float(np.einsum("ni,ij,nj->", hot, interacts.astype(np.float64), hot))
    counts = hot.sum(axis=1)
    all_pairs = float((counts * (counts - 1) / 2).sum())
    return interacting_pairs / all_pairs if all_pairs else 0.0


def expected_calibration_error(truth: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    """sum_b (n_b / N) |mean(truth in b) - mean(probability in b)| over equal-width probability bins.

    Bin b holds probabilities in [b/bins, (b+1)/bins) (the last bin includes 1.0).
    """
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(truth, dtype=np.float64).ravel()
    if p.size == 0:
        return 0.0
    bin_of = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        members = bin_of == b
        count = int(members.sum())
        if count:
            total += count / p.size * abs(float(y[members].mean()) - float(p[members].mean()))
    return total


def _per_patient_mean(values: np.ndarray, patient_ids: np.ndarray) -> float:
    """Mean over each patient's visits, then over patients."""
    if values.size == 0:
        return 0.0
    _, patient_of_row = np.unique(patient_ids, return_inverse=True)
    sums = np.bincount(patient_of_row, weights=values)
    counts = np.bincount(patient_of_row)
    return float(np.mean(sums / counts))


def mean_jaccard(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray, threshold: float) -> float:
    """Only the Jaccard of `evaluate` (vectorised: used to pick thresholds and epochs)."""
    actual = np.asarray(truth) > 0.5
    predicted = np.asarray(probabilities) >= threshold
    union = np.logical_or(actual, predicted).sum(axis=1)
    intersection = np.logical_and(actual, predicted).sum(axis=1)
    per_visit = np.where(union > 0, intersection / np.maximum(union, 1), 0.0)
    return _per_patient_mean(per_visit.astype(np.float64), np.asarray(patient_ids))


def evaluate(
    truth: np.ndarray,
    probabilities: np.ndarray,
    patient_ids: np.ndarray,
    threshold: float = 0.5,
    ddi_matrices: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Every metric of one set of visits. truth and probabilities are [N, D]; patient_ids [N]."""
    truth = np.asarray(truth) > 0.5
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if truth.shape != probabilities.shape:
        raise ValueError(f"truth {truth.shape} and probabilities {probabilities.shape} differ in shape.")
    predicted = probabilities >= threshold
    per_visit: dict[str, list[float]] = {name: [] for name in PER_PATIENT_METRICS}
    for row in range(truth.shape[0]):
        scores = set_scores(truth[row], predicted[row])
        for name in ("jaccard", "f1", "precision", "recall"):
            per_visit[name].append(scores[name])
        per_visit["prauc"].append(average_precision(truth[row], probabilities[row]))
    ids = np.asarray(patient_ids)
    result = {name: _per_patient_mean(np.asarray(values), ids) for name, values in per_visit.items()}
    result["meds"] = float(predicted.sum(axis=1).mean()) if truth.shape[0] else 0.0
    result["ece"] = expected_calibration_error(truth, probabilities)
    for name, adjacency in (ddi_matrices or {}).items():
        result[f"ddi_{name}"] = ddi_rate(predicted, adjacency)
    result["visits"] = float(truth.shape[0])
    result["patients"] = float(len(np.unique(ids)))
    return result


def ground_truth_statistics(truth: np.ndarray, ddi_matrices: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """#meds and DDI rates of the recorded prescriptions themselves (the reference the models are compared to)."""
    actual = np.asarray(truth) > 0.5
    result = {"meds": float(actual.sum(axis=1).mean()) if actual.shape[0] else 0.0}
    for name, adjacency in (ddi_matrices or {}).items():
        result[f"ddi_{name}"] = ddi_rate(actual, adjacency)
    return result


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    values: tuple[float, ...]

    def format(self, digits: int = 4) -> str:
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {(self.high - self.low) / 2:.{digits}f}"

    def to_json(self) -> dict:
        return {
            "mean": self.mean,
            "ci95": None if math.isnan(self.low) else [self.low, self.high],
            "folds": list(self.values),
        }


def confidence_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean and two-sided t-interval over folds (NaN bounds with fewer than two values)."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean()) if array.size else float("nan")
    if array.size < 2:
        return Interval(mean, float("nan"), float("nan"), tuple(array.tolist()))
    half = float(stats.t.ppf(0.5 + level / 2, df=array.size - 1) * array.std(ddof=1) / math.sqrt(array.size))
    return Interval(mean, mean - half, mean + half, tuple(array.tolist()))


def paired_difference(candidate: Mapping[int, float], baseline: Mapping[int, float]) -> Interval | None:
    """candidate − baseline on the folds both have (same test patients), mean and 95% t-interval; None under two folds."""
    differences = [candidate[fold] - baseline[fold] for fold in sorted(candidate) if fold in baseline]
    return confidence_interval(differences) if len(differences) >= 2 else None


def comparison_verdict(difference: Interval) -> str:
    """Better or worse only when the whole interval of a paired difference lies on one side of 0."""
    return "**better**" if difference.low > 0 else ("worse" if difference.high < 0 else "no (interval includes 0)")


def summarize_folds(fold_results: Sequence[Mapping[str, float]]) -> dict[str, Interval]:
    names = [name for name in fold_results[0]] if fold_results else []
    return {name: confidence_interval([result[name] for result in fold_results]) for name in names}


def patient_miss_rate(truth: np.ndarray, predicted: np.ndarray, patient_ids: np.ndarray) -> float:
    """Share of prescribed classes not recommended (1 - recall) per visit with a prescription, averaged per
    patient then over patients: the unit whose expectation conformal risk control bounds (conformal.py)."""
    actual = np.asarray(truth) > 0.5
    positives = actual.sum(axis=1)
    keep = positives > 0
    if not keep.any():
        return 0.0
    missed = np.logical_and(actual, ~np.asarray(predicted, dtype=bool)).sum(axis=1)
    return _per_patient_mean((missed[keep] / positives[keep]).astype(np.float64), np.asarray(patient_ids)[keep])


def test_miss_rate(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray, threshold: float) -> dict[str, float]:
    """Achieved miss rate and recommended classes per visit at a (conformal) threshold."""
    predicted = np.asarray(probabilities) >= threshold
    return {"missRate": patient_miss_rate(truth, predicted, patient_ids), "meds": float(predicted.sum(axis=1).mean()) if len(predicted) else 0.0}


def personalisation(predicted: np.ndarray, patient_ids: np.ndarray) -> dict[str, float]:
    """How much the recommended sets differ between patients.

    distinctSets: different recommended sets among the visits; betweenPatientJaccard: mean Jaccard between the
    sets of every pair of visits of DIFFERENT patients (two empty sets count as identical, 1.0). A model that
    ignores the patient scores few distinct sets and a between-patient Jaccard near 1.
    """
    hot = np.asarray(predicted, dtype=bool)
    visits = hot.shape[0]
    if visits == 0:
        return {"distinctSets": 0.0, "visits": 0.0, "betweenPatientJaccard": float("nan")}
    distinct = len({row.tobytes() for row in np.packbits(hot, axis=1)})
    as_float = hot.astype(np.float64)
    intersection = as_float @ as_float.T
    sizes = as_float.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - intersection
    jaccard = np.where(union > 0, intersection / np.maximum(union, 1.0), 1.0)
    ids = np.asarray(patient_ids)
    different = ids[:, None] != ids[None, :]
    between = float(jaccard[different].mean()) if different.any() else float("nan")
    return {"distinctSets": float(distinct), "visits": float(visits), "betweenPatientJaccard": between}
