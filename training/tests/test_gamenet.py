"""GAMENet specifics: the EHR graph from training visits, the dynamic memory over earlier visits, the DDI loss mix."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from test_knowledge_models import VOCAB, build, inputs_for

from medrec_training.models.base import ModelConfig
from medrec_training.models.gamenet import controllable_ddi_loss, ddi_penalty, target_ddi_rate
from medrec_training.tasks import Batch


def test_prepare_builds_the_row_normalised_co_prescription_graph():
    model = build("gamenet")
    targets = torch.zeros(3, len(VOCAB))
    targets[0, [0, 1]] = 1.0  # drugs 0 and 1 prescribed together
    targets[1, [1, 2]] = 1.0
    targets[2, 4] = 1.0  # alone: only its self-loop
    model.prepare(SimpleNamespace(targets=targets.numpy()))
    graph = model.ehr_graph
    torch.testing.assert_close(graph.sum(dim=1), torch.ones(len(VOCAB)))
    assert graph[1, 0] == graph[1, 1] == graph[1, 2] == 1 / 3
    assert graph[0, 2] == 0 and graph[4, 4] == 1
    assert "ehr_graph" in model.state_dict()  # fitted data travels with the weights


def test_dynamic_memory_reads_earlier_visits_only():
    model = build("gamenet").eval()
    diagnoses, procedures, medications, visit_mask, modality_mask = inputs_for(model)
    with torch.no_grad():
        before = model(diagnoses, procedures, medications, visit_mask, modality_mask)
        changed = medications.clone()
        changed[:, 0] = torch.tensor([2, 3, 4, 5])  # first visit's medications: history for rows with 2+ visits
        after = model(diagnoses, procedures, changed, visit_mask, modality_mask)
    has_history = visit_mask.sum(dim=1) > 1
    assert (after - before).abs()[has_history].max() > 1e-6
    torch.testing.assert_close(after[~has_history], before[~has_history])  # a first visit has no history


def test_controllable_loss_becomes_the_ddi_penalty_far_above_target():
    adjacency = torch.zeros(len(VOCAB), len(VOCAB))
    adjacency[0, 1] = adjacency[1, 0] = 1.0
    logits = torch.full((2, len(VOCAB)), 4.0, requires_grad=True)
    targets = torch.zeros(2, len(VOCAB))
    targets[:, 0] = 1.0
    batch = Batch(*[None] * 5, targets=targets)
    config = ModelConfig(options={"kp": 1e-6, "ddi_weight": 0.5})
    term = controllable_ddi_loss(batch, logits, adjacency, config, target=0.0)  # beta = 0
    base = config.bce_weight * torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    margin = torch.nn.functional.multilabel_margin_loss(
        torch.sigmoid(logits), torch.tensor([[0] + [-1] * (len(VOCAB) - 1)] * 2)
    )
    total = base + config.margin_weight * margin + term
    torch.testing.assert_close(total, 0.5 * ddi_penalty(torch.sigmoid(logits), adjacency))


def test_target_rate_defaults_to_the_training_visits_own_rate():
    adjacency = torch.zeros(len(VOCAB), len(VOCAB))
    adjacency[0, 1] = adjacency[1, 0] = 1.0
    targets = torch.zeros(2, len(VOCAB))
    targets[0, [0, 1, 2]] = 1.0  # 3 pairs, one interacts
    targets[1, [2, 3]] = 1.0  # 1 pair, none interacts
    train = SimpleNamespace(targets=targets.numpy())
    assert target_ddi_rate(ModelConfig(), train, adjacency) == 0.25
    assert target_ddi_rate(ModelConfig(options={"target_ddi": 0.06}), train, adjacency) == 0.06
    model = build("safedrug")
    model.prepare(train)
    assert model.target_ddi == target_ddi_rate(ModelConfig(), train, model.ddi_adjacency)
