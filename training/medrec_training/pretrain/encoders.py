"""The networks of the cross-modal pre-training: one encoder per knowledge modality, and the loss.

The molecular side is the GIN of knowledge.graph_encoders (shared with the structure-aware baselines)
followed by one linear projection head per modality; the knowledge side is one small encoder per
modality. Both sides of a modality meet, L2-normalised, in that modality's own 64-d space.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..knowledge.graph_encoders import MolecularGraphEncoder
from .depiction import IMAGE_CHANNELS


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for position, (first, second) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(first, second))
        if position < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GraphSubsets:
    """Runs a knowledge.graph_encoders.MolecularGraphEncoder over any subset of its graphs.

    That encoder always encodes every graph it was built for; pre-training steps need a few hundred of
    the ~1,000 corpus graphs, and encoding all of them every step made the GIN most of the cost. This
    helper repeats its forward pass (same parameters, same arithmetic: see the subset test) on the
    atoms and bonds of the chosen graphs only.
    """

    def __init__(self, encoder: MolecularGraphEncoder, atom_offsets: np.ndarray, edge_index: np.ndarray) -> None:
        self.encoder = encoder
        self.atom_offsets = atom_offsets.astype(np.int64)
        edge_graph = np.searchsorted(self.atom_offsets, edge_index[0], side="right") - 1
        order = np.argsort(edge_graph, kind="stable")
        self.edges_by_graph = order.astype(np.int64)
        self.edge_offsets = np.searchsorted(edge_graph[order], np.arange(len(atom_offsets)), side="left").astype(np.int64)
        self.edge_index = edge_index.astype(np.int64)

    def __call__(self, graphs: np.ndarray) -> torch.Tensor:
        """[len(graphs), dim], row i = graph graphs[i]."""
        encoder = self.encoder
        atom_ranges = [np.arange(self.atom_offsets[g], self.atom_offsets[g + 1]) for g in graphs]
        atoms = np.concatenate(atom_ranges)
        edges = np.concatenate([self.edges_by_graph[self.edge_offsets[g] : self.edge_offsets[g + 1]] for g in graphs])
        renumber = np.full(int(self.atom_offsets[-1]), -1, dtype=np.int64)
        renumber[atoms] = np.arange(len(atoms))
        atom_graph = torch.from_numpy(np.repeat(np.arange(len(graphs)), [len(r) for r in atom_ranges]))
        source = torch.from_numpy(renumber[self.edge_index[0, edges]])
        target = torch.from_numpy(renumber[self.edge_index[1, edges]]).unsqueeze(1).expand(-1, encoder.dim)
        atoms_t, edges_t = torch.from_numpy(atoms), torch.from_numpy(edges)

        def categorical(module, rows: torch.Tensor) -> torch.Tensor:
            return module.table(module.distinct_rows).sum(dim=-2)[module.row_of_item[rows]]

        hidden = categorical(encoder.atom_encoder, atoms_t)
        for layer, (bond_encoder, update) in enumerate(zip(encoder.bond_encoders, encoder.updates, strict=True)):
            messages = torch.relu(hidden[source] + categorical(bond_encoder, edges_t))
            incoming = torch.zeros_like(hidden).scatter_add(0, target, messages)
            hidden = update((1.0 + encoder.eps[layer]) * hidden + incoming)
            if layer < len(encoder.updates) - 1:
                hidden = encoder.dropout(torch.relu(hidden))
        pooled = hidden.new_zeros(len(graphs), encoder.dim).index_add(0, atom_graph, hidden)
        return pooled * encoder.pool_scale[torch.from_numpy(np.asarray(graphs, dtype=np.int64))]


class DepictionEncoder(nn.Module):
    """Three strided 3x3 convolutions (32 -> 16 -> 8 -> 4 pixels), mean over the grid, a linear map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.convolutions = nn.Sequential(
            nn.Conv2d(IMAGE_CHANNELS, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.output = nn.Linear(32, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images uint8 or float [B, C, S, S] -> [B, dim]."""
        hidden = self.convolutions(images.float() / 255.0)
        return self.output(hidden.mean(dim=(2, 3)))


class Geometry:
    """Atom-centred radial features of every graph's conformer, computed once (Behler-Parrinello style).

    For atom i and neighbour element group e: G[i, e, k] = sum over atoms j of group e within CUTOFF of
    exp(-width (d_ij - mu_k)^2) * fcut(d_ij), fcut the cosine cut-off: how many C/N/O/other atoms sit at
    each distance from i. These are fixed by the conformer, so the trainable encoder only reads them;
    a SchNet-style per-pair network cost ~1 CPU-second per pass over the ~145k atom pairs here.
    """

    CUTOFF = 4.5  # Angstrom: neighbours up to about three bonds away
    CENTRES = 12
    ELEMENT_GROUPS: ClassVar[dict[int, int]] = {6: 0, 7: 1, 8: 2}  # anything else -> 3

    def __init__(self, atomic_numbers: np.ndarray, coordinates: np.ndarray, atom_offsets: np.ndarray, has_conformer: np.ndarray) -> None:
        self.atomic_numbers = atomic_numbers.astype(np.int64)
        self.atom_offsets = atom_offsets.astype(np.int64)
        groups = len(set(self.ELEMENT_GROUPS.values())) + 1
        centres = np.linspace(0.8, self.CUTOFF, self.CENTRES)
        width = (self.CENTRES / (self.CUTOFF - 0.8)) ** 2
        element_group = np.asarray([self.ELEMENT_GROUPS.get(int(z), groups - 1) for z in self.atomic_numbers], dtype=np.int64)
        features = np.zeros((len(self.atomic_numbers), groups, self.CENTRES), dtype=np.float32)
        for graph in range(len(atom_offsets) - 1):
            start, end = int(atom_offsets[graph]), int(atom_offsets[graph + 1])
            if not has_conformer[graph] or end - start < 2:
                continue
            points = coordinates[start:end]
            distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
            cutoff = np.where(distance < self.CUTOFF, 0.5 * (np.cos(np.pi * distance / self.CUTOFF) + 1.0), 0.0)
            np.fill_diagonal(cutoff, 0.0)
            radial = np.exp(-width * (distance[..., None] - centres) ** 2) * cutoff[..., None]  # [n, n, K]
            one_hot = np.eye(groups, dtype=np.float32)[element_group[start:end]]  # [n, groups]
            features[start:end] = np.einsum("ijk,jg->igk", radial, one_hot)
        self.features = np.log1p(features.reshape(len(self.atomic_numbers), -1))  # counts -> gentler scale

    def select(self, graphs: np.ndarray) -> dict[str, torch.Tensor]:
        """The atoms of `graphs` and each atom's position in `graphs`."""
        atom_ranges = [np.arange(self.atom_offsets[g], self.atom_offsets[g + 1]) for g in graphs]
        atoms = np.concatenate(atom_ranges) if atom_ranges else np.zeros(0, np.int64)
        atom_graph = np.repeat(np.arange(len(graphs)), [len(r) for r in atom_ranges])
        return {
            "atomic_numbers": torch.from_numpy(self.atomic_numbers[atoms]),
            "radial": torch.from_numpy(self.features[atoms]),
            "atom_graph": torch.from_numpy(atom_graph.astype(np.int64)),
            "graphs": len(graphs),
        }


class DistanceEncoder(nn.Module):
    """A Behler-Parrinello-style encoder of one conformer: an MLP per atom over its element and its radial
    features (Geometry), then the mean over atoms and a linear map. Atoms see nothing but their element
    and the distances around them, so what this side knows comes from the 3D geometry."""

    def __init__(self, dim: int, radial_features: int = 4 * Geometry.CENTRES) -> None:
        super().__init__()
        self.element = nn.Embedding(120, dim)
        self.atom = mlp([dim + radial_features, dim, dim])
        self.readout = nn.Linear(dim, dim)

    def forward(self, atomic_numbers: torch.Tensor, radial: torch.Tensor, atom_graph: torch.Tensor, graphs: int) -> torch.Tensor:
        hidden = self.atom(torch.cat([self.element(atomic_numbers), radial], dim=1))
        pooled = hidden.new_zeros(graphs, hidden.shape[1]).index_add(0, atom_graph, hidden)
        sizes = torch.bincount(atom_graph, minlength=graphs).clamp(min=1).unsqueeze(1).to(hidden.dtype)
        return self.readout(torch.relu(pooled / sizes))


def grouped_info_nce(
    molecule_side: torch.Tensor, knowledge_side: torch.Tensor, groups: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Bidirectional InfoNCE (CLIP's loss) where rows of the same group are all positives.

    Several molecules of one ATC3 class share one text and one KG entity; counting those as negatives
    of each other would push apart exactly what should agree, so each row's target is spread evenly
    over its group (a supervised-contrastive soft target). groups: int64 [B].
    """
    scale = log_scale.clamp(max=math.log(100.0)).exp()
    logits = scale * F.normalize(molecule_side, dim=1) @ F.normalize(knowledge_side, dim=1).T
    same = (groups.unsqueeze(0) == groups.unsqueeze(1)).float()
    targets = same / same.sum(dim=1, keepdim=True)
    forward = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    backward = -(targets * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return 0.5 * (forward + backward)
