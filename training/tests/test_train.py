"""Retraining on a whole database (medrec_training.train): streamed reading equals the in-memory reading, and
data-parallel training with 2 gloo processes gives the same validation metrics as 1 process within noise."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from medrec_training.datasets import load_cohort
from medrec_training.export import manifest_schema
from medrec_training.metrics import evaluate, mean_jaccard
from medrec_training.streaming import StreamedSamples, finish_metrics, jaccard_sums, metric_sums, scan_database
from medrec_training.tasks import Limits, build_samples, build_vocabularies
from medrec_training.train import UnsupportedModel, main, train_database

from synthetic import write_database

# Two processes see the data in another order (each reads its own chunks), so their runs differ like two
# seeds of one process do; on this 200-patient database that is a few hundredths of validation Jaccard.
JACCARD_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_database(tmp_path_factory.mktemp("train") / "hospital.sqlite", patients=200, seed=11)


def test_streamed_scan_and_samples_equal_the_in_memory_reading(database: Path) -> None:
    cohort = load_cohort(database)
    expected_vocabularies = build_vocabularies(cohort)
    scan = scan_database(database, chunk_patients=17)
    for kind in ("diagnosis", "procedure", "medication"):
        assert getattr(scan.vocabularies, kind).to_manifest() == getattr(expected_vocabularies, kind).to_manifest()
    assert scan.limits == Limits.fit(cohort)
    expected = build_samples(cohort.patients, expected_vocabularies, scan.limits)
    assert list(scan.trainable) == sorted(set(expected.patient_ids.tolist()))
    assert scan.samples == len(expected)
    # Two processes' unshuffled chunks together hold every sample exactly once.
    rows = []
    for rank in range(2):
        stream = StreamedSamples(database, scan.trainable, scan.vocabularies, scan.limits, 3, 64, 17, rank, 2, shuffle=False)
        for samples in stream.chunk_samples():
            rows.extend(zip(samples.patient_ids.tolist(), samples.history_lengths.tolist(), samples.diagnoses.reshape(len(samples), -1).tolist()))
    expected_rows = list(zip(expected.patient_ids.tolist(), expected.history_lengths.tolist(), expected.diagnoses.reshape(len(expected), -1).tolist()))
    assert sorted(rows) == sorted(expected_rows)


def test_chunked_metric_sums_equal_evaluate(database: Path) -> None:
    cohort = load_cohort(database)
    vocabularies = build_vocabularies(cohort)
    samples = build_samples(cohort.patients, vocabularies, Limits.fit(cohort))
    probabilities = np.random.default_rng(3).random(samples.targets.shape).astype(np.float32)
    whole = evaluate(samples.targets, probabilities, samples.patient_ids, 0.4)
    halves = np.unique(samples.patient_ids)[:50]
    first = np.isin(samples.patient_ids, halves)
    totals: dict[str, float] = {}
    for part in (first, ~first):
        for name, value in metric_sums(samples.targets[part], probabilities[part], samples.patient_ids[part], 0.4).items():
            totals[name] = totals.get(name, 0.0) + value
    chunked = finish_metrics(totals)
    for name in ("jaccard", "f1", "precision", "recall", "prauc", "meds", "ece", "visits", "patients"):
        assert chunked[name] == pytest.approx(whole[name], abs=1e-9), name
    sums = jaccard_sums(samples.targets, probabilities, samples.patient_ids, [0.3, 0.6])
    patients = len(np.unique(samples.patient_ids))
    assert sums / patients == pytest.approx([mean_jaccard(samples.targets, probabilities, samples.patient_ids, t) for t in (0.3, 0.6)])


def _worker(rank: int, world: int, port: int, database: str, out: str, result_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        result = train_database(database, "logistic", out if rank == 0 else None, max_epochs=12, chunk_patients=25, device="cpu")
        if rank == 0:
            Path(result_file).write_text(json.dumps({"metrics": result.metrics, "processes": result.processes, "best_epoch": result.best_epoch, "threshold": result.threshold}))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_and_two_gloo_processes_agree_and_export_a_valid_folder(database: Path, tmp_path: Path) -> None:
    results = {}
    for world in (1, 2):
        out, result_file = tmp_path / f"model-{world}", tmp_path / f"result-{world}.json"
        mp.spawn(_worker, args=(world, _free_port(), str(database), str(out), str(result_file)), nprocs=world, join=True)
        results[world] = json.loads(result_file.read_text())
        manifest = json.loads((out / "manifest.json").read_text())
        jsonschema.validate(manifest, manifest_schema())
        assert manifest["id"] == f"model-{world}" and manifest["threshold"] == results[world]["threshold"]
        assert f"{world} process(es)" in manifest["provenance"]["trainedOn"]
        # calibrated on the validation patients, as the benchmark's exports; the threshold is on that scale
        assert manifest["calibration"]["method"] in ("temperature", "platt", "isotonic")
        assert "never trained on" in manifest["calibration"]["fittedOn"]
        assert json.loads((out / "calibration.json").read_text())["decisionThreshold"] == manifest["threshold"]
        sources = [source["name"] for source in manifest["provenance"]["sources"]]
        assert sources[0] == "Patient database hospital.sqlite (the hospital's own records)"
        assert not any("PhysioNet" in name for name in sources)  # the demos' ODbL does not describe a hospital's model
    assert results[2]["processes"] == 2
    one, two = results[1]["metrics"], results[2]["metrics"]
    assert one["patients"] == two["patients"] == 30  # the same validation patients
    print(f"validation jaccard: 1 process {one['jaccard']:.4f}, 2 processes {two['jaccard']:.4f}")
    assert abs(one["jaccard"] - two["jaccard"]) <= JACCARD_TOLERANCE, (one, two)
    assert one["jaccard"] > 0.3 and two["jaccard"] > 0.3  # both learned the synthetic signal


def test_refuses_models_it_cannot_stream_and_bad_arguments(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnsupportedModel, match="most-frequent is fitted from the whole training set"):
        train_database(database, "most-frequent", None)
    assert main(["--db", str(database), "--model", "no-such-model", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown model 'no-such-model'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
