"""SafeDrug specifics: the local encoder is confined to each drug's own BRICS fragments; classes without structure."""

from __future__ import annotations

import torch
from test_knowledge_models import VOCAB, WITHOUT_STRUCTURE, build, inputs_for, tiny_knowledge


def test_a_drug_is_scored_only_from_its_own_fragments():
    model = build("safedrug").eval()
    inputs = inputs_for(model)
    mask = model.fragment_mask
    drug = 0
    foreign = int(torch.nonzero(mask[drug] == 0)[0])
    own = int(torch.nonzero(mask[drug] == 1)[0])
    with torch.no_grad():
        before = model(*inputs)
        model.fragment_to_drug[drug, foreign] += 5.0
        assert torch.equal(model(*inputs), before)
        model.fragment_to_drug[drug, own] += 5.0
        assert (model(*inputs)[:, drug] - before[:, drug]).abs().max() > 1e-6


def test_a_class_without_structure_gets_the_learned_fallback():
    knowledge = tiny_knowledge()
    row = VOCAB.index(WITHOUT_STRUCTURE)
    assert not knowledge.has_structure[row] and knowledge.has_structure.sum() == len(VOCAB) - 1
    model = build("safedrug")
    with torch.no_grad():
        structures = model.structure()
    torch.testing.assert_close(structures[row], model.structure.fallback[row])  # its own learned vector
    assert not torch.allclose(structures[0], model.structure.fallback[0])
    assert model.fragment_mask[row].sum() == 0
