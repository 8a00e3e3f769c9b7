"""MKMed on the MedRecModel contract: inputs and masks, the frozen pre-trained drug side, the
hierarchical substructure attention, the DDI term, ablation variants, and ONNX export (1e-4 parity)
through export_model_folder with a manifest valid against models/manifest.schema.json.

The pre-training runs for real on the open data's corpus with few epochs (cached after the first run).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest
import torch
from medrec_training.export import INPUT_NAMES, PARITY_TOLERANCE, ExportRequest, export_model_folder, export_onnx, run_parity
from medrec_training.models import load_model_class
from medrec_training.models.base import ModelConfig
from medrec_training.tasks import INDEX_OFFSET
from medrec_training.models.mkmed import ABLATION_ORDER, MKMed
from medrec_training.pretrain import KNOWLEDGE_GRAPH, KNOWLEDGE_MODALITIES, PROPERTIES, STRUCTURE_3D, TEXT, load_or_pretrain
from medrec_training.tasks import Batch
from test_knowledge_models import (
    BATCH,
    SIZES,
    VOCAB,
    WITHOUT_STRUCTURE,
    assert_inference_equals_training_formulation,
    random_inputs,
    tiny_knowledge,
    training_targets,
)

FAST = {"pretrain_epochs": 2, "transe_epochs": 2, "finetune_epochs": 1}
CONFIG = ModelConfig(embedding_dim=16, hidden_dim=16, dropout=0.0).with_overrides(**FAST)
ABLATION_IDS = (
    "mkmed-1-modality",
    "mkmed-2-modalities",
    "mkmed-3-modalities",
    "mkmed-4-modalities",
    "mkmed-intersection",
    "mkmed-no-substructures",
)


def build(model_id: str = "mkmed", seed: int = 0, targets: np.ndarray | None = None, **options) -> MKMed:
    torch.manual_seed(seed)
    model = load_model_class(model_id)(SIZES, tiny_knowledge(), CONFIG.with_overrides(**options))
    model.prepare(SimpleNamespace(targets=training_targets() if targets is None else targets))
    return model


@cache
def trained_like(model_id: str = "mkmed") -> MKMed:
    """A built model whose learned 'absent' vectors are non-zero, as after training."""
    model = build(model_id).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.absent.values():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def first_visits_only(model: MKMed, seed: int = 0, batch: int = BATCH) -> tuple[torch.Tensor, ...]:
    """Single-visit patients: no medication history, so a drug's score depends on its own vector only."""
    diagnoses, procedures, medications, visit_mask, mask = random_inputs(seed, batch, len(model.modalities()))
    diagnoses[:, 1:] = 0
    procedures[:, 1:] = 0
    medications[:] = 0
    visit_mask[:, 1:] = 0
    visit_mask[:, 0] = 1
    return diagnoses, procedures, medications, visit_mask, mask


def test_modalities_are_the_patient_side_then_the_five_knowledge_modalities():
    ids = [m.id for m in MKMed.modalities()]
    assert ids == ["diagnoses", "procedures", "medication-history", *KNOWLEDGE_MODALITIES]
    assert [m.side for m in MKMed.modalities()] == ["patient"] * 3 + ["drug"] * 5


def test_forward_gives_probabilities_and_backward_reaches_every_trainable_part():
    model = build()
    model.train()
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    logits = model.compute_logits(*inputs)
    assert logits.shape == (BATCH, len(VOCAB)) and torch.isfinite(logits).all()
    target = torch.zeros_like(logits)
    target[:, 0] = 1.0
    torch.nn.functional.binary_cross_entropy_with_logits(logits, target).backward()
    unreached = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unreached, f"parameters without gradient: {unreached}"
    # The pre-trained encoder is frozen: its vectors are buffers, not parameters.
    assert {"molecule_vectors", "fragment_vectors", "views"} <= dict(model.named_buffers()).keys()
    assert not any("gin" in name for name, _ in model.named_parameters())


def test_masking_each_modality_changes_the_output_of_that_sample_only():
    model = trained_like()
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    with torch.no_grad():
        full = model(*inputs)
        for column, modality in enumerate(model.modalities()):
            mask = inputs[-1].clone()
            mask[0, column] = 0.0
            masked = model(*inputs[:-1], mask)
            assert (masked[0] - full[0]).abs().max() > 1e-6, f"masking {modality.id} changed nothing"
            torch.testing.assert_close(masked[1:], full[1:])


def test_drug_vectors_equal_structure_plus_each_view_or_its_absent_vector():
    model = trained_like()
    mask = torch.ones(2, len(model.modalities()))
    mask[1, model.modality_index(PROPERTIES)] = 0.0
    with torch.no_grad():
        drugs = model.drug_vectors(mask)
        structure = model.structure_vectors()
        expected = structure.clone().unsqueeze(0).repeat(2, 1, 1)
        for position, modality in enumerate(model.knowledge_modalities):
            for sample in range(2):
                on = mask[sample, model.modality_index(modality)] * model.view_available[position]  # [D]
                contribution = model.view_maps[position](model.views[position])
                expected[sample] += on.unsqueeze(1) * contribution + (1 - on).unsqueeze(1) * model.absent[modality]
    torch.testing.assert_close(drugs, expected)


@pytest.mark.parametrize("model_id", ("mkmed", "mkmed-no-substructures"))
def test_inference_graph_equals_the_per_sample_drug_vectors_formulation(model_id: str):
    """Inference never builds the [B, D, H] drug vectors; training does. Same logits, masks included, and
    with non-zero padding rows (inference subtracts what they add rather than masking every slot)."""
    model = build(model_id)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for parameter in [*model.absent.values(), model.diagnosis_embedding.weight[0], model.procedure_embedding.weight[0]]:
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    inputs = random_inputs(3, 8, len(model.modalities()))
    assert_inference_equals_training_formulation(model, inputs)


def test_a_drug_without_molecules_keeps_its_class_level_views_only():
    model = trained_like()
    row = VOCAB.index(WITHOUT_STRUCTURE)
    assert model.has_structure[row] == 0
    available = {m: bool(model.view_available[i, row]) for i, m in enumerate(model.knowledge_modalities)}
    # Text and knowledge graph describe the ATC3 class itself; properties, image and 3D need a molecule.
    assert available == {TEXT: True, PROPERTIES: False, KNOWLEDGE_GRAPH: True, "image": False, STRUCTURE_3D: False}
    inputs = first_visits_only(model)
    with torch.no_grad():
        full = model(*inputs)
        for modality, has_it in available.items():
            mask = inputs[-1].clone()
            mask[:, model.modality_index(modality)] = 0.0
            changed = (model(*inputs[:-1], mask)[:, row] - full[:, row]).abs().max().item() > 1e-6
            assert changed == has_it, f"{modality}: changed={changed}"


def test_a_vocabulary_without_any_molecule_still_works(tmp_path: Path):
    from medrec_training.knowledge import load_drug_knowledge
    from medrec_training.tasks import VocabSizes

    knowledge = load_drug_knowledge(None, ("B05X", "A07C"))
    assert knowledge.molecules.num_graphs == 0
    model = MKMed(VocabSizes(12, 6, 2), knowledge, CONFIG)
    model.prepare(SimpleNamespace(targets=np.ones((6, 2), dtype=np.float32)))
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    inputs = (inputs[0], inputs[1], inputs[2].clamp(max=3), inputs[3], inputs[4])  # medication indices of 2 drugs
    model.eval()
    with torch.no_grad():
        probabilities = model(*inputs)
    assert probabilities.shape == (BATCH, 2) and torch.isfinite(probabilities).all()
    export_onnx(model, inputs, tmp_path / "no-molecules.onnx")


def test_each_molecule_attends_over_its_own_fragments_only():
    model = trained_like()
    knowledge = tiny_knowledge()
    fragment = int(np.flatnonzero(knowledge.drug_fragment_mask[0])[0])
    holders = torch.from_numpy(knowledge.drug_fragment_mask[:, fragment] > 0)
    inputs = first_visits_only(model)
    with torch.no_grad():
        before = model(*inputs)
        saved = model.fragment_vectors[fragment].clone()
        # The set-attention block lets every fragment see every other, so a change anywhere reaches all
        # drugs with fragments; switch it off to check the molecule -> own-fragments attention alone.
        interaction = model.fragment_interaction
        model.fragment_interaction = torch.nn.Identity()
        reference = model(*inputs)
        model.fragment_vectors[fragment] += 5.0
        after = model(*inputs)
        model.fragment_vectors[fragment] = saved
        model.fragment_interaction = interaction
        torch.testing.assert_close(model(*inputs), before)
    assert (after - reference).abs()[:, holders].max() > 1e-6
    torch.testing.assert_close(after[:, ~holders], reference[:, ~holders])


def test_without_substructure_attention_fragments_are_ignored():
    model = build("mkmed-no-substructures").eval()
    assert not model.use_substructures and not hasattr(model, "fragment_interaction")
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    with torch.no_grad():
        before = model(*inputs)
        model.fragment_vectors += 3.0
        torch.testing.assert_close(model(*inputs), before)


def test_training_and_inference_sum_the_same_code_embeddings():
    model = trained_like()
    diagnoses = random_inputs(0, BATCH, len(model.modalities()))[0]
    with torch.no_grad():
        dense = model.visit_sums(model.diagnosis_embedding, diagnoses)
        model.train()
        sparse = model.visit_sums(model.diagnosis_embedding, diagnoses)
        model.eval()
    torch.testing.assert_close(sparse, dense)


def test_medication_history_reads_the_previous_visits_drug_vectors():
    model = trained_like()
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    diagnoses, procedures, medications, visit_mask, mask = inputs
    with torch.no_grad():
        full = model(*inputs)
        other = medications.clone()
        other[:, 0] = INDEX_OFFSET  # change what the first visit gave
        changed = model(diagnoses, procedures, other, visit_mask, mask)
    has_history = visit_mask.sum(dim=1) > 1
    assert (changed - full).abs()[has_history].max() > 1e-6
    torch.testing.assert_close(changed[~has_history], full[~has_history])  # first visits have no history


def test_prepare_fine_tunes_the_encoder_on_the_training_visits_coprescriptions():
    often = np.zeros((12, len(VOCAB)), dtype=np.float32)
    often[:6, [0, 2]] = 1  # A02B with N02B in half the visits and never apart: lift 2, an edge
    often[:, 5] = 1  # J01C in every visit: with A02B in 6 visits, but lift 1, no edge
    other = np.zeros_like(often)
    other[:6, [1, 3]] = 1  # B01A with C07A instead
    other[6:, 4] = 1
    first, second = build(targets=often), build(targets=other)
    assert first.pretraining_report["coprescribedPairs"] == 1 and second.pretraining_report["coprescribedPairs"] == 1
    assert first.encoder_key != second.encoder_key
    assert first.pretraining_report["warmStart"]["from"] == second.pretraining_report["warmStart"]["from"]
    # Without the knowledge graph the encoder is the same whatever the training visits.
    assert build("mkmed-1-modality", targets=often).encoder_key == build("mkmed-1-modality", targets=other).encoder_key


def test_vectors_come_from_the_encoder_by_smiles():
    model = build()
    encoder = load_or_pretrain(model.settings, (), None)
    knowledge = tiny_knowledge()
    row = encoder.row_of()
    expected = encoder.graph_vectors[[row[s] for s in knowledge.molecules.smiles]]
    model.attach_encoder(encoder)
    torch.testing.assert_close(model.molecule_vectors, torch.from_numpy(expected))
    broken = encoder.__class__(**{**encoder.__dict__, "smiles": tuple("X" + s for s in encoder.smiles)})
    with pytest.raises(ValueError, match="not in the pre-training corpus"):
        model.attach_encoder(broken)


def test_ablation_variants():
    counts = [len(load_model_class(i).drug_modalities) for i in ABLATION_IDS[:4]]
    assert counts == [1, 2, 3, 4]
    assert [m.id for m in load_model_class("mkmed-4-modalities").drug_modalities] == list(ABLATION_ORDER[:4])
    assert KNOWLEDGE_GRAPH not in [m.id for m in load_model_class("mkmed-4-modalities").drug_modalities]
    intersection = build("mkmed-intersection")
    assert intersection.settings.alignment == "intersection"
    assert intersection.pretraining_report["pool"]["fragments"] == 0
    assert build().pretraining_report["pool"]["fragments"] > 0
    with pytest.raises(ValueError, match="must be the model's drug modalities"):
        build(pretrain_modalities=(TEXT,))


def test_ddi_term_appears_only_above_the_target_rate():
    model = build(target_ddi=0.0)
    assert model.target_ddi == 0.0 and model.ddi_matrix_name == "twosides-atc3"
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    batch = Batch(*inputs, targets=torch.zeros(BATCH, len(VOCAB)))
    everything = torch.full((BATCH, len(VOCAB)), 5.0, requires_grad=True)
    assert model.extra_loss(batch, everything) is not None
    assert model.extra_loss(batch, torch.full((BATCH, len(VOCAB)), -5.0)) is None
    assert build().target_ddi == pytest.approx(0.0, abs=1.0)  # set from the training visits


def test_onnx_export_matches_pytorch_with_masked_drug_modalities(tmp_path: Path):
    model = trained_like()
    inputs = random_inputs(0, BATCH, len(model.modalities()))
    mask = inputs[-1].clone()
    mask[1, model.modality_index(STRUCTURE_3D)] = 0.0
    mask[2, model.modality_index(TEXT)] = 0.0
    mask[3, 0] = 0.0
    inputs = (*inputs[:-1], mask)
    path = tmp_path / "mkmed.onnx"
    export_onnx(model, inputs, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    other = (*random_inputs(3, 6, len(model.modalities()))[:-1], torch.ones(6, len(model.modalities())))
    for feed in (inputs, other):
        with torch.no_grad():
            expected = model(*feed).numpy()
        actual = session.run(None, {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, feed)})[0]
        np.testing.assert_allclose(actual, expected, atol=PARITY_TOLERANCE, rtol=0)


def test_export_model_folder_writes_a_valid_manifest(prepared, tmp_path: Path):
    from medrec_training.knowledge import load_drug_knowledge
    from medrec_training.training import train_model

    knowledge = load_drug_knowledge(None, prepared.vocabularies.medication.codes())
    config = ModelConfig(embedding_dim=16, hidden_dim=16, max_epochs=1).with_overrides(**FAST)
    fit = train_model(
        load_model_class("mkmed"), prepared.vocabularies.sizes(), knowledge, config, prepared.samples, fixed_epochs=1, fixed_threshold=0.4
    )
    manifest = export_model_folder(
        ExportRequest(
            model_id="mkmed",
            model=fit.model,
            vocabularies=prepared.vocabularies,
            limits=prepared.limits,
            threshold=0.4,
            threshold_chosen_on="test",
            split="test",
            trained_on="synthetic patients",
            metrics={},
        ),
        tmp_path / "mkmed",
    )
    assert manifest["family"] == "mkmed" and manifest["id"] == "mkmed"
    assert [m["id"] for m in manifest["modalities"]][3:] == list(KNOWLEDGE_MODALITIES)
    assert "absent" in manifest["description"] and "constants" in manifest["description"]
    assert manifest["provenance"]["textEncoder"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    report = json.loads((tmp_path / "mkmed" / "pretraining.json").read_text())
    assert report["settings"]["modalities"] == list(KNOWLEDGE_MODALITIES) and report["ddiMatrix"] == "twosides-atc3"
    assert run_parity(tmp_path / "mkmed") <= PARITY_TOLERANCE
