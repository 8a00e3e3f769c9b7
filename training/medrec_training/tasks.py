"""Medication recommendation task: one sample per visit that has a medication target.

A sample is the patient's visits up to and including the current one (at most `max_visits`, the most
recent kept), encoded as fixed-shape padded tensors (manifest contract): diagnoses / procedures /
medications int64 [V, C] with 0 = pad, 1 = unknown, vocabulary entry i = i + 2; the current visit's
medication row is padding (it is the answer); visit_mask float32 [V] left-aligned. The target is the
multi-hot of the current visit's ATC3 classes over the medication vocabulary (column i = entry i).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from .datasets import MEDICATION_SYSTEM, CodeKey, Cohort, PatientRecord, Visit


# Index conventions of every code input (manifest: 0 = pad, 1 = unknown, entry i <-> i + 2).
PAD_INDEX = 0
UNKNOWN_INDEX = 1
INDEX_OFFSET = 2


@dataclass(frozen=True)
class VocabSizes:
    """Number of vocabulary entries (without the pad and unknown rows)."""

    diagnosis: int
    procedure: int
    medication: int

    @property
    def diagnosis_rows(self) -> int:
        """Rows of a diagnosis embedding table (pad + unknown + entries)."""
        return self.diagnosis + INDEX_OFFSET

    @property
    def procedure_rows(self) -> int:
        return self.procedure + INDEX_OFFSET

    @property
    def medication_rows(self) -> int:
        return self.medication + INDEX_OFFSET


@dataclass(frozen=True)
class VocabularyEntry:
    system: str
    code: str
    title: str | None = None


class Vocabulary:
    """Codes in index order; `index(key)` gives the model input index (entry i -> i + 2, unseen -> 1)."""

    def __init__(self, entries: Sequence[VocabularyEntry]) -> None:
        self.entries = list(entries)
        self._index = {(e.system, e.code): i + INDEX_OFFSET for i, e in enumerate(self.entries)}
        if len(self._index) != len(self.entries):
            raise ValueError("Vocabulary entries must be unique (system, code) pairs.")

    def __len__(self) -> int:
        return len(self.entries)

    def index(self, key: CodeKey) -> int:
        return self._index.get(key, UNKNOWN_INDEX)

    def column(self, code: str, system: str = MEDICATION_SYSTEM) -> int | None:
        """Output column of a medication code (entry position, no offset), None if not in the vocabulary."""
        index = self._index.get((system, code))
        return None if index is None else index - INDEX_OFFSET

    def codes(self) -> list[str]:
        return [e.code for e in self.entries]

    def to_manifest(self) -> dict:
        return {
            "entries": [
                {"system": e.system, "code": e.code, **({"title": e.title} if e.title else {})} for e in self.entries
            ]
        }


@dataclass(frozen=True)
class Vocabularies:
    diagnosis: Vocabulary
    procedure: Vocabulary
    medication: Vocabulary

    def sizes(self) -> VocabSizes:
        return VocabSizes(len(self.diagnosis), len(self.procedure), len(self.medication))


def build_vocabularies(cohort: Cohort, min_code_visits: int = 2) -> Vocabularies:
    """Diagnosis and procedure codes seen in at least `min_code_visits` visits, and every ATC3 class.

    Rarer codes are encoded as 'unknown' (index 1), so that index learns what an unseen code means,
    which is what the app feeds for codes outside the vocabulary. Codes are ordered by frequency
    (ties by code) so the vocabulary is deterministic.
    """
    diagnosis_counts: Counter[CodeKey] = Counter()
    procedure_counts: Counter[CodeKey] = Counter()
    medication_counts: Counter[str] = Counter()
    for patient in cohort.patients:
        for visit in patient.visits:
            diagnosis_counts.update(visit.diagnoses)
            procedure_counts.update(visit.procedures)
            medication_counts.update(visit.medications)

    def ordered(counts: Counter, minimum: int) -> list:
        return sorted((key for key, n in counts.items() if n >= minimum), key=lambda key: (-counts[key], key))

    return Vocabularies(
        diagnosis=Vocabulary(
            [VocabularyEntry(s, c, cohort.diagnosis_titles.get((s, c))) for s, c in ordered(diagnosis_counts, min_code_visits)]
        ),
        procedure=Vocabulary(
            [VocabularyEntry(s, c, cohort.procedure_titles.get((s, c))) for s, c in ordered(procedure_counts, min_code_visits)]
        ),
        medication=Vocabulary(
            [VocabularyEntry(MEDICATION_SYSTEM, c, cohort.atc_names.get(c)) for c in ordered(medication_counts, 1)]
        ),
    )


@dataclass(frozen=True)
class Limits:
    """Padding sizes (manifest `limits`): the most recent visits are kept, longer code lists truncated."""

    max_visits: int
    max_diagnoses: int
    max_procedures: int
    max_medications: int

    @staticmethod
    def fit(cohort: Cohort, visits_cap: int = 8, codes_cap: int = 40) -> "Limits":
        """The largest sizes seen in the data, capped so tensors stay small."""
        visit_counts = [len(p.visits) for p in cohort.patients] or [1]
        all_visits = [v for p in cohort.patients for v in p.visits]

        def largest(sizes: list[int]) -> int:
            return max(1, min(codes_cap, max(sizes, default=1)))

        return Limits(
            max_visits=max(1, min(visits_cap, max(visit_counts))),
            max_diagnoses=largest([len(v.diagnoses) for v in all_visits]),
            max_procedures=largest([len(v.procedures) for v in all_visits]),
            max_medications=largest([len(v.medications) for v in all_visits]),
        )

    def to_manifest(self) -> dict:
        return {
            "maxVisits": self.max_visits,
            "maxDiagnoses": self.max_diagnoses,
            "maxProcedures": self.max_procedures,
            "maxMedications": self.max_medications,
        }


@dataclass
class UnknownCodeCounts:
    """How many input codes were outside the vocabulary (encoded as index 1)."""

    diagnoses: int = 0
    procedures: int = 0
    medications: int = 0

    def total(self) -> int:
        return self.diagnoses + self.procedures + self.medications


@dataclass
class EncodedSamples:
    """Padded arrays of N samples (numpy); `batches` turns them into torch Batches."""

    diagnoses: np.ndarray  # int64 [N, V, Cd]
    procedures: np.ndarray  # int64 [N, V, Cp]
    medications: np.ndarray  # int64 [N, V, Cm]
    visit_mask: np.ndarray  # float32 [N, V]
    targets: np.ndarray  # float32 [N, D]
    patient_ids: np.ndarray  # int64 [N]: database patient id of each sample
    history_lengths: np.ndarray  # int64 [N]: earlier visits of the patient (before truncation)
    patient_visit_counts: np.ndarray  # int64 [N]: all visits of the sample's patient
    unknown: UnknownCodeCounts = field(default_factory=UnknownCodeCounts)

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def subset(self, rows: np.ndarray) -> "EncodedSamples":
        return EncodedSamples(
            self.diagnoses[rows],
            self.procedures[rows],
            self.medications[rows],
            self.visit_mask[rows],
            self.targets[rows],
            self.patient_ids[rows],
            self.history_lengths[rows],
            self.patient_visit_counts[rows],
            self.unknown,
        )

    def batches(
        self, batch_size: int, modality_count: int, rng: np.random.Generator | None = None
    ) -> Iterator["Batch"]:
        """Batches with every modality present; shuffled when `rng` is given."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            rows = order[start : start + batch_size]
            yield Batch(
                diagnoses=torch.from_numpy(self.diagnoses[rows]),
                procedures=torch.from_numpy(self.procedures[rows]),
                medications=torch.from_numpy(self.medications[rows]),
                visit_mask=torch.from_numpy(self.visit_mask[rows]),
                modality_mask=torch.ones(len(rows), modality_count, dtype=torch.float32),
                targets=torch.from_numpy(self.targets[rows]),
            )


@dataclass
class Batch:
    diagnoses: torch.Tensor
    procedures: torch.Tensor
    medications: torch.Tensor
    visit_mask: torch.Tensor
    modality_mask: torch.Tensor
    targets: torch.Tensor  # float32 [B, D] multi-hot of the current visit's medications

    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The five model inputs in ONNX order."""
        return (self.diagnoses, self.procedures, self.medications, self.visit_mask, self.modality_mask)


def _encode_codes(codes: Sequence, vocabulary: Vocabulary, width: int, row: np.ndarray) -> int:
    """Write up to `width` code indices into `row`; returns how many were unknown."""
    unknown = 0
    for position, key in enumerate(codes[:width]):
        index = vocabulary.index(key)
        unknown += index == UNKNOWN_INDEX
        row[position] = index
    return unknown


def encode_history(
    visits: Sequence[Visit], vocabularies: Vocabularies, limits: Limits
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, UnknownCodeCounts]:
    """Input arrays for one recommendation: `visits` ends with the current visit (its medications are ignored).

    Returns diagnoses [V, Cd], procedures [V, Cp], medications [V, Cm], visit_mask [V] and the count of
    codes outside the vocabulary. This is the encoding the app must reproduce at inference.
    """
    if not visits:
        raise ValueError("A recommendation needs at least the current visit.")
    kept = list(visits)[-limits.max_visits :]
    diagnoses = np.full((limits.max_visits, limits.max_diagnoses), PAD_INDEX, dtype=np.int64)
    procedures = np.full((limits.max_visits, limits.max_procedures), PAD_INDEX, dtype=np.int64)
    medications = np.full((limits.max_visits, limits.max_medications), PAD_INDEX, dtype=np.int64)
    visit_mask = np.zeros(limits.max_visits, dtype=np.float32)
    unknown = UnknownCodeCounts()
    for position, visit in enumerate(kept):
        visit_mask[position] = 1.0
        unknown.diagnoses += _encode_codes(visit.diagnoses, vocabularies.diagnosis, limits.max_diagnoses, diagnoses[position])
        unknown.procedures += _encode_codes(
            visit.procedures, vocabularies.procedure, limits.max_procedures, procedures[position]
        )
        if position < len(kept) - 1:  # the current visit's medications are the target, never an input
            unknown.medications += _encode_codes(
                [(MEDICATION_SYSTEM, code) for code in visit.medications],
                vocabularies.medication,
                limits.max_medications,
                medications[position],
            )
    return diagnoses, procedures, medications, visit_mask, unknown


def medication_target(visit: Visit, vocabulary: Vocabulary) -> np.ndarray:
    target = np.zeros(len(vocabulary), dtype=np.float32)
    for code in visit.medications:
        column = vocabulary.column(code)
        if column is not None:
            target[column] = 1.0
    return target


def build_samples(patients: Sequence[PatientRecord], vocabularies: Vocabularies, limits: Limits) -> EncodedSamples:
    """One sample per visit with at least one medication in the vocabulary (the visits we can evaluate)."""
    chosen: list[tuple[PatientRecord, int, np.ndarray]] = []
    for patient in patients:
        for position, visit in enumerate(patient.visits):
            target = medication_target(visit, vocabularies.medication)
            if target.any():
                chosen.append((patient, position, target))
    # Encoded straight into the padded arrays: per-sample arrays stacked afterwards held the chunk twice.
    count, width = len(chosen), limits.max_visits
    samples = EncodedSamples(
        np.empty((count, width, limits.max_diagnoses), np.int64),
        np.empty((count, width, limits.max_procedures), np.int64),
        np.empty((count, width, limits.max_medications), np.int64),
        np.empty((count, width), np.float32),
        np.empty((count, len(vocabularies.medication)), np.float32),
        np.empty(count, np.int64),
        np.empty(count, np.int64),
        np.empty(count, np.int64),
        UnknownCodeCounts(),
    )
    for row, (patient, position, target) in enumerate(chosen):
        diagnoses, procedures, medications, visit_mask, counts = encode_history(patient.visits[: position + 1], vocabularies, limits)
        samples.diagnoses[row], samples.procedures[row], samples.medications[row], samples.visit_mask[row] = diagnoses, procedures, medications, visit_mask
        samples.targets[row] = target
        samples.patient_ids[row], samples.history_lengths[row], samples.patient_visit_counts[row] = patient.patient_id, position, len(patient.visits)
        samples.unknown.diagnoses += counts.diagnoses
        samples.unknown.procedures += counts.procedures
        samples.unknown.medications += counts.medications
    return samples
