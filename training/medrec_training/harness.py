"""Evaluation harness: patient-level k-fold cross-validation with a validation share carved from training folds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .datasets import Cohort, DatasetError, load_cohort
from .metrics import Interval, evaluate, ground_truth_statistics, summarize_folds
from .models.base import MedRecModel, ModelConfig
from .tasks import EncodedSamples, Limits, Vocabularies, build_samples, build_vocabularies
from .training import FitResult, predict, train_model

DEFAULT_FOLDS = 5
DEFAULT_SEED = 42
VALIDATION_SHARE = 0.15  # of each training fold's patients, for early stopping and the threshold


@dataclass
class PreparedData:
    """Everything a model needs, built once: cohort, vocabularies, padding limits, samples, drug knowledge."""

    cohort: Cohort
    vocabularies: Vocabularies
    limits: Limits
    samples: EncodedSamples
    knowledge: Any | None = None
    ddi_matrices: dict[str, np.ndarray] = field(default_factory=dict)  # name -> binary [D, D] over the medication vocabulary
    ddi_descriptions: dict[str, str] = field(default_factory=dict)
    knowledge_error: str | None = None  # why knowledge is missing, if it is


def prepare_data(
    database: Path | str,
    structures_file: Path | None = None,
    folds: int = DEFAULT_FOLDS,
    knowledge_loader: Callable[[Vocabularies], tuple[Any, dict[str, np.ndarray], dict[str, str]]] | None = None,
) -> PreparedData:
    """Read the database, check it is big enough for `folds`-fold CV, encode samples, attach knowledge."""
    cohort = load_cohort(database, structures_file)
    if not cohort.patients:
        raise DatasetError(f"{cohort.database} has no patients with visits: import data first (`npm run setup`).")
    vocabularies = build_vocabularies(cohort)
    if len(vocabularies.medication) == 0:
        raise DatasetError(
            f"{cohort.database}: no medication row maps to an ATC level-3 class, so there is nothing to recommend "
            f"({cohort.coverage.describe() if cohort.coverage else 'no medication rows'})."
        )
    limits = Limits.fit(cohort)
    samples = build_samples(cohort.patients, vocabularies, limits)
    patients_with_target = len(np.unique(samples.patient_ids))
    needed = 2 * folds
    if patients_with_target < needed:
        raise DatasetError(
            f"{cohort.database}: {patients_with_target} patient(s) have a visit with a mapped medication; "
            f"{folds}-fold cross-validation needs at least {needed}."
        )
    data = PreparedData(cohort, vocabularies, limits, samples)
    if knowledge_loader is not None:
        try:
            data.knowledge, data.ddi_matrices, data.ddi_descriptions = knowledge_loader(vocabularies)
        except (FileNotFoundError, ImportError) as error:
            data.knowledge_error = str(error)
    return data


def patient_folds(patient_ids: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Patients (not visits) shuffled with `seed` and dealt into `folds` near-equal groups."""
    unique = np.unique(patient_ids)
    shuffled = np.random.default_rng(seed).permutation(unique)
    return [np.sort(group) for group in np.array_split(shuffled, folds)]


@dataclass
class FoldResult:
    fold: int
    metrics: dict[str, float]  # test fold, all patients
    multi_visit_metrics: dict[str, float]  # test fold, patients with 2+ visits
    threshold: float
    best_epoch: int
    epochs_run: int
    validation_jaccard: float | None
    train_seconds: float
    cpu_seconds: float


@dataclass
class CrossValidation:
    model_id: str
    model_class: type[MedRecModel]
    folds: list[FoldResult]
    parameters: int

    def summary(self) -> dict[str, Interval]:
        return summarize_folds([f.metrics for f in self.folds])

    def multi_visit_summary(self) -> dict[str, Interval]:
        return summarize_folds([f.multi_visit_metrics for f in self.folds if f.multi_visit_metrics])

    def mean_validation_jaccard(self) -> float:
        values = [f.validation_jaccard for f in self.folds if f.validation_jaccard is not None]
        return float(np.mean(values)) if values else float("-inf")

    def mean_threshold(self) -> float:
        return float(np.mean([f.threshold for f in self.folds]))

    def mean_best_epoch(self) -> int:
        return max(1, int(round(np.mean([f.best_epoch for f in self.folds]))))

    def train_seconds(self) -> float:
        return float(sum(f.train_seconds for f in self.folds))

    def cpu_seconds(self) -> float:
        return float(sum(f.cpu_seconds for f in self.folds))

    def to_json(self) -> dict:
        return {
            "model": self.model_id,
            "parameters": self.parameters,
            "summary": {name: interval.to_json() for name, interval in self.summary().items()},
            "multiVisitSummary": {name: interval.to_json() for name, interval in self.multi_visit_summary().items()},
            "folds": [
                {
                    "fold": f.fold,
                    "threshold": f.threshold,
                    "bestEpoch": f.best_epoch,
                    "epochsRun": f.epochs_run,
                    "validationJaccard": f.validation_jaccard,
                    "trainSeconds": f.train_seconds,
                    "cpuSeconds": f.cpu_seconds,
                    "metrics": f.metrics,
                    "multiVisitMetrics": f.multi_visit_metrics,
                }
                for f in self.folds
            ],
        }


def split_description(folds: int, seed: int) -> str:
    return (
        f"patient-level {folds}-fold cross-validation, seed {seed}; {int(VALIDATION_SHARE * 100)}% of each training "
        "fold's patients held out for early stopping and the decision threshold"
    )


def _samples_of(samples: EncodedSamples, patients: np.ndarray) -> EncodedSamples:
    return samples.subset(np.nonzero(np.isin(samples.patient_ids, patients))[0])


def fold_patients(samples: EncodedSamples, folds: int, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fit, validation, test) patient ids of one fold: the test group, and a validation share of the rest."""
    groups = patient_folds(samples.patient_ids, folds, seed)
    test_patients = groups[fold]
    train_patients = np.setdiff1d(np.unique(samples.patient_ids), test_patients)
    validation_rng = np.random.default_rng(seed * 1000 + fold)
    validation_count = max(1, int(round(VALIDATION_SHARE * len(train_patients))))
    validation_patients = validation_rng.choice(train_patients, size=validation_count, replace=False)
    return np.setdiff1d(train_patients, validation_patients), validation_patients, test_patients


def run_fold(
    model_class: type[MedRecModel],
    data: PreparedData,
    config: ModelConfig,
    folds: int,
    seed: int,
    fold: int,
) -> tuple[FoldResult, int]:
    """Train on one fold's training patients, evaluate on its test patients: (result, parameter count).

    Folds are independent of each other, so the benchmark can run them in separate processes.
    """
    samples = data.samples
    fit_patients, validation_patients, test_patients = fold_patients(samples, folds, seed, fold)
    test = _samples_of(samples, test_patients)
    fit: FitResult = train_model(
        model_class,
        data.vocabularies.sizes(),
        data.knowledge,
        config.with_overrides(seed=seed + fold),
        _samples_of(samples, fit_patients),
        _samples_of(samples, validation_patients),
    )
    probabilities = predict(fit.model, test)
    metrics = evaluate(test.targets, probabilities, test.patient_ids, fit.threshold, data.ddi_matrices)
    multi_rows = np.nonzero(test.patient_visit_counts >= 2)[0]
    multi = (
        evaluate(test.targets[multi_rows], probabilities[multi_rows], test.patient_ids[multi_rows], fit.threshold, data.ddi_matrices)
        if len(multi_rows)
        else {}
    )
    result = FoldResult(
        fold,
        metrics,
        multi,
        fit.threshold,
        fit.best_epoch,
        fit.epochs_run,
        fit.validation_jaccard,
        fit.train_seconds,
        fit.cpu_seconds,
    )
    return result, fit.model.parameter_count()


def describe_fold(model_id: str, result: FoldResult, folds: int) -> str:
    validation = result.validation_jaccard if result.validation_jaccard is not None else float("nan")
    return (
        f"  {model_id} fold {result.fold + 1}/{folds}: jaccard {result.metrics['jaccard']:.4f} (validation "
        f"{validation:.4f}, threshold {result.threshold:.2f}, epoch {result.best_epoch}/{result.epochs_run}, "
        f"{result.train_seconds:.1f}s, CPU {result.cpu_seconds:.1f}s)"
    )


def cross_validate(
    model_id: str,
    model_class: type[MedRecModel],
    data: PreparedData,
    config: ModelConfig,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
    log: Callable[[str], None] | None = None,
) -> CrossValidation:
    """All folds of one model in this process (the benchmark spreads (model, fold) jobs over processes)."""
    results: list[FoldResult] = []
    parameters = 0
    for fold in range(folds):
        result, parameters = run_fold(model_class, data, config, folds, seed, fold)
        results.append(result)
        if log:
            log(describe_fold(model_id, result, folds))
    return CrossValidation(model_id, model_class, results, parameters)


def reference_statistics(data: PreparedData) -> dict[str, float]:
    """The recorded prescriptions' own #meds and DDI rates over every evaluated visit."""
    return ground_truth_statistics(data.samples.targets, data.ddi_matrices)


def train_final(result: CrossValidation, data: PreparedData, config: ModelConfig, seed: int = DEFAULT_SEED) -> FitResult:
    """Retrain on every patient for the folds' mean best epoch count, with the folds' mean threshold."""
    return train_model(
        result.model_class,
        data.vocabularies.sizes(),
        data.knowledge,
        config.with_overrides(seed=seed),
        data.samples,
        validation=None,
        fixed_epochs=result.mean_best_epoch(),
        fixed_threshold=round(result.mean_threshold(), 4),
    )
