"""Drug-drug interaction matrices over ATC level-3 classes, each named by its source.

Three sources, always named, never mixed:
  twosides-atc3   the literature's SafeDrug/GAMENet TWOSIDES ATC3 matrix (ddi_A_final), kept for
                  comparability with published DDI rates. Its build script kept the 40 *least*
                  frequent side effects instead of the top 40 (a known bug; see the data README).
  twosides-top40  TWOSIDES pairs for the 40 most frequent side effects (PyHealth's STITCH pairs)
                  mapped through STITCH CID -> ATC to ATC3.
  ddinter-atc3    DDInter v1 severities lifted from drug pairs to ATC3 pairs (most severe member
                  pair wins). Every level (Major, Moderate, Minor, Unknown) counts as an interaction
                  in the binary matrix. The open DDInter copy lacks pairs whose two drugs both lie
                  in ATC groups C, G, J, M, N or S, so absence never means 'no interaction'.

Binary matrices are symmetric with a zero diagonal: the DDI-rate metric looks at pairs of
different recommended classes. Within-class DDInter pairs are kept in the level counts' diagonal.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atc import ATC3_PATTERN

TWOSIDES_ATC3 = "twosides-atc3"
TWOSIDES_TOP40 = "twosides-top40"
DDINTER_ATC3 = "ddinter-atc3"
DDI_MATRIX_NAMES: tuple[str, ...] = (TWOSIDES_ATC3, TWOSIDES_TOP40, DDINTER_ATC3)

DDI_MATRIX_DESCRIPTIONS: dict[str, str] = {
    TWOSIDES_ATC3: (
        "TWOSIDES ATC3 pairs of the SafeDrug/GAMENet matrix (ddi_A_final), for comparability with "
        "published DDI rates; built by a script that kept the 40 least frequent side effects (known bug)."
    ),
    TWOSIDES_TOP40: (
        "TWOSIDES pairs for the 40 most frequent side effects (PyHealth), STITCH CID -> ATC -> ATC3."
    ),
    DDINTER_ATC3: (
        "DDInter v1 drug pairs lifted to ATC3 by exact WHO ATC name match; any level (Major, Moderate, "
        "Minor, Unknown) counts; pairs with both drugs in ATC groups C, G, J, M, N or S are absent from "
        "the open copy."
    ),
}

SEVERITY_LEVELS: tuple[str, ...] = ("Unknown", "Minor", "Moderate", "Major")
"""DDInter levels from least to most severe; severity code = index + 1, 0 = no known interaction."""


def severity_code(level: str) -> int:
    return SEVERITY_LEVELS.index(level) + 1


def binary_from_pairs(pairs: Iterable[tuple[int, int]], size: int) -> np.ndarray:
    """Symmetric float32 0/1 matrix with zero diagonal from index pairs."""
    matrix = np.zeros((size, size), dtype=np.float32)
    for first, second in pairs:
        if first != second:
            matrix[first, second] = matrix[second, first] = 1.0
    return matrix


def count_pairs(matrix: np.ndarray) -> int:
    """Unordered pairs of different classes marked in a symmetric binary matrix."""
    return int(np.triu(matrix > 0, k=1).sum())


# ---------------------------------------------------------------------------------------------
# TWOSIDES


@dataclass(frozen=True)
class TwosidesAtc3:
    pairs: tuple[tuple[str, str], ...]
    """Unordered ATC3 pairs (sorted within the pair), unique, different classes."""
    rows: int
    self_pairs: int
    unknown_codes: tuple[str, ...]
    """Codes in the file that are not in the ATC3 universe (their pairs are dropped)."""


def read_twosides_atc3(path: Path, atc3_universe: Iterable[str]) -> TwosidesAtc3:
    known = set(atc3_universe)
    pairs: set[tuple[str, str]] = set()
    unknown: set[str] = set()
    rows = self_pairs = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if set(reader.fieldnames or ()) != {"atc3_a", "atc3_b"}:
            raise ValueError(f"{path}: expected the header atc3_a,atc3_b, got {reader.fieldnames}")
        for line_number, row in enumerate(reader, start=2):
            first, second = (row["atc3_a"] or "").strip(), (row["atc3_b"] or "").strip()
            for code in (first, second):
                if not ATC3_PATTERN.match(code):
                    raise ValueError(f"{path}:{line_number}: {code!r} is not an ATC level-3 code")
            rows += 1
            missing = {first, second} - known
            if missing:
                unknown |= missing
                continue
            if first == second:
                self_pairs += 1
                continue
            pairs.add((min(first, second), max(first, second)))
    return TwosidesAtc3(tuple(sorted(pairs)), rows, self_pairs, tuple(sorted(unknown)))


def read_stitch_to_atc3(path: Path) -> dict[str, frozenset[str]]:
    """STITCH CID -> ATC3 classes, from the header-less `CID,ATC[,ATC...]` file."""
    mapping: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip():
                continue
            cid, codes = row[0].strip(), [code.strip() for code in row[1:] if code.strip()]
            if not cid.startswith("CID") or not codes:
                raise ValueError(f"{path}:{line_number}: expected 'CID...,ATC[,ATC...]', got {row}")
            for code in codes:
                if len(code) < 4 or not ATC3_PATTERN.match(code[:4]):
                    raise ValueError(f"{path}:{line_number}: {code!r} is not an ATC code")
            mapping.setdefault(cid, set()).update(code[:4] for code in codes)
    return {cid: frozenset(classes) for cid, classes in mapping.items()}


@dataclass(frozen=True)
class TwosidesTop40:
    pairs: tuple[tuple[str, str], ...]
    stitch_pairs: int
    stitch_pairs_mapped: int
    """STITCH pairs whose two compounds both map to at least one ATC3 class."""
    unmapped_cids: tuple[str, ...]


def read_twosides_top40(path: Path, stitch_to_atc3: dict[str, frozenset[str]]) -> TwosidesTop40:
    pairs: set[tuple[str, str]] = set()
    unmapped: set[str] = set()
    total = mapped = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [cell.strip() for cell in header] != ["STITCH 1", "STITCH 2"]:
            raise ValueError(f"{path}: expected the header 'STITCH 1,STITCH 2', got {header}")
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2 or not all(cell.strip().startswith("CID") for cell in row):
                raise ValueError(f"{path}:{line_number}: expected two STITCH CIDs, got {row}")
            total += 1
            first, second = row[0].strip(), row[1].strip()
            classes_first, classes_second = stitch_to_atc3.get(first), stitch_to_atc3.get(second)
            unmapped |= {cid for cid, classes in ((first, classes_first), (second, classes_second)) if not classes}
            if not classes_first or not classes_second:
                continue
            mapped += 1
            pairs |= {(min(a, b), max(a, b)) for a in classes_first for b in classes_second if a != b}
    return TwosidesTop40(tuple(sorted(pairs)), total, mapped, tuple(sorted(unmapped)))


# ---------------------------------------------------------------------------------------------
# DDInter


@dataclass(frozen=True)
class DrugPair:
    drug_a: str
    drug_b: str
    level: str


@dataclass(frozen=True)
class DDInterPairs:
    pairs: tuple[DrugPair, ...]
    """Unique unordered drug pairs (by DDInter id) with their level."""
    drug_names: dict[str, str]
    """DDInter id -> drug name."""
    rows: int
    conflicting_levels: int
    """Pairs listed with different levels in different files (the most severe is kept)."""


DDINTER_HEADER = ("DDInterID_A", "Drug_A", "DDInterID_B", "Drug_B", "Level")


def read_ddinter(paths: Sequence[Path]) -> DDInterPairs:
    """Read DDInter download files, de-duplicating pairs listed in several ATC-group files."""
    if not paths:
        raise ValueError("no DDInter files given (expected ddinter/ddinter_downloads_code_*.csv)")
    names: dict[str, str] = {}
    levels: dict[tuple[str, str], str] = {}
    rows = conflicts = 0
    for path in paths:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != DDINTER_HEADER:
                raise ValueError(f"{path}: expected the header {','.join(DDINTER_HEADER)}, got {reader.fieldnames}")
            for line_number, row in enumerate(reader, start=2):
                level = (row["Level"] or "").strip()
                if level not in SEVERITY_LEVELS:
                    raise ValueError(f"{path}:{line_number}: unknown level {level!r} (expected one of {SEVERITY_LEVELS})")
                id_a, id_b = (row["DDInterID_A"] or "").strip(), (row["DDInterID_B"] or "").strip()
                name_a, name_b = (row["Drug_A"] or "").strip(), (row["Drug_B"] or "").strip()
                if not (id_a and id_b and name_a and name_b):
                    raise ValueError(f"{path}:{line_number}: empty drug id or name")
                for drug_id, name in ((id_a, name_a), (id_b, name_b)):
                    if names.setdefault(drug_id, name) != name:
                        raise ValueError(f"{path}:{line_number}: {drug_id} is named {name!r} here and {names[drug_id]!r} before")
                rows += 1
                if id_a == id_b:
                    continue
                key = (min(id_a, id_b), max(id_a, id_b))
                previous = levels.get(key)
                if previous is not None and previous != level:
                    conflicts += 1
                    level = max(previous, level, key=SEVERITY_LEVELS.index)
                levels[key] = level
    pairs = tuple(DrugPair(names[a], names[b], level) for (a, b), level in sorted(levels.items()))
    return DDInterPairs(pairs, names, rows, conflicts)


@dataclass(frozen=True)
class LiftedSeverity:
    level_counts: np.ndarray
    """int32 [N, N, len(SEVERITY_LEVELS)]: member drug pairs per ATC3 pair and level (symmetric;
    the diagonal counts pairs of two different drugs of the same class)."""
    drug_pairs_total: int
    drug_pairs_lifted: int
    """Drug pairs whose two drugs both matched an ATC class."""

    @property
    def severity(self) -> np.ndarray:
        """int8 [N, N]: most severe level code among member pairs (0 none, 1 Unknown ... 4 Major)."""
        return severity_from_level_counts(self.level_counts)


def severity_from_level_counts(level_counts: np.ndarray) -> np.ndarray:
    """int8 [..]: the most severe level with a non-zero count (code 1..4), 0 where none."""
    present = level_counts > 0
    highest = len(SEVERITY_LEVELS) - np.argmax(present[..., ::-1], axis=-1)
    return np.where(present.any(axis=-1), highest, 0).astype(np.int8)


def lift_ddinter_to_atc3(
    pairs: Iterable[DrugPair],
    atc3_of_name: Callable[[str], frozenset[str]],
    atc3_codes: Sequence[str],
) -> LiftedSeverity:
    """Count, per ATC3 pair and level, the drug pairs whose drugs belong to the two classes.

    A drug in several classes (e.g. prednisolone: A07, C05, D07, H02, R01, S01...) contributes to
    every class it belongs to; one drug pair counts once per ATC3 pair even when several of its
    ATC5 codes fall into the same classes.
    """
    index = {code: position for position, code in enumerate(atc3_codes)}
    counts = np.zeros((len(atc3_codes), len(atc3_codes), len(SEVERITY_LEVELS)), dtype=np.int32)
    total = lifted = 0
    for pair in pairs:
        total += 1
        classes_a = [index[c] for c in atc3_of_name(pair.drug_a) if c in index]
        classes_b = [index[c] for c in atc3_of_name(pair.drug_b) if c in index]
        if not classes_a or not classes_b:
            continue
        lifted += 1
        level = SEVERITY_LEVELS.index(pair.level)
        for first, second in {(min(a, b), max(a, b)) for a in classes_a for b in classes_b}:
            counts[first, second, level] += 1
            if first != second:
                counts[second, first, level] += 1
    return LiftedSeverity(counts, total, lifted)
