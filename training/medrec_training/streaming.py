"""Training data streamed from the app's SQLite patient store, a chunk of patients at a time.

`load_cohort` (datasets.py) holds every patient in memory, which is right for the demo and wrong for a
hospital's database. Here memory is bounded by one chunk of patients (and its encoded samples):

1. `scan_database` streams every patient once to count codes (vocabularies, padding limits) and to list
   the patients that have a visit with a medication target, with their sample counts (two integers per
   patient are kept);
2. `StreamedSamples`, a torch IterableDataset, reads its share of patient chunks through a cursor
   (`patient_id BETWEEN lo AND hi`), encodes them with the same `build_samples` as the benchmark, and yields
   shuffled mini-batches. Under torch.distributed each process (and each DataLoader worker) reads a
   disjoint set of chunks; a patient's visits never span two chunks, so per-patient metrics add up exactly.

Patients, visits and codes are read exactly as `datasets._read_cohort` reads them (a test checks that the
vocabularies and samples equal those built from `load_cohort`).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .datasets import DatasetError, PatientRecord, Visit, _check_schema, _connect_read_only
from .metrics import average_precision, set_scores
from .tasks import MEDICATION_SYSTEM, Batch, Limits, Vocabularies, Vocabulary, VocabularyEntry, build_samples

DEFAULT_CHUNK_PATIENTS = 1000


def connect(database: Path | str) -> sqlite3.Connection:
    path = Path(database).resolve()
    connection = _connect_read_only(path)
    _check_schema(connection, path)
    return connection


def patient_ids(connection: sqlite3.Connection) -> np.ndarray:
    """Every patient id with at least one visit, ascending (int64; 8 bytes per patient)."""
    return np.fromiter((row[0] for row in connection.execute("SELECT DISTINCT patient_id FROM visits ORDER BY patient_id")), dtype=np.int64)


def read_patients(connection: sqlite3.Connection, low: int, high: int, only: np.ndarray | None = None) -> list[PatientRecord]:
    """Patients with ids in [low, high] (and in `only`, when given) and their visits, as datasets._read_cohort reads them.

    `only` is filtered in SQL: a chunk of 1000 validation patients (15% of all) spans ~6,700 patient ids, and
    reading them all to keep 1000 held ~6x the chunk in Python objects (the run's peak).
    """
    where = "WHERE v.patient_id BETWEEN ? AND ?"
    parameters: tuple = (low, high)
    if only is not None:
        where += " AND v.patient_id IN (SELECT value FROM json_each(?))"
        parameters = (low, high, json.dumps(np.asarray(only, dtype=np.int64).tolist()))
    diagnoses: dict[int, list] = {}
    for visit_id, system, code in connection.execute(
        f"SELECT c.visit_id, c.code_system, c.code FROM diagnoses c JOIN visits v ON v.id = c.visit_id {where} ORDER BY c.visit_id, c.seq, c.code",
        parameters,
    ):
        diagnoses.setdefault(visit_id, []).append((system, code))
    procedures: dict[int, list] = {}
    for visit_id, system, code in connection.execute(
        f"SELECT c.visit_id, c.code_system, c.code FROM procedures c JOIN visits v ON v.id = c.visit_id {where} ORDER BY c.visit_id, c.seq, c.code",
        parameters,
    ):
        procedures.setdefault(visit_id, []).append((system, code))
    medications: dict[int, set[str]] = {}
    for visit_id, atc3 in connection.execute(
        f"SELECT m.visit_id, COALESCE(NULLIF(m.atc3, ''), substr(NULLIF(m.atc5, ''), 1, 4)) FROM medications m JOIN visits v ON v.id = m.visit_id {where}",
        parameters,
    ):
        if atc3 and len(atc3) == 4:
            medications.setdefault(visit_id, set()).add(atc3.upper())
    visits: dict[int, list[Visit]] = {}
    for visit_id, patient_id, sort_key in connection.execute(
        f"SELECT id, patient_id, sort_key FROM visits v {where} ORDER BY patient_id, sort_key, id", parameters
    ):
        visits.setdefault(patient_id, []).append(
            Visit(
                visit_id=visit_id,
                sort_key=sort_key,
                diagnoses=tuple(dict.fromkeys(diagnoses.get(visit_id, []))),
                procedures=tuple(dict.fromkeys(procedures.get(visit_id, []))),
                medications=tuple(sorted(medications.get(visit_id, set()))),
            )
        )
    return [
        PatientRecord(patient_id, source, source_patient_id, tuple(visits[patient_id]))
        for patient_id, source, source_patient_id in connection.execute(
            "SELECT id, source, source_patient_id FROM patients WHERE id BETWEEN ? AND ? ORDER BY id", (low, high)
        )
        if patient_id in visits
    ]


def chunks(ids: np.ndarray, size: int) -> list[tuple[int, int]]:
    """(low, high) id ranges of `size` consecutive patients each."""
    return [(int(ids[start]), int(ids[min(start + size, len(ids)) - 1])) for start in range(0, len(ids), size)]


@dataclass
class DatabaseScan:
    vocabularies: Vocabularies
    limits: Limits
    trainable: np.ndarray  # patients with at least one visit whose medications map to the vocabulary
    visits: int
    samples: int
    # samples (visits with a medication target) of each trainable patient, aligned with `trainable`: lets a
    # sample of whole patients be sized in visits before any of them is read
    trainable_samples: np.ndarray


def scan_database(database: Path | str, chunk_patients: int = DEFAULT_CHUNK_PATIENTS, min_code_visits: int = 2) -> DatabaseScan:
    """One streamed pass: vocabularies (as tasks.build_vocabularies), limits (as Limits.fit), trainable patients."""
    connection = connect(database)
    try:
        diagnosis_counts: Counter = Counter()
        procedure_counts: Counter = Counter()
        medication_counts: Counter = Counter()
        most = {"visits": 1, "diagnoses": 1, "procedures": 1, "medications": 1}
        trainable: list[int] = []
        trainable_samples: list[int] = []
        visits = samples = 0
        ids = patient_ids(connection)
        if len(ids) == 0:
            raise DatasetError(f"{database} has no patients with visits: import data first (medrec import).")
        for low, high in chunks(ids, chunk_patients):
            for patient in read_patients(connection, low, high):
                most["visits"] = max(most["visits"], len(patient.visits))
                with_target = 0
                for visit in patient.visits:
                    diagnosis_counts.update(visit.diagnoses)
                    procedure_counts.update(visit.procedures)
                    medication_counts.update(visit.medications)
                    most["diagnoses"] = max(most["diagnoses"], len(visit.diagnoses))
                    most["procedures"] = max(most["procedures"], len(visit.procedures))
                    most["medications"] = max(most["medications"], len(visit.medications))
                    with_target += bool(visit.medications)  # every ATC3 class seen is in the vocabulary
                visits += len(patient.visits)
                samples += with_target
                if with_target:
                    trainable.append(patient.patient_id)
                    trainable_samples.append(with_target)
        titles = {"diagnosis": {}, "procedure": {}}
        for kind, system, code, title in connection.execute("SELECT kind, code_system, code, title FROM code_titles"):
            titles[kind][(system, code)] = title
        atc_names = dict(connection.execute("SELECT code, name FROM atc_names").fetchall())
    finally:
        connection.close()

    def ordered(counts: Counter, minimum: int) -> list:
        return sorted((key for key, n in counts.items() if n >= minimum), key=lambda key: (-counts[key], key))

    vocabularies = Vocabularies(
        diagnosis=Vocabulary([VocabularyEntry(s, c, titles["diagnosis"].get((s, c))) for s, c in ordered(diagnosis_counts, min_code_visits)]),
        procedure=Vocabulary([VocabularyEntry(s, c, titles["procedure"].get((s, c))) for s, c in ordered(procedure_counts, min_code_visits)]),
        medication=Vocabulary([VocabularyEntry(MEDICATION_SYSTEM, c, atc_names.get(c)) for c in ordered(medication_counts, 1)]),
    )
    if len(vocabularies.medication) == 0:
        raise DatasetError(f"{database}: no medication row maps to an ATC level-3 class, so there is nothing to recommend.")
    cap = lambda n, limit: max(1, min(limit, n))  # noqa: E731  (as Limits.fit: 8 visits, 40 codes)
    limits = Limits(cap(most["visits"], 8), cap(most["diagnoses"], 40), cap(most["procedures"], 40), cap(most["medications"], 40))
    return DatabaseScan(
        vocabularies, limits, np.asarray(trainable, dtype=np.int64), visits, samples, np.asarray(trainable_samples, dtype=np.int64)
    )


class StreamedSamples(IterableDataset):
    """Mini-batches of the given patients' samples, read chunk by chunk from SQLite.

    Chunks are shuffled per epoch (seeded; call `set_epoch`), dealt round-robin to the `world` processes and,
    within a process, to its DataLoader workers; rows are shuffled within a chunk. `batch_size` is per process.
    """

    def __init__(
        self,
        database: Path | str,
        patients: np.ndarray,
        vocabularies: Vocabularies,
        limits: Limits,
        modality_count: int,
        batch_size: int,
        chunk_patients: int = DEFAULT_CHUNK_PATIENTS,
        rank: int = 0,
        world: int = 1,
        seed: int = 42,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        self.database = str(database)
        self.ranges = chunks(np.sort(patients), chunk_patients)
        self.patients = np.sort(patients)
        self.vocabularies, self.limits = vocabularies, limits
        self.modality_count, self.batch_size = modality_count, batch_size
        self.rank, self.world, self.seed, self.shuffle = rank, world, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def my_chunks(self) -> list[tuple[int, int]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.ranges)) if self.shuffle else np.arange(len(self.ranges))
        shard, shards = self.rank * workers + worker, self.world * workers
        return [self.ranges[i] for i in order[shard::shards]]

    def chunk_samples(self) -> Iterator:
        """(EncodedSamples of one chunk) for this process's chunks; only the selected patients' samples."""
        connection = connect(self.database)
        try:
            for low, high in self.my_chunks():
                chosen = self.patients[np.searchsorted(self.patients, low) : np.searchsorted(self.patients, high, side="right")]
                yield build_samples(read_patients(connection, low, high, chosen), self.vocabularies, self.limits)
        finally:
            connection.close()

    def __iter__(self) -> Iterator[Batch]:
        rng = np.random.default_rng((self.seed, self.epoch, self.rank, 1)) if self.shuffle else None
        for samples in self.chunk_samples():
            yield from samples.batches(self.batch_size, self.modality_count, rng)
            del samples  # else the chunk stays alive while the next one is read and encoded


def jaccard_sums(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Per threshold: the sum over patients of each patient's mean visit Jaccard (metrics.mean_jaccard × patients)."""
    actual = truth > 0.5
    _, patient_of_row = np.unique(patient_ids, return_inverse=True)
    counts = np.bincount(patient_of_row)
    sums = np.zeros(len(thresholds), dtype=np.float64)
    for i, threshold in enumerate(thresholds):
        predicted = probabilities >= threshold
        union = np.logical_or(actual, predicted).sum(axis=1)
        intersection = np.logical_and(actual, predicted).sum(axis=1)
        per_visit = np.where(union > 0, intersection / np.maximum(union, 1), 0.0)
        sums[i] = float((np.bincount(patient_of_row, weights=per_visit) / counts).sum())
    return sums


PER_PATIENT = ("jaccard", "f1", "precision", "recall", "prauc")
ECE_BINS = 10


def metric_sums(truth: np.ndarray, probabilities: np.ndarray, patient_ids: np.ndarray, threshold: float) -> dict[str, float]:
    """Sums that add up over chunks to metrics.evaluate's figures (per-patient means, #meds, ECE bins)."""
    actual = truth > 0.5
    predicted = probabilities >= threshold
    _, patient_of_row = np.unique(patient_ids, return_inverse=True)
    counts = np.bincount(patient_of_row)
    per_visit = {name: np.zeros(len(truth)) for name in PER_PATIENT}
    for row in range(len(truth)):
        scores = set_scores(actual[row], predicted[row])
        for name in ("jaccard", "f1", "precision", "recall"):
            per_visit[name][row] = scores[name]
        per_visit["prauc"][row] = average_precision(actual[row], probabilities[row])
    sums = {name: float((np.bincount(patient_of_row, weights=values) / counts).sum()) for name, values in per_visit.items()}
    sums["patients"] = float(len(counts))
    sums["visits"] = float(len(truth))
    sums["predicted"] = float(predicted.sum())
    # ECE's bins (as metrics.expected_calibration_error, 10 equal-width bins): counts and sums add up over chunks.
    p = probabilities.astype(np.float64).ravel()
    y = actual.astype(np.float64).ravel()
    bin_of = np.minimum((p * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    for b, (n, truth_sum, p_sum) in enumerate(
        zip(np.bincount(bin_of, minlength=ECE_BINS), np.bincount(bin_of, weights=y, minlength=ECE_BINS), np.bincount(bin_of, weights=p, minlength=ECE_BINS))
    ):
        sums[f"ece_n{b}"], sums[f"ece_y{b}"], sums[f"ece_p{b}"] = float(n), float(truth_sum), float(p_sum)
    return sums


def finish_metrics(sums: dict[str, float]) -> dict[str, float]:
    patients = max(sums["patients"], 1.0)
    result = {name: sums[name] / patients for name in PER_PATIENT}
    result["meds"] = sums["predicted"] / max(sums["visits"], 1.0)
    cells = sum(sums[f"ece_n{b}"] for b in range(ECE_BINS))
    result["ece"] = (
        sum(abs(sums[f"ece_y{b}"] - sums[f"ece_p{b}"]) for b in range(ECE_BINS) if sums[f"ece_n{b}"]) / cells if cells else 0.0
    )
    result["visits"] = sums["visits"]
    result["patients"] = sums["patients"]
    return result
