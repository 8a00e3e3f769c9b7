"""Scores of the two-stage (class, then drug) evaluation."""

from __future__ import annotations

import pytest

from medrec_training.two_stage import interacting_share, per_patient_mean, set_scores


def test_set_scores_are_jaccard_and_f1() -> None:
    assert set_scores({"A01AA01", "B01AC06"}, {"B01AC06"}) == (0.5, pytest.approx(2 / 3))
    assert set_scores(set(), {"B01AC06"}) == (0.0, 0.0)


def test_interacting_share_counts_unordered_pairs_once() -> None:
    pairs = {("B01AA03", "M01AE01")}
    assert interacting_share({"M01AE01", "B01AA03", "N02BE01"}, pairs) == pytest.approx(1 / 3)
    assert interacting_share({"B01AA03"}, pairs) == 0.0


def test_per_patient_mean_weights_patients_equally() -> None:
    assert per_patient_mean([1.0, 0.0, 0.0], [1, 2, 2]) == 0.5
