"""PyTorch eager timing of the model bench/inference.ts times in onnxruntime, on the same inputs.

    python bench/inference_torch.py MODEL_DIR INPUTS_JSON

Loads, in this order:
  0. MODEL_DIR/pytorch_model.pt, the state_dict the training export writes (hash checked against
     manifest.json), rebuilt through the training package's model class, with the drug knowledge rebuilt
     from the open data (MEDREC_DATA_DIR) for families that need it (CafeMed, MKMed, NLA-MMR, SafeDrug)
     by medrec_training.saved_model (the loader the re-export uses too);
  0b. for a folder exported before that file existed, the model class rebuilt from the manifest (family,
     vocabulary sizes) with its weights read from model.onnx's initializers — by name, or for a weight
     that export renamed, the one initializer of its shape (transposed for a linear layer's MatMul);
     only for models that need no drug knowledge base. The printed |p_torch − p_onnx| shows it worked;
  1. MODEL_DIR/model.pt, a whole pickled torch.nn.Module taking the five contract inputs (what the
     training pipeline would save beside model.onnx; training/ is put on sys.path to unpickle it);
  2. MODEL_DIR/weights.json of the test-fixture formula (tests/fixtures/models/make_fixtures.py),
     rebuilt as an equivalent torch module.
Prints one JSON object: {"available": false, "reason": ...} or the timings, and the largest difference
from the onnxruntime probabilities passed in INPUTS_JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    print(json.dumps({"available": False, "reason": reason}))
    sys.exit(0)


try:
    import numpy as np
    import torch
except ImportError as error:  # no torch: nothing to compare
    unavailable(f"python cannot import {error.name}")


class FixtureFormula(torch.nn.Module):
    """sigmoid(bias + Σ mask·present + (1 − mask)·absent + Σ mask_i·mask_j·interaction), as in make_fixtures.py."""

    def __init__(self, weights: dict) -> None:
        super().__init__()
        self.bias = torch.tensor(weights["bias"], dtype=torch.float32)
        self.sides = [m["side"] for m in weights["modalities"]]
        self.ids = [m["id"] for m in weights["modalities"]]
        self.absent = [torch.tensor(m["absent"], dtype=torch.float32) for m in weights["modalities"]]
        self.tables = [torch.tensor(m["weights"], dtype=torch.float32) for m in weights["modalities"]]
        self.projections = [torch.tensor(m["projection"], dtype=torch.float32) if "projection" in m else None for m in weights["modalities"]]
        self.interactions = [(i["i"], i["j"], torch.tensor(i["weight"], dtype=torch.float32)) for i in weights["interactions"]]

    def forward(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        codes = {"diagnoses": diagnoses, "procedures": procedures, "medication-history": medications}
        logit = self.bias.expand(diagnoses.shape[0], -1)
        for m, (side, modality_id) in enumerate(zip(self.sides, self.ids)):
            mask = modality_mask[:, m : m + 1]
            if side == "patient":
                present = (self.tables[m][codes[modality_id]].sum(2) * visit_mask.unsqueeze(2)).sum(1)
                if self.projections[m] is not None:
                    present = present @ self.projections[m]
            else:
                present = self.tables[m]
            logit = logit + mask * present + (1 - mask) * self.absent[m]
        for i, j, weight in self.interactions:
            logit = logit + modality_mask[:, i : i + 1] * modality_mask[:, j : j + 1] * weight
        return torch.sigmoid(logit)


FAMILY_CLASS = {"logistic": "logistic", "retain": "retain"}  # manifest family -> training registry id (no knowledge needed)


def _training_package() -> None:
    if str(ROOT / "training") not in sys.path:
        sys.path.insert(0, str(ROOT / "training"))


def load_saved_weights(model_dir: Path, manifest: dict) -> tuple[torch.nn.Module, str] | None:
    _training_package()
    from medrec_training.saved_model import SavedModelError, load_saved_model

    try:
        model = load_saved_model(model_dir, manifest)
    except SavedModelError as error:
        unavailable(str(error))
    return None if model is None else (model, "pytorch_model.pt (state_dict from the export)")


def load_from_onnx_initializers(model_dir: Path, manifest: dict) -> tuple[torch.nn.Module, str] | None:
    registry_id = FAMILY_CLASS.get(manifest.get("family", ""))
    if registry_id is None:
        return None
    _training_package()
    import onnx
    from onnx import numpy_helper

    from medrec_training.models import MODEL_REGISTRY
    from medrec_training.saved_model import build_model

    vocabularies = manifest["vocabularies"]
    sizes = {kind: len(vocabularies[kind]["entries"]) for kind in ("diagnosis", "procedure", "medication")}
    model = build_model(MODEL_REGISTRY[registry_id], sizes, {})
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model_dir / "model.onnx")).graph.initializer}
    state = {}
    unnamed = {name: array for name, array in initializers.items() if name not in model.state_dict()}
    for name, tensor in model.state_dict().items():
        if name in initializers:
            state[name] = torch.from_numpy(initializers[name].copy())
            continue
        shape = tuple(tensor.shape)
        same = [n for n, a in unnamed.items() if a.shape == shape]
        transposed = [n for n, a in unnamed.items() if a.shape == shape[::-1]] if len(shape) == 2 else []
        if len(same) == 1:
            state[name] = torch.from_numpy(unnamed.pop(same[0]).copy())
        elif len(transposed) == 1:
            state[name] = torch.from_numpy(unnamed.pop(transposed[0]).T.copy())
        else:
            unavailable(f"{model_dir / 'model.onnx'}: no unique initializer for {name} {shape}; the folder has no pytorch_model.pt")
    model.load_state_dict(state)
    return model.eval(), "model class rebuilt from the manifest, weights read from model.onnx's initializers"


def load(model_dir: Path) -> tuple[torch.nn.Module, str]:
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for loader in (load_saved_weights, load_from_onnx_initializers):
        found = loader(model_dir, manifest)
        if found is not None:
            return found
    pickled = model_dir / "model.pt"
    if pickled.exists():
        sys.path.insert(0, str(ROOT / "training"))
        module = torch.load(pickled, weights_only=False, map_location="cpu")
        if not isinstance(module, torch.nn.Module):
            unavailable(f"{pickled} holds a {type(module).__name__}, not a torch.nn.Module")
        return module.eval(), "model.pt"
    weights = model_dir / "weights.json"
    if weights.exists():
        return FixtureFormula(json.loads(weights.read_text())).eval(), "fixture formula (weights.json)"
    unavailable(
        f"no PyTorch weights beside {model_dir / 'model.onnx'}: exported before the export wrote pytorch_model.pt, and its "
        f"family ({manifest.get('family')}) cannot be rebuilt from model.onnx alone; re-export it (npm run bench:models) to compare"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    model_dir, inputs_path = Path(sys.argv[1]), Path(sys.argv[2])
    model, loader = load(model_dir)
    spec = json.loads(inputs_path.read_text())
    names = ["diagnoses", "procedures", "medications", "visit_mask", "modality_mask"]
    full = [torch.from_numpy(np.asarray(spec[n]["data"], dtype=spec[n]["dtype"]).reshape(spec[n]["dims"])) for n in names]
    one = [t[:1] for t in full]
    iterations = int(spec.get("iterations", 200))
    with torch.inference_mode():
        for _ in range(20):
            model(*one)
        single = []
        for _ in range(iterations):
            started = time.perf_counter()
            model(*one)
            single.append((time.perf_counter() - started) * 1000)
        batch = []
        for _ in range(max(5, iterations // 10)):
            started = time.perf_counter()
            output = model(*full)
            batch.append((time.perf_counter() - started) * 1000)
    expected = np.asarray(spec["onnxProbabilities"], dtype=np.float32).reshape(output.shape)
    # The app's session returns calibrated probabilities (the manifest's calibration.json): compare on that scale.
    compared = output.numpy()
    calibration = json.loads((model_dir / "manifest.json").read_text()).get("calibration")
    if calibration:
        _training_package()
        from medrec_training.calibration import Calibration

        compared = Calibration.from_json(json.loads((model_dir / calibration["file"]).read_text())).apply(compared)
    batch_p50 = percentile(batch, 0.5)
    print(
        json.dumps(
            {
                "available": True,
                "loader": loader,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "batch1": {"p50": percentile(single, 0.5), "p99": percentile(single, 0.99)},
                "batchN": {"size": int(full[0].shape[0]), "p50": batch_p50, "patientsPerSecond": full[0].shape[0] / (batch_p50 / 1000)},
                "maxAbsDiffFromOnnx": float(np.max(np.abs(compared - expected))),
                "calibrated": bool(calibration),
            }
        )
    )


if __name__ == "__main__":
    main()
