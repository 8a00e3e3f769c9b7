"""The benchmark command end to end on a small synthetic database (two quick models, two folds)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from medrec_training.benchmark import main
from medrec_training.export import PARITY_TOLERANCE, run_parity, validate_manifest
from medrec_training.harness import patient_folds


def test_benchmark_evaluates_models_writes_the_table_and_ships_the_best(synthetic_database: Path, tmp_path: Path, capsys):
    code = main(
        [
            "--database", str(synthetic_database),
            "--models-dir", str(tmp_path),
            "--models", "most-frequent,logistic",
            "--folds", "2",
            "--max-epochs", "3",
            "--no-knowledge",
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "most-frequent: jaccard" in printed and "logistic: jaccard" in printed
    record = json.loads((tmp_path / "benchmark.json").read_text())
    shipped = record["defaultModel"]
    best = max(record["models"], key=lambda m: sum(f["validationJaccard"] for f in m["folds"]))
    assert shipped == best["model"]  # chosen on validation, not on the test folds
    assert (tmp_path / "DEFAULT").read_text().strip() == shipped  # the one source of truth the app reads
    manifest = json.loads((tmp_path / shipped / "manifest.json").read_text())
    validate_manifest(manifest)
    assert "(all folds but the calibration share)" in manifest["provenance"]["trainedOn"]
    # calibration fitted on held-out patients, declared with its hash; the threshold refers to calibrated probabilities
    calibration = manifest["calibration"]
    assert calibration["method"] in ("temperature", "platt", "isotonic") and "left out of training" in calibration["fittedOn"]
    assert hashlib.sha256((tmp_path / shipped / calibration["file"]).read_bytes()).hexdigest() == calibration["sha256"]
    document = json.loads((tmp_path / shipped / calibration["file"]).read_text())
    assert document["decisionThreshold"] == manifest["threshold"]
    alphas = [row["alpha"] for row in document["missRate"]["thresholds"]]
    assert 0.1 in alphas and 0.05 in alphas and 0.2 in alphas
    assert "2-fold" in manifest["provenance"]["split"]
    assert run_parity(tmp_path / shipped) <= PARITY_TOLERANCE
    markdown = (tmp_path / "BENCHMARK.md").read_text()
    assert "| Most frequent drugs" in markdown and "| Logistic regression" in markdown
    assert "Ground truth (recorded prescriptions)" in markdown
    assert "Patients with two or more evaluated visits" in markdown
    assert "## Calibration" in markdown and "## Guaranteed miss rate" in markdown and "## Personalisation" in markdown
    assert "## Literature cohort" in markdown
    assert "## Compared with logistic regression" in markdown and "| Most frequent drugs | " in markdown.split("## Compared with")[1]
    # BENCHMARK.md can be rewritten from benchmark.json alone, with the same content
    (tmp_path / "BENCHMARK.md").write_text("stale", encoding="utf-8")
    arguments = ["--database", str(synthetic_database), "--models-dir", str(tmp_path), "--folds", "2", "--no-knowledge", "--render-only"]
    assert main(arguments) == 0
    assert (tmp_path / "BENCHMARK.md").read_text() == markdown
    fold = record["models"][0]["folds"][0]
    assert set(fold["missRates"]) == {"0.05", "0.10", "0.20"} and fold["calibrationMethod"]
    assert fold["personalisation"]["distinctSets"] >= 1
    assert f"`{synthetic_database.name}`" in markdown


def test_worker_processes_give_the_same_folds_as_one_process(synthetic_database: Path, tmp_path: Path, capsys):
    """(model, fold) jobs in spawned workers train on the same data with the same seeds as in-process."""
    records = {}
    for workers in ("1", "2"):
        output = tmp_path / f"workers-{workers}"
        arguments = ["--database", str(synthetic_database), "--models-dir", str(output), "--models", "logistic,retain",
                     "--folds", "2", "--max-epochs", "2", "--no-knowledge", "--no-export", "--workers", workers]  # fmt: skip
        assert main(arguments) == 0, capsys.readouterr().out
        records[workers] = json.loads((output / "benchmark.json").read_text())
    assert "on 2 worker process(es)" in capsys.readouterr().out
    for alone, parallel in zip(records["1"]["models"], records["2"]["models"], strict=True):
        assert alone["model"] == parallel["model"]
        for fold_alone, fold_parallel in zip(alone["folds"], parallel["folds"], strict=True):
            assert fold_alone["fold"] == fold_parallel["fold"]
            assert fold_alone["metrics"] == pytest.approx(fold_parallel["metrics"], abs=1e-6)
            assert fold_alone["threshold"] == fold_parallel["threshold"]


def test_a_worker_whose_data_differs_fails_its_jobs_with_the_reason(synthetic_database: Path, monkeypatch):
    """A worker never trains on other data than the parent's, and never dies in the initialiser (the pool would restart it forever)."""
    from medrec_training import benchmark
    from medrec_training.models import load_model_class
    from medrec_training.models.base import ModelConfig

    monkeypatch.setattr(benchmark, "_worker_data", None)
    monkeypatch.setattr(benchmark, "_worker_error", None)
    source = benchmark.DataSource(str(synthetic_database), str(synthetic_database.parent), 2, False, 1, fingerprint="not this data")
    benchmark._start_worker(source)
    with pytest.raises(benchmark.JobFailed, match="built different data .* changed during the run"):
        benchmark._fold_job("logistic", load_model_class("logistic"), ModelConfig(), 2, 42, 0)
    missing = benchmark.DataSource(str(synthetic_database.parent / "absent.sqlite"), str(synthetic_database.parent), 2, False, 1, "x")
    benchmark._start_worker(missing)
    with pytest.raises(benchmark.JobFailed, match="could not read .*absent.sqlite"):
        benchmark._fold_job("logistic", load_model_class("logistic"), ModelConfig(), 2, 42, 0)


def test_benchmark_on_a_missing_database_fails_with_a_message(tmp_path: Path, capsys):
    code = main(["--database", str(tmp_path / "absent.sqlite"), "--models-dir", str(tmp_path / "out")])
    assert code == 1
    assert "absent.sqlite does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_benchmark_rejects_unknown_model_ids(synthetic_database: Path, tmp_path: Path, capsys):
    code = main(["--database", str(synthetic_database), "--models-dir", str(tmp_path), "--models", "retain,nope", "--no-knowledge"])
    assert code == 2
    assert "Unknown model(s) nope" in capsys.readouterr().err


def test_folds_split_patients_not_visits():
    patient_ids = [1, 1, 1, 2, 3, 3, 4, 5, 6, 7]
    folds = patient_folds(np.array(patient_ids), 3, seed=42)
    assert sorted(p for fold in folds for p in fold) == [1, 2, 3, 4, 5, 6, 7]
    assert [len(fold) for fold in folds] == [3, 2, 2]
    assert [f.tolist() for f in patient_folds(np.array(patient_ids), 3, seed=42)] == [f.tolist() for f in folds]


@pytest.mark.parametrize("folds", ["1", "0"])
def test_benchmark_needs_two_folds(folds: str):
    with pytest.raises(SystemExit):
        main(["--folds", folds])
