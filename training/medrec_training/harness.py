"""Evaluation harness: patient-level k-fold cross-validation with a validation share carved from training folds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .calibration import MISS_RATE_ALPHAS, CalibrationChoice, choose_calibration
from .conformal import miss_rate_threshold
from .datasets import Cohort, DatasetError, PatientRecord, load_cohort
from .metrics import Interval, evaluate, ground_truth_statistics, personalisation, summarize_folds, test_miss_rate
from .models.base import MedRecModel, ModelConfig
from .tasks import EncodedSamples, Limits, Vocabularies, build_samples, build_vocabularies, medication_target
from .training import FitResult, choose_threshold, predict, train_model

DEFAULT_FOLDS = 5
DEFAULT_SEED = 42
VALIDATION_SHARE = 0.15  # of each training fold's patients, for early stopping, calibration and the threshold
BENCHMARK_ALPHAS = (0.05, 0.10, 0.20)  # miss rates whose conformal thresholds are checked on the test folds


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
    # per sample: the visit belongs to the literature's cohort (GAMENet/SafeDrug preprocessing: visits with
    # diagnoses, procedures and medications, of patients with 2+ such visits)
    literature_rows: np.ndarray | None = None


def literature_cohort_rows(patients: list[PatientRecord], samples_targets_per_visit: list[list[bool]]) -> np.ndarray:
    """Row mask over the samples (build_samples order) of visits in the literature's cohort."""
    rows: list[bool] = []
    for patient, has_target in zip(patients, samples_targets_per_visit):
        complete = [bool(v.diagnoses) and bool(v.procedures) and bool(v.medications) for v in patient.visits]
        qualifies = sum(complete) >= 2
        rows.extend(qualifies and complete[i] for i, target in enumerate(has_target) if target)
    return np.asarray(rows, dtype=bool)


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
    targets_per_visit = [
        [bool(medication_target(visit, vocabularies.medication).any()) for visit in patient.visits] for patient in cohort.patients
    ]
    patients_with_target = len(np.unique(samples.patient_ids))
    needed = 2 * folds
    if patients_with_target < needed:
        raise DatasetError(
            f"{cohort.database}: {patients_with_target} patient(s) have a visit with a mapped medication; "
            f"{folds}-fold cross-validation needs at least {needed}."
        )
    data = PreparedData(cohort, vocabularies, limits, samples)
    data.literature_rows = literature_cohort_rows(cohort.patients, targets_per_visit)
    if len(data.literature_rows) != len(samples):
        raise AssertionError("literature cohort rows do not line up with the samples")
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
    metrics: dict[str, float]  # test fold, all patients, calibrated probabilities at the calibrated threshold
    multi_visit_metrics: dict[str, float]  # test fold, patients with 2+ evaluated visits
    threshold: float
    best_epoch: int
    epochs_run: int
    validation_jaccard: float | None  # calibrated, at the calibrated threshold (what model selection compares)
    train_seconds: float
    cpu_seconds: float
    # test fold, raw model probabilities at the threshold chosen on raw validation probabilities
    uncalibrated_metrics: dict[str, float] = field(default_factory=dict)
    calibration_method: str = ""
    calibration_scores: dict[str, float] = field(default_factory=dict)  # cross-fitted validation ECE per method
    miss_rates: dict[str, dict[str, float]] = field(default_factory=dict)  # alpha -> threshold, missRate, meds on test
    personalisation: dict[str, float] = field(default_factory=dict)
    literature_metrics: dict[str, float] = field(default_factory=dict)  # test fold, literature cohort visits
    # only with evaluate_split(keep_probabilities=True), for ensembles; never written to a record
    probabilities: SplitProbabilities | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SplitProbabilities:
    """One fit's calibrated probabilities on its validation and test visits (rows in the samples' order)."""

    validation_targets: np.ndarray
    validation_patient_ids: np.ndarray
    validation: np.ndarray  # calibrated, [validation visits, D]
    test_targets: np.ndarray
    test_patient_ids: np.ndarray
    test: np.ndarray  # calibrated, [test visits, D]


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

    def uncalibrated_summary(self) -> dict[str, Interval]:
        return summarize_folds([f.uncalibrated_metrics for f in self.folds if f.uncalibrated_metrics])

    def literature_summary(self) -> dict[str, Interval]:
        return summarize_folds([f.literature_metrics for f in self.folds if f.literature_metrics])

    def personalisation_summary(self) -> dict[str, Interval]:
        return summarize_folds([f.personalisation for f in self.folds if f.personalisation])

    def miss_rate_summary(self) -> dict[str, dict[str, Interval]]:
        alphas = sorted({alpha for f in self.folds for alpha in f.miss_rates})
        return {alpha: summarize_folds([f.miss_rates[alpha] for f in self.folds if alpha in f.miss_rates]) for alpha in alphas}

    def calibration_methods(self) -> dict[str, int]:
        """How many folds chose each calibration method."""
        counts: dict[str, int] = {}
        for f in self.folds:
            if f.calibration_method:
                counts[f.calibration_method] = counts.get(f.calibration_method, 0) + 1
        return counts

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
            "uncalibratedSummary": {name: interval.to_json() for name, interval in self.uncalibrated_summary().items()},
            "literatureCohortSummary": {name: interval.to_json() for name, interval in self.literature_summary().items()},
            "personalisationSummary": {name: interval.to_json() for name, interval in self.personalisation_summary().items()},
            "missRateSummary": {
                alpha: {name: interval.to_json() for name, interval in summary.items()} for alpha, summary in self.miss_rate_summary().items()
            },
            "calibrationMethods": self.calibration_methods(),
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
                    "uncalibratedMetrics": f.uncalibrated_metrics,
                    "calibrationMethod": f.calibration_method,
                    "calibrationCrossFittedEce": f.calibration_scores,
                    "missRates": f.miss_rates,
                    "personalisation": f.personalisation,
                    "literatureCohortMetrics": f.literature_metrics,
                }
                for f in self.folds
            ],
        }


def split_description(folds: int, seed: int) -> str:
    return (
        f"patient-level {folds}-fold cross-validation, seed {seed}; {int(VALIDATION_SHARE * 100)}% of each training "
        "fold's patients held out for early stopping, probability calibration and the decision threshold"
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


@dataclass
class CalibratedFit:
    """A trained model with its calibration and threshold, both fitted on its validation patients."""

    fit: FitResult
    calibration: CalibrationChoice
    threshold: float  # chosen on the calibrated validation probabilities
    validation_jaccard: float
    miss_rate_thresholds: list[dict[str, float]]  # conformal, on the calibrated validation probabilities


def calibrate_probabilities(fit: FitResult, truth: np.ndarray, raw: np.ndarray, patient_ids: np.ndarray, seed: int) -> CalibratedFit:
    """Calibration chosen and fitted on these validation visits (raw model probabilities), then the threshold and
    the miss-rate thresholds on the calibrated probabilities."""
    from types import SimpleNamespace

    choice = choose_calibration(truth, raw, patient_ids, seed=seed)
    calibrated = choice.calibration.apply(raw)
    threshold, jaccard = choose_threshold(SimpleNamespace(targets=truth, patient_ids=patient_ids), calibrated)
    units = np.asarray(patient_ids).tolist()
    thresholds = []
    for alpha in MISS_RATE_ALPHAS:
        found = miss_rate_threshold(truth, calibrated, units, alpha)
        thresholds.append({"alpha": alpha, "threshold": found.threshold, "calibrationMissRate": found.calibration_miss_rate, "bound": found.bound})
    return CalibratedFit(fit, choice, threshold, jaccard, thresholds)


def calibrate_fit(fit: FitResult, validation: EncodedSamples, seed: int) -> CalibratedFit:
    return calibrate_probabilities(fit, validation.targets, predict(fit.model, validation), validation.patient_ids, seed)


def evaluate_split(
    model_class: type[MedRecModel],
    data: PreparedData,
    config: ModelConfig,
    fold: int,
    fit_patients: np.ndarray,
    validation_patients: np.ndarray,
    test_patients: np.ndarray,
    keep_probabilities: bool = False,
) -> tuple[FoldResult, int]:
    """Train on fit_patients, calibrate and choose thresholds on validation_patients, evaluate on test_patients.

    keep_probabilities: attach the calibrated validation and test probabilities to the result (for ensembles)."""
    samples = data.samples
    test = _samples_of(samples, test_patients)
    validation = _samples_of(samples, validation_patients)
    fit: FitResult = train_model(
        model_class, data.vocabularies.sizes(), data.knowledge, config, _samples_of(samples, fit_patients), validation
    )
    calibrated_fit = calibrate_fit(fit, validation, config.seed)
    raw = predict(fit.model, test)
    probabilities = calibrated_fit.calibration.calibration.apply(raw)
    threshold = calibrated_fit.threshold
    metrics = evaluate(test.targets, probabilities, test.patient_ids, threshold, data.ddi_matrices)
    uncalibrated = evaluate(test.targets, raw, test.patient_ids, fit.threshold, data.ddi_matrices)
    # "two or more visits": patients with 2+ evaluated visits (visits with a medication target), not 2+ visits of any kind
    evaluated_visits = np.unique(samples.patient_ids, return_counts=True)
    evaluated_count = dict(zip(evaluated_visits[0].tolist(), evaluated_visits[1].tolist()))
    multi_rows = np.nonzero(np.asarray([evaluated_count[p] >= 2 for p in test.patient_ids.tolist()], dtype=bool))[0]
    multi = (
        evaluate(test.targets[multi_rows], probabilities[multi_rows], test.patient_ids[multi_rows], threshold, data.ddi_matrices)
        if len(multi_rows)
        else {}
    )
    literature = {}
    if data.literature_rows is not None:
        rows = np.nonzero(data.literature_rows[np.isin(samples.patient_ids, test_patients)])[0]
        if len(rows):
            literature = evaluate(test.targets[rows], probabilities[rows], test.patient_ids[rows], threshold, data.ddi_matrices)
    miss_rates = {}
    for entry in calibrated_fit.miss_rate_thresholds:
        if entry["alpha"] in BENCHMARK_ALPHAS:
            achieved = test_miss_rate(test.targets, probabilities, test.patient_ids, entry["threshold"])
            miss_rates[f"{entry['alpha']:.2f}"] = {"threshold": entry["threshold"], **achieved}
    result = FoldResult(
        fold,
        metrics,
        multi,
        threshold,
        fit.best_epoch,
        fit.epochs_run,
        calibrated_fit.validation_jaccard,
        fit.train_seconds,
        fit.cpu_seconds,
        uncalibrated_metrics={k: uncalibrated[k] for k in ("jaccard", "f1", "prauc", "meds", "ece")},
        calibration_method=calibrated_fit.calibration.calibration.method,
        calibration_scores=dict(calibrated_fit.calibration.cross_fitted_ece),
        miss_rates=miss_rates,
        personalisation=personalisation(probabilities >= threshold, test.patient_ids),
        literature_metrics=literature,
    )
    if keep_probabilities:
        validation_calibrated = calibrated_fit.calibration.calibration.apply(predict(fit.model, validation))
        result.probabilities = SplitProbabilities(
            validation.targets, validation.patient_ids, validation_calibrated, test.targets, test.patient_ids, probabilities
        )
    return result, fit.model.parameter_count()


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
    fit_patients, validation_patients, test_patients = fold_patients(data.samples, folds, seed, fold)
    return evaluate_split(model_class, data, config.with_overrides(seed=seed + fold), fold, fit_patients, validation_patients, test_patients)


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


SITE_NAMES = {"eicu": "eICU", "mimic-iv": "MIMIC-IV"}


def cross_site_patients(data: PreparedData, train_source: str, test_source: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fit, validation, test) patients: train on one source (a seeded VALIDATION_SHARE held out), test on all of another."""
    source_of = {patient.patient_id: patient.source for patient in data.cohort.patients}
    with_target = np.unique(data.samples.patient_ids)
    train = np.asarray([p for p in with_target if source_of[int(p)] == train_source], dtype=np.int64)
    test = np.asarray([p for p in with_target if source_of[int(p)] == test_source], dtype=np.int64)
    if len(train) < 4 or len(test) == 0:
        raise DatasetError(f"cross-site {train_source} -> {test_source}: {len(train)} training and {len(test)} test patients")
    count = max(2, int(round(VALIDATION_SHARE * len(train))))
    validation = np.sort(np.random.default_rng(seed).choice(train, size=count, replace=False))
    return np.setdiff1d(train, validation), validation, test


def final_validation_patients(samples: EncodedSamples, seed: int) -> np.ndarray:
    """The seeded VALIDATION_SHARE of all patients that the shipped model leaves out, to fit its calibration."""
    patients = np.unique(samples.patient_ids)
    count = max(2, int(round(VALIDATION_SHARE * len(patients))))
    return np.sort(np.random.default_rng(seed).choice(patients, size=count, replace=False))


def train_final(result: CrossValidation, data: PreparedData, config: ModelConfig, seed: int = DEFAULT_SEED) -> CalibratedFit:
    """Retrain for the folds' mean best epoch count on every patient but a seeded validation share, on which the
    calibration, the decision threshold and the miss-rate thresholds are then fitted (never on training patients)."""
    validation_patients = final_validation_patients(data.samples, seed)
    train_patients = np.setdiff1d(np.unique(data.samples.patient_ids), validation_patients)
    fit = train_model(
        result.model_class,
        data.vocabularies.sizes(),
        data.knowledge,
        config.with_overrides(seed=seed),
        _samples_of(data.samples, train_patients),
        validation=None,
        fixed_epochs=result.mean_best_epoch(),
        fixed_threshold=round(result.mean_threshold(), 4),
    )
    return calibrate_fit(fit, _samples_of(data.samples, validation_patients), seed)
