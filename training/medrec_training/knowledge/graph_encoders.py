"""Torch encoders for the knowledge's molecular graphs (GraphBatch), shared by the structure-aware models.

The graphs of a vocabulary are fixed when a model is built, so they live in non-persistent buffers and
message passing is a gather + scatter-add over a constant edge list: no Python loop over data, no
sparse tensors, and it exports to ONNX as Gather / ScatterElements(add).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .molecules import ATOM_FEATURES, BOND_FEATURES, GraphBatch


class CategoricalEncoder(nn.Module):
    """Sum of one embedding per categorical column, for a fixed feature matrix [N, fields].

    Thousands of atoms share a few hundred distinct feature rows, so each distinct row is embedded
    once and the result gathered back: the same values, far less work in the backward pass.
    """

    def __init__(self, fields: Sequence[tuple[str, int]], features: np.ndarray, dim: int) -> None:
        super().__init__()
        sizes = [size for _, size in fields]
        offsets = np.cumsum([0] + sizes[:-1]).astype(np.int64)
        if features.shape[0]:
            distinct, row_of_item = np.unique(features, axis=0, return_inverse=True)
        else:
            distinct, row_of_item = np.zeros((1, len(sizes)), dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.register_buffer("distinct_rows", torch.from_numpy(distinct + offsets), persistent=False)
        self.register_buffer("row_of_item", torch.from_numpy(row_of_item.reshape(-1).astype(np.int64)), persistent=False)
        self.table = nn.Embedding(sum(sizes), dim)

    def forward(self) -> torch.Tensor:
        """[N, dim]."""
        return self.table(self.distinct_rows).sum(dim=-2)[self.row_of_item]


class MolecularGraphEncoder(nn.Module):
    """GIN-style message passing with bond features, then one vector per graph.

    h_v <- MLP((1 + eps) h_v + sum_{u -> v} ReLU(h_u + e_uv)), `layers` times; readout 'sum'
    (SafeDrug's MPNN) or 'mean' (MoleRec's GIN). Atom and bond features are the categorical columns
    of knowledge.molecules.ATOM_FEATURES / BOND_FEATURES.
    """

    def __init__(self, graphs: GraphBatch, dim: int, layers: int = 2, readout: str = "sum", dropout: float = 0.0) -> None:
        super().__init__()
        if graphs.num_graphs == 0:
            raise ValueError("MolecularGraphEncoder needs at least one graph")
        if readout not in ("sum", "mean"):
            raise ValueError(f"readout must be 'sum' or 'mean', got {readout!r}")
        self.dim = dim
        self.num_graphs = graphs.num_graphs
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURES, graphs.atom_features, dim)
        self.bond_encoders = nn.ModuleList(
            CategoricalEncoder(BOND_FEATURES, graphs.bond_features, dim) for _ in range(layers)
        )
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim)) for _ in range(layers)
        )
        self.eps = nn.Parameter(torch.zeros(layers))
        self.dropout = nn.Dropout(dropout)
        atom_graph = graphs.atom_graph
        sizes = np.diff(graphs.atom_offsets).astype(np.float32)
        pool_scale = np.ones_like(sizes) if readout == "sum" else 1.0 / np.maximum(sizes, 1.0)
        self.register_buffer("edge_source", torch.from_numpy(graphs.edge_index[0].copy()), persistent=False)
        self.register_buffer("edge_target", torch.from_numpy(graphs.edge_index[1].copy()), persistent=False)
        self.register_buffer("atom_graph", torch.from_numpy(atom_graph.copy()), persistent=False)
        self.register_buffer("pool_scale", torch.from_numpy(pool_scale).unsqueeze(1), persistent=False)

    def forward(self) -> torch.Tensor:
        """[num_graphs, dim]."""
        hidden = self.atom_encoder()
        target_index = self.edge_target.unsqueeze(1).expand(-1, self.dim)
        for layer, (bond_encoder, update) in enumerate(zip(self.bond_encoders, self.updates, strict=True)):
            messages = torch.relu(hidden[self.edge_source] + bond_encoder())
            incoming = torch.zeros_like(hidden).scatter_add(0, target_index, messages)
            hidden = update((1.0 + self.eps[layer]) * hidden + incoming)
            if layer < len(self.updates) - 1:
                hidden = self.dropout(torch.relu(hidden))
        pooled = hidden.new_zeros(self.num_graphs, self.dim).scatter_add(
            0, self.atom_graph.unsqueeze(1).expand(-1, self.dim), hidden
        )
        return pooled * self.pool_scale


class DrugStructureEncoder(nn.Module):
    """One structure vector per vocabulary drug (ATC3 class): the mean of its member molecules' vectors.

    A class without a known structure gets its own learned vector (one row per class, used only where the class
    has no molecule): a shared fallback would make every such class look alike, so a model could not tell them
    apart. `knowledge` is a DrugKnowledge (duck-typed to keep this module free of the loader).
    """

    def __init__(self, knowledge, dim: int, layers: int = 2, readout: str = "sum", dropout: float = 0.0) -> None:
        super().__init__()
        mask = np.asarray(knowledge.drug_molecule_mask, dtype=np.float32)
        members = mask.sum(axis=1, keepdims=True)
        self.encoder = (
            MolecularGraphEncoder(knowledge.molecules, dim, layers, readout, dropout) if knowledge.molecules.num_graphs else None
        )
        self.fallback = nn.Parameter(torch.zeros(mask.shape[0], dim))  # [num_drugs, dim]; rows of classes with molecules unused
        nn.init.normal_(self.fallback, std=0.1)
        self.register_buffer("average", torch.from_numpy(mask / np.maximum(members, 1.0)), persistent=False)
        self.register_buffer("without_structure", torch.from_numpy((members == 0).astype(np.float32)), persistent=False)

    def forward(self) -> torch.Tensor:
        """[num_drugs, dim]."""
        fallback = self.without_structure * self.fallback
        if self.encoder is None:
            return fallback
        return self.average @ self.encoder() + fallback
