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
from medrec_training.train import UnsupportedModel, calibration_sample, main, train_database, validation_split

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


def _exported(out: Path, threshold: float) -> tuple[dict, dict]:
    """The acceptance checks of an exported folder: manifest schema, id, threshold and calibration on one scale."""
    manifest = json.loads((out / "manifest.json").read_text())
    jsonschema.validate(manifest, manifest_schema())
    calibration = json.loads((out / "calibration.json").read_text())
    assert manifest["id"] == out.name and manifest["threshold"] == threshold == calibration["decisionThreshold"]
    assert manifest["calibration"]["method"] == calibration["method"] in ("temperature", "platt", "isotonic")
    assert manifest["calibration"]["fittedOn"] == calibration["fittedOn"] and "never trained on" in calibration["fittedOn"]
    assert len(calibration["missRate"]["thresholds"]) == 50
    return manifest, calibration


def _validation_visits(database: Path) -> tuple[np.ndarray, np.ndarray]:
    """train_database's validation patients (seed 42) and their samples, from the scan."""
    scan = scan_database(database)
    patients = validation_split(scan.trainable, 42)
    return patients, scan.trainable_samples[np.searchsorted(scan.trainable, patients)]


def test_calibration_is_fitted_on_a_seeded_sample_of_whole_validation_patients_bounded_by_the_cap(database: Path, tmp_path: Path) -> None:
    validation, visits = _validation_visits(database)
    cap = 30
    assert len(validation) == 30 and visits.sum() > cap  # so the cap bites
    result = train_database(database, "logistic", tmp_path / "sampled", max_epochs=3, chunk_patients=7, device="cpu", calibration_visits=cap)
    # The seeded sample, chosen from the scan's counts: fewer than all validation patients, whole, at most `cap` visits.
    chosen = calibration_sample(validation, visits, cap, 42)
    assert set(chosen.tolist()) < set(validation.tolist())
    assert result.calibration_patients == len(chosen) >= 2
    # the samples streamed for calibration are exactly the chosen patients' (none split, none of another patient)
    assert result.calibration_visits == visits[np.isin(validation, chosen)].sum() <= cap
    manifest, calibration = _exported(tmp_path / "sampled", result.threshold)
    assert calibration["validationPatients"] == len(chosen)
    said = (
        f"a random sample of whole validation patients (seed 42, at most --calibration-visits {cap} visits): "
        f"{len(chosen)} of 30 patients, {result.calibration_visits} of {visits.sum()} visits"
    )
    assert calibration["fittedOn"] == f"{said}; the validation patients are 15% of patients (seed 42), never trained on"
    assert manifest["thresholdChosenOn"] == f"{said}; best grid Jaccard of the calibrated probabilities"
    assert result.parity_max_abs_diff is not None and result.parity_max_abs_diff < 1e-4
    # The same seed draws the same patients, another seed others; a larger cap more of them.
    assert np.array_equal(calibration_sample(validation, visits, cap, 42), chosen)
    assert not np.array_equal(calibration_sample(validation, visits, cap, 43), chosen)
    assert len(calibration_sample(validation, visits, 2 * cap, 42)) > len(chosen)


def test_a_cap_above_the_validation_visits_gives_the_calibration_of_all_of_them_byte_for_byte(database: Path, tmp_path: Path) -> None:
    _, visits = _validation_visits(database)
    total = int(visits.sum())
    files = {}
    for name, cap in (("uncapped", None), ("exact", total), ("above", 10 * total)):
        result = train_database(database, "logistic", tmp_path / name, max_epochs=3, chunk_patients=7, device="cpu", calibration_visits=cap)
        assert (result.calibration_patients, result.calibration_visits) == (30, total)
        manifest, calibration = _exported(tmp_path / name, result.threshold)
        # the card of a calibration on every validation patient, as before the cap existed
        assert calibration["fittedOn"] == "validation patients: 30 (15%, seed 42), never trained on"
        assert calibration["validationPatients"] == 30
        assert manifest["thresholdChosenOn"].startswith(f"validation patients (30, 15% of patients, seed 42; all {total} of their visits;")
        files[name] = (tmp_path / name / "calibration.json").read_bytes()
    assert files["exact"] == files["uncapped"] and files["above"] == files["uncapped"]


@pytest.mark.parametrize(("value", "said"), [("0", "got 0"), ("-1", "got -1"), ("x", "got 'x'"), ("2.5", "got '2.5'")])
def test_refuses_a_calibration_cap_that_is_not_a_positive_integer(
    database: Path, tmp_path: Path, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", str(database), "--model", "logistic", "--out", str(tmp_path / "x"), "--calibration-visits", value])
    assert exit_info.value.code == 2
    assert f"argument --calibration-visits: must be a positive integer (a number of visits), {said}" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_refuses_a_calibration_cap_below_two_whole_patients_before_training(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(database), "--model", "logistic", "--out", str(tmp_path / "x"), "--calibration-visits", "1"]) == 2
    captured = capsys.readouterr()
    assert "--calibration-visits 1 is too small: calibration needs at least two whole validation patients" in captured.err
    assert captured.out == ""  # refused before the first log line, so before training
    assert not (tmp_path / "x").exists()
