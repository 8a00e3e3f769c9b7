"""RETAIN: reverse-time attention over visits (Choi et al., NeurIPS 2016), for medication recommendation.

Each visit is embedded as the sum of its code embeddings (diagnoses + procedures + that visit's
medications; the current visit's medications are unknown, so padding). Two GRUs read the visits from
the most recent to the oldest: one gives a scalar attention alpha_t per visit (softmax over the real
visits), the other a per-dimension gate beta_t = tanh(W h_t). The context c = sum_t alpha_t (beta_t * v_t)
goes through a linear layer to one logit per drug. Written from the paper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import MedRecModel, ModelConfig, Paper, sum_code_embeddings
from ..tasks import VocabSizes

NEGATIVE_LARGE = -1e9  # attention score of padded visits (finite so the exported graph has no inf arithmetic)


class ReverseGRU(nn.Module):
    """A GRU run from the last visit to the first, skipping padded visits (written out so it exports to ONNX as plain ops)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gates = nn.Linear(input_size, 3 * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sequence [B, V, I], mask [B, V] -> hidden state at each visit [B, V, H]."""
        batch, visits, _ = sequence.shape
        hidden = sequence.new_zeros(batch, self.hidden_size)
        projected = self.input_gates(sequence)
        outputs: list[torch.Tensor] = [hidden] * visits
        for t in range(visits - 1, -1, -1):
            x_reset, x_update, x_new = projected[:, t].chunk(3, dim=-1)
            h_reset, h_update, h_new = self.hidden_gates(hidden).chunk(3, dim=-1)
            reset = torch.sigmoid(x_reset + h_reset)
            update = torch.sigmoid(x_update + h_update)
            candidate = torch.tanh(x_new + reset * h_new)
            stepped = (1 - update) * candidate + update * hidden
            keep = mask[:, t : t + 1]
            hidden = keep * stepped + (1 - keep) * hidden
            outputs[t] = hidden
        return torch.stack(outputs, dim=1)


class RetainModel(MedRecModel):
    family = "retain"
    display_name = "RETAIN"
    paper = Paper(
        "RETAIN: An Interpretable Predictive Model for Healthcare using Reverse Time Attention Mechanism",
        "Choi et al., NeurIPS 2016, arXiv:1608.05745",
    )

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        dim = config.embedding_dim
        self.diagnosis_embedding = nn.Embedding(vocab_sizes.diagnosis_rows, dim, padding_idx=0)
        self.procedure_embedding = nn.Embedding(vocab_sizes.procedure_rows, dim, padding_idx=0)
        self.medication_embedding = nn.Embedding(vocab_sizes.medication_rows, dim, padding_idx=0)
        for modality in self.modalities():
            self.register_absent(modality.id, dim)
        self.input_dropout = nn.Dropout(config.dropout)
        self.alpha_rnn = ReverseGRU(dim, config.hidden_dim)
        self.beta_rnn = ReverseGRU(dim, config.hidden_dim)
        self.alpha_score = nn.Linear(config.hidden_dim, 1)
        self.beta_gate = nn.Linear(config.hidden_dim, dim)
        self.output = nn.Linear(dim, vocab_sizes.medication)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        visits = (
            self.apply_modality("diagnoses", sum_code_embeddings(self.diagnosis_embedding, diagnoses), modality_mask)
            + self.apply_modality("procedures", sum_code_embeddings(self.procedure_embedding, procedures), modality_mask)
            + self.apply_modality(
                "medication-history", sum_code_embeddings(self.medication_embedding, medications), modality_mask
            )
        )
        visits = self.input_dropout(visits)
        scores = self.alpha_score(self.alpha_rnn(visits, visit_mask)).squeeze(-1)
        alpha = torch.softmax(scores.masked_fill(visit_mask <= 0, NEGATIVE_LARGE), dim=1)
        beta = torch.tanh(self.beta_gate(self.beta_rnn(visits, visit_mask)))
        context = (alpha.unsqueeze(-1) * beta * visits).sum(dim=1)
        return self.output(context)
