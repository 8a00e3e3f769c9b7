"""One 3D conformer per molecular graph (the '3D structure' knowledge modality), by RDKit distance geometry.

Cost decides the settings (the whole pipeline shares 2 CPU cores): ETKDGv3 *without* the experimental
torsion and basic-knowledge terms (plain distance geometry with ETKDG's bounds; 3-25x faster here, and
the distance-aware encoder only reads interatomic distances, which those terms barely move), heavy atoms
only, no force-field clean-up, one attempt with a 1-second timeout, and no conformer at all for graphs
with more than MAX_HEAVY_ATOMS atoms (peptides, large macrocycles). A graph without a conformer simply
lacks the 3D modality: the cross-modal pre-training is built for exactly that.

BRICS dummy atoms ('*') have no geometry in RDKit; they are embedded as carbon (the atom they stand for
is bonded there), keeping atom order so coordinates line up with the graph's atoms.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

MAX_HEAVY_ATOMS = 60
EMBED_TIMEOUT_SECONDS = 1
CONFORMER_SEED = 7


def conformer(molecule: Chem.Mol) -> np.ndarray | None:
    """float32 [atoms, 3] coordinates in Angstrom (atom order of `molecule`), or None if none was found."""
    if molecule.GetNumAtoms() > MAX_HEAVY_ATOMS:
        return None
    editable = Chem.RWMol(molecule)
    for atom in editable.GetAtoms():
        if atom.GetAtomicNum() == 0:
            atom.SetAtomicNum(6)
            atom.SetIsotope(0)
            atom.SetNoImplicit(False)
    candidate = editable.GetMol()
    try:
        Chem.SanitizeMol(candidate)
    except Exception:  # noqa: BLE001 -- RDKit raises several sanitisation types; an unsanitisable stand-in has no 3D
        return None
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = CONFORMER_SEED
    parameters.useExpTorsionAnglePrefs = False
    parameters.useBasicKnowledge = False
    parameters.maxIterations = 3
    parameters.timeout = EMBED_TIMEOUT_SECONDS
    RDLogger.DisableLog("rdApp.*")
    try:
        status = AllChem.EmbedMolecule(candidate, parameters)
    except RuntimeError:  # RDKit's invariant violations on odd bound matrices (metal complexes)
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    if status != 0:
        return None
    coordinates = candidate.GetConformer().GetPositions().astype(np.float32)
    return coordinates if np.isfinite(coordinates).all() else None
