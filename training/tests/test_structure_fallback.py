"""Structure-based models and classes without a molecule: a learned per-class representation, and an output that
varies across patients for EVERY class (SafeDrug used to give a class without SMILES probability 0.5 for everyone)."""

from __future__ import annotations

import pytest
import torch
import test_mkmed
import test_nla_mmr
from test_knowledge_models import VOCAB, WITHOUT_STRUCTURE, build, random_inputs

BUILDERS = {
    "safedrug": lambda: build("safedrug"),
    "molerec": lambda: build("molerec"),
    "mkmed": lambda: test_mkmed.build("mkmed"),
    "nla-mmr": lambda: test_nla_mmr.build("nla-mmr"),
    "nla-mmr-structure-only": lambda: test_nla_mmr.build("nla-mmr-structure-only"),
}


def patients(model, count: int = 16) -> tuple[torch.Tensor, ...]:
    return random_inputs(seed=3, batch=count, modalities=len(model.modalities()))


@pytest.mark.parametrize("model_id", list(BUILDERS))
def test_every_class_scores_differently_for_different_patients(model_id: str):
    model = BUILDERS[model_id]().eval()
    with torch.no_grad():
        probabilities = model(*patients(model))
    spread = probabilities.max(dim=0).values - probabilities.min(dim=0).values
    flat = [VOCAB[i] for i in torch.nonzero(spread < 1e-6).flatten().tolist()]
    assert not flat, f"{model_id}: classes {flat} get the same probability for every patient"


@pytest.mark.parametrize("model_id", list(BUILDERS))
def test_a_class_without_a_molecule_learns_its_own_representation(model_id: str):
    """Training moves the class without a molecule away from the others: its gradient reaches a parameter of its own."""
    model = BUILDERS[model_id]().train()
    row = VOCAB.index(WITHOUT_STRUCTURE)
    inputs = patients(model)
    model.compute_logits(*inputs)[:, row].sum().backward()
    own = [
        name
        for name, parameter in model.named_parameters()
        if parameter.grad is not None and parameter.dim() >= 1 and parameter.shape[0] == len(VOCAB) and parameter.grad[row].abs().sum() > 0
        and parameter.grad[[i for i in range(len(VOCAB)) if i != row]].abs().sum() == 0
    ]
    assert own, f"{model_id}: no parameter row belongs to the class without a molecule alone"
