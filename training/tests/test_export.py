"""ONNX export: manifest contract, hashes, parity with onnxruntime, dynamic batch; and the shipped model folders."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import onnxruntime
import pytest
import torch

from medrec_training.export import (
    INPUT_NAMES,
    PARITY_TOLERANCE,
    ExportRequest,
    export_model_folder,
    run_parity,
    sha256_of,
    validate_manifest,
)
from medrec_training.models.base import ModelConfig
from medrec_training.models.logistic import LogisticRegressionModel
from medrec_training.models.most_frequent import MostFrequentModel
from medrec_training.models.retain import RetainModel
from medrec_training.paths import models_dir, project_root
from medrec_training.provenance import sources_for
from medrec_training.training import train_model


def export(prepared, model_class, folder: Path) -> dict:
    fit = train_model(model_class, prepared.vocabularies.sizes(), None, ModelConfig(max_epochs=2), prepared.samples)
    return export_model_folder(
        ExportRequest(
            model_id=f"test-{model_class.family}",
            model=fit.model,
            vocabularies=prepared.vocabularies,
            limits=prepared.limits,
            threshold=fit.threshold,
            threshold_chosen_on="default 0.5",
            split="test split",
            trained_on="all synthetic patients",
            metrics={"jaccard": 0.0},
        ),
        folder,
    )


@pytest.mark.parametrize("model_class", [MostFrequentModel, LogisticRegressionModel, RetainModel], ids=lambda c: c.family)
def test_export_writes_a_valid_folder_that_onnxruntime_reproduces(prepared, model_class, tmp_path: Path):
    manifest = export(prepared, model_class, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "metrics.json", "model.onnx", "parity.json", "pytorch_model.pt"]
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    validate_manifest(on_disk)
    assert on_disk["onnx"]["sha256"] == sha256_of(tmp_path / "model.onnx")
    assert on_disk["extraFiles"][0]["sha256"] == sha256_of(tmp_path / "parity.json")
    # The manifest lists every other file of the folder with its sha256, metrics included, so
    # scripts/sign-models.ts can sign the folder as exported.
    declared = {on_disk["onnx"]["file"]: on_disk["onnx"]["sha256"], on_disk["metricsFile"]: on_disk["metricsSha256"]}
    declared.update({extra["file"]: extra["sha256"] for extra in on_disk["extraFiles"]})
    assert declared == {p.name: sha256_of(p) for p in tmp_path.iterdir() if p.name != "manifest.json"}
    # The PyTorch weights: hashed in the manifest, readable without unpickling code, equal to the model's.
    assert on_disk["extraFiles"][1] == {**on_disk["extraFiles"][1], "file": "pytorch_model.pt", "sha256": sha256_of(tmp_path / "pytorch_model.pt")}
    saved = torch.load(tmp_path / "pytorch_model.pt", weights_only=True)
    assert saved["class"] == f"{model_class.__module__}:{model_class.__qualname__}"
    assert saved["state_dict"].keys() == model_class(prepared.vocabularies.sizes(), None, ModelConfig()).state_dict().keys()
    assert on_disk["family"] == model_class.family
    assert [e["code"] for e in on_disk["vocabularies"]["medication"]["entries"]] == prepared.vocabularies.medication.codes()
    assert on_disk["limits"]["maxVisits"] == prepared.limits.max_visits
    assert run_parity(tmp_path) <= PARITY_TOLERANCE

    # Every contract input is declared (even those the model ignores) and the batch size is free.
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    fixture = json.loads((tmp_path / "parity.json").read_text())
    for batch in (1, 9):
        feeds = {}
        for name, spec in fixture["inputs"].items():
            one = np.asarray(spec["data"], dtype=spec["dtype"]).reshape(spec["dims"])[:1]
            feeds[name] = np.repeat(one, batch, axis=0)
        (output,) = session.run(["probabilities"], feeds)
        assert output.shape == (batch, len(prepared.vocabularies.medication))


def test_parity_fixture_covers_masking_truncation_and_unknown_codes(prepared, tmp_path: Path):
    export(prepared, RetainModel, tmp_path)
    fixture = json.loads((tmp_path / "parity.json").read_text())
    inputs = {name: np.asarray(s["data"], dtype=s["dtype"]).reshape(s["dims"]) for name, s in fixture["inputs"].items()}
    assert inputs["modality_mask"].min() == 0 and inputs["modality_mask"].max() == 1
    assert (inputs["diagnoses"] == 1).any()  # an unknown code
    limits = prepared.limits
    assert max(len(history) for history in fixture["visits"]) > limits.max_visits  # visits beyond the limit
    assert inputs["visit_mask"].sum(axis=1).max() == limits.max_visits
    longest = max(len(v["diagnoses"]) for history in fixture["visits"] for v in history)
    assert longest > limits.max_diagnoses  # codes beyond the limit
    assert fixture["tolerance"] == PARITY_TOLERANCE


def test_manifest_against_the_schema_rejects_broken_manifests(prepared, tmp_path: Path):
    manifest = export(prepared, LogisticRegressionModel, tmp_path)
    for breakage in (
        lambda m: m.update(threshold=1.5),
        lambda m: m.update(family="unknown-family"),
        lambda m: m["onnx"].update(sha256="abc"),
        lambda m: m.pop("provenance"),
    ):
        broken = json.loads(json.dumps(manifest))
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate_manifest(broken)


def test_provenance_names_licenses_and_matches_the_app_attributions():
    attributions = (project_root() / "src" / "shared" / "domain" / "attributions.ts").read_text(encoding="utf-8")
    sources = sources_for(uses_drug_knowledge=True)
    licenses = {source["name"]: source["license"] for source in sources}
    assert licenses["MIMIC-IV Clinical Database Demo v2.2 (PhysioNet)"] == "Open Database License (ODbL) 1.0"
    assert licenses["DDInter drug–drug interactions v1"].startswith("CC BY-NC-SA 4.0")
    assert licenses["Medication and code mapping tables (ethos-paper, MoleRec, PyHealth)"] == "MIT License"
    for source in sources:
        assert f"name: '{source['name']}'" in attributions, source["name"]
    assert "DDInter drug–drug interactions v1" not in {s["name"] for s in sources_for(uses_drug_knowledge=False)}


def shipped_model_folders() -> list[Path]:
    # Model folders ship an ONNX graph; models/drug-choice is the within-class artefact with a manifest of its own.
    return sorted(path.parent for path in models_dir().glob("*/manifest.json") if (path.parent / "model.onnx").exists())


def test_at_least_one_model_is_shipped():
    assert shipped_model_folders(), f"no model folder under {models_dir()}: run python -m medrec_training.benchmark"


@pytest.mark.parametrize("folder", shipped_model_folders(), ids=lambda p: p.name)
def test_shipped_model_folder_is_valid_and_reproduces_pytorch(folder: Path):
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    validate_manifest(manifest)
    assert manifest["id"] == folder.name
    assert manifest["onnx"]["sha256"] == sha256_of(folder / manifest["onnx"]["file"])
    for extra in manifest.get("extraFiles", []):
        assert extra["sha256"] == sha256_of(folder / extra["file"])
    assert (folder / manifest["metricsFile"]).exists()
    assert run_parity(folder) <= PARITY_TOLERANCE
