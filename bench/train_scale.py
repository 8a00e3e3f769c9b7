"""Retraining at scale: medrec_training.train on a synthetic cohort with 1 and 2 data-parallel processes.

    .venv/bin/python bench/train_scale.py [--patients 5000] [--model logistic] [--epochs 2] [--device cpu|cuda]

The cohort comes from the project's generator (bench/synthetic-cohort.ts, MIMIC-IV layout sampled from the
open demo; ~10 visits per patient, so 5,000 patients ≈ 49k visits) imported with `medrec import` into
bench/out/ (cached). Each configuration runs `torchrun --standalone --nproc-per-node N -m
medrec_training.train` back to back; printed: epoch time, samples/s, peak resident memory of a process,
validation Jaccard, and the time projected for a 500,000-patient hospital at the measured rate, with the
machine's load average before and after. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSPITAL_PATIENTS = 500_000


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, **kwargs)


def cohort_database(patients: int, seed: int) -> Path:
    out = ROOT / "bench" / "out"
    database = out / f"train-cohort-{patients}-seed{seed}.sqlite"
    if database.exists():
        return database
    cohort = out / f"train-cohort-{patients}-seed{seed}"
    print(f"Generating and importing a {patients}-patient synthetic cohort into {database} (cached for later runs) …", flush=True)
    run(["npx", "tsx", "bench/synthetic-cohort.ts", "--patients", str(patients), "--seed", str(seed), "--out", str(cohort)], cwd=ROOT, stdout=subprocess.DEVNULL)
    partial = database.with_suffix(".partial.sqlite")
    partial.unlink(missing_ok=True)
    run(["npm", "run", "--silent", "medrec", "--", "import", "--format", "mimic-iv", str(cohort)], cwd=ROOT, env={**os.environ, "MEDREC_DB": str(partial)}, stdout=subprocess.DEVNULL)
    partial.rename(database)
    return database


def train(database: Path, processes: int, model: str, epochs: int, device: str | None, out: Path, chunk_patients: int) -> dict:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "-m", "medrec_training.train", "--db", str(database), "--model", model, "--out", str(out),
        "--max-epochs", str(epochs), "--threads", "1", "--chunk-patients", str(chunk_patients),
    ] + (["--device", device] if device else [])
    started = time.perf_counter()
    done = run(command, cwd=ROOT / "training", capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    text = done.stdout
    result = json.loads(text[text.index("{\n"):])
    result["wall_seconds"] = wall
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="logistic")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--device", choices=["cpu", "cuda"])
    parser.add_argument("--chunk-patients", type=int, default=1000, help="patients read per SQLite chunk (bounds a process's memory)")
    args = parser.parse_args()
    database = cohort_database(args.patients, args.seed)
    load_before = os.getloadavg()
    print(f"Training scale benchmark · {os.cpu_count()} CPU core(s) · load average {load_before[0]:.1f} · {database.name} · model {args.model}, {args.epochs} epoch(s) max, {args.chunk_patients} patients per chunk")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for processes in (int(p) for p in args.processes.split(",")):
            result = train(database, processes, args.model, args.epochs, args.device, Path(scratch) / f"{args.model}-{processes}", args.chunk_patients)
            rows.append(result)
    load_after = os.getloadavg()
    print(f"  {rows[0]['patients']} patients with a medication target, {rows[0]['samples_per_epoch']} training samples per epoch, device {rows[0]['device']}")
    header = f"  {'processes':>9}  {'epoch s (median)':>16}  {'samples/s':>9}  {'peak RSS/process':>16}  {'val. Jaccard':>12}  {'wall s':>6}  {'500k patients: 1 epoch / 25 epochs':>36}"
    print(header)
    for r in rows:
        epochs = sorted(r["epoch_seconds"])
        median = epochs[len(epochs) // 2]
        per_patient = r["samples_per_epoch"] / max(r["fit_patients"], 1)
        hospital_epoch = HOSPITAL_PATIENTS * 0.85 * per_patient / r["samples_per_second"]
        cuda = f", CUDA {r['peak_cuda_mb']:.0f} MB" if r.get("peak_cuda_mb") else ""
        print(
            f"  {r['processes']:>9}  {median:>16.2f}  {r['samples_per_second']:>9.0f}  {r['peak_rss_mb']:>13.0f} MB{cuda}  {r['validation_jaccard']:>12.4f}  {r['wall_seconds']:>6.1f}"
            f"  {hospital_epoch / 60:>14.1f} min / {25 * hospital_epoch / 3600:>6.1f} h"
        )
        if r.get("calibration_visits"):
            print(
                f"  {'':>9}  peak RSS before process 0's calibration and export {r['peak_rss_training_mb']:.0f} MB; calibrated on "
                f"{r['calibration_patients']} of {r['validation_patients']} validation patients, {r['calibration_visits']} visits"
            )
    if len(rows) > 1:
        print(f"  speed-up {rows[-1]['processes']} vs {rows[0]['processes']} processes: {rows[-1]['samples_per_second'] / rows[0]['samples_per_second']:.2f}×")
    print(f"  load average after: {load_after[0]:.1f} (projection: the measured samples/s, 85% of 500k patients trained on, this cohort's samples per patient; 25 = the default max epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
