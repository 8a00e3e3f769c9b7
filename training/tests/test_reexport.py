"""Re-export of a model folder from its pytorch_model.pt, and the padding trim the inference graphs use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medrec_training.export import PARITY_TOLERANCE, ExportRequest, export_model_folder, run_parity, sha256_of, validate_manifest
from medrec_training.models.base import ModelConfig, trim_padding
from medrec_training.models.retain import RetainModel
from medrec_training.reexport import database_inputs, onnx_outputs, reexport
from medrec_training.saved_model import load_saved_model, manifest_limits, manifest_vocabularies
from medrec_training.training import train_model


def exported_folder(prepared, folder: Path) -> Path:
    fit = train_model(RetainModel, prepared.vocabularies.sizes(), None, ModelConfig(max_epochs=1), prepared.samples)
    export_model_folder(
        ExportRequest(
            model_id="test-retain",
            model=fit.model,
            vocabularies=prepared.vocabularies,
            limits=prepared.limits,
            threshold=0.5,
            threshold_chosen_on="default 0.5",
            split="test split",
            trained_on="all synthetic patients",
            metrics={"jaccard": 0.0},
        ),
        folder,
    )
    return folder


def test_reexport_rewrites_the_graphs_from_the_saved_weights_and_keeps_the_manifest_consistent(prepared, synthetic_database: Path, tmp_path: Path):
    folder = exported_folder(prepared, tmp_path / "model")
    before = json.loads((folder / "manifest.json").read_text())
    weights, metrics = sha256_of(folder / "pytorch_model.pt"), sha256_of(folder / "metrics.json")

    differences = reexport(folder, synthetic_database)

    assert set(differences) == {"model.onnx"} and differences["model.onnx"] <= 1e-5
    after = json.loads((folder / "manifest.json").read_text())
    validate_manifest(after)
    assert after["onnx"]["sha256"] == sha256_of(folder / "model.onnx")
    assert {row["file"]: row["sha256"] for row in after["extraFiles"]} == {
        name: sha256_of(folder / name) for name in ("parity.json", "pytorch_model.pt")
    }
    # Same weights, metrics, vocabularies and creation date: only the graph files' hashes may change.
    assert sha256_of(folder / "pytorch_model.pt") == weights and after["metricsSha256"] == metrics == sha256_of(folder / "metrics.json")
    assert {k: v for k, v in after.items() if k not in ("onnx", "extraFiles")} == {k: v for k, v in before.items() if k not in ("onnx", "extraFiles")}
    assert run_parity(folder) <= PARITY_TOLERANCE


def test_reexport_refuses_weights_that_do_not_give_the_shipped_outputs_and_writes_nothing(prepared, synthetic_database: Path, tmp_path: Path):
    folder = exported_folder(prepared, tmp_path / "model")
    saved = torch.load(folder / "pytorch_model.pt", weights_only=True)
    name = next(n for n, t in saved["state_dict"].items() if t.dtype == torch.float32 and t.numel() > 1)
    saved["state_dict"][name] = saved["state_dict"][name] + 0.5  # no longer the weights model.onnx was traced from
    torch.save(saved, folder / "pytorch_model.pt")
    manifest = json.loads((folder / "manifest.json").read_text())
    next(row for row in manifest["extraFiles"] if row["file"] == "pytorch_model.pt")["sha256"] = sha256_of(folder / "pytorch_model.pt")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    files = {p.name: sha256_of(p) for p in folder.iterdir()}

    with pytest.raises(ValueError, match="differ from the shipped ones by"):
        reexport(folder, synthetic_database)
    assert {p.name: sha256_of(p) for p in folder.iterdir()} == files


def test_database_inputs_score_every_visit_with_and_without_one_modality(prepared, synthetic_database: Path, tmp_path: Path):
    folder = exported_folder(prepared, tmp_path / "model")
    manifest = json.loads((folder / "manifest.json").read_text())
    model = load_saved_model(folder, manifest)
    feeds = database_inputs(model, synthetic_database, manifest_vocabularies(manifest), manifest_limits(manifest))
    visits = sum(len(p.visits) for p in prepared.cohort.patients)
    assert len(feeds["visit_mask"]) == 2 * visits
    masks = feeds["modality_mask"]
    assert (masks[:visits] == 1).all() and (masks[visits:].sum(axis=1) == masks.shape[1] - 1).all()
    (probabilities,) = onnx_outputs(folder / "model.onnx", feeds, batch=7)
    with torch.no_grad():
        expected = model(*(torch.from_numpy(feeds[n]) for n in ("diagnoses", "procedures", "medications", "visit_mask", "modality_mask")))
    np.testing.assert_allclose(probabilities, expected.numpy(), atol=1e-5, rtol=0)


def test_trim_padding_drops_only_slots_that_are_padding_in_every_sample():
    diagnoses = torch.zeros(2, 5, 6, dtype=torch.long)
    procedures = torch.zeros(2, 5, 4, dtype=torch.long)
    medications = torch.zeros(2, 5, 3, dtype=torch.long)
    visit_mask = torch.zeros(2, 5)
    visit_mask[0, :2] = 1.0
    visit_mask[1, :3] = 1.0
    diagnoses[0, 0, [0, 3]] = 4  # a gap at slots 1-2 is kept: only trailing padding goes
    diagnoses[1, 2, 0] = 7
    procedures[1, 1, 1] = 2
    trimmed = trim_padding(diagnoses, procedures, medications, visit_mask)
    assert [tuple(t.shape) for t in trimmed] == [(2, 3, 4), (2, 3, 2), (2, 3, 1), (2, 3)]
    assert trimmed[0].sum() == diagnoses.sum() and trimmed[1].sum() == procedures.sum()
    torch.testing.assert_close(trimmed[3], visit_mask[:, :3])
