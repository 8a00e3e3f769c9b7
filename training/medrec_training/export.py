"""ONNX export with the manifest contract (models/manifest.schema.json), metrics file and parity fixture."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import jsonschema
import numpy as np
import torch

from . import __version__
from .models.base import MedRecModel
from .paths import project_root
from .provenance import sources_for
from .datasets import CodeKey, Visit
from .tasks import Limits, Vocabularies, Vocabulary, encode_history

OPSET = 17
INPUT_NAMES = ("diagnoses", "procedures", "medications", "visit_mask", "modality_mask")
OUTPUT_NAME = "probabilities"
PARITY_FILE = "parity.json"
PARITY_TOLERANCE = 1e-4


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_schema() -> dict:
    return json.loads((project_root() / "models" / "manifest.schema.json").read_text(encoding="utf-8"))


def validate_manifest(manifest: dict) -> None:
    """Raise jsonschema.ValidationError (with the failing path) if the manifest breaks the contract."""
    jsonschema.Draft202012Validator(manifest_schema(), format_checker=jsonschema.FormatChecker()).validate(manifest)


def example_histories(vocabularies: Vocabularies, limits: Limits, seed: int = 7) -> list[list[Visit]]:
    """Made-up patients for tracing and the parity fixture (no real patient's codes are shipped).

    They cover a single visit, a history with medications, more visits than maxVisits, more codes than
    the limits, and codes outside the vocabulary, so the app's encoder is checked on each of those.
    """
    rng = np.random.default_rng(seed)

    def pick(vocabulary: Vocabulary, count: int) -> list[CodeKey]:
        count = min(count, len(vocabulary))
        chosen = rng.choice(len(vocabulary), size=count, replace=False) if count else []
        return [(vocabulary.entries[i].system, vocabulary.entries[i].code) for i in chosen]

    def visit(number: int, diagnoses: int, procedures: int, medications: int, unknown: bool = False) -> Visit:
        dx = pick(vocabularies.diagnosis, diagnoses) + ([("ICD-10-CM", "ZZZ99")] if unknown else [])
        return Visit(
            visit_id=number,
            sort_key=f"{number:04d}",
            diagnoses=tuple(dx),
            procedures=tuple(pick(vocabularies.procedure, procedures)),
            medications=tuple(sorted(code for _, code in pick(vocabularies.medication, medications))),
        )

    return [
        [visit(1, 3, 2, 4)],
        [visit(1, 2, 1, 3), visit(2, 4, 0, 5), visit(3, 2, 2, 2)],
        [visit(n, 2, 1, 2) for n in range(limits.max_visits + 2)],
        [visit(1, limits.max_diagnoses + 3, limits.max_procedures + 2, limits.max_medications + 2, unknown=True), visit(2, 1, 0, 0, unknown=True)],
    ]


def example_inputs(model: MedRecModel, histories: Sequence[Sequence[Visit]], vocabularies: Vocabularies, limits: Limits) -> tuple[torch.Tensor, ...]:
    """Encoded histories; the second half masks one modality each so masking is checked too."""
    encoded = [encode_history(history, vocabularies, limits)[:4] for history in histories]
    arrays = [np.stack([row[k] for row in encoded]) for k in range(4)]
    modality_mask = np.ones((len(histories), len(model.modalities())), dtype=np.float32)
    for position in range(len(histories) // 2, len(histories)):
        modality_mask[position, position % modality_mask.shape[1]] = 0.0
    return tuple(torch.from_numpy(a) for a in arrays) + (torch.from_numpy(modality_mask),)


def _visit_json(visit: Visit) -> dict:
    return {
        "diagnoses": [{"system": system, "code": code} for system, code in visit.diagnoses],
        "procedures": [{"system": system, "code": code} for system, code in visit.procedures],
        "medications": list(visit.medications),
    }


def export_onnx(model: MedRecModel, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    model.eval()
    dynamic_axes = {name: {0: "batch"} for name in INPUT_NAMES} | {OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    declare_every_input(path, inputs)


def declare_every_input(
    path: Path, inputs: tuple[torch.Tensor, ...], names: Sequence[str] = INPUT_NAMES, first_dims: dict[str, str] | None = None
) -> None:
    """Keep every named input in the graph, in the given order.

    The exporter drops inputs a model never reads (the frequency baseline reads none; the no-history
    ablations never read medications), but the app feeds every input of the contract, so unused ones
    are declared back as (ignored) graph inputs. `first_dims` names each input's dynamic first axis
    (default "batch").
    """
    import onnx

    graph_model = onnx.load(str(path))
    declared = {value.name: value for value in graph_model.graph.input}
    if all(name in declared for name in names):
        return
    element_types = {torch.int64: onnx.TensorProto.INT64, torch.float32: onnx.TensorProto.FLOAT}
    ordered = []
    for name, tensor in zip(names, inputs, strict=True):
        first = (first_dims or {}).get(name, "batch")
        ordered.append(
            declared.get(name) or onnx.helper.make_tensor_value_info(name, element_types[tensor.dtype], [first, *tensor.shape[1:]])
        )
    del graph_model.graph.input[:]
    graph_model.graph.input.extend(ordered)
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))


def tensor_json(tensor: torch.Tensor) -> dict:
    array = tensor.detach().numpy()
    return {"dtype": str(array.dtype), "dims": list(array.shape), "data": array.ravel().tolist()}


def write_parity_fixture(
    model: MedRecModel, histories: Sequence[Sequence[Visit]], inputs: tuple[torch.Tensor, ...], path: Path
) -> None:
    """Visits, their encoded inputs and the PyTorch outputs.

    The parity tests rerun the inputs through onnxruntime (Python and onnxruntime-node) and the
    TypeScript test also re-encodes the visits with the app's encoder and compares the tensors.
    """
    with torch.no_grad():
        expected = model(*inputs)
    fixture = {
        "tolerance": PARITY_TOLERANCE,
        "visits": [[_visit_json(visit) for visit in history] for history in histories],
        "inputs": {name: tensor_json(tensor) for name, tensor in zip(INPUT_NAMES, inputs, strict=True)},
        "outputs": {OUTPUT_NAME: tensor_json(expected)},
    }
    path.write_text(json.dumps(fixture), encoding="utf-8")


@dataclass(frozen=True)
class ExportRequest:
    model_id: str
    model: MedRecModel
    vocabularies: Vocabularies
    limits: Limits
    threshold: float
    threshold_chosen_on: str
    split: str
    trained_on: str
    metrics: dict[str, Any]
    description: str | None = None
    # The patient data trained on, replacing the PhysioNet demos that sources_for names (e.g. a hospital's database).
    patient_data_source: dict[str, str] | None = None
    # calibration.json's content (calibration.calibration_document): the app applies it to every probability and
    # `threshold` then applies to calibrated probabilities.
    calibration: dict[str, Any] | None = None


def tensor_specs(limits: Limits, modality_count: int, medication_count: int) -> tuple[list[dict], list[dict]]:
    inputs = [
        {"name": "diagnoses", "dtype": "int64", "shape": ["batch", limits.max_visits, limits.max_diagnoses]},
        {"name": "procedures", "dtype": "int64", "shape": ["batch", limits.max_visits, limits.max_procedures]},
        {"name": "medications", "dtype": "int64", "shape": ["batch", limits.max_visits, limits.max_medications]},
        {"name": "visit_mask", "dtype": "float32", "shape": ["batch", limits.max_visits]},
        {"name": "modality_mask", "dtype": "float32", "shape": ["batch", modality_count]},
    ]
    outputs = [{"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", medication_count]}]
    return inputs, outputs


PYTORCH_WEIGHTS_FILE = "pytorch_model.pt"
PHYSIONET_DEMOS = ("MIMIC-IV Clinical Database Demo", "eICU Collaborative Research Database Demo")


def _sources(request: "ExportRequest", model: MedRecModel) -> list[dict[str, str]]:
    sources = sources_for(uses_drug_knowledge=model.requires_knowledge)
    if request.patient_data_source is None:
        return sources
    return [request.patient_data_source] + [s for s in sources if not s["name"].startswith(PHYSIONET_DEMOS)]


def write_pytorch_weights(model: MedRecModel, path: Path) -> None:
    """The state_dict and what rebuilds the module around it (bench/inference_torch.py loads it).

    Plain tensors and builtins only, so torch.load(weights_only=True) reads it without unpickling code.
    """
    config = model.config
    torch.save(
        {
            "class": f"{type(model).__module__}:{type(model).__qualname__}",
            "vocab_sizes": {"diagnosis": model.vocab_sizes.diagnosis, "procedure": model.vocab_sizes.procedure, "medication": model.vocab_sizes.medication},
            "config": {name: getattr(config, name) for name in config.__dataclass_fields__ if name != "options"},
            "config_options": json.dumps(config.options, default=str),
            "requires_knowledge": bool(model.requires_knowledge),
            "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        },
        path,
    )


def export_model_folder(request: ExportRequest, folder: Path) -> dict:
    """Write model.onnx, parity.json, metrics.json and manifest.json into `folder`; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    model = request.model.eval()
    histories = example_histories(request.vocabularies, request.limits)
    inputs = example_inputs(model, histories, request.vocabularies, request.limits)
    onnx_path = folder / "model.onnx"
    export_onnx(model, inputs, onnx_path)
    write_parity_fixture(model, histories, inputs, folder / PARITY_FILE)
    write_pytorch_weights(model, folder / PYTORCH_WEIGHTS_FILE)
    (folder / "metrics.json").write_text(json.dumps(request.metrics, indent=2), encoding="utf-8")
    # Model-specific files beside model.onnx (e.g. NLA-MMR's cold-start graph and text encoder):
    # {"extraFiles": [{file, purpose}], "textEncoder": str, "sources": [...], "description": str appended
    # to the manifest description (e.g. CafeMed's effect estimator and its assumptions)}, all optional.
    extras = model.export_extras(folder, inputs) if hasattr(model, "export_extras") else {}
    calibration_entry = None
    if request.calibration is not None:
        from .calibration import CALIBRATION_FILE, write_calibration

        write_calibration(request.calibration, folder / CALIBRATION_FILE)
        calibration_entry = {
            "file": CALIBRATION_FILE,
            "sha256": sha256_of(folder / CALIBRATION_FILE),
            "method": request.calibration["method"],
            "fittedOn": request.calibration["fittedOn"],
        }
    input_specs, output_specs = tensor_specs(request.limits, len(model.modalities()), len(request.vocabularies.medication))
    manifest: dict[str, Any] = {
        "schemaVersion": 1,
        "id": request.model_id,
        "family": model.family,
        "version": __version__,
        "createdAt": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "description": " ".join(
            filter(None, [request.description or f"{model.display_name} trained by medrec_training.", extras.get("description")])
        ),
        "paper": {"title": model.paper.title, **({"reference": model.paper.reference} if model.paper.reference else {})},
        "onnx": {"file": "model.onnx", "sha256": sha256_of(onnx_path)},
        "extraFiles": [
            {
                "file": PARITY_FILE,
                "sha256": sha256_of(folder / PARITY_FILE),
                "purpose": "parity fixture: example inputs and the PyTorch outputs the ONNX model must reproduce (1e-4)",
            },
            {
                "file": PYTORCH_WEIGHTS_FILE,
                "sha256": sha256_of(folder / PYTORCH_WEIGHTS_FILE),
                "purpose": "PyTorch weights of model.onnx (state_dict, model class, vocabulary sizes, configuration) for comparisons in PyTorch eager",
            },
            *({**row, "sha256": sha256_of(folder / row["file"])} for row in extras.get("extraFiles", [])),
        ],
        "inputs": input_specs,
        "outputs": output_specs,
        "limits": request.limits.to_manifest(),
        "vocabularies": {
            "diagnosis": request.vocabularies.diagnosis.to_manifest(),
            "procedure": request.vocabularies.procedure.to_manifest(),
            "medication": request.vocabularies.medication.to_manifest(),
        },
        "modalities": [{"id": m.id, "label": m.label, "side": m.side} for m in model.modalities()],
        "threshold": request.threshold,
        "thresholdChosenOn": request.threshold_chosen_on,
        **({"calibration": calibration_entry} if calibration_entry else {}),
        "provenance": {
            "sources": _sources(request, model) + extras.get("sources", []),
            "split": request.split,
            "trainedOn": request.trained_on,
            **({"textEncoder": extras["textEncoder"]} if "textEncoder" in extras else {}),
        },
        "metricsFile": "metrics.json",
        # With the hashes above the manifest lists every file of the folder, so scripts/sign-models.ts can
        # sign a freshly exported folder (the app refuses unsigned ones).
        "metricsSha256": sha256_of(folder / "metrics.json"),
    }
    validate_manifest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def run_parity(folder: Path) -> float:
    """Largest absolute difference between onnxruntime and the stored PyTorch outputs of a model folder."""
    import onnxruntime

    fixture = json.loads((folder / PARITY_FILE).read_text(encoding="utf-8"))
    feeds = {
        name: np.asarray(spec["data"], dtype=spec["dtype"]).reshape(spec["dims"]) for name, spec in fixture["inputs"].items()
    }
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT_NAME], feeds)
    expected_spec = fixture["outputs"][OUTPUT_NAME]
    expected = np.asarray(expected_spec["data"], dtype=np.float32).reshape(expected_spec["dims"])
    return float(np.max(np.abs(actual - expected)))
