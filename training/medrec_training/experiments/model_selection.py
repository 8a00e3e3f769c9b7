"""Honest model selection: a bounded hyper-parameter search nested in the benchmark's folds, and ensembles.

    python -m medrec_training.experiments.model_selection [--models nla-mmr,mkmed,cafemed] [--seeds 3] [--workers N]

For each model and each of the benchmark's patient-level outer folds (same seed, same patients), every
configuration of GRID is trained on the fold's fit patients and scored on its validation patients, both inside
the outer training fold (early stopping, calibration, threshold and the validation Jaccard, as in the
benchmark). The configuration with the best validation Jaccard is the fold's choice, and the nested estimate
is the TEST-fold figure of that choice: the test patients never take part in choosing.

Ensembles, scored on the same test folds, with the decision threshold chosen on the validation patients only:
  * research models: the mean of the calibrated probabilities of the models, each at its per-fold choice;
  * seeds (with --seeds > 1): per model, its default configuration trained with that many seeds (the first is
    the benchmark's own seed, so that member is the benchmark's fold model), calibrated probabilities averaged.
Each model and ensemble is compared with the baseline (logistic regression) paired by fold, as BENCHMARK.md does.

Writes models/model_selection.json and re-renders models/BENCHMARK.md, whose renderer adds the section
"Nested model selection" from that record (so `benchmark --render-only` keeps it). models/DEFAULT is never
changed here: the default stays whatever the benchmark selects.

Every (model, configuration, seed, fold) is one job on the benchmark's JobRunner. Each finished job is kept in
a temporary folder (--work-dir, outside the repository), so a stopped run resumes where it was.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from ..benchmark import (
    DataSource,
    JobFailed,
    JobRunner,
    available_cpus,
    benchmark_config,
    data_fingerprint,
    data_of_worker,
    prepare_benchmark_data,
    previous_fold_seconds,
)
from ..datasets import DatasetError
from ..evaluation.selection_table import MODEL_SELECTION_RECORD, selection_markdown, splice_section
from ..harness import DEFAULT_FOLDS, DEFAULT_SEED, FoldResult, PreparedData, SplitProbabilities, evaluate_split, fold_patients, split_description
from ..metrics import comparison_verdict, evaluate, paired_difference, summarize_folds
from ..models import MODEL_REGISTRY, load_model_class
from ..models.base import ModelConfig
from ..paths import data_dir, default_database_path, models_dir
from ..training import choose_threshold


@dataclass(frozen=True)
class GridConfig:
    name: str
    overrides: dict[str, Any]  # ModelConfig fields over the benchmark's configuration
    why: str


# The same three configurations for every model: one axis each, so a choice says what limited the model.
GRID: tuple[GridConfig, ...] = (
    GridConfig("default", {}, "the benchmark's configuration (embedding and hidden width 64, dropout 0.3, weight decay 1e-5)"),
    GridConfig("wide", {"embedding_dim": 128, "hidden_dim": 128}, "twice the width: is the model short of capacity?"),
    GridConfig(
        "regularised",
        {"dropout": 0.5, "weight_decay": 1e-4},
        "stronger regularisation: about 1,000 fit patients per fold, so over-fitting is the likelier limit",
    ),
    GridConfig(
        "slow",
        {"learning_rate_scale": 0.5},
        "half the model's own learning rate (NLA-MMR 5e-3, MKMed 4e-3, CaFeMed 3e-3 set by the model classes): "
        "a finer optimum, found by the same early stopping",
    ),
)
GRID_NOTE = (
    "Each model class sets its own learning rate over the harness's (config_overrides), so the learning rate is "
    "searched as a factor of it (options.learning_rate_scale, applied by the trainer after the class's overrides). "
    "Width, regularisation and learning rate are varied one at a time (3 alternatives + the default), not crossed: "
    "a full grid of these three axes would be 8 configurations, twice what this machine's budget allows."
)
DEFAULT_MODELS = ("nla-mmr", "mkmed", "cafemed")
DEFAULT_BASELINE = "logistic"
DEFAULT_SEEDS = 3
SEED_STRIDE = 1000  # member k of a seed ensemble trains with seed + fold + k * SEED_STRIDE (k = 0: the benchmark's seed)
RESEARCH_ENSEMBLE = "research-models"


@dataclass(frozen=True)
class SelectionJob:
    model_id: str
    config_name: str
    member: int  # seed index; 0 = the benchmark's seed
    fold: int
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.model_id}-{self.config_name}-s{self.member}-f{self.fold}"


@dataclass
class JobOutcome:
    job: SelectionJob
    result: FoldResult  # with its calibrated validation and test probabilities
    parameters: int
    wall_seconds: float  # the whole job: training, calibration, predictions, metrics
    cpu_seconds: float


def _selection_job(job: SelectionJob, config: ModelConfig, folds: int, seed: int) -> JobOutcome:
    data = data_of_worker()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        fit_patients, validation_patients, test_patients = fold_patients(data.samples, folds, seed, job.fold)
        member_config = config.with_overrides(**job.overrides, seed=seed + job.fold + SEED_STRIDE * job.member)
        result, parameters = evaluate_split(
            load_model_class(job.model_id), data, member_config, job.fold, fit_patients, validation_patients, test_patients,
            keep_probabilities=True,
        )  # fmt: skip
    except Exception as error:
        raise JobFailed(f"{job.key} failed: {error}\n{traceback.format_exc()}") from None
    return JobOutcome(job, result, parameters, time.perf_counter() - started, time.process_time() - cpu_started)


def plan_jobs(models: Sequence[str], baseline: str, grid: Sequence[GridConfig], seeds: int, folds: int) -> list[SelectionJob]:
    """Every configuration of every model on every fold, the extra seed members of the default configuration, and
    the baseline at its default configuration."""
    jobs = [SelectionJob(baseline, grid[0].name, 0, fold) for fold in range(folds)]
    for model_id in models:
        for fold in range(folds):
            jobs += [SelectionJob(model_id, config.name, 0, fold, dict(config.overrides)) for config in grid]
            jobs += [SelectionJob(model_id, grid[0].name, member, fold) for member in range(1, seeds)]
    return jobs


# -- selection and ensembles (pure: they read only what they are given) --------------------------------------


def choose_config(validation_jaccard: Mapping[str, float | None]) -> str:
    """The configuration with the best validation Jaccard; the first in grid order wins a tie (the default)."""
    best, best_score = None, float("-inf")
    for name, value in validation_jaccard.items():
        score = float("-inf") if value is None else value
        if best is None or score > best_score + 1e-12:
            best, best_score = name, score
    if best is None:
        raise ValueError("no configuration to choose from")
    return best


def nested_choices(validation_by_config: Mapping[str, Mapping[int, float | None]]) -> dict[int, str]:
    """fold -> the configuration chosen on that fold's validation patients. The input holds validation figures
    only, so the test folds cannot influence the choice."""
    folds = sorted(set.intersection(*(set(per_fold) for per_fold in validation_by_config.values())))
    return {fold: choose_config({name: per_fold[fold] for name, per_fold in validation_by_config.items()}) for fold in folds}


@dataclass
class EnsembleFold:
    fold: int
    members: list[str]
    threshold: float  # chosen on the members' mean calibrated validation probabilities
    validation_jaccard: float
    metrics: dict[str, float]  # test fold at that threshold

    def to_json(self) -> dict:
        return {"fold": self.fold, "members": self.members, "threshold": self.threshold, "validationJaccard": self.validation_jaccard, "metrics": self.metrics}


def ensemble_fold(fold: int, members: Mapping[str, SplitProbabilities], ddi_matrices: Mapping[str, np.ndarray] | None = None) -> EnsembleFold:
    """Mean of the members' calibrated probabilities; threshold chosen on the validation visits, applied to the test visits."""
    parts = list(members.values())
    if len(parts) < 2:
        raise ValueError(f"an ensemble needs two or more members, got {list(members)}")
    first = parts[0]
    for name, part in members.items():  # same visits in the same order, or the average mixes patients
        if not (
            np.array_equal(part.validation_patient_ids, first.validation_patient_ids)
            and np.array_equal(part.test_patient_ids, first.test_patient_ids)
            and part.validation.shape == first.validation.shape
            and part.test.shape == first.test.shape
        ):
            raise ValueError(f"fold {fold + 1}: member {name} was scored on other visits than {next(iter(members))}")
    validation = np.mean([part.validation for part in parts], axis=0)
    test = np.mean([part.test for part in parts], axis=0)
    threshold, validation_jaccard = choose_threshold(
        SimpleNamespace(targets=first.validation_targets, patient_ids=first.validation_patient_ids), validation
    )
    metrics = evaluate(first.test_targets, test, first.test_patient_ids, threshold, ddi_matrices)
    return EnsembleFold(fold, list(members), threshold, validation_jaccard, metrics)


# -- the record ------------------------------------------------------------------------------------------------


def _summary_json(fold_metrics: Sequence[Mapping[str, float]]) -> dict:
    wanted = ("jaccard", "f1", "prauc", "meds", "ece")
    summary = summarize_folds([{k: m[k] for k in wanted if k in m} for m in fold_metrics])
    return {name: interval.to_json() for name, interval in summary.items()}


def _fold_json(outcome: JobOutcome) -> dict:
    r = outcome.result
    return {
        "fold": r.fold,
        "validationJaccard": r.validation_jaccard,
        "threshold": r.threshold,
        "bestEpoch": r.best_epoch,
        "epochsRun": r.epochs_run,
        "calibrationMethod": r.calibration_method,
        "metrics": {k: v for k, v in r.metrics.items() if k in ("jaccard", "f1", "prauc", "meds", "ece", "visits", "patients")},
        "trainSeconds": r.train_seconds,
        "trainCpuSeconds": r.cpu_seconds,
        "jobSeconds": outcome.wall_seconds,
        "jobCpuSeconds": outcome.cpu_seconds,
    }


def _comparison(kind: str, name: str, validation_mean: float, jaccard_by_fold: Mapping[int, float], baseline_by_fold: Mapping[int, float]) -> dict:
    difference = paired_difference(jaccard_by_fold, baseline_by_fold)
    test = summarize_folds([{"jaccard": jaccard_by_fold[f]} for f in sorted(jaccard_by_fold)])["jaccard"]
    return {
        "kind": kind,
        "name": name,
        "meanValidationJaccard": validation_mean,
        "jaccard": test.to_json(),
        "deltaJaccard": difference.to_json() if difference else None,
        "verdict": comparison_verdict(difference) if difference else "–",
        "beatsBaseline": bool(difference is not None and difference.low > 0),
    }


def _test_jaccard(runs: Sequence[JobOutcome]) -> dict[int, float]:
    return {o.result.fold: o.result.metrics["jaccard"] for o in runs}


def _ensemble_comparison(kind: str, entry: dict, folds: Sequence[EnsembleFold], baseline_by_fold: Mapping[int, float]) -> dict:
    return _comparison(kind, entry["name"], entry["meanValidationJaccard"], {e.fold: e.metrics["jaccard"] for e in folds}, baseline_by_fold)


def build_record(
    outcomes: Mapping[str, JobOutcome],
    data: PreparedData,
    models: Sequence[str],
    baseline: str,
    grid: Sequence[GridConfig],
    seeds: int,
    folds: int,
    seed: int,
    facts: dict[str, Any],
    database: Path,
) -> dict:
    """Nested choices, ensembles, comparisons with the baseline and cost, from the finished jobs."""
    def outcome(model_id: str, config: str, member: int, fold: int) -> JobOutcome:
        return outcomes[SelectionJob(model_id, config, member, fold).key]

    fold_ids = list(range(folds))
    default = grid[0].name
    baseline_class = load_model_class(baseline)
    baseline_folds = [outcome(baseline, default, 0, f) for f in fold_ids]
    baseline_jaccard = _test_jaccard(baseline_folds)
    comparisons: list[dict] = []
    model_entries: list[dict] = []
    chosen_probabilities: dict[int, dict[str, SplitProbabilities]] = {f: {} for f in fold_ids}
    ensembles: list[dict] = []
    for model_id in models:
        model_class = load_model_class(model_id)
        configs = {}
        for config in grid:
            runs = [outcome(model_id, config.name, 0, f) for f in fold_ids]
            configs[config.name] = {
                "parameters": runs[0].parameters,
                "meanValidationJaccard": float(np.mean([o.result.validation_jaccard or 0.0 for o in runs])),
                "summary": _summary_json([o.result.metrics for o in runs]),
                "folds": [_fold_json(o) for o in runs],
            }
        choices = nested_choices(
            {config.name: {f: outcome(model_id, config.name, 0, f).result.validation_jaccard for f in fold_ids} for config in grid}
        )
        chosen = [outcome(model_id, choices[f], 0, f) for f in fold_ids]
        for o in chosen:
            chosen_probabilities[o.result.fold][model_id] = o.result.probabilities
        entry = {
            "model": model_id,
            "name": model_class.display_name,
            "configs": configs,
            "chosen": [choices[f] for f in fold_ids],
            "nested": {
                "meanValidationJaccard": float(np.mean([o.result.validation_jaccard or 0.0 for o in chosen])),
                "summary": _summary_json([o.result.metrics for o in chosen]),
                "folds": [{"config": choices[o.result.fold], **_fold_json(o)} for o in chosen],
            },
        }
        model_entries.append(entry)
        default_runs = [outcome(model_id, default, 0, f) for f in fold_ids]
        comparisons.append(
            _comparison("default configuration", model_class.display_name, configs[default]["meanValidationJaccard"], _test_jaccard(default_runs), baseline_jaccard)
        )
        comparisons.append(_comparison("nested choice", model_class.display_name, entry["nested"]["meanValidationJaccard"], _test_jaccard(chosen), baseline_jaccard))
        if seeds > 1:
            members = [
                {f"seed {m + 1}": outcome(model_id, default, m, f).result.probabilities for m in range(seeds)} for f in fold_ids
            ]
            ensemble = [ensemble_fold(f, members[f], data.ddi_matrices) for f in fold_ids]
            ensembles.append(_ensemble_json(f"seeds-{model_id}", f"{model_class.display_name}, {seeds} seeds (default configuration)", ensemble))
            comparisons.append(_ensemble_comparison("seed ensemble", ensembles[-1], ensemble, baseline_jaccard))
    if len(models) > 1:
        ensemble = [ensemble_fold(f, chosen_probabilities[f], data.ddi_matrices) for f in fold_ids]
        names = " + ".join(load_model_class(m).display_name for m in models)
        ensembles.append(_ensemble_json(RESEARCH_ENSEMBLE, f"{names} (each at its nested choice)", ensemble))
        comparisons.append(_ensemble_comparison("model ensemble", ensembles[-1], ensemble, baseline_jaccard))
    winners = [c for c in comparisons if c["beatsBaseline"]]
    baseline_name = baseline_class.display_name.lower()
    if winners:
        described = ", ".join(f"{c['name']} ({c['kind']})" for c in winners)
        conclusion = (
            f"Beyond its interval, {described} beat{'s' if len(winners) == 1 else ''} "
            f"{baseline_name}; models/DEFAULT is left to the benchmark's selection and the project lead."
        )
    else:
        conclusion = (
            f"No tuned model and no ensemble beats {baseline_name} beyond its interval (every paired 95% interval of "
            f"ΔJaccard includes 0 or lies below it), so {baseline_name} stays the default."
        )
    return {
        "generatedAt": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "command": facts.pop("command"),
        "database": database.name,
        "cohort": data.cohort.describe(),
        "medications": data.cohort.coverage.describe() if data.cohort.coverage else None,
        "medicationClasses": len(data.vocabularies.medication),
        "split": split_description(folds, seed),
        "folds": folds,
        "seed": seed,
        "maxEpochs": facts.pop("maxEpochs"),
        "maxEpochsCapped": facts.pop("maxEpochsCapped"),
        "selectionRule": "per outer fold, the configuration with the best calibrated validation Jaccard (validation "
        "patients of the outer training fold); its test-fold figures are reported",
        "grid": [{"name": c.name, "overrides": c.overrides, "why": c.why} for c in grid],
        "gridNote": GRID_NOTE,
        "seeds": seeds,
        "seedRule": f"member k trains with seed + fold + {SEED_STRIDE}·k; member 1 is the benchmark's own fold model",
        "baseline": {
            "model": baseline,
            "name": baseline_class.display_name,
            "summary": _summary_json([o.result.metrics for o in baseline_folds]),
            "folds": [_fold_json(o) for o in baseline_folds],
        },
        "models": model_entries,
        "ensembles": ensembles,
        "comparisons": comparisons,
        "beatsBaseline": [f"{c['name']} ({c['kind']})" for c in winners],
        "conclusion": conclusion,
        "cost": _cost(outcomes.values(), facts),
    }


def _ensemble_json(ensemble_id: str, name: str, folds: list[EnsembleFold]) -> dict:
    return {
        "id": ensemble_id,
        "name": name,
        "meanValidationJaccard": float(np.mean([e.validation_jaccard for e in folds])),
        "summary": _summary_json([e.metrics for e in folds]),
        "folds": [e.to_json() for e in folds],
    }


def _cost(outcomes: Iterable[JobOutcome], facts: dict[str, Any]) -> dict:
    per_model: dict[str, dict[str, float]] = {}
    for o in outcomes:
        entry = per_model.setdefault(o.job.model_id, {"jobs": 0, "wallSeconds": 0.0, "cpuSeconds": 0.0})
        entry["jobs"] += 1
        entry["wallSeconds"] += o.wall_seconds
        entry["cpuSeconds"] += o.cpu_seconds
    return {
        "perModel": {m: {k: round(v, 1) if isinstance(v, float) else v for k, v in e.items()} for m, e in per_model.items()},
        "jobWallSeconds": round(sum(e["wallSeconds"] for e in per_model.values()), 1),
        "jobCpuSeconds": round(sum(e["cpuSeconds"] for e in per_model.values()), 1),
        **facts,
    }


# -- the command -----------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.experiments.model_selection", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="patient database (default: MEDREC_DB or resources/demo.sqlite)")
    parser.add_argument("--data-dir", help="open data folder (default: MEDREC_DATA_DIR or ../shared/data)")
    parser.add_argument("--models-dir", help="output folder (default: MEDREC_MODELS_DIR or models/)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated model ids (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"the model every figure is compared with (default: {DEFAULT_BASELINE})")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help=f"members of each seed ensemble; 1 = none (default: {DEFAULT_SEEDS})")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-epochs", type=int, help="cap on training epochs (default: the model config's)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker (default 1)")
    parser.add_argument("--workers", type=int, default=max(1, min(available_cpus(), 8)), help="parallel worker processes (default: CPUs, at most 8)")
    parser.add_argument("--no-knowledge", action="store_true", help="skip drug knowledge (only models that do not need it)")
    parser.add_argument("--work-dir", help="where finished jobs are kept for a resumed run (default: a folder under the system temp dir)")
    arguments = parser.parse_args(argv)
    if arguments.workers < 1 or arguments.threads < 1 or arguments.seeds < 1:
        parser.error(f"--workers, --threads and --seeds must be at least 1, got {arguments.workers}, {arguments.threads}, {arguments.seeds}")
    if arguments.folds < 2:
        parser.error(f"--folds must be at least 2, got {arguments.folds}")
    models = [m for m in arguments.models.split(",") if m]
    unknown = [m for m in [*models, arguments.baseline] if m not in MODEL_REGISTRY]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(MODEL_REGISTRY)}")
    if not models or arguments.baseline in models:
        parser.error(f"--models must name one or more models other than the baseline {arguments.baseline!r}")
    arguments.model_list = models
    return arguments


def _load_finished(work_dir: Path, jobs: Sequence[SelectionJob]) -> dict[str, JobOutcome]:
    finished = {}
    for job in jobs:
        path = work_dir / f"{job.key}.pkl"
        if path.exists():
            with path.open("rb") as handle:  # our own temporary files, written below by this command
                finished[job.key] = pickle.load(handle)
    return finished


def _keep(work_dir: Path, outcome: JobOutcome) -> None:
    partial = work_dir / f"{outcome.job.key}.pkl.partial"
    with partial.open("wb") as handle:
        pickle.dump(outcome, handle)
    partial.replace(work_dir / f"{outcome.job.key}.pkl")


def run(arguments: argparse.Namespace, argv: list[str] | None) -> int:
    started, cpu_started = time.perf_counter(), time.process_time()
    load_at_start = os.getloadavg()
    torch.set_num_threads(arguments.threads)
    database = Path(arguments.database) if arguments.database else default_database_path()
    root = Path(arguments.data_dir) if arguments.data_dir else data_dir()
    output = Path(arguments.models_dir) if arguments.models_dir else models_dir()
    folds, seed = arguments.folds, arguments.seed
    config = benchmark_config(seed, root, arguments.max_epochs)
    data = prepare_benchmark_data(database, root, folds, not arguments.no_knowledge)
    needs_knowledge = [m for m in [*arguments.model_list, arguments.baseline] if load_model_class(m).requires_knowledge]
    if needs_knowledge and data.knowledge is None:
        raise DatasetError(f"{', '.join(needs_knowledge)} need drug knowledge ({data.knowledge_error or 'disabled with --no-knowledge'})")
    fingerprint = data_fingerprint(data)
    jobs = plan_jobs(arguments.model_list, arguments.baseline, GRID, arguments.seeds, folds)
    work_dir = Path(arguments.work_dir) if arguments.work_dir else Path(tempfile.gettempdir()) / (
        f"medrec-model-selection-{fingerprint[:12]}-k{folds}-s{seed}-e{arguments.max_epochs or config.max_epochs}"
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    outcomes = _load_finished(work_dir, jobs)
    # Longest first, by the benchmark's last per-fold CPU seconds (wide configurations count double).
    expected = previous_fold_seconds(output)
    pending = sorted(
        (job for job in jobs if job.key not in outcomes),
        key=lambda job: -expected.get(job.model_id, 0.0) * (2.0 if job.config_name == "wide" else 1.0),
    )
    workers = max(1, min(arguments.workers, len(pending)))
    print(
        f"Data: {data.cohort.describe()}\n{len(jobs)} jobs ({len(outcomes)} already done in {work_dir}), grid "
        f"{', '.join(c.name for c in GRID)}, {arguments.seeds} seed(s), {workers} worker(s) x {arguments.threads} thread(s); "
        f"load average {load_at_start[0]:.2f}",
        flush=True,
    )
    load_samples = [load_at_start[0]]
    if pending:
        runner = JobRunner(data, DataSource(str(database), str(root), folds, not arguments.no_knowledge, arguments.threads, fingerprint), workers)
        try:
            for done, outcome in enumerate(runner.run(_selection_job, [(job, config, folds, seed) for job in pending]), start=1):
                _keep(work_dir, outcome)
                outcomes[outcome.job.key] = outcome
                load_samples.append(os.getloadavg()[0])
                r = outcome.result
                print(
                    f"  [{done}/{len(pending)}] {outcome.job.key}: validation {r.validation_jaccard:.4f}, test {r.metrics['jaccard']:.4f}, "
                    f"epoch {r.best_epoch}/{r.epochs_run}, {outcome.wall_seconds:.0f}s (CPU {outcome.cpu_seconds:.0f}s), "
                    f"load {load_samples[-1]:.2f}, {time.perf_counter() - started:.0f}s elapsed",
                    flush=True,
                )
        finally:
            runner.close()
    facts = {
        "command": "python -m medrec_training.experiments.model_selection " + " ".join(argv if argv is not None else sys.argv[1:]),
        "maxEpochs": arguments.max_epochs or config.max_epochs,
        "maxEpochsCapped": arguments.max_epochs is not None,
        "workers": workers,
        "threads": arguments.threads,
        "cpus": available_cpus(),
        "wallSeconds": round(time.perf_counter() - started, 1),  # this invocation (a resumed run counts only its part)
        "parentCpuSeconds": round(time.process_time() - cpu_started, 1),
        "resumedJobs": len(jobs) - len(pending),
        "loadAverage1m": {"start": round(load_at_start[0], 2), "mean": round(float(np.mean(load_samples)), 2), "max": round(max(load_samples), 2)},
    }
    record = build_record(outcomes, data, arguments.model_list, arguments.baseline, GRID, arguments.seeds, folds, seed, facts, database)
    output.mkdir(parents=True, exist_ok=True)
    (output / MODEL_SELECTION_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("\n".join(selection_markdown(record)))
    print(f"Wrote {output / MODEL_SELECTION_RECORD}")
    markdown = output / "BENCHMARK.md"
    if markdown.exists():
        # Spliced in, not re-rendered: the rest of the table stays what the benchmark run wrote. The benchmark's
        # renderer puts the same section in the same place, so `benchmark --render-only` keeps it.
        markdown.write_text(splice_section(markdown.read_text(encoding="utf-8"), record), encoding="utf-8")
        print(f"Added the section to {markdown}")
    else:
        print(f"No {markdown}: run the benchmark first; its renderer adds this section from {MODEL_SELECTION_RECORD}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        return run(arguments, argv)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
