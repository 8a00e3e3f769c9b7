"""Nested model selection: choices read validation figures only, ensembles threshold on validation, the record renders."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from medrec_training.benchmark import main as benchmark_main
from medrec_training.evaluation.selection_table import SECTION_HEADER, selection_markdown
from medrec_training.experiments.model_selection import GRID, choose_config, ensemble_fold, main, nested_choices
from medrec_training.harness import SplitProbabilities
from medrec_training.metrics import mean_jaccard


def test_choice_is_the_best_validation_jaccard_and_the_default_wins_a_tie():
    assert choose_config({"default": 0.30, "wide": 0.35, "regularised": 0.33}) == "wide"
    assert choose_config({"default": 0.30, "wide": 0.30, "regularised": 0.29}) == "default"
    assert choose_config({"default": None, "wide": 0.1}) == "wide"
    assert choose_config({"default": 0.0, "wide": 0.0}) == "default"
    by_config = {"default": {0: 0.3, 1: 0.4}, "wide": {0: 0.5, 1: 0.2}, "regularised": {0: 0.1, 1: 0.45}}
    assert nested_choices(by_config) == {0: "wide", 1: "regularised"}


def _split(validation_truth, validation, test_truth, test, validation_ids=None, test_ids=None) -> SplitProbabilities:
    validation_truth, test_truth = np.asarray(validation_truth, float), np.asarray(test_truth, float)
    return SplitProbabilities(
        validation_truth,
        np.asarray(validation_ids if validation_ids is not None else range(len(validation_truth))),
        np.asarray(validation, float),
        test_truth,
        np.asarray(test_ids if test_ids is not None else range(len(test_truth))),
        np.asarray(test, float),
    )


def test_ensemble_averages_the_members_and_takes_its_threshold_from_the_validation_visits():
    validation_truth = [[1, 0], [0, 1], [1, 1]]
    test_truth = [[1, 0], [0, 1]]
    a = _split(validation_truth, [[0.9, 0.1], [0.2, 0.7], [0.6, 0.5]], test_truth, [[0.3, 0.2], [0.1, 0.4]])
    b = _split(validation_truth, [[0.7, 0.3], [0.0, 0.9], [0.8, 0.7]], test_truth, [[0.5, 0.4], [0.3, 0.4]])
    result = ensemble_fold(0, {"a": a, "b": b})
    mean_validation = (a.validation + b.validation) / 2
    mean_test = (a.test + b.test) / 2
    grid = [round(0.05 * step, 2) for step in range(1, 20)]
    validation_scores = [mean_jaccard(a.validation_targets, mean_validation, a.validation_patient_ids, t) for t in grid]
    # the first threshold reaching the best validation Jaccard (every one in (0.2, 0.6] separates the validation
    # visits), not one of those best on the test visits (0.35, 0.40)
    assert result.threshold == grid[int(np.argmax(validation_scores))] == 0.25
    assert result.validation_jaccard == pytest.approx(max(validation_scores))
    assert result.metrics["jaccard"] == pytest.approx(mean_jaccard(a.test_targets, mean_test, a.test_patient_ids, 0.25))
    best_on_test = max(mean_jaccard(a.test_targets, mean_test, a.test_patient_ids, t) for t in grid)
    assert best_on_test > result.metrics["jaccard"]  # the test visits would have preferred another threshold
    assert result.members == ["a", "b"]


def test_ensemble_refuses_members_scored_on_other_visits():
    truth = [[1, 0], [0, 1]]
    a = _split(truth, [[0.9, 0.1], [0.2, 0.7]], truth, [[0.9, 0.1], [0.2, 0.7]])
    b = _split(truth, [[0.9, 0.1], [0.2, 0.7]], truth, [[0.9, 0.1], [0.2, 0.7]], test_ids=[5, 6])
    with pytest.raises(ValueError, match="member b was scored on other visits"):
        ensemble_fold(2, {"a": a, "b": b})
    with pytest.raises(ValueError, match="two or more members"):
        ensemble_fold(0, {"a": a})


def _selection(database: Path, models_dir: Path, work_dir: Path) -> int:
    return main(
        [
            "--database", str(database), "--models-dir", str(models_dir), "--work-dir", str(work_dir),
            "--models", "retain,most-frequent", "--baseline", "logistic", "--seeds", "2",
            "--folds", "2", "--max-epochs", "2", "--no-knowledge", "--workers", "1",
        ]
    )  # fmt: skip


def test_selection_run_records_choices_ensembles_and_cost_and_the_benchmark_renderer_keeps_its_section(
    synthetic_database: Path, tmp_path: Path, capsys
):
    models_dir, work_dir = tmp_path / "models", tmp_path / "work"
    benchmark = ["--database", str(synthetic_database), "--models-dir", str(models_dir), "--models", "logistic",
                 "--folds", "2", "--max-epochs", "2", "--no-knowledge", "--no-export", "--no-cross-site"]  # fmt: skip
    render = ["--database", str(synthetic_database), "--models-dir", str(models_dir), "--folds", "2", "--no-knowledge", "--render-only"]
    assert benchmark_main(benchmark) == 0 and benchmark_main(render) == 0
    before = (models_dir / "BENCHMARK.md").read_text()
    assert _selection(synthetic_database, models_dir, work_dir) == 0, capsys.readouterr().out
    record = json.loads((models_dir / "model_selection.json").read_text())
    assert [c["name"] for c in record["grid"]] == [c.name for c in GRID]
    retain = next(m for m in record["models"] if m["model"] == "retain")
    for fold, choice in enumerate(retain["chosen"]):
        by_config = {name: config["folds"][fold]["validationJaccard"] for name, config in retain["configs"].items()}
        assert choice == choose_config(by_config)
        assert retain["nested"]["folds"][fold]["metrics"] == retain["configs"][choice]["folds"][fold]["metrics"]
    assert {e["id"] for e in record["ensembles"]} == {"seeds-retain", "seeds-most-frequent", "research-models"}
    kinds = {(c["name"], c["kind"]) for c in record["comparisons"]}
    assert ("RETAIN", "nested choice") in kinds and ("RETAIN", "default configuration") in kinds
    assert all(c["deltaJaccard"]["ci95"] is not None for c in record["comparisons"])
    assert record["conclusion"] and record["cost"]["perModel"]["retain"]["jobs"] == 2 * (len(GRID) + 1)
    assert record["cost"]["workers"] == 1 and "loadAverage1m" in record["cost"]
    markdown = (models_dir / "BENCHMARK.md").read_text()
    assert markdown.count(SECTION_HEADER) == 1 and record["conclusion"] in markdown
    assert markdown.replace("\n".join(selection_markdown(record)) + "\n", "") == before  # the rest of the table is untouched
    # the benchmark's renderer puts the same section in the same place
    assert benchmark_main(render) == 0
    assert (models_dir / "BENCHMARK.md").read_text() == markdown

    # Resumed from the kept jobs with every TEST label of every job scrambled: the choices do not move, the test figures do.
    for path in work_dir.glob("*.pkl"):
        outcome = pickle.loads(path.read_bytes())
        result = outcome.result
        scrambled = 1.0 - result.probabilities.test_targets
        result.metrics = {**result.metrics, "jaccard": float(np.random.default_rng(len(path.name)).random())}
        result.probabilities = dataclasses.replace(result.probabilities, test_targets=scrambled)
        path.write_bytes(pickle.dumps(outcome))
    assert _selection(synthetic_database, models_dir, work_dir) == 0
    resumed = json.loads((models_dir / "model_selection.json").read_text())
    assert resumed["cost"]["resumedJobs"] == len(list(work_dir.glob("*.pkl")))
    assert [m["chosen"] for m in resumed["models"]] == [m["chosen"] for m in record["models"]]
    assert [e["folds"][0]["threshold"] for e in resumed["ensembles"]] == [e["folds"][0]["threshold"] for e in record["ensembles"]]
    assert resumed["comparisons"] != record["comparisons"]
    assert (models_dir / "BENCHMARK.md").read_text().count(SECTION_HEADER) == 1  # replaced, not added twice


def test_bad_arguments_are_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit):
        main(["--models", "logistic"])
    assert "other than the baseline 'logistic'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--models", "nla-mmr,no-such-model"])
    assert "unknown model(s) no-such-model" in capsys.readouterr().err


def test_learning_rate_scale_multiplies_the_model_classes_own_learning_rate(prepared):
    from medrec_training.models import load_model_class
    from medrec_training.models.base import ModelConfig
    from medrec_training.training import train_model

    logistic = load_model_class("logistic")
    samples = prepared.samples.subset(np.arange(20))
    config = ModelConfig(max_epochs=1, options={"learning_rate_scale": 0.5})
    fit = train_model(logistic, prepared.vocabularies.sizes(), None, config, samples)
    assert fit.model.config.learning_rate == pytest.approx(logistic.config_overrides["learning_rate"] * 0.5)
    plain = train_model(logistic, prepared.vocabularies.sizes(), None, ModelConfig(max_epochs=1), samples)
    assert plain.model.config.learning_rate == logistic.config_overrides["learning_rate"]
