"""Open benchmark: retrain and evaluate every registered model from scratch, then ship the best one.

    python -m medrec_training.benchmark            (from training/, or with training/ on PYTHONPATH)

Reads the app's patient database (default resources/demo.sqlite, built by `npm run setup`), runs
patient-level 5-fold cross-validation for every model in the registry, writes models/BENCHMARK.md and
models/benchmark.json, picks the model with the best mean VALIDATION Jaccard, retrains it on all
folds and exports it to models/<id>/ (model.onnx, manifest.json, metrics.json, parity.json).

Every (model, fold) pair is an independent job; `--workers` processes (default: one per CPU, at most
8) run them, longest first by the previous run's timings, so a 2-core machine does the whole
benchmark in about half the single-process time. Each worker rebuilds the same PreparedData from the
database (checked by a fingerprint) and trains with `--threads` torch threads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .calibration import calibration_document
from .datasets import DatasetError
from .evaluation.selection_table import load_selection_record, selection_markdown
from .export import ExportRequest, export_model_folder, run_parity
from .harness import (
    DEFAULT_FOLDS,
    DEFAULT_SEED,
    VALIDATION_SHARE,
    CrossValidation,
    FoldResult,
    PreparedData,
    cross_site_patients,
    describe_fold,
    evaluate_split,
    prepare_data,
    run_fold,
    reference_statistics,
    split_description,
    train_final,
)
from .metrics import Interval, comparison_verdict, paired_difference
from .models import MODEL_REGISTRY, available_models
from .models.base import MedRecModel, ModelConfig
from .paths import data_dir, default_database_path, models_dir
from .tasks import Vocabularies

BENCHMARK_RECORD = "benchmark.json"


def knowledge_loader(root: Path):
    """Drug knowledge (molecules, DDI matrices) aligned to the medication vocabulary."""

    def load(vocabularies: Vocabularies) -> tuple[Any, dict[str, np.ndarray], dict[str, str]]:
        from .knowledge import DDI_MATRIX_DESCRIPTIONS, load_drug_knowledge
        from .text.knowledge import with_text

        # + the vocabulary texts NLA-MMR embeds (with a frozen encoder, only when an NLA-MMR model is built)
        knowledge = with_text(load_drug_knowledge(root, vocabularies.medication.codes()), vocabularies, root)
        return knowledge, dict(knowledge.ddi_matrices), dict(DDI_MATRIX_DESCRIPTIONS)

    return load


@dataclass(frozen=True)
class RunFacts:
    """How the run was executed, for the table's timing section."""

    workers: int
    threads: int
    cpus: int
    wall_seconds: float  # from the start of the command to the last export


def _cell(summary: dict[str, Interval], name: str, digits: int = 4) -> str:
    return summary[name].format(digits) if name in summary else "–"


def render_markdown(
    data: PreparedData,
    results: list[CrossValidation],
    reference: dict[str, float],
    default_model: str | None,
    folds: int,
    seed: int,
    skipped: dict[str, str],
    database: Path,
    run_facts: RunFacts | None = None,
    cross_site: list[dict] | None = None,
    generated_at: str | None = None,
    model_selection: dict | None = None,
) -> str:
    ddi_names = list(data.ddi_matrices)
    header = ["Model", "Jaccard", "F1", "PRAUC", "#meds", *[f"DDI {n}" for n in ddi_names], "ECE", "Parameters", "Train time (s)", "CPU time (s)"]
    lines = [
        "# Medication recommendation benchmark",
        "",
        f"Generated {generated_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat()} by `python -m medrec_training.benchmark`.",
        "",
        "## Data and split",
        "",
        f"- Database: `{database.name}` — {data.cohort.describe()}.",
        "- Sources: MIMIC-IV Clinical Database Demo v2.2 and eICU Collaborative Research Database Demo v2.0.1 "
        "(PhysioNet, ODbL 1.0), imported by the app's importer.",
        f"- Medications: {data.cohort.coverage.describe() if data.cohort.coverage else 'n/a'}.",
        f"- Vocabularies: {len(data.vocabularies.diagnosis)} diagnosis codes, {len(data.vocabularies.procedure)} procedure "
        f"codes (seen in 2+ visits; rarer ones are 'unknown'), {len(data.vocabularies.medication)} ATC3 classes, "
        "built once from the whole cohort's codes (no labels are used). "
        f"Padding limits: {data.limits.to_manifest()}.",
        f"- Samples: {len(data.samples)} visits with at least one ATC3 medication "
        f"({len(np.unique(data.samples.patient_ids))} patients); history = the patient's earlier visits "
        "(single-visit patients kept with an empty history).",
        f"- Split: {split_description(folds, seed)}. Each figure is the mean ± half-width of the 95% t-interval over the {folds} test folds.",
        "- Threshold: chosen per fold on the validation patients (grid 0.05–0.95, best Jaccard), applied to the test fold.",
        "- Loss: 0.95 · BCE + 0.05 · multi-label margin (+ the model's own term, e.g. a DDI penalty); "
        "logistic regression uses BCE with L2 only.",
        "- Times: train time is the wall-clock seconds of the model's folds added up (without the final retraining), "
        "CPU time the CPU seconds of the same work; each fold trains on one torch thread in its own worker process, so "
        "on a busy machine the CPU time is what an idle core would need.",
        "",
        "## All evaluated visits",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for result in results:
        summary = result.summary()
        name = result.model_class.display_name + (" (shipped)" if result.model_id == default_model else "")
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    _cell(summary, "jaccard"),
                    _cell(summary, "f1"),
                    _cell(summary, "prauc"),
                    _cell(summary, "meds", 2),
                    *[_cell(summary, f"ddi_{n}") for n in ddi_names],
                    _cell(summary, "ece"),
                    f"{result.parameters:,}",
                    f"{result.train_seconds():.1f}",
                    f"{result.cpu_seconds():.1f}",
                ]
            )
            + " |"
        )
    lines.append(
        "| Ground truth (recorded prescriptions) | – | – | – | "
        + f"{reference['meds']:.2f} | "
        + " | ".join(f"{reference[f'ddi_{n}']:.4f}" for n in ddi_names)
        + (" | " if ddi_names else "")
        + "– | – | – | – |"
    )
    containment = ddi_containment(data.ddi_matrices)
    if containment:
        lines += ["", f"DDI columns: {containment}"]
    lines += [
        "",
        "## Patients with two or more evaluated visits",
        "",
        "Patients with at least two visits that have a medication target (visits whose medications all fall outside the "
        "ATC3 vocabulary do not count).",
        "",
        "| Model | Jaccard | F1 | PRAUC | #meds | visits per fold |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        summary = result.multi_visit_summary()
        lines.append(
            f"| {result.model_class.display_name} | {_cell(summary, 'jaccard')} | {_cell(summary, 'f1')} | "
            f"{_cell(summary, 'prauc')} | {_cell(summary, 'meds', 2)} | {_cell(summary, 'visits', 0)} |"
        )
    lines += _calibration_section(results)
    lines += _miss_rate_section(results)
    lines += _personalisation_section(results)
    lines += _literature_section(data, results)
    lines += _cross_site_section(cross_site)
    lines += _comparison_section(results)
    if model_selection is not None:  # models/model_selection.json, written by experiments.model_selection
        lines += selection_markdown(model_selection)
    if run_facts is not None:
        fold_cpu = sum(result.cpu_seconds() for result in results)
        lines += [
            "",
            "## Run time",
            "",
            f"- Whole command, from reading the database to the last exported model: {run_facts.wall_seconds:.0f} s wall "
            f"({run_facts.wall_seconds / 60:.1f} min) on a machine with {run_facts.cpus} CPU(s), {run_facts.workers} worker "
            f"process(es) x {run_facts.threads} torch thread(s).",
            f"- Cross-validation CPU time of all {len(results)} models: {fold_cpu:.0f} s (the sum of the CPU column).",
        ]
    notes = _family_notes(results)
    if notes:
        lines += ["", "## Model notes", ""] + [f"- {name}: {note}" for name, note in notes]
    lines += ["", "## Model selection", ""]
    for result in results:
        lines.append(
            f"- {result.model_class.display_name}: mean validation Jaccard {result.mean_validation_jaccard():.4f}, "
            f"mean threshold {result.mean_threshold():.2f}, mean best epoch {result.mean_best_epoch()}."
        )
    if default_model:
        lines.append(
            f"\nShipped: `models/{default_model}/` (and `models/DEFAULT`) — the best mean validation Jaccard (calibrated), "
            f"retrained for the mean best epoch count on all patients but a seeded {int(VALIDATION_SHARE * 100)}% share, on "
            "which its calibration, threshold and miss-rate thresholds are fitted."
        )
    if ddi_names:
        lines += ["", "## DDI matrices", ""]
        lines += [f"- `{n}`: {data.ddi_descriptions.get(n, '')}" for n in ddi_names]
    elif data.knowledge_error:
        lines += ["", f"DDI rates are missing: the drug knowledge could not be loaded ({data.knowledge_error})."]
    if skipped:
        lines += ["", "## Not run", ""]
        lines += [f"- {model_id}: {reason}" for model_id, reason in skipped.items()]
    lines += [
        "",
        "Metric definitions: medrec_training/metrics.py (Jaccard, F1 and PRAUC averaged per patient then over patients; "
        "#meds and DDI rate pooled over visits; ECE over all visit × drug probabilities, 10 bins).",
        "",
    ]
    return "\n".join(lines)


COLLAPSE_DISTINCT_SHARE = 0.05  # fewer distinct recommended sets than 5% of the visits ...
COLLAPSE_JACCARD = 0.9  # ... or different patients' sets this alike: the model gives a population answer


def ddi_containment(matrices: dict[str, np.ndarray]) -> str:
    """Whether every pair of one DDI matrix lies inside another (over this medication vocabulary)."""
    def pairs(matrix: np.ndarray) -> set[tuple[int, int]]:
        rows, columns = np.nonzero(np.triu((matrix != 0) | (matrix != 0).T, k=1))
        return set(zip(rows.tolist(), columns.tolist()))

    notes = []
    if "twosides-atc3" in matrices and "twosides-top40" in matrices:
        small, large = pairs(matrices["twosides-atc3"]), pairs(matrices["twosides-top40"])
        inside = len(small & large)
        if inside == len(small):
            notes.append(
                f"all {len(small)} pairs of `twosides-atc3` over this vocabulary lie inside `twosides-top40` ({len(large)} pairs), "
                "so the two columns are not independent evidence: a model's `twosides-atc3` pairs are a subset of its `twosides-top40` pairs."
            )
        else:
            notes.append(f"{inside} of the {len(small)} pairs of `twosides-atc3` lie inside `twosides-top40` ({len(large)} pairs).")
    return " ".join(notes)


def _calibration_section(results: list[CrossValidation]) -> list[str]:
    lines = [
        "",
        "## Calibration",
        "",
        "Each fold's model is calibrated on its validation patients only (temperature, Platt per drug or isotonic per drug, "
        "chosen on predictions cross-fitted between two halves of the validation patients: the lowest ECE among the methods "
        "with ECE ≤ 0.03 whose best-threshold Jaccard stays within 0.005 of the raw probabilities', else the lowest ECE; "
        "a per-drug map reorders drugs against each other and can cost Jaccard under one threshold), and the threshold is "
        "then chosen on the calibrated validation probabilities. Before = raw probabilities at the threshold chosen on them; "
        "after = calibrated probabilities (what the shipped models give, and every other table reports). Test folds.",
        "",
        "| Model | Method chosen (folds) | ECE before | ECE after | Jaccard before | Jaccard after |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        before, after = result.uncalibrated_summary(), result.summary()
        methods = ", ".join(f"{m} {n}" for m, n in sorted(result.calibration_methods().items(), key=lambda item: -item[1]))
        lines.append(
            f"| {result.model_class.display_name} | {methods or '–'} | {_cell(before, 'ece')} | {_cell(after, 'ece')} | "
            f"{_cell(before, 'jaccard')} | {_cell(after, 'jaccard')} |"
        )
    return lines


def _miss_rate_section(results: list[CrossValidation]) -> list[str]:
    alphas = sorted({alpha for result in results for alpha in result.miss_rate_summary()})
    if not alphas:
        return []
    header = ["Model"] + [part for alpha in alphas for part in (f"miss rate, α = {float(alpha):.0%}", f"#drugs, α = {float(alpha):.0%}")]
    lines = [
        "",
        "## Guaranteed miss rate (conformal risk control)",
        "",
        "Threshold per fold by conformal risk control on the calibrated probabilities of the validation patients (a patient's "
        "visits averaged into one loss): the largest t with (n·R̂(t) + 1)/(n + 1) ≤ α, where R̂ is the mean share of prescribed "
        "classes scoring below t. Guarantee: the expected miss rate of a new patient is at most α, if patients are exchangeable "
        "with the validation patients. Achieved on the test folds: the miss rate (1 − recall per visit, averaged per patient "
        "then over patients) and the classes recommended per visit.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for result in results:
        summary = result.miss_rate_summary()
        cells = []
        for alpha in alphas:
            cells += [_cell(summary.get(alpha, {}), "missRate"), _cell(summary.get(alpha, {}), "meds", 2)]
        lines.append(f"| {result.model_class.display_name} | " + " | ".join(cells) + " |")
    return lines


def _personalisation_section(results: list[CrossValidation]) -> list[str]:
    lines = [
        "",
        "## Personalisation",
        "",
        "Per test fold: distinct recommended sets among its visits, and the mean Jaccard between the recommended sets of "
        f"every two visits of different patients. Flagged as a population answer: fewer distinct sets than {COLLAPSE_DISTINCT_SHARE:.0%} "
        f"of the visits, or a between-patient Jaccard of {COLLAPSE_JACCARD} or more.",
        "",
        "| Model | Distinct sets per fold | Visits per fold | Between-patient Jaccard | Collapsed |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        summary = result.personalisation_summary()
        if not summary:
            continue
        collapsed = [
            f.fold + 1
            for f in result.folds
            if f.personalisation
            and (
                f.personalisation["distinctSets"] < COLLAPSE_DISTINCT_SHARE * f.personalisation["visits"]
                or f.personalisation["betweenPatientJaccard"] >= COLLAPSE_JACCARD
            )
        ]
        flag = f"**yes** (fold {', '.join(map(str, collapsed))})" if collapsed else "no"
        per_fold = ", ".join(str(int(f.personalisation["distinctSets"])) for f in result.folds if f.personalisation)
        lines.append(
            f"| {result.model_class.display_name} | {per_fold} | {_cell(summary, 'visits', 0)} | "
            f"{_cell(summary, 'betweenPatientJaccard')} | {flag} |"
        )
    return lines


def _literature_section(data: PreparedData, results: list[CrossValidation]) -> list[str]:
    if data.literature_rows is None or not data.literature_rows.any():
        return []
    rows = data.literature_rows
    patients = len(np.unique(data.samples.patient_ids[rows]))
    lines = [
        "",
        "## Literature cohort",
        "",
        f"The cohort of GAMENet/SafeDrug-style preprocessing: visits with diagnoses, procedures and medications, of patients "
        f"with two or more such visits — {patients} patients / {int(rows.sum())} visits here. Same models and folds as above "
        "(trained on the whole cohort, histories unchanged); only these test visits are scored, so figures compare with published ones.",
        "",
        "| Model | Jaccard | F1 | PRAUC | #meds | visits per fold |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        summary = result.literature_summary()
        lines.append(
            f"| {result.model_class.display_name} | {_cell(summary, 'jaccard')} | {_cell(summary, 'f1')} | "
            f"{_cell(summary, 'prauc')} | {_cell(summary, 'meds', 2)} | {_cell(summary, 'visits', 0)} |"
        )
    return lines


def _cross_site_section(cross_site: list[dict] | None) -> list[str]:
    if not cross_site:
        return []
    lines = [
        "",
        "## Across sites",
        "",
        "Trained on one source's patients (15% of them held out for early stopping, calibration and the threshold), tested on "
        "every patient of the other source; Δ = cross-site Jaccard minus the model's cross-validated Jaccard on all visits above.",
        "",
        "| Model | eICU → MIMIC-IV Jaccard | Δ | MIMIC-IV → eICU Jaccard | Δ | ECE eICU → MIMIC-IV | ECE MIMIC-IV → eICU |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in cross_site:
        lines.append(
            f"| {row['name']} | {row['eicu->mimic-iv']['jaccard']:.4f} | {row['eicu->mimic-iv']['jaccard'] - row['cv']:+.4f} | "
            f"{row['mimic-iv->eicu']['jaccard']:.4f} | {row['mimic-iv->eicu']['jaccard'] - row['cv']:+.4f} | "
            f"{row['eicu->mimic-iv']['ece']:.4f} | {row['mimic-iv->eicu']['ece']:.4f} |"
        )
    return lines


def _comparison_section(results: list[CrossValidation], baseline: str = "logistic") -> list[str]:
    """Each model's test Jaccard minus the baseline's, paired by fold (same test patients), with a 95% t-interval."""
    reference = next((r for r in results if r.model_id == baseline), None)
    if reference is None:
        return []
    lines = [
        "",
        f"## Compared with {reference.model_class.display_name.lower()}",
        "",
        f"Test-fold Jaccard minus {reference.model_class.display_name.lower()}'s on the same fold (paired by fold), mean and "
        "95% t-interval over the folds. A model beats it beyond its interval only if the whole interval lies above 0.",
        "",
        "| Model | ΔJaccard | 95% interval | Beyond the interval? |",
        "|---|---|---|---|",
    ]
    base = {f.fold: f.metrics["jaccard"] for f in reference.folds}
    for result in results:
        if result is reference:
            continue
        interval = paired_difference({f.fold: f.metrics["jaccard"] for f in result.folds}, base)
        if interval is None:
            continue
        lines.append(
            f"| {result.model_class.display_name} | {interval.mean:+.4f} | [{interval.low:+.4f}, {interval.high:+.4f}] | "
            f"{comparison_verdict(interval)} |"
        )
    return lines


def _family_notes(results: list[CrossValidation]) -> list[tuple[str, str]]:
    """Each model family's benchmark_note once (ablation subclasses inherit their parent's note)."""
    seen: set[str] = set()
    notes = []
    for result in results:
        note = result.model_class.benchmark_note
        if note and note not in seen:
            seen.add(note)
            notes.append((result.model_class.family, note))
    return notes


def export_result(
    result: CrossValidation,
    data: PreparedData,
    config: ModelConfig,
    folds: int,
    seed: int,
    database: Path,
    reference: dict[str, float],
    output: Path,
    default: bool,
) -> str:
    """Retrain one evaluated model on all folds and write models/<id>/ (model.onnx, manifest, metrics, parity)."""
    final_started = time.perf_counter()
    final = train_final(result, data, config, seed)
    fit = final.fit
    validation_patients = final.calibration.validation_patients
    train_patients = len(np.unique(data.samples.patient_ids)) - validation_patients
    fitted_on = (
        f"validation patients: a seeded {int(VALIDATION_SHARE * 100)}% ({validation_patients}) of the cohort's patients with a "
        f"medication target (seed {seed}), left out of training"
    )
    metrics = {
        "model": result.model_id,
        "evaluation": split_description(folds, seed),
        "database": database.name,
        "cohort": data.cohort.describe(),
        "crossValidation": result.to_json(),
        "groundTruth": reference,
        "ddiMatrices": data.ddi_descriptions,
        "finalTraining": {
            "epochs": fit.epochs_run,
            "threshold": final.threshold,
            "trainPatients": int(train_patients),
            "calibrationPatients": int(validation_patients),
            "calibrationMethod": final.calibration.calibration.method,
            "validationJaccard": final.validation_jaccard,
            "trainSeconds": fit.train_seconds,
            "cpuSeconds": fit.cpu_seconds,
        },
    }
    folder = output / result.model_id
    export_model_folder(
        ExportRequest(
            model_id=result.model_id,
            model=fit.model,
            vocabularies=data.vocabularies,
            limits=data.limits,
            threshold=final.threshold,
            threshold_chosen_on=f"best Jaccard of the calibrated probabilities of the {fitted_on}",
            split=split_description(folds, seed),
            trained_on=f"{train_patients} of the {len(np.unique(data.samples.patient_ids))} patients with a medication target "
            "(all folds but the calibration share), "
            + (f"{fit.epochs_run} epochs (the folds' mean best epoch)" if result.model_class.gradient_trained else "fitted directly"),
            metrics=metrics,
            description=f"{result.model_class.display_name} trained on the MIMIC-IV and eICU demo cohort; "
            + (
                "default model chosen by the open benchmark (models/BENCHMARK.md)."
                if default
                else "exported on request (--export); its figures are in models/BENCHMARK.md."
            ),
            calibration=calibration_document(final.calibration, fitted_on, final.miss_rate_thresholds, final.threshold),
        ),
        folder,
    )
    difference = run_parity(folder)
    return (
        f"Shipped {result.model_id} to {folder} (retrained in {time.perf_counter() - final_started:.1f}s, CPU "
        f"{fit.cpu_seconds:.1f}s for {fit.epochs_run} epochs; {final.calibration.calibration.method} calibration, threshold "
        f"{final.threshold:.2f}; ONNX parity max |Δ| {difference:.2e})"
    )

# -- parallel jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSource:
    """What a worker process needs to rebuild the parent's PreparedData, and the fingerprint it must match."""

    database: str
    data_dir: str
    folds: int
    with_knowledge: bool
    threads: int
    fingerprint: str

    def load(self) -> PreparedData:
        return prepare_benchmark_data(self.database, Path(self.data_dir), self.folds, self.with_knowledge)


def prepare_benchmark_data(database: Path | str, root: Path, folds: int, with_knowledge: bool) -> PreparedData:
    """The benchmark's data: the database's cohort with the open data's molecule structures and, unless left out,
    its drug knowledge. Every benchmark-style run (workers, render-only, model selection) reads it this one way."""
    return prepare_data(
        Path(database),
        structures_file=root / "knowledge" / "molecules" / "atc3_smiles.json",
        folds=folds,
        knowledge_loader=knowledge_loader(root) if with_knowledge else None,
    )


def benchmark_config(seed: int, root: Path, max_epochs: int | None = None) -> ModelConfig:
    """The benchmark's ModelConfig. data_dir: models that read open data themselves (MKMed's pre-training) use the
    same folder as the knowledge."""
    config = ModelConfig(seed=seed, options={"data_dir": str(root)})
    return config if max_epochs is None else config.with_overrides(max_epochs=max_epochs)


def data_fingerprint(data: PreparedData) -> str:
    """Hash of the encoded samples and vocabularies: workers must train on exactly the parent's data."""
    digest = hashlib.sha256()
    samples = data.samples
    for array in (samples.diagnoses, samples.procedures, samples.medications, samples.visit_mask, samples.targets, samples.patient_ids):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    for vocabulary in (data.vocabularies.diagnosis, data.vocabularies.procedure, data.vocabularies.medication):
        digest.update("\n".join(vocabulary.codes()).encode())
    digest.update(str(sorted(data.ddi_matrices)).encode())
    return digest.hexdigest()


class JobFailed(RuntimeError):
    """A job raised in a worker; the message carries the job and the worker's traceback."""


_worker_data: PreparedData | None = None  # this process's data: set by the worker initialiser or in-process
_worker_error: str | None = None  # why this worker has no data (reported by its jobs)


def _start_worker(source: DataSource) -> None:
    # An exception here would make the pool restart the worker forever; each job reports it instead.
    global _worker_data, _worker_error
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # lines from workers (e.g. pre-training) appear as they happen
    torch.set_num_threads(source.threads)
    try:
        data = source.load()
    except Exception as error:
        _worker_error = f"worker {os.getpid()} could not read {source.database}: {error}"
        return
    if data_fingerprint(data) != source.fingerprint:
        _worker_error = f"worker {os.getpid()} built different data from {source.database}: was the database changed during the run?"
        return
    _worker_data = data


def data_of_worker() -> PreparedData:
    if _worker_data is None:
        raise JobFailed(_worker_error or "worker not initialised")
    return _worker_data


def _fold_job(model_id: str, model_class: type[MedRecModel], config: ModelConfig, folds: int, seed: int, fold: int) -> tuple[str, FoldResult, int]:
    data = data_of_worker()
    try:
        result, parameters = run_fold(model_class, data, config, folds, seed, fold)
    except Exception as error:
        raise JobFailed(f"{model_id} fold {fold + 1}/{folds} failed: {error}\n{traceback.format_exc()}") from None
    return model_id, result, parameters


# Cross-site transport: every model and baseline (the ablations are left out to bound the run time).
CROSS_SITE_MODELS = ("most-frequent", "logistic", "retain", "gamenet", "safedrug", "molerec", "nla-mmr", "cafemed", "mkmed")
CROSS_SITE_DIRECTIONS = (("eicu", "mimic-iv"), ("mimic-iv", "eicu"))


def _cross_site_job(model_id: str, model_class: type[MedRecModel], config: ModelConfig, train_source: str, test_source: str, seed: int) -> tuple[str, str, dict]:
    data = data_of_worker()
    try:
        fit_patients, validation_patients, test_patients = cross_site_patients(data, train_source, test_source, seed)
        result, _ = evaluate_split(model_class, data, config.with_overrides(seed=seed), -1, fit_patients, validation_patients, test_patients)
    except Exception as error:
        raise JobFailed(f"{model_id} cross-site {train_source} -> {test_source} failed: {error}\n{traceback.format_exc()}") from None
    return model_id, f"{train_source}->{test_source}", {**result.metrics, "cpuSeconds": result.cpu_seconds, "calibrationMethod": result.calibration_method}


def _export_job(result: CrossValidation, config: ModelConfig, folds: int, seed: int, database: Path, reference: dict[str, float], output: Path, default: bool) -> str:
    data = data_of_worker()
    try:
        return export_result(result, data, config, folds, seed, database, reference, output, default)
    except Exception as error:
        raise JobFailed(f"exporting {result.model_id} failed: {error}\n{traceback.format_exc()}") from None


def _call(function_and_arguments: tuple) -> Any:
    function, arguments = function_and_arguments
    return function(*arguments)


class JobRunner:
    """Runs jobs in this process (one worker) or in a pool of spawned worker processes.

    Spawned, not forked: the parent has used torch and onnxruntime, whose thread pools do not survive a fork.
    """

    def __init__(self, data: PreparedData, source: DataSource, workers: int) -> None:
        global _worker_data
        self.workers = workers
        self.pool = None
        if workers > 1:
            self.pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker, initargs=(source,))
        else:
            _worker_data = data

    def run(self, function, jobs: list[tuple]):
        """Results in completion order."""
        if self.pool is None:
            for job in jobs:
                yield function(*job)
            return
        # Dispatched in the given order (longest first), one job at a time; a job's JobFailed is re-raised here.
        yield from self.pool.imap_unordered(_call, [(function, job) for job in jobs], chunksize=1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def previous_fold_seconds(output: Path) -> dict[str, float]:
    """Mean CPU seconds per fold of each model in the previous benchmark record (to start long jobs first)."""
    try:
        record = json.loads((output / BENCHMARK_RECORD).read_text(encoding="utf-8"))
        return {
            entry["model"]: float(np.mean([fold["cpuSeconds"] for fold in entry["folds"]]))
            for entry in record.get("models", [])
            if entry.get("folds")
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    return max(1, min(available_cpus(), 8))



def run(arguments: argparse.Namespace) -> int:
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.set_num_threads(arguments.threads)
    database = Path(arguments.database) if arguments.database else default_database_path()
    root = Path(arguments.data_dir) if arguments.data_dir else data_dir()
    output = Path(arguments.models_dir) if arguments.models_dir else models_dir()
    folds, seed = arguments.folds, arguments.seed
    models = available_models()
    skipped = {m: "model file not written yet" for m in MODEL_REGISTRY if m not in models}
    if arguments.models:
        wanted = arguments.models.split(",")
        unknown = [m for m in wanted if m not in MODEL_REGISTRY]
        if unknown:
            print(f"Unknown model(s) {', '.join(unknown)}; registered: {', '.join(MODEL_REGISTRY)}.", file=sys.stderr)
            return 2
        left_out = [m for m in models if m not in wanted]
        models = {m: c for m, c in models.items() if m in wanted}
        skipped = {m: reason for m, reason in skipped.items() if m in wanted}
        # Said in BENCHMARK.md, so a table without them is not mistaken for a run of every model.
        skipped.update({m: "left out of this run (--models)" for m in left_out})
    config = benchmark_config(seed, root, arguments.max_epochs)
    data = prepare_benchmark_data(database, root, folds, not arguments.no_knowledge)
    print(f"Data: {data.cohort.describe()}")
    if data.cohort.coverage:
        print(f"Medications: {data.cohort.coverage.describe()}")
    print(f"Samples: {len(data.samples)}; limits {data.limits.to_manifest()}")
    if data.knowledge_error:
        print(f"Drug knowledge unavailable ({data.knowledge_error}): DDI rates and knowledge-based models are skipped.")

    evaluated: dict[str, type[MedRecModel]] = {}
    for model_id, model_class in models.items():
        if model_class.requires_knowledge and data.knowledge is None:
            skipped[model_id] = f"needs drug knowledge ({data.knowledge_error or 'disabled with --no-knowledge'})"
        else:
            evaluated[model_id] = model_class
    if not evaluated:
        print("No model could be evaluated.", file=sys.stderr)
        return 1

    # Longest jobs first (by the previous run's timings), so no long job starts last on an otherwise idle pool.
    expected = previous_fold_seconds(output)
    typical = float(np.median(list(expected.values()))) if expected else 0.0
    jobs = sorted(
        ((model_id, model_class, config, folds, seed, fold) for model_id, model_class in evaluated.items() for fold in range(folds)),
        key=lambda job: -expected.get(job[0], typical),
    )
    workers = min(arguments.workers, len(jobs))
    source = DataSource(str(database), str(root), folds, not arguments.no_knowledge, arguments.threads, data_fingerprint(data))
    print(f"Running {len(jobs)} (model, fold) jobs on {workers} worker process(es), {arguments.threads} torch thread(s) each")
    fold_results: dict[str, list[FoldResult]] = {model_id: [] for model_id in evaluated}
    parameters: dict[str, int] = {}
    runner = JobRunner(data, source, workers)
    try:
        for model_id, fold_result, parameter_count in runner.run(_fold_job, jobs):
            fold_results[model_id].append(fold_result)
            parameters[model_id] = parameter_count
            print(describe_fold(model_id, fold_result, folds))
            if len(fold_results[model_id]) == folds:
                finished = CrossValidation(model_id, evaluated[model_id], sorted(fold_results[model_id], key=lambda f: f.fold), parameter_count)
                summary = finished.summary()
                print(
                    f"{model_id}: jaccard {summary['jaccard'].format()}, f1 {summary['f1'].format()}, prauc {summary['prauc'].format()}, "
                    f"#meds {summary['meds'].format(2)} — {folds} folds {finished.train_seconds():.1f}s "
                    f"(CPU {finished.cpu_seconds():.1f}s)"
                )
        results = [
            CrossValidation(model_id, model_class, sorted(fold_results[model_id], key=lambda f: f.fold), parameters[model_id])
            for model_id, model_class in evaluated.items()
        ]
        cross_site = None if arguments.no_cross_site else run_cross_site(results, config, seed, runner)
        publish(results, data, config, arguments, database, output, skipped, runner, started, cross_site)
    finally:
        runner.close()
    print(
        f"Wrote {output / 'BENCHMARK.md'}; total {time.perf_counter() - started:.1f}s wall "
        f"(this process's CPU {time.process_time() - cpu_started:.1f}s; the workers' CPU is in the per-fold figures)"
    )
    return 0


def run_cross_site(results: list[CrossValidation], config: ModelConfig, seed: int, runner: "JobRunner") -> list[dict]:
    """Train on one source, test on the other, both ways, for every model of CROSS_SITE_MODELS that was evaluated."""
    chosen = [r for r in results if r.model_id in CROSS_SITE_MODELS]
    jobs = [(r.model_id, r.model_class, config, a, b, seed) for r in chosen for a, b in CROSS_SITE_DIRECTIONS]
    found: dict[tuple[str, str], dict] = {}
    try:
        for model_id, direction, metrics in runner.run(_cross_site_job, jobs):
            found[(model_id, direction)] = metrics
            print(f"  {model_id} {direction}: jaccard {metrics['jaccard']:.4f}, ece {metrics['ece']:.4f}")
    except JobFailed as error:  # e.g. a database with one source: the table is left out, the benchmark goes on
        print(f"Cross-site table left out: {str(error).splitlines()[0]}")
        return []
    rows = []
    for r in chosen:
        directions = {d: found[(r.model_id, d)] for d in ("eicu->mimic-iv", "mimic-iv->eicu") if (r.model_id, d) in found}
        if len(directions) == 2:
            rows.append({"model": r.model_id, "name": r.model_class.display_name, "cv": r.summary()["jaccard"].mean, **directions})
    return rows


def publish(
    results: list[CrossValidation],
    data: PreparedData,
    config: ModelConfig,
    arguments: argparse.Namespace,
    database: Path,
    output: Path,
    skipped: dict[str, str],
    runner: JobRunner,
    started: float,
    cross_site: list[dict] | None = None,
) -> None:
    """Pick the best model, export it (and the --export ones) through the job runner, write the record and the table."""
    folds, seed = arguments.folds, arguments.seed
    best = max(results, key=lambda r: r.mean_validation_jaccard())
    reference = reference_statistics(data)
    output.mkdir(parents=True, exist_ok=True)
    record = {
        "generatedAt": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "database": database.name,
        "cohort": data.cohort.describe(),
        "coverage": data.cohort.coverage.__dict__ if data.cohort.coverage else None,
        "split": split_description(folds, seed),
        "reference": reference,
        "ddiMatrices": data.ddi_descriptions,
        "defaultModel": best.model_id,
        "models": [r.to_json() for r in results],
        "skipped": skipped,
        "crossSite": cross_site or [],
    }
    if not arguments.no_export:
        previous = output / BENCHMARK_RECORD
        if previous.exists():  # a model shipped by an earlier run that is no longer the best is removed
            old_default = json.loads(previous.read_text(encoding="utf-8")).get("defaultModel")
            if old_default and old_default != best.model_id and (output / old_default / "manifest.json").exists():
                shutil.rmtree(output / old_default)
        # The best model, then the models asked for by --export (e.g. nla-mmr, so it can be chosen in the app).
        also = [r for r in results if r.model_id in arguments.export.split(",") and r is not best]
        exports = [(result, config, folds, seed, database, reference, output, result is best) for result in [best, *also]]
        for line in runner.run(_export_job, exports):
            print(line)
        # The one source of truth for the default model: the registry, CLI and app read models/DEFAULT, and a test
        # checks that the README names the same model.
        (output / "DEFAULT").write_text(best.model_id + "\n", encoding="utf-8")
        missing = [m for m in arguments.export.split(",") if m and m not in {r.model_id for r in results}]
        if missing:
            print(f"Not exported (not evaluated in this run): {', '.join(missing)}")
    # rounded as benchmark.json stores it, so --render-only writes the same table
    run_facts = RunFacts(runner.workers, arguments.threads, available_cpus(), round(time.perf_counter() - started, 1))
    record["run"] = {"workers": run_facts.workers, "threads": run_facts.threads, "cpus": run_facts.cpus, "wallSeconds": round(run_facts.wall_seconds, 1)}
    (output / BENCHMARK_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(
        data, results, reference, None if arguments.no_export else best.model_id, folds, seed, skipped, database, run_facts, cross_site,
        record["generatedAt"], load_selection_record(output, data.cohort.describe()),
    )  # fmt: skip
    (output / "BENCHMARK.md").write_text(markdown, encoding="utf-8")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="patient database (default: MEDREC_DB or resources/demo.sqlite)")
    parser.add_argument("--data-dir", help="open data folder (default: MEDREC_DATA_DIR or ../shared/data)")
    parser.add_argument("--models-dir", help="output folder (default: MEDREC_MODELS_DIR or models/)")
    parser.add_argument("--models", help="comma-separated model ids (default: every registered model)")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-epochs", type=int, help="cap on training epochs (default: the model config's)")
    # One thread: these models run many small operations, where a second thread mostly waits (and on a
    # busy machine oversubscribed threads made training ~30x slower in our measurements).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker (default 1)")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="parallel worker processes for the (model, fold) jobs (default: CPUs, at most 8)"
    )
    parser.add_argument("--no-knowledge", action="store_true", help="skip drug knowledge (no DDI rates, no knowledge-based models)")
    parser.add_argument("--no-export", action="store_true", help="evaluate only; do not write a model folder")
    parser.add_argument("--render-only", action="store_true", help="rewrite BENCHMARK.md from benchmark.json without training")
    parser.add_argument("--no-cross-site", action="store_true", help="skip the cross-site table (train on eICU, test on MIMIC-IV and back)")
    parser.add_argument(
        "--export",
        default="nla-mmr,cafemed,mkmed",
        help="comma-separated model ids exported to models/<id>/ besides the best one (default: nla-mmr,cafemed,mkmed; '' for none)",
    )
    arguments = parser.parse_args(argv)
    if arguments.workers < 1 or arguments.threads < 1:
        parser.error(f"--workers and --threads must be at least 1, got {arguments.workers} and {arguments.threads}")
    if arguments.folds < 2:
        parser.error(f"--folds must be at least 2, got {arguments.folds}")
    return arguments


def fold_from_json(fold: dict) -> FoldResult:
    return FoldResult(
        fold["fold"],
        fold["metrics"],
        fold["multiVisitMetrics"],
        fold["threshold"],
        fold["bestEpoch"],
        fold["epochsRun"],
        fold["validationJaccard"],
        fold["trainSeconds"],
        fold["cpuSeconds"],
        uncalibrated_metrics=fold.get("uncalibratedMetrics", {}),
        calibration_method=fold.get("calibrationMethod", ""),
        calibration_scores=fold.get("calibrationCrossFittedEce", {}),
        miss_rates=fold.get("missRates", {}),
        personalisation=fold.get("personalisation", {}),
        literature_metrics=fold.get("literatureCohortMetrics", {}),
    )


def render_only(arguments: argparse.Namespace) -> int:
    """Rewrite BENCHMARK.md from benchmark.json (no training): for a changed table layout or wording."""
    from .models import load_model_class

    database = Path(arguments.database) if arguments.database else default_database_path()
    root = Path(arguments.data_dir) if arguments.data_dir else data_dir()
    output = Path(arguments.models_dir) if arguments.models_dir else models_dir()
    record = json.loads((output / BENCHMARK_RECORD).read_text(encoding="utf-8"))
    data = prepare_benchmark_data(database, root, arguments.folds, not arguments.no_knowledge)
    if data.cohort.describe() != record["cohort"]:
        print(f"{database} is not the database of {output / BENCHMARK_RECORD} ({record['cohort']})", file=sys.stderr)
        return 1
    results = [
        CrossValidation(entry["model"], load_model_class(entry["model"]), [fold_from_json(f) for f in entry["folds"]], entry["parameters"])
        for entry in record["models"]
    ]
    run = record.get("run")
    facts = RunFacts(run["workers"], run["threads"], run["cpus"], run["wallSeconds"]) if run else None
    markdown = render_markdown(
        data, results, record["reference"], record.get("defaultModel"), arguments.folds, arguments.seed, record.get("skipped", {}),
        database, facts, record.get("crossSite"), record["generatedAt"], load_selection_record(output, data.cohort.describe()),
    )  # fmt: skip
    (output / "BENCHMARK.md").write_text(markdown, encoding="utf-8")
    print(f"Rewrote {output / 'BENCHMARK.md'} from {output / BENCHMARK_RECORD}")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        return render_only(arguments) if arguments.render_only else run(arguments)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
