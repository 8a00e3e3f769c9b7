"""Build (or read from cache) the drug knowledge base, then cut it to a medication vocabulary.

Two layers:
  KnowledgeBase  everything derivable from <dataDir>/knowledge for *all* ATC3 classes of the WHO
                 index: valid molecules, graphs, BRICS fragments, descriptors, the three DDI
                 sources, and a coverage report. Cached under training/.cache keyed by the sha256 of
                 every input file, the RDKit version and this package's source.
  DrugKnowledge  the same knowledge aligned to one ATC3 vocabulary (row i = vocabulary entry i),
                 which is what models take. See `load_drug_knowledge`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rdkit

from ..paths import data_dir as default_data_dir
from . import ddi as ddi_sources
from .atc import ATC3_PATTERN, load_atc_index
from .cache import cache_dir, cache_key, file_sha256, load_arrays, save_arrays
from .ddi import DDI_MATRIX_DESCRIPTIONS, DDI_MATRIX_NAMES, SEVERITY_LEVELS, count_pairs
from .molecules import (
    DESCRIPTOR_NAMES,
    GraphBatch,
    brics_fragments,
    graphs_from_smiles,
    parse_smiles,
    raw_descriptors,
    standardise_descriptors,
    validate_class_smiles,
)

KNOWLEDGE_FORMAT_VERSION = 1
"""Bump when the cached layout changes (source edits already change the cache key)."""

SMILES_FILE = "knowledge/molecules/atc3_smiles.json"
ATC_FILE = "knowledge/atc/WHO_ATC-DDD_2026-04-25.csv"
TWOSIDES_ATC3_FILE = "knowledge/ddi/twosides_atc3_pairs.csv"
TWOSIDES_TOP40_FILE = "knowledge/ddi/twosides_top40_stitch_pairs.csv"
STITCH_TO_ATC_FILE = "knowledge/mappings/stitch_cid_to_atc.csv"
DDINTER_GLOB = "knowledge/ddinter/ddinter_downloads_code_*.csv"


def _input_files(data_dir: Path) -> dict[str, Path]:
    files = {
        relative: data_dir / relative
        for relative in (SMILES_FILE, ATC_FILE, TWOSIDES_ATC3_FILE, TWOSIDES_TOP40_FILE, STITCH_TO_ATC_FILE)
    }
    files.update({str(path.relative_to(data_dir)): path for path in sorted(data_dir.glob(DDINTER_GLOB))})
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"drug knowledge input(s) missing under {data_dir}: {', '.join(missing)}")
    if not any(name.startswith("knowledge/ddinter/") for name in files):
        raise FileNotFoundError(f"no DDInter files match {data_dir / DDINTER_GLOB}")
    return files


def _source_digest() -> str:
    """Hash of this package's code, so editing a featuriser invalidates old caches."""
    package = Path(__file__).parent
    return cache_key({path.name: file_sha256(path) for path in sorted(package.glob("*.py"))})


def _csr(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(row) for row in rows]).astype(np.int64)
    values = np.asarray([value for row in rows for value in row], dtype=np.int64)
    return offsets, values


def _uncsr(offsets: np.ndarray, values: np.ndarray) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in values[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1))


@dataclass(frozen=True)
class KnowledgeBase:
    """Drug knowledge over every ATC3 class of the WHO index (vocabulary-independent)."""

    atc3_codes: tuple[str, ...]
    molecules: GraphBatch
    """Every valid molecule of atc3_smiles.json once, canonical SMILES sorted."""
    class_molecules: dict[str, tuple[int, ...]]
    """ATC3 -> indices into `molecules` (classes without a valid molecule are absent)."""
    fragments: GraphBatch
    """Every BRICS fragment of `molecules` once, canonical SMILES sorted."""
    molecule_fragments: tuple[tuple[int, ...], ...]
    raw_descriptors: np.ndarray
    """float64 [n_molecules, len(DESCRIPTOR_NAMES)], NaN where RDKit could not compute."""
    descriptor_mean: np.ndarray
    descriptor_std: np.ndarray
    ddi_pairs: dict[str, tuple[tuple[str, str], ...]]
    """Unordered ATC3 pairs of the two TWOSIDES sources."""
    ddinter_level_counts: np.ndarray
    """int32 [N, N, len(SEVERITY_LEVELS)] over `atc3_codes`."""
    report: dict = field(default_factory=dict)

    # -- cache round trip ----------------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays: dict[str, np.ndarray] = {}
        for prefix, graphs in (("molecule", self.molecules), ("fragment", self.fragments)):
            arrays[f"{prefix}_atom_features"] = graphs.atom_features
            arrays[f"{prefix}_edge_index"] = graphs.edge_index
            arrays[f"{prefix}_bond_features"] = graphs.bond_features
            arrays[f"{prefix}_atom_offsets"] = graphs.atom_offsets
        class_codes = sorted(self.class_molecules)
        arrays["class_molecule_offsets"], arrays["class_molecule_values"] = _csr([self.class_molecules[c] for c in class_codes])
        arrays["molecule_fragment_offsets"], arrays["molecule_fragment_values"] = _csr(self.molecule_fragments)
        arrays["raw_descriptors"] = self.raw_descriptors
        arrays["descriptor_mean"] = self.descriptor_mean
        arrays["descriptor_std"] = self.descriptor_std
        arrays["ddinter_level_counts"] = self.ddinter_level_counts
        meta = {
            "atc3_codes": list(self.atc3_codes),
            "molecule_smiles": list(self.molecules.smiles),
            "fragment_smiles": list(self.fragments.smiles),
            "class_codes": class_codes,
            "ddi_pairs": {name: [list(pair) for pair in pairs] for name, pairs in self.ddi_pairs.items()},
            "report": self.report,
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> KnowledgeBase:
        def graphs(prefix: str, smiles: list[str]) -> GraphBatch:
            return GraphBatch(
                smiles=tuple(smiles),
                atom_features=arrays[f"{prefix}_atom_features"],
                edge_index=arrays[f"{prefix}_edge_index"],
                bond_features=arrays[f"{prefix}_bond_features"],
                atom_offsets=arrays[f"{prefix}_atom_offsets"],
            )

        class_lists = _uncsr(arrays["class_molecule_offsets"], arrays["class_molecule_values"])
        return cls(
            atc3_codes=tuple(meta["atc3_codes"]),
            molecules=graphs("molecule", meta["molecule_smiles"]),
            class_molecules=dict(zip(meta["class_codes"], class_lists, strict=True)),
            fragments=graphs("fragment", meta["fragment_smiles"]),
            molecule_fragments=_uncsr(arrays["molecule_fragment_offsets"], arrays["molecule_fragment_values"]),
            raw_descriptors=arrays["raw_descriptors"],
            descriptor_mean=arrays["descriptor_mean"],
            descriptor_std=arrays["descriptor_std"],
            ddi_pairs={name: tuple(tuple(pair) for pair in pairs) for name, pairs in meta["ddi_pairs"].items()},
            ddinter_level_counts=arrays["ddinter_level_counts"],
            report=meta["report"],
        )


def _read_smiles_json(path: Path) -> dict[str, list[str]]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(content, dict) or not all(
        isinstance(key, str) and isinstance(value, list) and all(isinstance(s, str) for s in value)
        for key, value in content.items()
    ):
        raise ValueError(f"{path}: expected an object mapping ATC3 codes to lists of SMILES strings")
    return content


def build_knowledge_base(data_dir: Path) -> KnowledgeBase:
    """Compute the knowledge base from the files under `data_dir` (no cache)."""
    files = _input_files(data_dir)
    atc_index = load_atc_index(files[ATC_FILE])

    # Molecules: validate, de-duplicate across classes, fragment, describe.
    smiles_by_class = _read_smiles_json(files[SMILES_FILE])
    validated = validate_class_smiles(smiles_by_class, atc_index.atc3_codes)
    molecule_smiles = sorted({s for members in validated.molecules_by_class.values() for s in members})
    molecule_index = {s: i for i, s in enumerate(molecule_smiles)}
    class_molecules = {
        code: tuple(molecule_index[s] for s in members)
        for code, members in validated.molecules_by_class.items()
        if members
    }
    parsed = [parse_smiles(s) for s in molecule_smiles]
    fragments_per_molecule = [brics_fragments(m) for m in parsed]  # type: ignore[arg-type]
    fragment_smiles = sorted({f for fragments in fragments_per_molecule for f in fragments})
    fragment_index = {f: i for i, f in enumerate(fragment_smiles)}
    raw = np.asarray([raw_descriptors(m) for m in parsed], dtype=np.float64).reshape(-1, len(DESCRIPTOR_NAMES))
    _, mean, std = standardise_descriptors(raw)

    # Interactions.
    twosides_atc3 = ddi_sources.read_twosides_atc3(files[TWOSIDES_ATC3_FILE], atc_index.atc3_codes)
    stitch_to_atc3 = ddi_sources.read_stitch_to_atc3(files[STITCH_TO_ATC_FILE])
    twosides_top40 = ddi_sources.read_twosides_top40(files[TWOSIDES_TOP40_FILE], stitch_to_atc3)
    ddinter_files = [path for name, path in files.items() if name.startswith("knowledge/ddinter/")]
    ddinter = ddi_sources.read_ddinter(ddinter_files)
    lifted = ddi_sources.lift_ddinter_to_atc3(ddinter.pairs, atc_index.atc3_of_name, atc_index.atc3_codes)
    severity = lifted.severity
    upper = np.triu(np.ones_like(severity, dtype=bool), k=1)
    matched_drugs = [name for name in ddinter.drug_names.values() if atc_index.atc3_of_name(name)]

    dropped = [{"atc3": d.atc3, "smiles": d.smiles, "reason": d.reason} for d in validated.dropped]
    report = {
        "inputs": {name: file_sha256(path) for name, path in sorted(files.items())},
        "rdkit": rdkit.__version__,
        "molecules": {
            "keys_in_file": len(smiles_by_class),
            "smiles_entries": sum(len(v) for v in smiles_by_class.values()),
            "dropped": dropped,
            "dropped_count": sum(1 for d in validated.dropped if d.smiles),
            "non_atc3_keys": sorted({d.atc3 for d in validated.dropped if d.reason.startswith("not an ATC")}),
            "duplicates_within_class": validated.duplicates_within_class,
            "unique_molecules": len(molecule_smiles),
            "classes_with_molecules": len(class_molecules),
        },
        "brics": {
            "fragments": len(fragment_smiles),
            "molecules_without_breakable_bond": sum(1 for f in fragments_per_molecule if len(f) == 1),
            "method": "rdkit.Chem.BRICS.BRICSDecompose, default rules, recomputed per molecule",
        },
        "descriptors": {
            "names": list(DESCRIPTOR_NAMES),
            "missing_values": int(np.isnan(raw).sum()),
        },
        "ddi": {
            ddi_sources.TWOSIDES_ATC3: {
                "rows": twosides_atc3.rows,
                "self_pairs": twosides_atc3.self_pairs,
                "unknown_codes": list(twosides_atc3.unknown_codes),
                "atc3_pairs": len(twosides_atc3.pairs),
            },
            ddi_sources.TWOSIDES_TOP40: {
                "stitch_pairs": twosides_top40.stitch_pairs,
                "stitch_pairs_mapped": twosides_top40.stitch_pairs_mapped,
                "unmapped_cids": len(twosides_top40.unmapped_cids),
                "atc3_pairs": len(twosides_top40.pairs),
            },
            ddi_sources.DDINTER_ATC3: {
                "rows": ddinter.rows,
                "drug_pairs": len(ddinter.pairs),
                "conflicting_levels": ddinter.conflicting_levels,
                "drugs": len(ddinter.drug_names),
                "drugs_matched_atc": len(matched_drugs),
                "drug_match_rate": round(len(matched_drugs) / max(1, len(ddinter.drug_names)), 4),
                "drug_pairs_lifted": lifted.drug_pairs_lifted,
                "atc3_pairs": int((severity[upper] > 0).sum()),
                "atc3_pairs_by_most_severe_level": {
                    level: int((severity[upper] == code).sum()) for code, level in enumerate(SEVERITY_LEVELS, start=1)
                },
                "within_class_atc3": int((np.diag(severity) > 0).sum()),
                "levels_counted_as_interaction": list(SEVERITY_LEVELS),
                "match_method": "exact WHO ATC level-5 name after case/width/whitespace normalisation",
            },
        },
    }
    molecules = graphs_from_smiles(molecule_smiles)
    return KnowledgeBase(
        atc3_codes=atc_index.atc3_codes,
        molecules=molecules,
        class_molecules=class_molecules,
        fragments=graphs_from_smiles(fragment_smiles),
        molecule_fragments=tuple(tuple(fragment_index[f] for f in fragments) for fragments in fragments_per_molecule),
        raw_descriptors=raw,
        descriptor_mean=mean,
        descriptor_std=std,
        ddi_pairs={ddi_sources.TWOSIDES_ATC3: twosides_atc3.pairs, ddi_sources.TWOSIDES_TOP40: twosides_top40.pairs},
        ddinter_level_counts=lifted.level_counts,
        report=report,
    )


def knowledge_cache_path(data_dir: Path) -> Path:
    files = _input_files(data_dir)
    key = cache_key(
        {
            "format": str(KNOWLEDGE_FORMAT_VERSION),
            "rdkit": rdkit.__version__,
            "source": _source_digest(),
            **{name: file_sha256(path) for name, path in files.items()},
        }
    )
    return cache_dir() / "knowledge" / f"knowledge-{key}.npz"


def load_knowledge_base(data_dir: Path | str | None = None, *, use_cache: bool = True) -> KnowledgeBase:
    """The knowledge base for `data_dir` (default: MEDREC_DATA_DIR or ../shared/data), cached."""
    root = Path(data_dir).resolve() if data_dir is not None else default_data_dir()
    if not use_cache:
        return build_knowledge_base(root)
    path = knowledge_cache_path(root)
    if path.is_file():
        try:
            return KnowledgeBase.from_arrays(*load_arrays(path))
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache file is rebuilt, never trusted
    base = build_knowledge_base(root)
    save_arrays(path, *base.to_arrays())
    return base


# ---------------------------------------------------------------------------------------------
# The vocabulary-aligned view models use.


@dataclass(frozen=True)
class DrugKnowledge:
    """Drug knowledge aligned to a medication vocabulary of ATC3 codes: row i = vocabulary entry i.

    Molecules and fragments are those of the vocabulary's classes only. A class without a known
    structure has an empty molecule list, zero mask rows, zero (= average) descriptors and
    `has_structure[i] == False`; models must give it a learned fallback embedding.
    """

    atc3_vocab: tuple[str, ...]
    molecules: GraphBatch
    """Unique molecules of the vocabulary's classes (graphs of canonical SMILES)."""
    drug_molecules: tuple[tuple[int, ...], ...]
    """Per vocabulary entry: indices into `molecules` (possibly empty)."""
    drug_molecule_mask: np.ndarray
    """float32 [D, n_molecules], 1 where the molecule belongs to the class."""
    fragments: GraphBatch
    """BRICS fragment vocabulary (graphs, dummy atoms have atomic number 0)."""
    molecule_fragment_mask: np.ndarray
    """float32 [n_molecules, n_fragments]."""
    drug_fragment_mask: np.ndarray
    """float32 [D, n_fragments]: 1 where any member molecule has the fragment."""
    descriptor_names: tuple[str, ...]
    molecule_descriptors: np.ndarray
    """float32 [n_molecules, n_descriptors], standardised (see molecules.DESCRIPTOR_NAMES)."""
    drug_descriptors: np.ndarray
    """float32 [D, n_descriptors]: mean over member molecules, 0 for a class without structure."""
    descriptor_mean: np.ndarray
    descriptor_std: np.ndarray
    has_structure: np.ndarray
    """bool [D]."""
    ddi_matrices: dict[str, np.ndarray]
    """Source name (ddi.DDI_MATRIX_NAMES) -> float32 [D, D] symmetric 0/1, zero diagonal."""
    ddinter_severity: np.ndarray
    """int8 [D, D]: most severe DDInter level, 0 none, then 1 + index in ddi.SEVERITY_LEVELS."""
    ddinter_level_counts: np.ndarray
    """int32 [D, D, len(SEVERITY_LEVELS)]: member drug pairs per level."""
    report: dict
    """Coverage: the knowledge base's report plus this vocabulary's figures under 'vocabulary'."""

    @property
    def num_drugs(self) -> int:
        return len(self.atc3_vocab)

    def ddi_matrix(self, name: str) -> np.ndarray:
        if name not in self.ddi_matrices:
            raise KeyError(f"unknown DDI matrix {name!r}; available: {', '.join(self.ddi_matrices)}")
        return self.ddi_matrices[name]


def drug_knowledge_for_vocab(base: KnowledgeBase, atc3_vocab: Sequence[str]) -> DrugKnowledge:
    vocab = tuple(atc3_vocab)
    seen: set[str] = set()
    for position, code in enumerate(vocab):
        if not isinstance(code, str) or not code:
            raise ValueError(f"atc3_vocab[{position}] must be a non-empty string, got {code!r}")
        if code in seen:
            raise ValueError(f"atc3_vocab[{position}] repeats {code!r}")
        seen.add(code)
    size = len(vocab)

    used_molecules = sorted({m for code in vocab for m in base.class_molecules.get(code, ())})
    local_molecule = {m: i for i, m in enumerate(used_molecules)}
    drug_molecules = tuple(tuple(local_molecule[m] for m in base.class_molecules.get(code, ())) for code in vocab)
    drug_molecule_mask = np.zeros((size, len(used_molecules)), dtype=np.float32)
    for row, members in enumerate(drug_molecules):
        drug_molecule_mask[row, list(members)] = 1.0

    used_fragments = sorted({f for m in used_molecules for f in base.molecule_fragments[m]})
    local_fragment = {f: i for i, f in enumerate(used_fragments)}
    molecule_fragment_mask = np.zeros((len(used_molecules), len(used_fragments)), dtype=np.float32)
    for row, molecule in enumerate(used_molecules):
        molecule_fragment_mask[row, [local_fragment[f] for f in base.molecule_fragments[molecule]]] = 1.0
    drug_fragment_mask = ((drug_molecule_mask @ molecule_fragment_mask) > 0).astype(np.float32)

    scores, _, _ = standardise_descriptors(base.raw_descriptors)
    molecule_descriptors = scores[used_molecules] if used_molecules else np.zeros((0, len(DESCRIPTOR_NAMES)), np.float32)
    members = drug_molecule_mask.sum(axis=1, keepdims=True)
    drug_descriptors = (drug_molecule_mask @ molecule_descriptors) / np.maximum(members, 1.0)

    universe = {code: i for i, code in enumerate(base.atc3_codes)}
    vocab_position = {code: i for i, code in enumerate(vocab)}
    ddi_matrices = {}
    for name in (ddi_sources.TWOSIDES_ATC3, ddi_sources.TWOSIDES_TOP40):
        ddi_matrices[name] = ddi_sources.binary_from_pairs(
            [(vocab_position[a], vocab_position[b]) for a, b in base.ddi_pairs[name] if a in vocab_position and b in vocab_position],
            size,
        )
    rows = np.asarray([universe.get(code, -1) for code in vocab], dtype=np.int64)
    known = rows >= 0
    level_counts = np.zeros((size, size, len(SEVERITY_LEVELS)), dtype=np.int32)
    level_counts[np.ix_(known, known)] = base.ddinter_level_counts[np.ix_(rows[known], rows[known])]
    severity = ddi_sources.severity_from_level_counts(level_counts)
    binary = (severity > 0).astype(np.float32)
    np.fill_diagonal(binary, 0.0)
    ddi_matrices[ddi_sources.DDINTER_ATC3] = binary
    assert tuple(ddi_matrices) == DDI_MATRIX_NAMES

    has_structure = members[:, 0] > 0
    vocabulary_report = {
        "size": size,
        "not_atc3_codes": [code for code in vocab if not ATC3_PATTERN.match(code) or code not in universe],
        "with_structure": int(has_structure.sum()),
        "without_structure": [code for code, present_ in zip(vocab, has_structure, strict=True) if not present_],
        "molecules": len(used_molecules),
        "fragments": len(used_fragments),
        "ddi_pairs": {name: count_pairs(matrix) for name, matrix in ddi_matrices.items()},
        "ddi_descriptions": DDI_MATRIX_DESCRIPTIONS,
    }
    return DrugKnowledge(
        atc3_vocab=vocab,
        molecules=base.molecules.subset(used_molecules),
        drug_molecules=drug_molecules,
        drug_molecule_mask=drug_molecule_mask,
        fragments=base.fragments.subset(used_fragments),
        molecule_fragment_mask=molecule_fragment_mask,
        drug_fragment_mask=drug_fragment_mask,
        descriptor_names=DESCRIPTOR_NAMES,
        molecule_descriptors=molecule_descriptors.astype(np.float32),
        drug_descriptors=drug_descriptors.astype(np.float32),
        descriptor_mean=base.descriptor_mean,
        descriptor_std=base.descriptor_std,
        has_structure=has_structure,
        ddi_matrices=ddi_matrices,
        ddinter_severity=severity,
        ddinter_level_counts=level_counts,
        report={**base.report, "vocabulary": vocabulary_report},
    )


def load_drug_knowledge(
    data_dir: Path | str | None, atc3_vocab: Sequence[str], *, use_cache: bool = True
) -> DrugKnowledge:
    """Drug knowledge aligned to `atc3_vocab` (the medication vocabulary, entry i = output column i).

    data_dir: the open data folder holding knowledge/ (None: MEDREC_DATA_DIR or ../shared/data).
    Raises FileNotFoundError naming a missing input file, ValueError naming a malformed file/line
    or a bad vocabulary entry. Codes that are not WHO ATC3 classes are allowed (zero rows; listed
    in report['vocabulary']['not_atc3_codes']).
    """
    return drug_knowledge_for_vocab(load_knowledge_base(data_dir, use_cache=use_cache), atc3_vocab)
