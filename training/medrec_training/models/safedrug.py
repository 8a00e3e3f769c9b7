"""SafeDrug (Yang et al., IJCAI 2021), written from the paper.

Patient: GAMENet's dual-GRU encoder gives the current visit's query q. Drugs, two views:
  global  a message-passing network over every member molecule of the vocabulary (sum readout),
          averaged per ATC3 class -> E [D, H]; match m = sigmoid(q E^T), then
          a = LayerNorm(m + Linear(m)) (the paper's residual over the drug axis).
  local   BRICS substructures: s = sigmoid(Linear(q)) is the patient's need for each fragment; a
          linear map from fragments to drugs whose weights are masked by the drug x fragment
          matrix (a drug can only be scored from its own fragments) gives l [B, D].
logits = l * a. Training adds the DDI-controllable loss (gamenet.controllable_ddi_loss) on the DDI
matrix named by config.options['ddi_matrix'] (default twosides-atc3, as in the paper), steering to
the training visits' own DDI rate unless options['target_ddi'] says otherwise.

Simplifications: atoms start from categorical features (element, degree, charge, chirality,
hybridisation, aromaticity, H count, ring, radicals) instead of SafeDrug's radius-r fingerprint
ids, and the MPNN is two GIN-style layers with bond features; medication history is not an input
(as in the paper), so masking 'medication-history' leaves SafeDrug's output unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..knowledge.graph_encoders import DrugStructureEncoder
from .base import MedRecModel, Modality, ModelConfig, Paper, select_visit
from ..tasks import VocabSizes
from .gamenet import DualGRUPatientEncoder, controllable_ddi_loss, ddi_adjacency, target_ddi_rate

if TYPE_CHECKING:
    from ..tasks import Batch, EncodedSamples

MOLECULAR_STRUCTURE = Modality("molecular-structure", "Molecular structure", "drug")
SUBSTRUCTURES = Modality("substructures", "Molecular substructures (BRICS)", "drug")


def fragment_mask_with_fallback(knowledge: Any) -> np.ndarray:
    """The drug x fragment mask, with one all-zero column when the vocabulary has no fragment at all
    (keeps every tensor non-empty for ONNX)."""
    mask = np.asarray(knowledge.drug_fragment_mask, dtype=np.float32)
    return mask if mask.shape[1] else np.zeros((mask.shape[0], 1), dtype=np.float32)


class SafeDrug(MedRecModel):
    family = "safedrug"
    display_name = "SafeDrug"
    paper = Paper(
        "SafeDrug: Dual Molecular Graph Encoders for Recommending Effective and Safe Drug Combinations",
        "Yang et al., IJCAI 2021, arXiv:2105.02711",
    )
    drug_modalities = (MOLECULAR_STRUCTURE, SUBSTRUCTURES)
    requires_knowledge = True

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        hidden, drugs = config.hidden_dim, vocab_sizes.medication
        self.patient = DualGRUPatientEncoder(vocab_sizes, config.embedding_dim, hidden, config.dropout)
        layers = int(config.options.get("graph_layers", 2))
        self.structure = DrugStructureEncoder(knowledge, hidden, layers=layers, readout="sum", dropout=config.dropout)
        self.match_residual = nn.Linear(drugs, drugs)
        self.match_norm = nn.LayerNorm(drugs)
        fragment_mask = fragment_mask_with_fallback(knowledge)
        self.register_buffer("fragment_mask", torch.from_numpy(fragment_mask), persistent=False)
        self.fragment_need = nn.Linear(hidden, fragment_mask.shape[1])
        # A class without BRICS fragments has no local score to read; a zero there made its logit 0 (probability 0.5)
        # for every patient. It reads a learned per-class map of the patient's query instead.
        self.register_buffer("without_fragments", torch.from_numpy((fragment_mask.sum(axis=1) == 0).astype(np.float32)), persistent=False)
        self.no_fragment_score = nn.Linear(hidden, drugs)
        self.fragment_to_drug = nn.Parameter(torch.empty(drugs, fragment_mask.shape[1]))
        nn.init.uniform_(self.fragment_to_drug, -1.0 / np.sqrt(fragment_mask.shape[1]), 1.0 / np.sqrt(fragment_mask.shape[1]))
        self.ddi_matrix_name, ddi = ddi_adjacency(knowledge, config)
        self.register_buffer("ddi_adjacency", ddi, persistent=False)
        self.target_ddi = float(config.options.get("target_ddi", 0.06))  # prepare() sets it from the training visits
        self.register_absent("diagnoses", config.embedding_dim)
        self.register_absent("procedures", config.embedding_dim)
        self.register_absent("molecular-structure", hidden)
        self.register_absent("substructures", drugs)

    def prepare(self, train: "EncodedSamples") -> None:
        self.target_ddi = target_ddi_rate(self.config, train, self.ddi_adjacency)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        diagnosis_visits, procedure_visits = self.patient.embed(diagnoses, procedures)
        diagnosis_visits = self.apply_modality("diagnoses", diagnosis_visits, modality_mask)
        procedure_visits = self.apply_modality("procedures", procedure_visits, modality_mask)
        query = select_visit(self.patient.encode(diagnosis_visits, procedure_visits), visit_mask)  # [B, H]

        drug_structure = self.structure().unsqueeze(0).expand(query.shape[0], -1, -1)  # [B, D, H]
        drug_structure = self.apply_modality("molecular-structure", drug_structure, modality_mask)
        match = torch.sigmoid(torch.einsum("bh,bdh->bd", query, drug_structure))
        global_score = self.match_norm(match + self.match_residual(match))

        fragment_need = torch.sigmoid(self.fragment_need(query))  # [B, F]
        local_score = fragment_need @ (self.fragment_to_drug * self.fragment_mask).T  # [B, D]
        local_score = local_score + self.without_fragments * self.no_fragment_score(query)
        local_score = self.apply_modality("substructures", local_score, modality_mask)
        return local_score * global_score

    def extra_loss(self, batch: "Batch", logits: torch.Tensor) -> torch.Tensor | None:
        return controllable_ddi_loss(batch, logits, self.ddi_adjacency, self.config, self.target_ddi)
