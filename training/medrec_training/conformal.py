"""Conformal risk control for the miss rate: the twin of src/main/services/evaluate/conformal.ts.

Angelopoulos, Bates, Fisch, Lei, Schuster, "Conformal Risk Control" (ICLR 2024). The loss of a recommendation
at threshold t is its miss rate (share of the prescribed classes scoring below t, i.e. 1 - recall), in [0, 1]
and non-increasing as t falls. With n exchangeable calibration units (patients; a patient's visits are averaged
into one loss), t_hat = the largest t with (n * R_hat(t) + 1) / (n + 1) <= alpha guarantees
E[miss rate of a new patient at t_hat] <= alpha when the new patient is exchangeable with the calibration ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

# R_hat is a float sum of 1/n-sized weights: a bound exactly at alpha (e.g. 9 misses of 99 at alpha = 0.1)
# counts as met, in Python and TypeScript alike.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class MissRateThreshold:
    threshold: float  # recommend classes scoring >= threshold; 0.0 when no positive threshold meets the bound
    alpha: float
    units: int
    calibration_miss_rate: float
    bound: float


def miss_rate_threshold(
    truth: np.ndarray, scores: np.ndarray, units: Sequence[Hashable], alpha: float
) -> MissRateThreshold:
    """truth and scores are [N visits, D classes]; units[i] is visit i's exchangeable unit (its patient)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}.")
    truth = np.asarray(truth) > 0.5
    scores = np.asarray(scores, dtype=np.float64)
    positives = truth.sum(axis=1)
    keep = positives > 0
    kept_units = [unit for unit, k in zip(units, keep) if k]
    visits_per_unit: dict[Hashable, int] = {}
    for unit in kept_units:
        visits_per_unit[unit] = visits_per_unit.get(unit, 0) + 1
    n = len(visits_per_unit)
    if n == 0:
        raise ValueError("No calibration visit has a prescribed class: a miss rate cannot be calibrated.")
    # One (score, weight) per prescribed class of a kept visit, visit by visit: numpy arrays, as Python lists of
    # floats they took ~150 MB per million pairs (a 15k-patient validation set has ~3 million).
    unit_visits = np.zeros(len(units), dtype=np.int64)
    for row in np.nonzero(keep)[0]:
        unit_visits[row] = visits_per_unit[units[row]]
    row_weights = np.zeros(len(units), dtype=np.float64)
    row_weights[keep] = 1.0 / (positives[keep] * unit_visits[keep] * n)
    pair_rows, pair_columns = np.nonzero(truth)  # row-major: the visits' order, then the classes'
    pair_scores = scores[pair_rows, pair_columns]
    order = np.argsort(-pair_scores, kind="mergesort")
    sorted_scores = pair_scores[order]
    covered = np.cumsum(row_weights[pair_rows][order])
    last_of_tie = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    for position in last_of_tie:
        score = float(sorted_scores[position])
        risk = max(0.0, 1.0 - float(covered[position]))
        bound = (n * risk + 1.0) / (n + 1.0)
        if bound <= alpha + TOLERANCE and score > 0.0:
            return MissRateThreshold(score, alpha, n, risk, bound)
    return MissRateThreshold(0.0, alpha, n, 0.0, 1.0 / (n + 1.0))
