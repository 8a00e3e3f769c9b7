"""Retrain one model on a hospital's own patient database and export a model folder the app accepts.

    python -m medrec_training.train --db patients.sqlite --model logistic --out models/logistic-local
    torchrun --nproc-per-node 2 -m medrec_training.train --db ... --model ... --out ...   # data-parallel

Data are streamed from SQLite a chunk of patients at a time (streaming.py), so memory is bounded by the
chunk, not the database. Patients (not visits) are split: a seeded 15% validation share, as each fold of
the benchmark carves one. Training is the benchmark's (training.py): its loss, modality dropout, early
stopping on validation Jaccard and the grid threshold chosen on validation. Under torchrun every process
reads a disjoint share of the chunks and DistributedDataParallel averages the gradients (gloo on CPU, NCCL
on GPU); each process takes batch_size / processes samples per step, so a step sees the same number of
samples as with one process. Validation sums are all-reduced, so every process stops at the same epoch.
Process 0 calibrates on a seeded sample of whole validation patients of at most --calibration-visits visits (all of
them when they fit), so its memory is bounded by that cap, not the database, and exports (export.py), with the
validation metrics in metrics.json.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .datasets import DatasetError
from .export import ExportRequest, export_model_folder, run_parity
from .calibration import calibration_document
from .harness import DEFAULT_SEED, VALIDATION_SHARE, calibrate_probabilities
from .models import load_model_class
from .models.base import MedRecModel, ModelConfig
from .streaming import DEFAULT_CHUNK_PATIENTS, DatabaseScan, StreamedSamples, finish_metrics, jaccard_sums, metric_sums, scan_database
from .training import THRESHOLD_GRID, modality_dropout_mask, training_loss


# Visits (samples) process 0 calibrates on at most: their targets and probabilities, and the fitters' float64
# copies of them, are held at once, so this bounds process 0's memory whatever the database's size.
DEFAULT_CALIBRATION_VISITS = 20_000


class UnsupportedModel(ValueError):
    """The model needs something streamed training does not provide; the message says what."""


@dataclass
class TrainResult:
    model_id: str
    processes: int
    device: str
    patients: int
    fit_patients: int
    validation_patients: int
    samples_per_epoch: int
    epochs_run: int
    best_epoch: int
    threshold: float
    validation_jaccard: float
    metrics: dict[str, float]
    epoch_seconds: list[float] = field(default_factory=list)
    samples_per_second: float = 0.0
    peak_rss_mb: float = 0.0  # largest resident memory of any process
    peak_rss_training_mb: float = 0.0  # the same before process 0's calibration and export
    peak_cuda_mb: float | None = None
    out: str | None = None
    parity_max_abs_diff: float | None = None
    calibration_patients: int | None = None  # validation patients the calibration was fitted on
    calibration_visits: int | None = None  # their samples


class _Logits(nn.Module):
    """DDP wraps forward(); the trainer needs logits, which MedRecModel.forward turns into probabilities."""

    def __init__(self, model: MedRecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.compute_logits(*inputs)


def supported_model_class(model_id: str) -> type[MedRecModel]:
    model_class = load_model_class(model_id)
    if model_class.requires_knowledge:
        raise UnsupportedModel(
            f"{model_id} needs the drug knowledge base (molecules, DDI matrices), which streamed retraining does not load yet; "
            f"train it with `python -m medrec_training.benchmark --models {model_id}`."
        )
    if not model_class.gradient_trained or model_class.prepare is not MedRecModel.prepare:
        raise UnsupportedModel(
            f"{model_id} is fitted from the whole training set at once ({'fit_directly' if not model_class.gradient_trained else 'prepare'}), "
            f"which streamed retraining does not provide; train it with `python -m medrec_training.benchmark --models {model_id}`."
        )
    return model_class


def _world() -> tuple[int, int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return 0, 1, 0


def _all_reduce(values: np.ndarray, device: torch.device, op: Any = None) -> np.ndarray:
    if not (dist.is_available() and dist.is_initialized()):
        return values
    tensor = torch.as_tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
    return tensor.cpu().numpy()


@torch.no_grad()
def _validation_chunks(model: MedRecModel, dataset: StreamedSamples, device: torch.device):
    """(samples, probabilities) per validation chunk of this process."""
    model.eval()
    for samples in dataset.chunk_samples():
        if len(samples) == 0:
            continue
        outputs = [model(*(t.to(device) for t in batch.inputs())).cpu().numpy() for batch in samples.batches(dataset.batch_size, dataset.modality_count)]
        yield samples, np.concatenate(outputs)
        del samples, outputs  # not alive while the next chunk is read


def _keep_large_arrays_out_of_the_heap() -> None:
    """glibc raises its mmap threshold to the size of each large block freed (up to 32 MB), so after the first
    chunk the chunks' numpy arrays come from the heap, and their freed pages stay resident (+110 MB through
    validation on a 100k-patient database). A fixed threshold (mallopt M_MMAP_THRESHOLD) keeps blocks of 1 MB and
    more (chunk arrays, not batches) in their own mappings, returned to the system when freed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (macOS, Windows): nothing to tune
    libc.mallopt(-3, 1 << 20)  # -3 is M_MMAP_THRESHOLD


def validation_split(patients: np.ndarray, seed: int) -> np.ndarray:
    """The seeded VALIDATION_SHARE of the patients held out for validation, ascending."""
    count = max(1, int(round(VALIDATION_SHARE * len(patients))))
    return np.sort(np.random.default_rng(seed).choice(patients, size=count, replace=False))


def calibration_sample(patients: np.ndarray, samples_per_patient: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """The validation patients calibration is fitted on: all of them when their samples total at most `cap` (or no
    cap), else the longest prefix of a seeded permutation whose samples do. Whole patients, drawn at random: the
    cross-fitting halves split patients, and the miss-rate guarantee needs the calibration patients exchangeable with
    new ones (a prefix, not skipping the large ones, so patients with many visits are not under-sampled)."""
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1):
        raise ValueError(f"--calibration-visits must be a positive integer, got {cap!r}")
    if cap is None or int(samples_per_patient.sum()) <= cap:
        return patients
    order = np.random.default_rng((seed, 2)).permutation(len(patients))  # a stream of its own, apart from the split's
    totals = np.cumsum(samples_per_patient[order])
    taken = int(np.searchsorted(totals, cap, side="right"))
    if taken < 2:
        raise ValueError(
            f"--calibration-visits {cap} is too small: calibration needs at least two whole validation patients, and the "
            f"first two of the seeded sample have {int(totals[1])} visits between them"
        )
    return np.sort(patients[order[:taken]])


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_database(
    database: Path | str,
    model_id: str,
    out: Path | str | None,
    *,
    export_id: str | None = None,
    config: ModelConfig | None = None,
    chunk_patients: int = DEFAULT_CHUNK_PATIENTS,
    loader_workers: int = 0,
    device: str | None = None,
    max_epochs: int | None = None,
    seed: int = DEFAULT_SEED,
    calibration_visits: int | None = DEFAULT_CALIBRATION_VISITS,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train `model_id` on every patient of `database` (this process's share under torch.distributed).

    calibration_visits: process 0 fits the calibration on whole validation patients with at most this many samples
    (calibration_sample); None fits it on all of them."""
    rank, world, local_rank = _world()
    model_class = supported_model_class(model_id)
    config = (config or ModelConfig(seed=seed)).with_overrides(**model_class.config_overrides)
    if max_epochs is not None:
        config = config.with_overrides(max_epochs=max_epochs)
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    torch_device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    say = (lambda message: log(message)) if (log and rank == 0) else (lambda message: None)

    # One streamed pass on process 0, shared with the others.
    holder: list[DatabaseScan | None] = [scan_database(database, chunk_patients) if rank == 0 else None]
    if world > 1:
        dist.broadcast_object_list(holder, src=0)
    scan = holder[0]
    assert scan is not None
    patients = scan.trainable
    if len(patients) < 2:
        raise DatasetError(f"{database}: {len(patients)} patient(s) have a visit with a mapped medication; training needs at least 2.")
    validation_patients = validation_split(patients, seed)
    fit_patients = np.setdiff1d(patients, validation_patients)
    # Chosen before training from the scan's counts, so a cap too small fails at once and no patient is read to be dropped.
    validation_samples = scan.trainable_samples[np.searchsorted(patients, validation_patients)]
    calibration_patients = calibration_sample(validation_patients, validation_samples, calibration_visits, seed)
    say(
        f"{database}: {len(patients)} patients with a medication target, {scan.samples} samples, {scan.visits} visits; "
        f"vocabularies {len(scan.vocabularies.diagnosis)}/{len(scan.vocabularies.procedure)}/{len(scan.vocabularies.medication)}; "
        f"{len(validation_patients)} patients held out for validation; {world} process(es) on {torch_device.type}"
    )

    torch.manual_seed(config.seed)  # the same initial weights in every process (DDP also broadcasts process 0's)
    generator = torch.Generator().manual_seed(config.seed + rank)
    model = model_class(scan.vocabularies.sizes(), None, config).to(torch_device)
    modality_count = len(model.modalities())
    trainer: nn.Module = _Logits(model)
    if world > 1:
        trainer = DistributedDataParallel(trainer, device_ids=[local_rank] if use_cuda else None)
    per_process_batch = max(1, config.batch_size // world)
    fit_data = StreamedSamples(
        database, fit_patients, scan.vocabularies, scan.limits, modality_count, per_process_batch, chunk_patients, rank, world, config.seed
    )
    validation_data = StreamedSamples(
        database, validation_patients, scan.vocabularies, scan.limits, modality_count, 128, chunk_patients, rank, world, config.seed, shuffle=False
    )
    loader = DataLoader(fit_data, batch_size=None, num_workers=loader_workers, persistent_workers=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    best_state, best_epoch, best_jaccard, best_threshold = None, 0, -1.0, 0.5
    epoch_seconds: list[float] = []
    epochs_run = 0
    stepped = 0
    for epoch in range(1, config.max_epochs + 1):
        epochs_run = epoch
        fit_data.set_epoch(epoch)
        started = time.perf_counter()
        model.train()
        losses = []
        join = trainer.join() if isinstance(trainer, DistributedDataParallel) else _nothing()
        with join:  # processes may hold different numbers of batches
            for batch in loader:
                batch.modality_mask = modality_dropout_mask(len(batch.targets), modality_count, config.modality_dropout, generator)
                inputs = tuple(t.to(torch_device) for t in batch.inputs())
                batch.targets = batch.targets.to(torch_device)
                logits = trainer(*inputs)
                loss = training_loss(model, batch, logits, config)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                stepped += len(inputs[0])
        epoch_seconds.append(time.perf_counter() - started)
        # Validation: per-threshold sums of per-patient Jaccards, added up over processes.
        sums = np.zeros(len(THRESHOLD_GRID) + 1)
        for samples, probabilities in _validation_chunks(model, validation_data, torch_device):
            sums[:-1] += jaccard_sums(samples.targets, probabilities, samples.patient_ids, THRESHOLD_GRID)
            sums[-1] += len(np.unique(samples.patient_ids))
            del samples, probabilities
        sums = _all_reduce(sums, torch_device)
        jaccards = sums[:-1] / max(sums[-1], 1.0)
        best_index = 0
        for index, value in enumerate(jaccards):  # first best, as training.choose_threshold
            if value > jaccards[best_index] + 1e-12:
                best_index = index
        threshold, jaccard = THRESHOLD_GRID[best_index], float(jaccards[best_index])
        say(f"epoch {epoch}: loss {np.mean(losses) if losses else float('nan'):.4f}, validation jaccard {jaccard:.4f} at {threshold:.2f}, {epoch_seconds[-1]:.1f}s")
        if jaccard > best_jaccard + 1e-6:
            best_state = copy.deepcopy(model.state_dict())
            best_epoch, best_jaccard, best_threshold = epoch, jaccard, threshold
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()

    # Metrics of the kept weights on the validation patients, at the chosen threshold.
    totals: dict[str, float] = {}
    for samples, probabilities in _validation_chunks(model, validation_data, torch_device):
        for name, value in metric_sums(samples.targets, probabilities, samples.patient_ids, best_threshold).items():
            totals[name] = totals.get(name, 0.0) + value
        del samples, probabilities
    names = sorted(totals) if rank == 0 else None
    if world > 1:
        holder_names = [names]
        dist.broadcast_object_list(holder_names, src=0)
        names = holder_names[0]
    assert names is not None
    reduced = _all_reduce(np.array([totals.get(name, 0.0) for name in names]), torch_device)
    metrics = finish_metrics(dict(zip(names, reduced.tolist())))
    peak = float(_all_reduce(np.array([_peak_rss_mb()]), torch_device, dist.ReduceOp.MAX if world > 1 else None)[0])
    stepped_all = float(_all_reduce(np.array([float(stepped)]), torch_device)[0])  # samples stepped on, all processes
    result = TrainResult(
        model_id=model_id,
        processes=world,
        device=torch_device.type,
        patients=len(patients),
        fit_patients=len(fit_patients),
        validation_patients=len(validation_patients),
        samples_per_epoch=int(stepped_all / max(epochs_run, 1)),
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        threshold=best_threshold,
        validation_jaccard=best_jaccard,
        metrics=metrics,
        epoch_seconds=epoch_seconds,
        samples_per_second=stepped_all / max(sum(epoch_seconds), 1e-9),
        peak_rss_mb=peak,
        peak_rss_training_mb=peak,
        peak_cuda_mb=torch.cuda.max_memory_allocated(torch_device) / 2**20 if use_cuda else None,
    )
    if out is not None and rank == 0:
        # Calibration, as the benchmark's: fitted on validation patients only (never trained on), then the
        # threshold and the miss-rate thresholds on the calibrated probabilities. Process 0 reads the calibration
        # patients for it (memory: a row of targets and one of probabilities per sample, at most
        # --calibration-visits of them; the encoded code histories, ~50x larger, are dropped chunk by chunk).
        calibration_data = StreamedSamples(
            database, calibration_patients, scan.vocabularies, scan.limits, modality_count, 128, chunk_patients, 0, 1, config.seed, shuffle=False
        )
        parts = [(samples.targets, samples.patient_ids, probabilities) for samples, probabilities in _validation_chunks(model, calibration_data, torch_device)]
        truth = np.concatenate([targets for targets, _, _ in parts])
        patient_ids = np.concatenate([ids for _, ids, _ in parts])
        raw = np.concatenate([probabilities for _, _, probabilities in parts])
        del parts
        calibrated = calibrate_probabilities(None, truth, raw, patient_ids, seed)
        share = round(100 * VALIDATION_SHARE)
        all_visits = int(validation_samples.sum())
        if len(calibration_patients) == len(validation_patients):
            fitted_on = f"validation patients: {len(validation_patients)} ({share}%, seed {seed}), never trained on"
            chosen_on = f"validation patients ({len(validation_patients)}, {share}% of patients, seed {seed}; all {all_visits} of their visits; best grid Jaccard of the calibrated probabilities)"
        else:
            sample = (
                f"a random sample of whole validation patients (seed {seed}, at most --calibration-visits {calibration_visits} visits): "
                f"{len(calibration_patients)} of {len(validation_patients)} patients, {len(truth)} of {all_visits} visits"
            )
            fitted_on = f"{sample}; the validation patients are {share}% of patients (seed {seed}), never trained on"
            chosen_on = f"{sample}; best grid Jaccard of the calibrated probabilities"
        result.threshold = calibrated.threshold
        result.calibration_patients, result.calibration_visits = len(calibration_patients), len(truth)
        say(
            f"calibration on {len(calibration_patients)} of {len(validation_patients)} validation patients, {len(truth)} of {all_visits} visits: "
            f"{calibrated.calibration.calibration.method}; threshold on calibrated probabilities {calibrated.threshold:.2f}"
        )
        folder = Path(out)
        model_cpu = model.to("cpu")
        export_model_folder(
            ExportRequest(
                model_id=export_id or folder.name,  # the app requires id == folder name
                model=model_cpu,
                vocabularies=scan.vocabularies,
                limits=scan.limits,
                threshold=calibrated.threshold,
                threshold_chosen_on=chosen_on,
                calibration=calibration_document(calibrated.calibration, fitted_on, calibrated.miss_rate_thresholds, calibrated.threshold),
                split=f"patient-level: {len(validation_patients)} of {len(patients)} patients held out for validation (seed {seed}), the rest trained on",
                trained_on=f"{len(fit_patients)} patients of {Path(database).name}, {epochs_run} epochs (best {best_epoch}), {world} process(es) on {torch_device.type}",
                metrics={"validation": metrics, "validationJaccardAtThreshold": best_jaccard, "training": {"epochSeconds": epoch_seconds, "processes": world}},
                description=f"{model_cpu.display_name} retrained with medrec_training.train on a hospital's own database.",
                # The model is derived from the hospital's records: their terms govern it, not the demos' ODbL.
                patient_data_source={
                    "name": f"Patient database {Path(database).name} (the hospital's own records)",
                    "license": "the hospital's own data: its data-governance terms apply; not for redistribution without its approval",
                    "attribution": "Trained on the hospital's own patient records with medrec_training.train.",
                },
            ),
            folder,
        )
        result.out = str(folder)
        result.parity_max_abs_diff = run_parity(folder)
        # Calibration holds its samples' targets and probabilities (float64 copies among them): count it.
        result.peak_rss_mb = max(result.peak_rss_mb, _peak_rss_mb())
    return result


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer (a number of visits), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (a number of visits), got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, type=Path, help="the app's patient database (SQLite)")
    parser.add_argument("--model", required=True, help="model id of the training registry, e.g. logistic, retain")
    parser.add_argument("--out", required=True, type=Path, help="model folder to write (model.onnx, manifest.json, metrics.json)")
    parser.add_argument("--id", dest="export_id", help="manifest id of the exported model (default: the --out folder's name, which the app requires)")
    parser.add_argument("--max-epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="samples per optimizer step over all processes (default the model's)")
    parser.add_argument("--chunk-patients", type=int, default=DEFAULT_CHUNK_PATIENTS, help="patients read per SQLite chunk (memory bound)")
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes per training process")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--calibration-visits",
        type=_positive_int,
        default=DEFAULT_CALIBRATION_VISITS,
        help=f"process 0 fits the calibration on a seeded random sample of whole validation patients with at most this many visits (default {DEFAULT_CALIBRATION_VISITS:,}; all of them when they fit); bounds its memory",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"--db {args.db}: no such file")
    torch.set_num_threads(args.threads)
    _keep_large_arrays_out_of_the_heap()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        use_cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    config = ModelConfig(seed=args.seed)
    if args.batch_size:
        config = config.with_overrides(batch_size=args.batch_size)
    try:
        result = train_database(
            args.db,
            args.model,
            args.out,
            export_id=args.export_id,
            config=config,
            chunk_patients=args.chunk_patients,
            loader_workers=args.loader_workers,
            device=args.device,
            max_epochs=args.max_epochs,
            seed=args.seed,
            calibration_visits=args.calibration_visits,
            log=lambda message: print(message, flush=True),
        )
    except (DatasetError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    if result.out:
        print(json.dumps(asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
