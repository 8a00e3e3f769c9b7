"""2D depictions of molecules as small multi-channel images (the 'image' knowledge modality).

RDKit lays the molecule out (rdDepictor, its standard 2D depiction coordinates); we rasterise that
layout ourselves into IMAGE_CHANNELS planes instead of rendering a PNG: at the 32-pixel size the CPU
budget allows, a colour PNG's atom labels are unreadable blobs, while one plane per element group
keeps the information a depiction carries (which atoms, where, bonded how) and needs no image codec.

    plane 0  bonds, drawn as lines of intensity bond order / 3 (aromatic = 1.5)
    plane 1  carbon atoms        plane 2  nitrogen        plane 3  oxygen
    plane 4  every other element (S, P, halogens, metals) and BRICS dummy atoms
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDepictor

IMAGE_SIZE = 32
IMAGE_CHANNELS = 5
_MARGIN = 2.0  # pixels kept free around the drawing
_MAX_PIXELS_PER_BOND = 6.0  # small molecules are not blown up to fill the frame: size stays visible
_ELEMENT_PLANE = {6: 1, 7: 2, 8: 3}


def _splat(image: np.ndarray, plane: int, x: float, y: float, value: float) -> None:
    """Add `value` at a sub-pixel position, shared bilinearly among the four nearest pixels."""
    size = image.shape[-1]
    left, top = int(np.floor(x)), int(np.floor(y))
    dx, dy = x - left, y - top
    for column, row, weight in (
        (left, top, (1 - dx) * (1 - dy)),
        (left + 1, top, dx * (1 - dy)),
        (left, top + 1, (1 - dx) * dy),
        (left + 1, top + 1, dx * dy),
    ):
        if 0 <= column < size and 0 <= row < size:
            image[plane, row, column] += value * weight


def depict(molecule: Chem.Mol, size: int = IMAGE_SIZE) -> np.ndarray:
    """uint8 [IMAGE_CHANNELS, size, size] depiction of `molecule` (a copy gets the 2D coordinates)."""
    molecule = Chem.Mol(molecule)
    rdDepictor.Compute2DCoords(molecule)
    positions = molecule.GetConformer().GetPositions()[:, :2]
    positions = positions - positions.mean(axis=0)
    extent = max(float(np.abs(positions).max()) * 2.0, 1e-6)
    scale = min((size - 2 * _MARGIN) / extent, _MAX_PIXELS_PER_BOND / 1.5)  # RDKit's bond length is 1.5
    pixels = positions * scale + (size - 1) / 2.0
    pixels[:, 1] = (size - 1) - pixels[:, 1]  # image rows grow downwards
    image = np.zeros((IMAGE_CHANNELS, size, size), dtype=np.float32)
    for bond in molecule.GetBonds():
        start, end = pixels[bond.GetBeginAtomIdx()], pixels[bond.GetEndAtomIdx()]
        order = bond.GetBondTypeAsDouble() or 1.0
        length = float(np.linalg.norm(end - start))
        steps = max(2, int(np.ceil(length * 2)))  # a sample every half pixel
        ink = order / 3.0 * length / steps  # so a pixel the line crosses gets about order / 3
        for t in np.linspace(0.0, 1.0, steps):
            x, y = start + t * (end - start)
            _splat(image, 0, x, y, ink)
    for atom in molecule.GetAtoms():
        x, y = pixels[atom.GetIdx()]
        _splat(image, _ELEMENT_PLANE.get(atom.GetAtomicNum(), 4), x, y, 1.0)
    return np.clip(np.round(np.clip(image, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
