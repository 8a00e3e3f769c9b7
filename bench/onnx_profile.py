"""Where a model's ONNX graph spends its time in onnxruntime (python), per node, at one batch size.

    python bench/onnx_profile.py MODEL_DIR [--graph FILE.onnx] [--batch 256] [--runs 30] [--top 15]

Feeds the first --batch visits of resources/demo.sqlite (encoded as the re-export encodes them, every
modality on), runs the graph --runs times with onnxruntime's profiler on and prints rows/s plus the top
nodes by summed kernel time (share of all kernel time). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "training"))

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402

from medrec_training.paths import default_database_path  # noqa: E402
from medrec_training.reexport import database_inputs  # noqa: E402
from medrec_training.saved_model import load_saved_model, manifest_limits, manifest_vocabularies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--graph", type=Path, help="the ONNX file to profile (default: the folder's model.onnx)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--one-patient", action="store_true", help="the batch is one visit (the first with 3+ visits of history) under random modality masks, as an explanation's coalition rows are")
    args = parser.parse_args()
    manifest = json.loads((args.folder / "manifest.json").read_text(encoding="utf-8"))
    model = load_saved_model(args.folder, manifest)
    feeds = database_inputs(model, default_database_path(), manifest_vocabularies(manifest), manifest_limits(manifest))
    if args.one_patient:
        row = int(np.argmax(feeds["visit_mask"].sum(axis=1) >= 3))
        feeds = {name: np.repeat(array[row : row + 1], args.batch, axis=0) for name, array in feeds.items()}
        feeds["modality_mask"] = (np.random.default_rng(0).random(feeds["modality_mask"].shape) < 0.5).astype(np.float32)
    else:
        feeds = {name: array[: args.batch] for name, array in feeds.items()}
        feeds["modality_mask"] = np.ones_like(feeds["modality_mask"])
    graph = args.graph or args.folder / "model.onnx"

    plain = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    for _ in range(3):
        plain.run(None, feeds)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.runs):
        plain.run(None, feeds)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{graph}: batch {args.batch}: {args.batch * args.runs / wall:,.0f} rows/s, {1000 * wall / args.runs:.2f} ms/run wall, {1000 * cpu / args.runs:.2f} ms/run CPU; load {os.getloadavg()[0]:.2f}")

    options = onnxruntime.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="medrec-onnx-profile-")) / "profile")
    session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    for _ in range(args.runs):
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, float] = defaultdict(float)
    op_of: dict[str, str] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            node = event["name"][: -len("_kernel_time")]
            per_node[node] += event["dur"]
            op_of[node] = event.get("args", {}).get("op_name", "?")
    total = sum(per_node.values()) or 1.0
    per_op: dict[str, float] = defaultdict(float)
    for node, micros in per_node.items():
        per_op[op_of[node]] += micros
    print("by op:  " + ", ".join(f"{op} {100 * t / total:.0f}%" for op, t in sorted(per_op.items(), key=lambda kv: -kv[1])[:12]))
    for node, micros in sorted(per_node.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {100 * micros / total:5.1f}%  {micros / args.runs / 1000:7.3f} ms/run  {op_of[node]:<18} {node}")


if __name__ == "__main__":
    main()
