"""The knowledge-based baselines (GAMENet, SafeDrug, MoleRec) against the MedRecModel contract.

Tiny random patients, a small real ATC3 vocabulary (one class without a known structure): forward and
backward, every modality's mask, the DDI loss term, and ONNX export with onnxruntime parity.
Helpers here are shared by test_gamenet.py, test_safedrug.py and test_molerec.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest
import torch

from medrec_training.export import INPUT_NAMES, PARITY_TOLERANCE, export_onnx
from medrec_training.knowledge import DrugKnowledge, load_drug_knowledge
from medrec_training.models import load_model_class
from medrec_training.models.base import MedRecModel, ModelConfig
from medrec_training.tasks import INDEX_OFFSET, VocabSizes
from medrec_training.tasks import Batch

MODEL_IDS = ("gamenet", "safedrug", "molerec")
# Real classes with molecules and DDI pairs between them, plus one class without a known structure.
VOCAB = ("A02B", "B01A", "N02B", "C07A", "N05B", "J01C", "B05X")
WITHOUT_STRUCTURE = "B05X"
SIZES = VocabSizes(diagnosis=12, procedure=6, medication=len(VOCAB))
CONFIG = ModelConfig(embedding_dim=16, hidden_dim=16, dropout=0.0)
BATCH, VISITS = 4, 3


@cache
def tiny_knowledge() -> DrugKnowledge:
    return load_drug_knowledge(None, VOCAB)


def random_inputs(seed: int = 0, batch: int = BATCH, modalities: int = 4) -> tuple[torch.Tensor, ...]:
    """Padded code tensors with 0 = pad, 1 = unknown, i + 2 = entry i; visits left-aligned, the
    current visit's medications padding."""
    generator = torch.Generator().manual_seed(seed)
    diagnoses = torch.randint(0, SIZES.diagnosis_rows, (batch, VISITS, 5), generator=generator)
    procedures = torch.randint(0, SIZES.procedure_rows, (batch, VISITS, 3), generator=generator)
    medications = torch.randint(INDEX_OFFSET, SIZES.medication_rows, (batch, VISITS, 4), generator=generator)
    visit_counts = torch.arange(batch) % VISITS + 1  # 1, 2, 3, 1, ...
    visit_mask = (torch.arange(VISITS).unsqueeze(0) < visit_counts.unsqueeze(1)).float()
    current = visit_counts - 1
    for row in range(batch):
        diagnoses[row, visit_counts[row] :] = 0
        procedures[row, visit_counts[row] :] = 0
        medications[row, current[row] :] = 0
    return diagnoses, procedures, medications, visit_mask, torch.ones(batch, modalities)


def training_targets(seed: int = 0, samples: int = 20) -> np.ndarray:
    """Multi-hot medication targets of a few made-up training visits."""
    return (np.random.default_rng(seed).random((samples, len(VOCAB))) < 0.3).astype(np.float32)


def build(model_id: str, seed: int = 0, **options) -> MedRecModel:
    torch.manual_seed(seed)
    model = load_model_class(model_id)(SIZES, tiny_knowledge(), CONFIG.with_overrides(**options))
    if hasattr(model, "prepare"):  # GAMENet's EHR graph comes from the training visits
        model.prepare(SimpleNamespace(targets=training_targets()))
    return model


def inputs_for(model: MedRecModel, seed: int = 0, batch: int = BATCH) -> tuple[torch.Tensor, ...]:
    return random_inputs(seed, batch, len(model.modalities()))


def with_trailing_padding(inputs: tuple[torch.Tensor, ...], visits: int = 2, codes: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """The same patients with `visits` more empty visit slots and `codes` more empty code slots of each kind
    (what the inference graphs trim away), and a random 0/1 modality mask per sample."""
    diagnoses, procedures, medications, visit_mask, modality_mask = inputs

    def pad(codes_tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(codes_tensor, (0, codes, 0, visits))

    generator = torch.Generator().manual_seed(seed)
    random_mask = (torch.rand(modality_mask.shape, generator=generator) < 0.7).float()
    random_mask[0] = 1.0
    return pad(diagnoses), pad(procedures), pad(medications), torch.nn.functional.pad(visit_mask, (0, visits)), random_mask


def assert_inference_equals_training_formulation(model: MedRecModel, inputs: tuple[torch.Tensor, ...]) -> None:
    """The inference path (eval mode: trimmed padding, rewritten products) gives the logits of the training
    formulation (train mode; dropout must be 0) to 1e-5, on the inputs as given and with extra padding."""
    for batch in (inputs, with_trailing_padding(inputs)):
        with torch.no_grad():
            reference = model.train().compute_logits(*batch)
            fast = model.eval().compute_logits(*batch)
        assert fast.shape == reference.shape
        torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)


def randomise_absent(model: MedRecModel) -> None:
    """Give the learned 'absent' vectors non-zero values, as training would."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.absent.values():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))


# --- the contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_forward_gives_probabilities_and_backward_reaches_the_encoders(model_id: str):
    model = build(model_id)
    model.train()
    inputs = inputs_for(model)
    logits = model.compute_logits(*inputs)
    assert logits.shape == (BATCH, len(VOCAB)) and torch.isfinite(logits).all()
    target = torch.zeros_like(logits)
    target[:, 0] = 1.0
    torch.nn.functional.binary_cross_entropy_with_logits(logits, target).backward()
    unreached = [name for name, p in model.named_parameters() if p.grad is None and not name.startswith("absent.")]
    assert not unreached, f"parameters without gradient: {unreached}"
    model.eval()
    with torch.no_grad():
        probabilities = model(*inputs)
    assert ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_masking_each_used_modality_changes_the_output(model_id: str):
    model = build(model_id).eval()
    randomise_absent(model)
    inputs = inputs_for(model)
    with torch.no_grad():
        full = model(*inputs)
        for column, modality in enumerate(model.modalities()):
            mask = inputs[-1].clone()
            mask[:, column] = 0.0
            masked = model(*inputs[:-1], mask)
            used = modality.id in model.absent
            changed = (masked - full).abs().max().item() > 1e-6
            assert changed == used, f"{model_id}: masking {modality.id} changed={changed}, uses it={used}"
            # Masking one sample leaves the others alone.
            mask = inputs[-1].clone()
            mask[0, column] = 0.0
            assert torch.allclose(model(*inputs[:-1], mask)[1:], full[1:], atol=1e-6)


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_ddi_loss_term_appears_only_above_the_target_rate(model_id: str):
    model = build(model_id, target_ddi=0.0, kp=0.05)
    assert model.target_ddi == 0.0  # an explicit target wins over the training visits' rate
    adjacency = model.ddi_adjacency
    assert model.ddi_matrix_name == "twosides-atc3" and adjacency.sum() > 0
    inputs = inputs_for(model)
    targets = torch.zeros(BATCH, len(VOCAB))
    batch = Batch(*inputs, targets=targets)
    everything = torch.full((BATCH, len(VOCAB)), 5.0, requires_grad=True)  # every drug, so interacting pairs
    term = model.extra_loss(batch, everything)
    assert term is not None and term.requires_grad
    nothing = torch.full((BATCH, len(VOCAB)), -5.0)
    assert model.extra_loss(batch, nothing) is None
    assert build(model_id, ddi_loss=False).extra_loss(batch, everything) is None


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_onnx_export_matches_pytorch(model_id: str, tmp_path: Path):
    model = build(model_id).eval()
    randomise_absent(model)
    inputs = inputs_for(model)
    mask = inputs[-1].clone()
    mask[2, -1] = 0.0  # a masked drug-side modality in the traced batch
    mask[3, 0] = 0.0
    inputs = (*inputs[:-1], mask)
    path = tmp_path / f"{model_id}.onnx"
    export_onnx(model, inputs, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    other = (*inputs_for(model, seed=3, batch=6)[:-1], torch.ones(6, len(model.modalities())))
    for feed in (inputs, other):  # the traced batch and a different batch size
        with torch.no_grad():
            expected = model(*feed).numpy()
        actual = session.run(None, {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, feed)})[0]
        np.testing.assert_allclose(actual, expected, atol=PARITY_TOLERANCE, rtol=0)


def test_knowledge_must_match_the_vocabulary():
    with pytest.raises(ValueError, match="needs the drug knowledge"):
        load_model_class("safedrug")(SIZES, None, CONFIG)
    wrong = VocabSizes(SIZES.diagnosis, SIZES.procedure, len(VOCAB) + 1)
    for model_id in MODEL_IDS:
        with pytest.raises(ValueError, match="knowledge has 7 drugs, the vocabulary 8"):
            load_model_class(model_id)(wrong, tiny_knowledge(), CONFIG)


def test_unknown_ddi_matrix_name_is_refused():
    with pytest.raises(ValueError, match="ddi_matrix='twosides'"):
        build("gamenet", ddi_matrix="twosides")
