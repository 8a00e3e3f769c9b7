"""Effect estimation for CafeMed: confounding removed, structure search, proxies, FDR, caching, table format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from medrec_training.causal import (
    EffectSettings,
    TrainingVisits,
    doubly_robust_att,
    estimate_effects,
    estimate_effects_cached,
    marginal_g_squared,
    pc_simple_neighbourhoods,
    training_visits,
)
from medrec_training.causal.table import FORMAT, read_effects, write_effects
from medrec_training.tasks import VocabSizes
from medrec_training.tasks import EncodedSamples

SETTINGS = EffectSettings(min_treated=30, min_untreated=30, min_drug_visits=20)


def confounded_visits(n: int = 6000, seed: int = 0) -> tuple[TrainingVisits, dict[str, float]]:
    """Diagnosis 0 (a confounder, e.g. sepsis) raises both diagnosis 1 and drug 1; diagnosis 1 raises drug 0 by 0.3
    and has no effect on drug 1. Diagnosis 2 is noise; procedure 0 is independent of everything."""
    rng = np.random.default_rng(seed)
    confounder = rng.random(n) < 0.4
    treatment = rng.random(n) < np.where(confounder, 0.45, 0.1)  # below the twin rule (see effects.py)
    noise = rng.random(n) < 0.3
    procedure = rng.random(n) < 0.3
    drug_0 = rng.random(n) < 0.2 + 0.3 * treatment
    drug_1 = rng.random(n) < 0.1 + 0.5 * confounder
    drug_2 = rng.random(n) < 0.25
    visits = TrainingVisits(
        diagnoses=np.stack([confounder, treatment, noise], axis=1),
        procedures=procedure[:, None],
        drugs=np.stack([drug_0, drug_1, drug_2], axis=1),
        severity=np.zeros((n, 3)),
    )
    crude = drug_1[treatment].mean() - drug_1[~treatment].mean()
    return visits, {"effect_on_drug_0": 0.3, "crude_on_drug_1": float(crude)}


def test_adjustment_removes_confounding_that_the_crude_association_keeps():
    visits, truth = confounded_visits()
    effects = estimate_effects(visits, SETTINGS)
    diagnosis = effects.diagnosis
    assert ("diagnosis", 0) in diagnosis.adjustment[1]  # the confounder is found and adjusted for
    assert truth["crude_on_drug_1"] > 0.15 and abs(diagnosis.crude[1, 1] - truth["crude_on_drug_1"]) < 1e-6
    assert abs(diagnosis.effect[1, 1]) < 0.04  # no effect once the confounder is adjusted for
    assert abs(diagnosis.effect[1, 0] - truth["effect_on_drug_0"]) < 0.04
    assert diagnosis.q_value[1, 0] < 0.01 and diagnosis.significant(SETTINGS.fdr)[1, 0] == diagnosis.effect[1, 0]
    assert diagnosis.significant(SETTINGS.fdr)[1, 1] == 0.0  # not significant: 0 in the model's matrix
    # The confounder's own effect on drug 1 (~0.5) is found; the noise code has none.
    assert abs(diagnosis.effect[0, 1] - 0.5) < 0.05
    assert np.abs(diagnosis.significant(SETTINGS.fdr)[2]).max() == 0.0
    summary = effects.summary()
    assert summary["diagnosis"]["codesEstimated"] == 3 and summary["procedure"]["codesEstimated"] == 1
    assert effects.seconds > 0 and set(effects.timings) == {"select", "structure", "effects", "fdr"}


def test_doubly_robust_att_recovers_the_effect_on_the_treated_under_covariate_confounding():
    rng = np.random.default_rng(3)
    n = 20000
    covariate = rng.normal(size=n)
    treatment = rng.random(n) < 1 / (1 + np.exp(-(covariate - 1)))
    # Effect 0.2 for everybody plus 0.1 per unit of covariate: the treated (higher covariate) gain more.
    probability = np.clip(0.3 + 0.1 * covariate + treatment * (0.2 + 0.1 * covariate), 0.01, 0.99)
    outcome = rng.random(n) < probability
    att_truth = float(np.mean(np.clip(0.3 + 0.1 * covariate + 0.2 + 0.1 * covariate, 0.01, 0.99)[treatment]) - np.mean(
        np.clip(0.3 + 0.1 * covariate, 0.01, 0.99)[treatment]
    ))
    effect, standard_error = doubly_robust_att(treatment, covariate[:, None], outcome[:, None], EffectSettings())
    crude = outcome[treatment].mean() - outcome[~treatment].mean()
    assert abs(effect[0] - att_truth) < 3 * standard_error[0] + 0.01
    assert abs(crude - att_truth) > 0.05  # the unadjusted difference is biased here
    assert 0 < standard_error[0] < 0.02


def test_marginal_g_squared_is_the_likelihood_ratio_test_of_each_two_by_two_table():
    rng = np.random.default_rng(1)
    columns = rng.random((500, 3)) < [0.2, 0.5, 0.4]
    columns[:, 2] |= columns[:, 0] & (rng.random(500) < 0.5)
    g = marginal_g_squared(columns)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        table = np.array([[np.sum(columns[:, a] & columns[:, b]), np.sum(columns[:, a] & ~columns[:, b])],
                          [np.sum(~columns[:, a] & columns[:, b]), np.sum(~columns[:, a] & ~columns[:, b])]])
        expected, *_ = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
        assert g[a, b] == pytest.approx(expected, rel=1e-9) and g[b, a] == pytest.approx(expected, rel=1e-9)
    assert np.all(np.diag(g) == 0)


def test_pc_simple_drops_a_candidate_made_independent_by_another():
    rng = np.random.default_rng(2)
    n = 4000
    middle = rng.random(n) < 0.5
    left = np.where(rng.random(n) < 0.85, middle, ~middle)  # left - middle - right: a chain
    right = np.where(rng.random(n) < 0.85, middle, ~middle)
    unrelated = rng.random(n) < 0.5
    columns = np.stack([left, middle, right, unrelated], axis=1)
    neighbourhoods, tests = pc_simple_neighbourhoods(columns, EffectSettings(twin_share=0.9, implies_share=0.95))
    assert neighbourhoods[0] == [1]  # right is marginally dependent on left, but not given middle
    assert neighbourhoods[2] == [1]
    assert neighbourhoods[1] == [0, 2]
    assert neighbourhoods[3] == []
    assert tests > 0
    shallow, _ = pc_simple_neighbourhoods(columns, EffectSettings(depth=0, twin_share=0.9, implies_share=0.95))
    assert shallow[0] == [1, 2]  # without conditioning, the chain's far end stays


def test_twin_and_implying_codes_are_never_adjusted_for():
    rng = np.random.default_rng(4)
    n = 3000
    code = rng.random(n) < 0.3
    twin = np.where(rng.random(n) < 0.9, code, rng.random(n) < 0.05)  # the same fact under another code system
    implying = code & (rng.random(n) < 0.3)  # always with the code (dialysis for end-stage renal disease)
    ordinary = np.where(code, rng.random(n) < 0.4, rng.random(n) < 0.2)  # associated, not a proxy
    columns = np.stack([code, twin, implying, ordinary], axis=1)
    neighbourhoods, _ = pc_simple_neighbourhoods(columns, EffectSettings(depth=0))
    assert neighbourhoods[0] == [3]


def test_identical_codes_share_one_estimate_and_rare_codes_are_not_estimated():
    visits, _ = confounded_visits(n=3000)
    rare = np.zeros((3000, 1), bool)
    rare[:5] = True
    visits = TrainingVisits(
        diagnoses=np.hstack([visits.diagnoses, visits.diagnoses[:, [1]], rare]),  # 3 = twin of 1, 4 = rare
        procedures=visits.procedures,
        drugs=visits.drugs,
        severity=visits.severity,
    )
    effects = estimate_effects(visits, SETTINGS)
    diagnosis = effects.diagnosis
    np.testing.assert_array_equal(diagnosis.effect[3], diagnosis.effect[1])
    assert diagnosis.adjustment[3] == diagnosis.adjustment[1]
    assert not diagnosis.estimated[4].any() and np.all(diagnosis.effect[4] == 0) and np.all(diagnosis.q_value[4] == 1)
    assert diagnosis.treated_visits[4] == 5


def test_training_visits_reads_the_current_visit_and_severity():
    sizes = VocabSizes(diagnosis=4, procedure=3, medication=2)
    diagnoses = np.zeros((2, 3, 4), np.int64)
    procedures = np.zeros((2, 3, 2), np.int64)
    diagnoses[0, 0] = [2, 3, 0, 0]  # first visit of sample 0 (history)
    diagnoses[0, 1] = [4, 1, 5, 0]  # current visit of sample 0: entries 2, 3 and one unknown code
    procedures[0, 1] = [2, 0]
    diagnoses[1, 0] = [5, 0, 0, 0]  # sample 1 has one visit
    samples = EncodedSamples(
        diagnoses=diagnoses,
        procedures=procedures,
        medications=np.zeros((2, 3, 1), np.int64),
        visit_mask=np.array([[1, 1, 0], [1, 0, 0]], np.float32),
        targets=np.array([[1, 0], [0, 1]], np.float32),
        patient_ids=np.array([1, 2]),
        history_lengths=np.array([1, 0]),
        patient_visit_counts=np.array([2, 1]),
    )
    visits = training_visits(samples, sizes)
    np.testing.assert_array_equal(visits.diagnoses, [[False, False, True, True], [False, False, False, True]])
    np.testing.assert_array_equal(visits.procedures, [[True, False, False], [False, False, False]])
    np.testing.assert_array_equal(visits.drugs, [[True, False], [False, True]])
    np.testing.assert_allclose(visits.severity, [[np.log1p(3), np.log1p(1), 1.0], [np.log1p(1), 0.0, 0.0]])


def test_cache_returns_the_same_estimate_for_the_same_training_set_only():
    visits, _ = confounded_visits(n=2000, seed=5)
    first = estimate_effects_cached(visits, SETTINGS)
    assert estimate_effects_cached(visits, SETTINGS) is first
    assert estimate_effects_cached(visits, EffectSettings(min_treated=30, min_untreated=30, min_drug_visits=20, fdr=0.05)) is not first
    other, _ = confounded_visits(n=2000, seed=6)
    assert estimate_effects_cached(other, SETTINGS) is not first


def test_another_process_reads_the_estimate_from_the_disk_cache(tmp_path, monkeypatch):
    """Parallel benchmark folds: a process with an empty memory cache gets the stored estimate, not a new one."""
    from medrec_training.causal import effects as effects_module

    monkeypatch.setenv("MEDREC_CACHE_DIR", str(tmp_path))
    visits, _ = confounded_visits(n=1500, seed=7)
    first = estimate_effects_cached(visits, SETTINGS)
    stored = list((tmp_path / "causal").glob("effects-*.npz"))
    assert len(stored) == 1
    monkeypatch.setattr(effects_module, "_CACHE", type(effects_module._CACHE)())  # as in a fresh process
    monkeypatch.setattr(effects_module, "estimate_effects", lambda *_: pytest.fail("estimated again despite the disk cache"))
    again = estimate_effects_cached(visits, SETTINGS)
    assert again is not first
    for kind in ("diagnosis", "procedure"):
        for name in ("effect", "standard_error", "q_value", "crude", "estimated", "treated_visits"):
            np.testing.assert_array_equal(getattr(again.of(kind), name), getattr(first.of(kind), name))
        assert again.of(kind).adjustment == first.of(kind).adjustment
    assert again.settings == first.settings and again.visits == first.visits and again.tests == first.tests

    stored[0].write_bytes(b"not an npz")  # a damaged file is estimated anew, never trusted
    monkeypatch.setattr(effects_module, "_CACHE", type(effects_module._CACHE)())
    monkeypatch.setattr(effects_module, "estimate_effects", lambda *_: first)
    assert estimate_effects_cached(visits, SETTINGS) is first


def test_settings_reject_values_that_make_no_sense():
    with pytest.raises(ValueError, match="alpha must lie in"):
        EffectSettings(alpha=1.5)
    with pytest.raises(ValueError, match="min_treated and min_untreated"):
        EffectSettings(min_treated=1)
    with pytest.raises(ValueError, match="propensity_clip"):
        EffectSettings(propensity_clip=0.7)


def test_effect_table_round_trip_and_format(tmp_path: Path):
    visits, _ = confounded_visits(n=3000, seed=7)
    effects = estimate_effects(visits, SETTINGS)
    path = tmp_path / "causal-effects.json"
    write_effects(effects, path, patient_weights={"file": "causal-weights.onnx"})
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == FORMAT and document["formatVersion"] == 1 and document["medications"] == 3
    assert document["diagnosis"]["entries"] == 3 and len(document["diagnosis"]["codes"]) == 3
    code = next(c for c in document["diagnosis"]["codes"] if c["entry"] == 1)
    assert {"kind": "diagnosis", "entry": 0} in code["adjustment"]
    assert code["used"] == [int(q <= SETTINGS.fdr) for q in code["q"]]
    assert document["patientWeights"]["file"] == "causal-weights.onnx" and document["assumptions"]
    again = read_effects(path)
    for kind in ("diagnosis", "procedure"):
        np.testing.assert_allclose(again.of(kind).effect, effects.of(kind).effect, atol=1e-5)
        np.testing.assert_array_equal(again.of(kind).estimated, effects.of(kind).estimated)
        np.testing.assert_array_equal(again.of(kind).significant(SETTINGS.fdr) != 0, effects.of(kind).significant(SETTINGS.fdr) != 0)
    assert again.diagnosis.adjustment == effects.diagnosis.adjustment and again.settings == effects.settings


def test_reading_a_wrong_file_names_the_file_and_the_problem(tmp_path: Path):
    path = tmp_path / "effects.json"
    path.write_text('{"format": "something-else", "formatVersion": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"effects\.json: expected format 'medrec-causal-effects' version 1"):
        read_effects(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"effects\.json: not JSON"):
        read_effects(path)
