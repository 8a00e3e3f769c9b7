"""The model contract (base class), the baselines, the registry and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrec_training.metrics import mean_jaccard
from medrec_training.models import MODEL_REGISTRY, available_models, load_model_class
from medrec_training.models.base import ModelConfig, select_visit
from medrec_training.models.logistic import LogisticRegressionModel
from medrec_training.models.most_frequent import MostFrequentModel
from medrec_training.models.retain import RetainModel
from medrec_training.training import margin_targets, modality_dropout_mask, predict, train_model

BASELINES = [MostFrequentModel, LogisticRegressionModel, RetainModel]


def first_batch(prepared, model_class, size: int = 6):
    return next(prepared.samples.subset(np.arange(size)).batches(size, len(model_class.modalities())))


@pytest.mark.parametrize("model_class", BASELINES, ids=lambda c: c.family)
def test_forward_returns_one_probability_per_drug(prepared, model_class):
    model = model_class(prepared.vocabularies.sizes(), None, ModelConfig()).eval()
    batch = first_batch(prepared, model_class)
    probabilities = model(*batch.inputs())
    assert probabilities.shape == (6, len(prepared.vocabularies.medication))
    assert probabilities.dtype == torch.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert [m.id for m in model.modalities()] == ["diagnoses", "procedures", "medication-history"]


@pytest.mark.parametrize("model_class", [LogisticRegressionModel, RetainModel], ids=lambda c: c.family)
def test_a_masked_modality_is_replaced_by_the_learned_absent_value(prepared, model_class):
    torch.manual_seed(0)
    model = model_class(prepared.vocabularies.sizes(), None, ModelConfig()).eval()
    with torch.no_grad():
        for parameter in model.absent.values():
            parameter.normal_()
    batch = first_batch(prepared, model_class)
    column = model.modality_index("diagnoses")
    masked = batch.modality_mask.clone()
    masked[:, column] = 0
    other_diagnoses = torch.where(batch.diagnoses > 0, torch.full_like(batch.diagnoses, 2), batch.diagnoses)
    with torch.no_grad():
        full = model(*batch.inputs())
        without = model(batch.diagnoses, batch.procedures, batch.medications, batch.visit_mask, masked)
        without_other = model(other_diagnoses, batch.procedures, batch.medications, batch.visit_mask, masked)
    assert not torch.allclose(full, without)  # masking changes the answer ...
    torch.testing.assert_close(without, without_other)  # ... and the masked input no longer matters


def test_select_visit_takes_the_last_real_visit():
    per_visit = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert select_visit(per_visit, mask).tolist() == [[2.0, 3.0], [6.0, 7.0]]


def test_margin_targets_list_positives_then_minus_one():
    targets = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert margin_targets(targets).tolist() == [[1, 3, -1, -1], [0, -1, -1, -1]]


def test_modality_dropout_masks_about_the_requested_share():
    generator = torch.Generator().manual_seed(1)
    mask = modality_dropout_mask(4000, 3, 0.2, generator)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert 1 - mask.mean().item() == pytest.approx(0.2, abs=0.02)
    assert modality_dropout_mask(5, 3, 0.0, generator).eq(1).all()


def test_learned_baselines_beat_the_frequency_floor_on_a_learnable_signal(prepared):
    """Drugs follow diagnoses in the synthetic data: models that read diagnoses must do better than frequency."""
    samples = prepared.samples
    patients = np.unique(samples.patient_ids)
    held_out = np.isin(samples.patient_ids, patients[::4])
    train, test = samples.subset(np.nonzero(~held_out)[0]), samples.subset(np.nonzero(held_out)[0])
    sizes = prepared.vocabularies.sizes()
    scores = {}
    for model_class in BASELINES:
        fit = train_model(model_class, sizes, None, ModelConfig(batch_size=16, max_epochs=30, patience=30), train, test)
        scores[model_class.family] = mean_jaccard(test.targets, predict(fit.model, test), test.patient_ids, fit.threshold)
    assert scores["logistic"] > scores["most-frequent"] + 0.1, scores
    assert scores["retain"] > scores["most-frequent"] + 0.05, scores


def test_training_learns_absent_vectors_and_keeps_the_best_epoch(prepared):
    fit = train_model(
        LogisticRegressionModel, prepared.vocabularies.sizes(), None, ModelConfig(max_epochs=6, patience=6), prepared.samples, prepared.samples
    )
    assert all(parameter.abs().sum() > 0 for parameter in fit.model.absent.values())
    assert 1 <= fit.best_epoch <= fit.epochs_run == 6
    jaccards = [record["validation_jaccard"] for record in fit.history]
    assert fit.validation_jaccard == pytest.approx(max(jaccards))
    assert 0.05 <= fit.threshold <= 0.95


def test_training_on_nothing_is_refused(prepared):
    empty = prepared.samples.subset(np.arange(0))
    with pytest.raises(ValueError, match="No training visit has a medication target"):
        train_model(RetainModel, prepared.vocabularies.sizes(), None, ModelConfig(), empty)


def test_registry_loads_models_by_id():
    assert load_model_class("retain") is RetainModel
    assert {"most-frequent", "logistic", "retain"} <= set(available_models())
    with pytest.raises(KeyError, match="Unknown model 'nope'; registered: most-frequent"):
        load_model_class("nope")
    for model_id, model_class in available_models().items():
        assert model_id in MODEL_REGISTRY
        assert model_class.family  # every registered model names its manifest family
