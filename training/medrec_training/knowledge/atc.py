"""The WHO ATC index: level-3 universe and level-5 name lookup (exact, normalised names)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ATC3_PATTERN = re.compile(r"^[A-Z][0-9]{2}[A-Z]$")
ATC5_PATTERN = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")


def normalise_drug_name(name: str) -> str:
    """Case-, width- and whitespace-insensitive form of a drug name.

    Deliberately no stemming, synonym table or route stripping ("Acetaminophen" does not become
    "paracetamol", "Adapalene (topical)" does not become "adapalene"): a match is an exact name
    match, so a wrong class is never invented.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"\s+", " ", folded).strip()


@dataclass(frozen=True)
class AtcIndex:
    atc3_codes: tuple[str, ...]
    """Every ATC level-3 code of the WHO index, sorted."""
    atc5_by_name: dict[str, frozenset[str]]
    """Normalised level-5 name -> its level-5 codes (one substance can sit in several classes)."""

    def atc3_of_name(self, drug_name: str) -> frozenset[str]:
        return frozenset(code[:4] for code in self.atc5_by_name.get(normalise_drug_name(drug_name), ()))


def load_atc_index(path: Path) -> AtcIndex:
    """Read the WHO ATC-DDD csv (`atc_code, atc_name, ...`; one row per code and DDD route)."""
    atc3: set[str] = set()
    by_name: dict[str, set[str]] = defaultdict(set)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"atc_code", "atc_name"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)} in the header")
        for line_number, row in enumerate(reader, start=2):
            code = (row["atc_code"] or "").strip()
            name = (row["atc_name"] or "").strip()
            if not code or not name:
                raise ValueError(f"{path}:{line_number}: empty atc_code or atc_name")
            if ATC3_PATTERN.match(code):
                atc3.add(code)
            elif ATC5_PATTERN.match(code):
                by_name[normalise_drug_name(name)].add(code)
    if not atc3:
        raise ValueError(f"{path}: no ATC level-3 codes found")
    return AtcIndex(
        atc3_codes=tuple(sorted(atc3)),
        atc5_by_name={name: frozenset(codes) for name, codes in by_name.items()},
    )
