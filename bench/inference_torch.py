"""PyTorch eager timing of the model bench/inference.ts times in onnxruntime, on the same inputs.

    python bench/inference_torch.py MODEL_DIR INPUTS_JSON

Loads, in this order:
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


def load(model_dir: Path) -> tuple[torch.nn.Module, str]:
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
    unavailable(f"no PyTorch weights beside {model_dir / 'model.onnx'} (the training export writes no model.pt)")


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
                "maxAbsDiffFromOnnx": float(np.max(np.abs(output.numpy() - expected))),
            }
        )
    )


if __name__ == "__main__":
    main()
