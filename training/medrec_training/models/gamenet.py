"""GAMENet: graph-augmented memory networks (Shang et al., AAAI 2019), written from the paper.

Patient: per visit, the sums of diagnosis and of procedure embeddings run through two GRUs; the query
q_t = Linear(ReLU([h_diag_t, h_proc_t])). Drugs: a memory bank M = GCN(EHR co-prescription graph)
- beta * GCN(DDI graph), each a 2-layer GCN over learned drug embeddings with a row-normalised
adjacency (self-loops added). Reads: o_b = softmax(q M^T) M (the bank), and o_d = the dynamic memory,
attention of q over the queries of the earlier visits, whose values are those visits' medication
multi-hots projected through M (o_d = o_b for a first visit, as the authors' code does). Output:
MLP([q, o_b, o_d]) -> one logit per drug.

This module also holds the two pieces SafeDrug and MoleRec reuse from it: the dual-GRU patient
encoder and the DDI penalty (GAMENet introduced it; SafeDrug made it controllable).

Simplifications (CPU, small demo data):
  * The EHR graph comes from the training fold's visits via `prepare(train)`; without it the graph
    is empty (a warning says so) and only the DDI side of the memory carries drug structure.
  * GAMENet's simulated-annealing acceptance of the DDI loss is replaced by SafeDrug's deterministic
    controllable mix (see `controllable_ddi_loss`), so training is reproducible with a seed; its
    target DDI rate defaults to the training visits' own rate (see `target_ddi_rate`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..knowledge.ddi import DDI_MATRIX_NAMES, TWOSIDES_ATC3
from .base import (
    INDEX_OFFSET,
    MedRecModel,
    Modality,
    ModelConfig,
    Paper,
    VocabSizes,
    current_visit_index,
    multi_hot,
    select_visit,
    sum_code_embeddings,
)

if TYPE_CHECKING:
    from ..tasks import Batch, EncodedSamples

NEGATIVE_LARGE = -1e9  # score of masked attention slots (finite: no inf arithmetic in the exported graph)

DDI_GRAPH = Modality("ddi-graph", "Drug-drug interaction graph", "drug")

# --------------------------------------------------------------------------------------------------
# Shared with SafeDrug and MoleRec


class DualGRUPatientEncoder(nn.Module):
    """Diagnosis and procedure embeddings per visit -> one query vector per visit [B, V, H].

    `embed` and `encode` are separate so the model can swap in its learned 'absent' vectors between
    them (a masked modality replaces that modality's per-visit embedding).
    """

    def __init__(self, vocab_sizes: VocabSizes, embedding_dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.diagnosis_embedding = nn.Embedding(vocab_sizes.diagnosis_rows, embedding_dim, padding_idx=0)
        self.procedure_embedding = nn.Embedding(vocab_sizes.procedure_rows, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.diagnosis_gru = nn.GRU(embedding_dim, hidden_dim, batch_first=True)
        self.procedure_gru = nn.GRU(embedding_dim, hidden_dim, batch_first=True)
        self.query = nn.Sequential(nn.ReLU(), nn.Linear(2 * hidden_dim, hidden_dim))

    def embed(self, diagnoses: torch.Tensor, procedures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-visit sums of code embeddings, each [B, V, E]."""
        return (
            self.dropout(sum_code_embeddings(self.diagnosis_embedding, diagnoses)),
            self.dropout(sum_code_embeddings(self.procedure_embedding, procedures)),
        )

    def encode(self, diagnosis_visits: torch.Tensor, procedure_visits: torch.Tensor) -> torch.Tensor:
        """Queries at every visit [B, V, H]. Visits are left-aligned, so the GRU state at the current
        visit has seen exactly the real visits; padded steps after it are never read."""
        diagnosis_states, _ = self.diagnosis_gru(diagnosis_visits)
        procedure_states, _ = self.procedure_gru(procedure_visits)
        return self.query(torch.cat([diagnosis_states, procedure_states], dim=-1))


def ddi_adjacency(knowledge: Any, config: ModelConfig) -> tuple[str, torch.Tensor]:
    """The DDI matrix named by config.options['ddi_matrix'] (default: the literature's twosides-atc3)."""
    name = config.options.get("ddi_matrix", TWOSIDES_ATC3)
    if name not in DDI_MATRIX_NAMES:
        raise ValueError(f"config option ddi_matrix={name!r} is not one of {', '.join(DDI_MATRIX_NAMES)}")
    return name, torch.from_numpy(np.asarray(knowledge.ddi_matrices[name], dtype=np.float32))


def batch_ddi_rate(probabilities: torch.Tensor, adjacency: torch.Tensor, threshold: float = 0.5) -> float:
    """Share of recommended drug pairs (prob >= threshold) that interact, over the whole batch."""
    chosen = (probabilities.detach() >= threshold).float()
    counts = chosen.sum(dim=1)
    pairs = float((counts * (counts - 1) / 2).sum())
    interacting = float(torch.einsum("bi,ij,bj->", chosen, adjacency, chosen)) / 2
    return interacting / pairs if pairs > 0 else 0.0


def ddi_penalty(probabilities: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of sum_ij p_i p_j A_ij (the expected interacting pairs, both orders)."""
    return torch.einsum("bi,ij,bj->b", probabilities, adjacency, probabilities).mean()


def target_ddi_rate(config: ModelConfig, train: "EncodedSamples", adjacency: torch.Tensor) -> float:
    """The DDI rate the controllable loss steers to: config.options['target_ddi'] if given, else the
    training visits' own rate on the same matrix. SafeDrug set it by hand a little below its data's
    rate (0.06 vs 0.08 on MIMIC-III); the rate depends on the matrix and cohort, so a fixed 0.06
    could demand fewer interactions than clinicians prescribe and fight the targets."""
    if "target_ddi" in config.options:
        return float(config.options["target_ddi"])
    return batch_ddi_rate(torch.from_numpy(np.asarray(train.targets, dtype=np.float32)), adjacency)


def controllable_ddi_loss(
    batch: "Batch", logits: torch.Tensor, adjacency: torch.Tensor, config: ModelConfig, target: float
) -> torch.Tensor | None:
    """SafeDrug's DDI-controllable loss, as a term added to the trainer's base loss.

    Paper: loss = beta * L_base + (1 - beta) * w * L_ddi with beta = 1 while the batch's DDI rate
    <= target, else max(0, 1 - (rate - target) / kp). The trainer already adds L_base, so the term
    returned is (1 - beta) * (w * L_ddi - L_base), where L_base is rebuilt here with the trainer's
    weights (bce_weight * BCE + margin_weight * multi-label margin). Options: kp (0.05), ddi_weight
    (0.0005, SafeDrug's scale), ddi_loss (True; False turns the term off); target: see target_ddi_rate.
    """
    options = config.options
    if not options.get("ddi_loss", True):
        return None
    probabilities = torch.sigmoid(logits)
    rate = batch_ddi_rate(probabilities, adjacency)
    kp = float(options.get("kp", 0.05))
    beta = 1.0 if rate <= target else max(0.0, 1.0 - (rate - target) / kp)
    if beta >= 1.0:
        return None
    from ..training import margin_targets  # lazy: the trainer imports the models' base module

    base = config.bce_weight * F.binary_cross_entropy_with_logits(logits, batch.targets)
    if config.margin_weight:
        base = base + config.margin_weight * F.multilabel_margin_loss(probabilities, margin_targets(batch.targets))
    penalty = float(options.get("ddi_weight", 0.0005)) * ddi_penalty(probabilities, adjacency)
    return (1.0 - beta) * (penalty - base)


def row_normalised_with_self_loops(adjacency: torch.Tensor) -> torch.Tensor:
    with_loops = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    return with_loops / with_loops.sum(dim=1, keepdim=True)


# --------------------------------------------------------------------------------------------------


class GraphConvolutionNetwork(nn.Module):
    """Two-layer GCN over learned node embeddings: A relu(A X W1) W2 (the adjacency is a buffer)."""

    def __init__(self, nodes: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.nodes = nn.Parameter(torch.empty(nodes, dim))
        nn.init.xavier_uniform_(self.nodes)
        self.first = nn.Linear(dim, dim)
        self.second = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, normalised_adjacency: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(torch.relu(normalised_adjacency @ self.first(self.nodes)))
        return normalised_adjacency @ self.second(hidden)


class GAMENet(MedRecModel):
    family = "gamenet"
    display_name = "GAMENet"
    paper = Paper(
        "GAMENet: Graph Augmented MEmory Networks for Recommending Medication Combination",
        "Shang et al., AAAI 2019, arXiv:1809.01852",
    )
    drug_modalities = (DDI_GRAPH,)
    requires_knowledge = True
    # The paper updates once per patient; batches make far fewer steps per epoch, so a larger step
    # (on the open demo GAMENet still improved at the last epoch with it; SafeDrug/MoleRec did not need it).
    config_overrides = {"learning_rate": 5e-3}

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        hidden, drugs = config.hidden_dim, vocab_sizes.medication
        self.patient = DualGRUPatientEncoder(vocab_sizes, config.embedding_dim, hidden, config.dropout)
        self.ddi_matrix_name, ddi = ddi_adjacency(knowledge, config)
        self.register_buffer("ddi_adjacency", ddi, persistent=False)
        self.target_ddi = float(config.options.get("target_ddi", 0.06))  # prepare() sets it from the training visits
        self.register_buffer("ddi_graph", row_normalised_with_self_loops(ddi), persistent=False)
        # The EHR graph is fitted data (a training fold's co-prescriptions), so it is saved with the weights.
        self.register_buffer("ehr_graph", row_normalised_with_self_loops(torch.zeros(drugs, drugs)))
        self.ehr_graph_prepared = False
        self.ehr_gcn = GraphConvolutionNetwork(drugs, hidden, config.dropout)
        self.ddi_gcn = GraphConvolutionNetwork(drugs, hidden, config.dropout)
        self.ddi_weight = nn.Parameter(torch.tensor(0.1))  # beta in M = GCN_ehr - beta * GCN_ddi
        self.output = nn.Sequential(nn.ReLU(), nn.Linear(3 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, drugs))
        self.register_absent("diagnoses", config.embedding_dim)
        self.register_absent("procedures", config.embedding_dim)
        self.register_absent("medication-history", hidden)
        self.register_absent("ddi-graph", hidden)

    def prepare(self, train: "EncodedSamples") -> None:
        """Build the EHR co-prescription graph from the training visits' medication targets."""
        targets = torch.from_numpy(np.asarray(train.targets, dtype=np.float32))
        co_prescribed = (targets.T @ targets > 0).float()
        co_prescribed.fill_diagonal_(0.0)
        self.ehr_graph.copy_(row_normalised_with_self_loops(co_prescribed))
        self.ehr_graph_prepared = True
        self.target_ddi = target_ddi_rate(self.config, train, self.ddi_adjacency)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        if self.training and not self.ehr_graph_prepared:
            warnings.warn("GAMENet trains without its EHR graph: call model.prepare(train) first.", stacklevel=2)
            self.ehr_graph_prepared = True  # warn once
        diagnosis_visits, procedure_visits = self.patient.embed(diagnoses, procedures)
        diagnosis_visits = self.apply_modality("diagnoses", diagnosis_visits, modality_mask)
        procedure_visits = self.apply_modality("procedures", procedure_visits, modality_mask)
        queries = self.patient.encode(diagnosis_visits, procedure_visits)  # [B, V, H]
        query = select_visit(queries, visit_mask)  # [B, H]

        batch = query.shape[0]
        interaction_memory = self.ddi_gcn(self.ddi_graph).unsqueeze(0).expand(batch, -1, -1)
        interaction_memory = self.apply_modality("ddi-graph", interaction_memory, modality_mask)
        memory = self.ehr_gcn(self.ehr_graph).unsqueeze(0) - self.ddi_weight * interaction_memory  # [B, D, H]

        bank_read = torch.softmax(torch.einsum("bh,bdh->bd", query, memory), dim=-1)
        bank_output = torch.einsum("bd,bdh->bh", bank_read, memory)

        # Dynamic memory: earlier real visits only (keys = their queries, values = their medications).
        current = current_visit_index(visit_mask).unsqueeze(1)
        positions = torch.arange(visit_mask.shape[1], device=visit_mask.device).unsqueeze(0)
        earlier = visit_mask * (positions < current).float()  # [B, V]
        scores = torch.einsum("bh,bvh->bv", query, queries) + (1.0 - earlier) * NEGATIVE_LARGE
        visit_weights = torch.softmax(scores, dim=-1) * earlier
        history = multi_hot(medications, self.vocab_sizes.medication_rows)[..., INDEX_OFFSET:]  # [B, V, D]
        drug_weights = torch.einsum("bv,bvd->bd", visit_weights, history)
        dynamic_output = torch.einsum("bd,bdh->bh", drug_weights, memory)
        has_history = (earlier.sum(dim=1, keepdim=True) > 0).float()
        dynamic_output = has_history * dynamic_output + (1.0 - has_history) * bank_output
        dynamic_output = self.apply_modality("medication-history", dynamic_output, modality_mask)

        return self.output(torch.cat([query, bank_output, dynamic_output], dim=-1))

    def extra_loss(self, batch: "Batch", logits: torch.Tensor) -> torch.Tensor | None:
        return controllable_ddi_loss(batch, logits, self.ddi_adjacency, self.config, self.target_ddi)
