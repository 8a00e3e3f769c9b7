"""Re-export a shipped model folder's ONNX graphs from its own pytorch_model.pt, without retraining.

    python -m medrec_training.reexport ../models/<id> [--database resources/demo.sqlite] [--tolerance 1e-5]

For when the inference path of a model class changed but not its parameters (e.g. a faster, algebraically
identical compute_logits): the same weights are traced again. Before anything is written, the new graph and the
folder's current model.onnx both score every visit of every patient of the database (each visit as the current
one, all modalities on and, once more, with one modality off in turn); the largest |Δ probability| is printed and
the folder is left untouched when it exceeds the tolerance. Then model.onnx, parity.json and the family's own
graphs that run the same forward (CafeMed's causal-weights.onnx, NLA-MMR's model_cold_start.onnx with its parity
fixture) are rewritten, and the manifest's hashes of those files updated. Weights, metrics, calibration, the
vocabularies and createdAt stay as they are. Re-sign the folder afterwards (npm run sign-models).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from .datasets import load_cohort
from .export import (
    INPUT_NAMES,
    OUTPUT_NAME,
    PARITY_FILE,
    example_histories,
    example_inputs,
    export_onnx,
    sha256_of,
    validate_manifest,
    write_parity_fixture,
)
from .models.base import MedRecModel
from .paths import default_database_path
from .saved_model import SavedModelError, load_saved_model, manifest_limits, manifest_vocabularies
from .tasks import Limits, Vocabularies, encode_history

DEFAULT_TOLERANCE = 1e-5


def database_inputs(model: MedRecModel, database: Path, vocabularies: Vocabularies, limits: Limits) -> dict[str, np.ndarray]:
    """Every visit of every patient as the current visit, twice: all modalities on, then modality (row mod M) off."""
    rows = [encode_history(patient.visits[: end + 1], vocabularies, limits)[:4] for patient in load_cohort(database).patients for end in range(len(patient.visits))]
    if not rows:
        raise ValueError(f"{database}: no visits to compare the graphs on")
    arrays = [np.concatenate([np.stack([row[k] for row in rows])] * 2) for k in range(4)]
    modality_mask = np.ones((len(arrays[0]), len(model.modalities())), dtype=np.float32)
    half = len(rows)
    modality_mask[half + np.arange(half), np.arange(half) % modality_mask.shape[1]] = 0.0
    return dict(zip(INPUT_NAMES, [*arrays, modality_mask], strict=True))


def onnx_outputs(path: Path, feeds: dict[str, np.ndarray], batch: int = 512) -> list[np.ndarray]:
    """Every output of the graph at `path` for `feeds` (run in slices of `batch` rows)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # Inputs beyond the contract's five (NLA-MMR's cold-start text tables) get empty tables: no new codes.
    empty = {i.name: np.zeros((0, *i.shape[1:]), dtype=np.float32) for i in session.get_inputs() if i.name not in feeds}
    total = len(next(iter(feeds.values())))
    parts = [session.run(None, {**{n: a[start : start + batch] for n, a in feeds.items()}, **empty}) for start in range(0, total, batch)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def _family_graphs(model: MedRecModel, inputs: tuple[torch.Tensor, ...], staging: Path) -> list[str]:
    """Write the family's other graphs that trace the same forward into `staging`; returns their file names."""
    from .models.cafemed import WEIGHTS_FILE, CafeMed, export_causal_weights
    from .models.nla_mmr import NLAMMR

    if isinstance(model, CafeMed) and model.uses_causal_effects:
        export_causal_weights(model, inputs, staging / WEIGHTS_FILE)
        return [WEIGHTS_FILE]
    if isinstance(model, NLAMMR):
        from .text.cold_start import COLD_START_FILE, COLD_START_PARITY_FILE, export_cold_start_graph

        error = export_cold_start_graph(model, inputs, staging)
        print(f"  {COLD_START_FILE}: max |onnxruntime - PyTorch| on its parity fixture {error:.2e}")
        return [COLD_START_FILE, COLD_START_PARITY_FILE]
    return []


def reexport(folder: Path, database: Path, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, float]:
    """Re-export `folder` in place (see the module docstring); returns the max |Δ| of each compared graph."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    model = load_saved_model(folder, manifest)
    if model is None:
        raise SavedModelError(f"{folder}: the manifest lists no pytorch_model.pt, so there are no weights to re-export from")
    vocabularies, limits = manifest_vocabularies(manifest), manifest_limits(manifest)
    feeds = database_inputs(model, database, vocabularies, limits)
    histories = example_histories(vocabularies, limits)
    inputs = example_inputs(model, histories, vocabularies, limits)
    differences: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="medrec-reexport-") as temporary:
        staging = Path(temporary)
        export_onnx(model, inputs, staging / "model.onnx")
        write_parity_fixture(model, histories, inputs, staging / PARITY_FILE)
        extra_files = _family_graphs(model, inputs, staging)
        for name in ["model.onnx", *(f for f in extra_files if f.endswith(".onnx"))]:
            (old, *old_rest), (new, *new_rest) = onnx_outputs(folder / name, feeds), onnx_outputs(staging / name, feeds)
            differences[name] = max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip([old, *old_rest], [new, *new_rest], strict=True))
            with torch.no_grad():
                pytorch = model(*(torch.from_numpy(feeds[n]) for n in INPUT_NAMES)).numpy() if name == "model.onnx" else None
            against_pytorch = f"; new vs PyTorch {np.max(np.abs(new - pytorch)):.2e}" if pytorch is not None else ""
            print(f"  {name}: {len(new)} rows, max |new - old| {differences[name]:.2e}{against_pytorch}")
        worst = max(differences.values())
        if worst > tolerance:
            raise ValueError(f"{folder}: the re-exported graphs differ from the shipped ones by {worst:.2e} > {tolerance:.0e}; nothing was written")
        written = ["model.onnx", PARITY_FILE, *extra_files]
        for name in written:
            shutil.copyfile(staging / name, folder / name)
    manifest["onnx"]["sha256"] = sha256_of(folder / "model.onnx")
    for row in manifest["extraFiles"]:
        if row["file"] in written:
            row["sha256"] = sha256_of(folder / row["file"])
    validate_manifest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"  rewrote {', '.join(written)} and manifest.json's hashes; re-sign the folder (npm run sign-models)")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="model folders (models/<id>) with a pytorch_model.pt")
    parser.add_argument("--database", type=Path, default=None, help="patients to compare old and new graphs on (default: resources/demo.sqlite)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="largest |Δ probability| accepted (default 1e-5)")
    args = parser.parse_args(argv)
    database = args.database or default_database_path()
    for folder in args.folders:
        print(f"{folder}:")
        try:
            reexport(folder, database, args.tolerance)
        except (SavedModelError, ValueError) as error:
            print(f"  {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
