"""The texts NLA-MMR embeds: one per diagnosis / procedure code and one per ATC3 drug class.

Code text = the code's title from the imported dictionaries (the vocabulary titles), with runs of
whitespace collapsed. The app builds the same string from its `code_titles` table when it embeds the
title of a code the model never saw (src/main/services/inference/text/cold-start.ts, `codeText`), so
this rule must stay trivial and identical on both sides. A code without a title has no text.

Drug text = the ATC3 class described from the WHO ATC index (<dataDir>/knowledge/atc): its name,
its place in the hierarchy (therapeutic and anatomical groups), its chemical subgroups (ATC4) and
its member substances (ATC5), e.g.

    "Other analgesics and antipyretics. Therapeutic group: analgesics. Anatomical group: nervous
     system. Subgroups: salicylic acid and derivatives; pyrazolones; anilides; .... Substances:
     acetylsalicylic acid, aloxiprin, ..., paracetamol, ...."

The encoder truncates long texts (256 word pieces for all-MiniLM-L6-v2), so names come in WHO order,
most general first.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ATC_INDEX_GLOB = "knowledge/atc/WHO_ATC-DDD_*.csv"
_ATC_LEVELS = {1: re.compile(r"^[A-Z]$"), 2: re.compile(r"^[A-Z][0-9]{2}$"), 3: re.compile(r"^[A-Z][0-9]{2}[A-Z]$"),
               4: re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}$"), 5: re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")}


def code_text(title: str | None) -> str | None:
    """The text of a diagnosis or procedure code: its title with whitespace collapsed (None if no title)."""
    if title is None:
        return None
    text = " ".join(title.split())
    return text or None


def _sentence_case(name: str) -> str:
    """WHO writes levels 1-3 in capitals; the uncased encoder does not care, people reading texts do."""
    return name[:1].upper() + name[1:].lower() if name.isupper() else name


@dataclass(frozen=True)
class AtcNames:
    """Names of the WHO ATC index by code, every level (level-5 codes repeat per DDD route; first name kept)."""

    names: dict[str, str]
    source: Path

    def children(self, code: str, level: int) -> list[str]:
        """Codes of `level` under `code`, in index order, without repeats."""
        pattern = _ATC_LEVELS[level]
        return [c for c in self.names if c.startswith(code) and pattern.match(c)]


def find_atc_index(data_dir: Path) -> Path:
    matches = sorted(data_dir.glob(ATC_INDEX_GLOB))
    if not matches:
        raise FileNotFoundError(f"No WHO ATC index matches {data_dir / ATC_INDEX_GLOB} (needed for the drug texts).")
    return matches[-1]


def load_atc_names(path: Path) -> AtcNames:
    names: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"atc_code", "atc_name"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)} in the header")
        for line, row in enumerate(reader, start=2):
            code, name = (row["atc_code"] or "").strip(), (row["atc_name"] or "").strip()
            if not code or not name:
                raise ValueError(f"{path}:{line}: empty atc_code or atc_name")
            names.setdefault(code, name)
    return AtcNames(names, path)


def drug_text(atc3: str, atc: AtcNames, fallback_name: str | None = None) -> str:
    """The description of one ATC3 class (see the module docstring). A class missing from the index
    is described by `fallback_name` (e.g. the app database's atc_names) or its code alone."""
    name = atc.names.get(atc3) or fallback_name
    parts = [f"{_sentence_case(name)}." if name else f"{atc3}."]
    therapeutic, anatomical = atc.names.get(atc3[:3]), atc.names.get(atc3[:1])
    if therapeutic:
        parts.append(f"Therapeutic group: {therapeutic.lower()}.")
    if anatomical:
        parts.append(f"Anatomical group: {anatomical.lower()}.")
    subgroups = [atc.names[c] for c in atc.children(atc3, 4)]
    if subgroups:
        parts.append("Subgroups: " + "; ".join(s.lower() for s in subgroups) + ".")
    # Fixed combinations ("paracetamol, combinations excl. psycholeptics") repeat the substances: left out.
    substances = list(dict.fromkeys(atc.names[c] for c in atc.children(atc3, 5) if "combination" not in atc.names[c]))
    if substances:
        parts.append("Substances: " + ", ".join(s.lower() for s in substances) + ".")
    return " ".join(parts)


@dataclass(frozen=True)
class VocabularyTexts:
    """Texts in vocabulary order (entry i -> position i); None where a code has no title."""

    diagnosis: tuple[str | None, ...]
    procedure: tuple[str | None, ...]
    medication: tuple[str, ...]

    def distinct(self) -> list[str]:
        """Every text once, in first-seen order (what the encoder has to embed)."""
        seen = dict.fromkeys(t for group in (self.diagnosis, self.procedure, self.medication) for t in group if t)
        return list(seen)


def vocabulary_texts(vocabularies, data_dir: Path) -> VocabularyTexts:
    """Texts for a tasks.Vocabularies (duck-typed: .diagnosis/.procedure/.medication with .entries)."""
    atc = load_atc_names(find_atc_index(data_dir))
    return VocabularyTexts(
        diagnosis=tuple(code_text(e.title) for e in vocabularies.diagnosis.entries),
        procedure=tuple(code_text(e.title) for e in vocabularies.procedure.entries),
        medication=tuple(drug_text(e.code, atc, e.title) for e in vocabularies.medication.entries),
    )


def texts_summary(texts: Sequence[str | None]) -> dict[str, int]:
    return {"entries": len(texts), "withText": sum(1 for t in texts if t)}
