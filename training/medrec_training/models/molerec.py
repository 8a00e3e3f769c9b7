"""MoleRec (Yang et al., WWW 2023), written from the paper.

Patient: GAMENet's dual-GRU encoder gives the current visit's query q.
Substructures: every BRICS fragment of the vocabulary's molecules is encoded by a GIN over its own
graph (dummy atoms mark the broken bonds), then a set-attention block lets fragments see each other
-> S [F, H]. The patient's relevance of each fragment is w = sigmoid(Linear(q)) [B, F].
Molecules: a GIN over the member molecules (mean readout), averaged per ATC3 class -> G [D, H].
Substructure-aware drug encoding: drug d attends over its own fragments with its structure vector
as the query (softmax over the fragments of the drug x fragment mask), and reads the fragments scaled by
the patient's relevance: R[b, d] = sum_f attn[d, f] * w[b, f] * S[f]. Score: MLP(R) -> one logit per
drug. Training adds the DDI-controllable loss on config.options['ddi_matrix'] (default twosides-atc3),
steering to the training visits' own DDI rate unless options['target_ddi'] says otherwise.

Simplifications: two GIN layers (the paper uses deeper GINs), one set-attention block with
`heads` heads, atoms from categorical features, no pre-training; medication history is not an input
(as in the paper), so masking 'medication-history' leaves MoleRec's output unchanged. A drug with no
known structure reads a learned fallback vector instead of fragments.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..knowledge.graph_encoders import DrugStructureEncoder, MolecularGraphEncoder
from .base import MedRecModel, ModelConfig, Paper, select_visit
from ..tasks import VocabSizes
from .gamenet import NEGATIVE_LARGE, DualGRUPatientEncoder, controllable_ddi_loss, ddi_adjacency, target_ddi_rate
from .safedrug import MOLECULAR_STRUCTURE, SUBSTRUCTURES, fragment_mask_with_fallback

if TYPE_CHECKING:
    from ..tasks import Batch, EncodedSamples


def padded_fragment_lists(fragment_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per drug, the indices of its fragments padded to the longest list: (int64 [D, K], float32 valid [D, K])."""
    rows = [np.flatnonzero(row) for row in fragment_mask]
    width = max(1, max((len(row) for row in rows), default=0))
    indices = np.zeros((len(rows), width), dtype=np.int64)
    valid = np.zeros((len(rows), width), dtype=np.float32)
    for drug, row in enumerate(rows):
        indices[drug, : len(row)] = row
        valid[drug, : len(row)] = 1.0
    return indices, valid


class SetAttentionBlock(nn.Module):
    """Multi-head self-attention over a set [N, H] with residuals: X + Attn(X), then + ReLU(Linear)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.output = nn.Linear(dim, dim)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        count, dim = items.shape
        split = dim // self.heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(count, self.heads, split).transpose(0, 1)  # [heads, N, split]

        query, key, value = heads(self.query(items)), heads(self.key(items)), heads(self.value(items))
        attention = torch.softmax(query @ key.transpose(1, 2) / math.sqrt(split), dim=-1)
        mixed = query + attention @ value
        mixed = mixed.transpose(0, 1).reshape(count, dim)
        return mixed + torch.relu(self.output(mixed))


class MoleRec(MedRecModel):
    family = "molerec"
    display_name = "MoleRec"
    paper = Paper(
        "MoleRec: Combinatorial Drug Recommendation with Substructure-Aware Molecular Representation Learning",
        "Yang et al., WWW 2023, doi:10.1145/3543507.3583872",
    )
    drug_modalities = (MOLECULAR_STRUCTURE, SUBSTRUCTURES)
    requires_knowledge = True

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        hidden = config.hidden_dim
        layers = int(config.options.get("graph_layers", 2))
        self.patient = DualGRUPatientEncoder(vocab_sizes, config.embedding_dim, hidden, config.dropout)
        self.structure = DrugStructureEncoder(knowledge, hidden, layers=layers, readout="mean", dropout=config.dropout)
        fragment_mask = fragment_mask_with_fallback(knowledge)
        self.fragment_encoder = (
            MolecularGraphEncoder(knowledge.fragments, hidden, layers, readout="mean", dropout=config.dropout)
            if knowledge.fragments.num_graphs
            else None
        )
        self.fragment_interaction = SetAttentionBlock(hidden, int(config.options.get("heads", 2)))
        self.fragment_relevance = nn.Linear(hidden, fragment_mask.shape[1])
        self.attention_query = nn.Linear(hidden, hidden)
        self.attention_key = nn.Linear(hidden, hidden)
        # Each drug attends over its own fragments only: a padded [D, K] list (K = most fragments of
        # one drug) instead of a dense [D, F] mask keeps the per-patient work at B x D x K, not B x D x F.
        drug_fragments, drug_fragment_valid = padded_fragment_lists(fragment_mask)
        self.register_buffer("drug_fragments", torch.from_numpy(drug_fragments), persistent=False)
        self.register_buffer("drug_fragment_valid", torch.from_numpy(drug_fragment_valid), persistent=False)
        has_fragments = drug_fragment_valid.sum(axis=1, keepdims=True) > 0
        self.register_buffer("has_fragments", torch.from_numpy(has_fragments.astype(np.float32)), persistent=False)
        self.fragment_count = fragment_mask.shape[1]
        # A class without fragments reads its own learned vector, gated by the patient's query so that its score
        # still depends on the patient (a constant vector gave every patient the same probability for it).
        self.no_fragment_fallback = nn.Parameter(torch.zeros(vocab_sizes.medication, hidden))
        nn.init.normal_(self.no_fragment_fallback, std=0.1)
        self.no_fragment_gate = nn.Linear(hidden, hidden)
        self.score = nn.Sequential(nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))
        self.ddi_matrix_name, ddi = ddi_adjacency(knowledge, config)
        self.register_buffer("ddi_adjacency", ddi, persistent=False)
        self.target_ddi = float(config.options.get("target_ddi", 0.06))  # prepare() sets it from the training visits
        self.register_absent("diagnoses", config.embedding_dim)
        self.register_absent("procedures", config.embedding_dim)
        self.register_absent("molecular-structure", hidden)
        self.register_absent("substructures", hidden)

    def fragment_vectors(self) -> torch.Tensor:
        """S [F, H]."""
        if self.fragment_encoder is None:
            return self.no_fragment_fallback.new_zeros(self.fragment_count, self.no_fragment_fallback.shape[1])
        return self.fragment_interaction(self.fragment_encoder())

    def prepare(self, train: "EncodedSamples") -> None:
        self.target_ddi = target_ddi_rate(self.config, train, self.ddi_adjacency)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        diagnosis_visits, procedure_visits = self.patient.embed(diagnoses, procedures)
        diagnosis_visits = self.apply_modality("diagnoses", diagnosis_visits, modality_mask)
        procedure_visits = self.apply_modality("procedures", procedure_visits, modality_mask)
        query = select_visit(self.patient.encode(diagnosis_visits, procedure_visits), visit_mask)  # [B, H]

        fragments = self.fragment_vectors()  # [F, H]
        relevance = torch.sigmoid(self.fragment_relevance(query))  # [B, F]
        drug_structure = self.structure().unsqueeze(0).expand(query.shape[0], -1, -1)  # [B, D, H]
        drug_structure = self.apply_modality("molecular-structure", drug_structure, modality_mask)
        own_keys = self.attention_key(fragments)[self.drug_fragments]  # [D, K, H]
        scores = torch.einsum("bdh,dkh->bdk", self.attention_query(drug_structure), own_keys)
        scores = scores / math.sqrt(fragments.shape[1]) + (1.0 - self.drug_fragment_valid) * NEGATIVE_LARGE
        attention = torch.softmax(scores, dim=-1) * self.drug_fragment_valid  # a drug without fragments reads nothing
        own_relevance = relevance[:, self.drug_fragments]  # [B, D, K]
        drug_vectors = torch.einsum("bdk,dkh->bdh", attention * own_relevance, fragments[self.drug_fragments])
        gate = torch.sigmoid(self.no_fragment_gate(query)).unsqueeze(1)  # [B, 1, H]
        drug_vectors = drug_vectors + (1.0 - self.has_fragments) * self.no_fragment_fallback * gate
        drug_vectors = self.apply_modality("substructures", drug_vectors, modality_mask)
        return self.score(drug_vectors).squeeze(-1)

    def extra_loss(self, batch: "Batch", logits: torch.Tensor) -> torch.Tensor | None:
        return controllable_ddi_loss(batch, logits, self.ddi_adjacency, self.config, self.target_ddi)
