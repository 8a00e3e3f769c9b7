"""Per-drug logistic regression on bag-of-codes features.

Features: the current visit's diagnoses and procedures and every medication of the earlier visits
(multi-hot). One independent logistic regression per drug (a linear layer, BCE with L2 penalty). Each
modality contributes its own linear term; a masked modality's term is replaced by a learned vector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import MedRecModel, ModelConfig, Paper, multi_hot, select_visit
from ..tasks import VocabSizes


class LogisticRegressionModel(MedRecModel):
    family = "logistic"
    display_name = "Logistic regression"
    paper = Paper("Baseline: one L2-regularised logistic regression per drug on multi-hot codes")
    # Plain logistic regression: log loss only, and a stronger L2 penalty in place of dropout.
    config_overrides = {"bce_weight": 1.0, "margin_weight": 0.0, "weight_decay": 1e-4, "learning_rate": 5e-3}

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        drugs = vocab_sizes.medication
        self.diagnosis_weights = nn.Linear(vocab_sizes.diagnosis_rows, drugs, bias=False)
        self.procedure_weights = nn.Linear(vocab_sizes.procedure_rows, drugs, bias=False)
        self.history_weights = nn.Linear(vocab_sizes.medication_rows, drugs, bias=False)
        self.bias = nn.Parameter(torch.zeros(drugs))
        for modality in self.modalities():
            self.register_absent(modality.id, drugs)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        current_diagnoses = select_visit(multi_hot(diagnoses, self.vocab_sizes.diagnosis_rows), visit_mask)
        current_procedures = select_visit(multi_hot(procedures, self.vocab_sizes.procedure_rows), visit_mask)
        # The current visit's medication row is padding, so the max over visits is the history's union.
        history = multi_hot(medications, self.vocab_sizes.medication_rows).amax(dim=1)
        return (
            self.bias
            + self.apply_modality("diagnoses", self.diagnosis_weights(current_diagnoses), modality_mask)
            + self.apply_modality("procedures", self.procedure_weights(current_procedures), modality_mask)
            + self.apply_modality("medication-history", self.history_weights(history), modality_mask)
        )
