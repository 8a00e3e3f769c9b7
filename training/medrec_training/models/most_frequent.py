"""Most-frequent-drugs baseline: every patient gets each drug's share of training visits as its probability.

With the decision threshold this recommends the classes prescribed in at least that share of visits,
whatever the patient's record says (a floor any learned model must beat).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .base import MedRecModel, ModelConfig, Paper
from ..tasks import VocabSizes

if TYPE_CHECKING:
    from ..tasks import EncodedSamples


class MostFrequentModel(MedRecModel):
    family = "most-frequent"
    display_name = "Most frequent drugs"
    paper = Paper("Baseline: drug frequency in the training visits")
    gradient_trained = False

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        self.register_buffer("frequency", torch.full((vocab_sizes.medication,), 0.5))

    def fit_directly(self, train: "EncodedSamples") -> None:
        if len(train) == 0:
            raise ValueError("Most-frequent baseline: no training visit has a medication target.")
        self.frequency = torch.from_numpy(train.targets.mean(axis=0)).float()

    def forward(self, diagnoses, procedures, medications, visit_mask, modality_mask):  # type: ignore[override]
        # One row per sample: the batch size comes from the inputs so the exported graph keeps it dynamic.
        return torch.ones_like(visit_mask[:, :1]) * self.frequency

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        return torch.logit(self.forward(diagnoses, procedures, medications, visit_mask, modality_mask), eps=1e-6)
