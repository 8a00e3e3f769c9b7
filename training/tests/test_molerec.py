"""MoleRec specifics: per-drug fragment lists, patient relevance of fragments, drugs without fragments."""

from __future__ import annotations

import numpy as np
import torch
from test_knowledge_models import VOCAB, WITHOUT_STRUCTURE, build, inputs_for, tiny_knowledge

from medrec_training.models.molerec import padded_fragment_lists


def test_padded_fragment_lists_follow_the_mask():
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32)
    indices, valid = padded_fragment_lists(mask)
    assert indices.shape == valid.shape == (3, 3)
    assert indices[0].tolist() == [0, 2, 3] and valid[0].tolist() == [1, 1, 1]
    assert valid[1].sum() == 0 and indices[2, 0] == 1 and valid[2].tolist() == [1, 0, 0]
    knowledge_indices, knowledge_valid = padded_fragment_lists(tiny_knowledge().drug_fragment_mask)
    assert knowledge_valid.sum() == tiny_knowledge().drug_fragment_mask.sum()


def test_fragment_relevance_reaches_only_the_drugs_that_have_the_fragment():
    model = build("molerec").eval()
    inputs = inputs_for(model)
    mask = torch.from_numpy(tiny_knowledge().drug_fragment_mask)
    fragment = int(torch.nonzero(mask[0])[0])
    holders = mask[:, fragment] > 0
    with torch.no_grad():
        before = model(*inputs)
        model.fragment_relevance.bias[fragment] += 3.0
        after = model(*inputs)
    assert (after - before).abs()[:, holders].max() > 1e-6
    torch.testing.assert_close(after[:, ~holders], before[:, ~holders])


def test_a_drug_without_fragments_reads_the_fallback_vector():
    model = build("molerec").eval()
    row = VOCAB.index(WITHOUT_STRUCTURE)
    assert model.has_fragments[row] == 0 and model.has_fragments.sum() == len(VOCAB) - 1
    inputs = inputs_for(model)
    with torch.no_grad():
        before = model(*inputs)
        model.no_fragment_fallback += 1.0
        after = model(*inputs)
    assert (after[:, row] - before[:, row]).abs().min() > 0  # its score moves with the fallback
    torch.testing.assert_close(after[:, :row], before[:, :row])  # the others do not
