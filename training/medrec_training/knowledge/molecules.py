"""Molecules of ATC3 classes: RDKit validation, graph features, BRICS fragments, descriptors.

Everything here is a pure function of the SMILES strings (and the RDKit version), so the result can
be cached by input hash (see cache.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import BRICS, Descriptors

# ---------------------------------------------------------------------------------------------
# Graph features. Every feature is a small categorical index (the last value of each field is the
# bucket for anything rarer), so models embed each field and sum, like word embeddings; that keeps
# ONNX export to Gather + Add.

_CHIRAL_TAGS = (
    Chem.ChiralType.CHI_UNSPECIFIED,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
)
_HYBRIDISATIONS = (
    Chem.HybridizationType.UNSPECIFIED,
    Chem.HybridizationType.S,
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
)
_BOND_TYPES = (
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
)
_BOND_STEREO = (
    Chem.BondStereo.STEREONONE,
    Chem.BondStereo.STEREOANY,
    Chem.BondStereo.STEREOZ,
    Chem.BondStereo.STEREOE,
    Chem.BondStereo.STEREOCIS,
    Chem.BondStereo.STEREOTRANS,
)

ATOM_FEATURES: tuple[tuple[str, int], ...] = (
    ("atomic_number", 120),  # 0 = BRICS dummy atom '*', 1..118 elements, 119 other
    ("degree", 7),  # 0..5, 6 = six or more
    ("formal_charge", 7),  # -3..+3 shifted by 3, clipped
    ("chirality", len(_CHIRAL_TAGS) + 1),  # unspecified, CW, CCW, other
    ("hybridisation", len(_HYBRIDISATIONS) + 1),
    ("aromatic", 2),
    ("total_h", 6),  # 0..4, 5 = five or more
    ("in_ring", 2),
    ("radical_electrons", 3),  # 0, 1, 2 = two or more
)
"""(name, number of categories) per column of `atom_features`."""

BOND_FEATURES: tuple[tuple[str, int], ...] = (
    ("bond_type", len(_BOND_TYPES) + 1),  # single, double, triple, aromatic, other
    ("conjugated", 2),
    ("in_ring", 2),
    ("stereo", len(_BOND_STEREO) + 1),
)
"""(name, number of categories) per column of `bond_features`."""


def _category(value: object, choices: Sequence[object]) -> int:
    return choices.index(value) if value in choices else len(choices)


def _atom_row(atom: Chem.Atom) -> list[int]:
    return [
        min(atom.GetAtomicNum(), 119),
        min(atom.GetDegree(), 6),
        min(max(atom.GetFormalCharge(), -3), 3) + 3,
        _category(atom.GetChiralTag(), _CHIRAL_TAGS),
        _category(atom.GetHybridization(), _HYBRIDISATIONS),
        int(atom.GetIsAromatic()),
        min(atom.GetTotalNumHs(), 5),
        int(atom.IsInRing()),
        min(atom.GetNumRadicalElectrons(), 2),
    ]


def _bond_row(bond: Chem.Bond) -> list[int]:
    return [
        _category(bond.GetBondType(), _BOND_TYPES),
        int(bond.GetIsConjugated()),
        int(bond.IsInRing()),
        _category(bond.GetStereo(), _BOND_STEREO),
    ]


@dataclass(frozen=True)
class GraphBatch:
    """A disjoint union of molecular graphs, laid out for loop-free message passing.

    Atoms of graph g are rows atom_offsets[g] : atom_offsets[g + 1]. Each bond appears twice in
    `edge_index`, once per direction, so a sum over incoming edges is one scatter-add.
    """

    smiles: tuple[str, ...]
    atom_features: np.ndarray
    """int64 [total_atoms, len(ATOM_FEATURES)] categorical indices."""
    edge_index: np.ndarray
    """int64 [2, total_directed_edges]: (source atom, target atom), global atom indices."""
    bond_features: np.ndarray
    """int64 [total_directed_edges, len(BOND_FEATURES)] categorical indices."""
    atom_offsets: np.ndarray
    """int64 [n_graphs + 1]."""

    @property
    def num_graphs(self) -> int:
        return len(self.smiles)

    @property
    def atom_graph(self) -> np.ndarray:
        """int64 [total_atoms]: the graph each atom belongs to."""
        return np.repeat(np.arange(self.num_graphs, dtype=np.int64), np.diff(self.atom_offsets))

    def subset(self, graph_indices: Sequence[int]) -> GraphBatch:
        """The graphs at `graph_indices`, in that order, renumbered."""
        atom_parts, edge_parts, bond_parts, offsets = [], [], [], [0]
        edge_graph = self.atom_graph[self.edge_index[0]] if self.edge_index.shape[1] else np.zeros(0, np.int64)
        for graph in graph_indices:
            start, end = int(self.atom_offsets[graph]), int(self.atom_offsets[graph + 1])
            edges = np.flatnonzero(edge_graph == graph)
            atom_parts.append(self.atom_features[start:end])
            edge_parts.append(self.edge_index[:, edges] - start + offsets[-1])
            bond_parts.append(self.bond_features[edges])
            offsets.append(offsets[-1] + end - start)
        if not atom_parts:
            return empty_graph_batch()
        return GraphBatch(
            smiles=tuple(self.smiles[i] for i in graph_indices),
            atom_features=np.concatenate(atom_parts),
            edge_index=np.concatenate(edge_parts, axis=1),
            bond_features=np.concatenate(bond_parts),
            atom_offsets=np.asarray(offsets, dtype=np.int64),
        )


def empty_graph_batch() -> GraphBatch:
    return GraphBatch(
        smiles=(),
        atom_features=np.zeros((0, len(ATOM_FEATURES)), dtype=np.int64),
        edge_index=np.zeros((2, 0), dtype=np.int64),
        bond_features=np.zeros((0, len(BOND_FEATURES)), dtype=np.int64),
        atom_offsets=np.zeros(1, dtype=np.int64),
    )


def graphs_from_smiles(smiles: Sequence[str]) -> GraphBatch:
    """Featurise already-validated SMILES (raises ValueError naming the SMILES otherwise)."""
    if not smiles:
        return empty_graph_batch()
    atom_rows: list[list[int]] = []
    bond_rows: list[list[int]] = []
    sources: list[int] = []
    targets: list[int] = []
    offsets = [0]
    for text in smiles:
        molecule = parse_smiles(text)
        if isinstance(molecule, str):
            raise ValueError(f"cannot featurise SMILES {text!r}: {molecule}")
        base = offsets[-1]
        atom_rows.extend(_atom_row(atom) for atom in molecule.GetAtoms())
        for bond in molecule.GetBonds():
            begin, end = base + bond.GetBeginAtomIdx(), base + bond.GetEndAtomIdx()
            row = _bond_row(bond)
            sources += [begin, end]
            targets += [end, begin]
            bond_rows += [row, row]
        offsets.append(base + molecule.GetNumAtoms())
    return GraphBatch(
        smiles=tuple(smiles),
        atom_features=np.asarray(atom_rows, dtype=np.int64).reshape(-1, len(ATOM_FEATURES)),
        edge_index=np.asarray([sources, targets], dtype=np.int64).reshape(2, -1),
        bond_features=np.asarray(bond_rows, dtype=np.int64).reshape(-1, len(BOND_FEATURES)),
        atom_offsets=np.asarray(offsets, dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def parse_smiles(smiles: str) -> Chem.Mol | str:
    """The sanitised RDKit molecule (explicit H atoms folded into counts), or why it is invalid."""
    if not smiles or not smiles.strip():
        return "empty SMILES"
    RDLogger.DisableLog("rdApp.*")  # the reason is returned instead of printed
    try:
        molecule = Chem.MolFromSmiles(smiles)  # RDKit's standard path (sanitise, stereo perception, remove Hs)
        if molecule is not None:
            return molecule if molecule.GetNumAtoms() else "no atoms"
        # Invalid: parse again without sanitising only to say why.
        unsanitised = Chem.MolFromSmiles(smiles, sanitize=False)
        if unsanitised is None:
            return "RDKit cannot parse the SMILES syntax"
        try:
            Chem.SanitizeMol(unsanitised)
        except Exception as error:  # RDKit raises several sanitisation exception types
            return f"RDKit sanitisation failed: {str(error).strip()}"
        return "RDKit rejected the molecule"
    finally:
        RDLogger.EnableLog("rdApp.*")


def canonical_smiles(molecule: Chem.Mol) -> str:
    return Chem.MolToSmiles(molecule)


def brics_fragments(molecule: Chem.Mol) -> tuple[str, ...]:
    """BRICS fragments (RDKit's BRICSDecompose, default rules), canonical SMILES, sorted.

    A molecule without a BRICS-breakable bond is its own single fragment, as in SafeDrug.
    Dummy atoms ('[3*]' etc.) mark the broken bonds and keep their BRICS environment label.
    """
    fragments = set()
    for fragment in BRICS.BRICSDecompose(molecule):
        parsed = parse_smiles(fragment)
        fragments.add(canonical_smiles(parsed) if not isinstance(parsed, str) else fragment)
    return tuple(sorted(fragments))


# ---------------------------------------------------------------------------------------------
# Descriptors

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "MolWt",  # molecular weight
    "MolLogP",  # Crippen logP (lipophilicity)
    "MolMR",  # Crippen molar refractivity
    "TPSA",  # topological polar surface area
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "NumAromaticRings",
    "HeavyAtomCount",
    "NumHeteroatoms",
    "FractionCSP3",
    "NumValenceElectrons",
    "qed",  # quantitative estimate of drug-likeness
)
"""RDKit `Chem.Descriptors` functions, in column order. Standardised as z-scores over every valid
molecule of atc3_smiles.json (not just one vocabulary), clipped to [-DESCRIPTOR_CLIP, DESCRIPTOR_CLIP]."""

DESCRIPTOR_CLIP = 5.0


def raw_descriptors(molecule: Chem.Mol) -> list[float]:
    """Unstandardised descriptor values; NaN where RDKit cannot compute one."""
    values = []
    for name in DESCRIPTOR_NAMES:
        try:
            value = float(getattr(Descriptors, name)(molecule))
        except Exception:  # a descriptor failing on an odd inorganic molecule must not drop the molecule
            value = math.nan
        values.append(value if math.isfinite(value) else math.nan)
    return values


def standardise_descriptors(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scores with NaN -> 0 i.e. the mean, column means, column standard deviations)."""
    if raw.shape[0] == 0:
        zeros = np.zeros(raw.shape[1], dtype=np.float64)
        return raw.astype(np.float32), zeros, np.ones_like(zeros)
    mean = np.nanmean(raw, axis=0)
    std = np.nanstd(raw, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    scores = np.clip((raw - mean) / std, -DESCRIPTOR_CLIP, DESCRIPTOR_CLIP)
    return np.nan_to_num(scores, nan=0.0).astype(np.float32), mean, std


@dataclass(frozen=True)
class DroppedSmiles:
    atc3: str
    smiles: str
    reason: str


@dataclass(frozen=True)
class ValidatedClasses:
    """Valid, de-duplicated molecules per ATC3 class, and what was dropped and why."""

    molecules_by_class: dict[str, tuple[str, ...]]
    """ATC3 -> canonical SMILES of its valid member molecules (sorted, unique)."""
    dropped: tuple[DroppedSmiles, ...]
    duplicates_within_class: int
    """SMILES that canonicalise to a molecule already listed for the same class."""


def validate_class_smiles(
    smiles_by_class: dict[str, Sequence[str]], is_atc3: Iterable[str] | None = None
) -> ValidatedClasses:
    """Keep RDKit-valid SMILES per class; a key that is not a known ATC3 code drops as a whole."""
    known = set(is_atc3) if is_atc3 is not None else None
    by_class: dict[str, tuple[str, ...]] = {}
    dropped: list[DroppedSmiles] = []
    duplicates = 0
    for atc3 in sorted(smiles_by_class):
        entries = smiles_by_class[atc3]
        if known is not None and atc3 not in known:
            reason = "not an ATC level-3 code of the WHO index"
            dropped.extend(DroppedSmiles(atc3, text, reason) for text in entries)
            if not entries:
                dropped.append(DroppedSmiles(atc3, "", f"{reason} (empty entry)"))
            continue
        kept: set[str] = set()
        for text in entries:
            parsed = parse_smiles(text)
            if isinstance(parsed, str):
                dropped.append(DroppedSmiles(atc3, text, parsed))
                continue
            canonical = canonical_smiles(parsed)
            if canonical in kept:
                duplicates += 1
            kept.add(canonical)
        by_class[atc3] = tuple(sorted(kept))
    return ValidatedClasses(by_class, tuple(dropped), duplicates)
