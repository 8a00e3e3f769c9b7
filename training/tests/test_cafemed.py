"""CafeMed and its ablations against the MedRecModel contract, plus what is specific to it: effects from the
training visits only, modality masks that really cut a modality off, patient-specific causal weights (CWG),
ONNX parity of model.onnx and causal-weights.onnx, and the exported effect table in a valid manifest."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from synthetic import write_database
from test_knowledge_models import assert_inference_equals_training_formulation

from medrec_training.causal import EffectSettings, estimate_effects, training_visits
from medrec_training.causal.table import read_effects
from medrec_training.export import INPUT_NAMES, PARITY_TOLERANCE, ExportRequest, export_model_folder, export_onnx, run_parity
from medrec_training.harness import PreparedData, prepare_data
from medrec_training.knowledge import load_drug_knowledge
from medrec_training.models import load_model_class
from medrec_training.models.base import MedRecModel, ModelConfig
from medrec_training.tasks import INDEX_OFFSET
from medrec_training.models.cafemed import EFFECTS_FILE, WEIGHTS_FILE, CafeMed
from medrec_training.tasks import Batch, EncodedSamples

VARIANTS = ("cafemed", "cafemed-no-cwg", "cafemed-no-charm", "cafemed-no-causal")
EFFECTS = {"min_treated": 8, "min_untreated": 8, "min_drug_visits": 5}  # the synthetic cohort is small
CONFIG = ModelConfig(embedding_dim=16, hidden_dim=16, dropout=0.0, options={"effect_settings": EFFECTS})


@cache
def cohort(tmp_root: str) -> PreparedData:
    """The synthetic cohort of tests/synthetic.py (diagnoses imply drugs), with real drug knowledge."""
    database = write_database(Path(tmp_root) / "cafemed.sqlite", patients=160, seed=11)
    return prepare_data(
        database,
        folds=2,
        knowledge_loader=lambda vocabularies: (lambda k: (k, dict(k.ddi_matrices), {}))(
            load_drug_knowledge(None, vocabularies.medication.codes())
        ),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    return cohort(str(tmp_path_factory.mktemp("cafemed")))


def build(model_id: str, data: PreparedData, seed: int = 0, train: EncodedSamples | None = None, **options) -> MedRecModel:
    torch.manual_seed(seed)
    model = load_model_class(model_id)(data.vocabularies.sizes(), data.knowledge, CONFIG.with_overrides(**options))
    model.prepare(train if train is not None else data.samples)
    return model


def randomise(model: MedRecModel) -> None:
    """Non-trivial absent vectors and CWG parameters, as training would leave them."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.absent.values():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        if getattr(model, "cwg", None) is not None:
            model.cwg.drug_keys.copy_(torch.randn(model.cwg.drug_keys.shape, generator=generator))


def inputs(model: MedRecModel, data: PreparedData, rows: int = 6) -> tuple[torch.Tensor, ...]:
    """Real samples, patients with history first so the medication history matters."""
    order = np.argsort(-data.samples.visit_mask.sum(axis=1), kind="stable")[:rows]
    batch = next(data.samples.subset(order).batches(rows, len(model.modalities())))
    return batch.inputs()


# --- contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", VARIANTS)
def test_forward_gives_probabilities_and_backward_reaches_every_parameter(model_id: str, data: PreparedData):
    model = build(model_id, data).train()
    feed = inputs(model, data)
    logits = model.compute_logits(*feed)
    assert logits.shape == (6, len(data.vocabularies.medication)) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(data.samples.targets[:6])).backward()
    unreached = [name for name, p in model.named_parameters() if p.grad is None and not name.startswith("absent.")]
    assert not unreached, f"parameters without gradient: {unreached}"
    with torch.no_grad():
        probabilities = model.eval()(*feed)
    assert ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.parametrize("model_id", VARIANTS)
def test_inference_graph_equals_the_training_formulation(model_id: str, data: PreparedData):
    """Inference trims padding and applies the causal term's constant factors after the code sum; training
    scales every (code, drug) weight. Same logits, masks included."""
    model = build(model_id, data)
    randomise(model)
    assert_inference_equals_training_formulation(model, inputs(model, data, rows=12))


def test_variants_have_the_modalities_they_claim(data: PreparedData):
    ids = {model_id: [m.id for m in load_model_class(model_id).modalities()] for model_id in VARIANTS}
    patient = ["diagnoses", "procedures", "medication-history"]
    assert ids["cafemed"] == ids["cafemed-no-cwg"] == ids["cafemed-no-charm"] == [*patient, "causal-effects"]
    assert ids["cafemed-no-causal"] == patient
    assert build("cafemed-no-cwg", data).cwg is None and build("cafemed-no-charm", data).charm is None
    assert not hasattr(build("cafemed-no-causal", data), "diagnosis_effects")


@pytest.mark.parametrize("model_id", VARIANTS)
def test_a_masked_modality_is_cut_off_and_replaced(model_id: str, data: PreparedData):
    """Masking changes the output, and once masked, that modality's data no longer matters."""
    model = build(model_id, data).eval()
    randomise(model)
    diagnoses, procedures, medications, visit_mask, modality_mask = inputs(model, data)
    changed_data = {
        "diagnoses": (torch.where(diagnoses > 0, (diagnoses + 3) % model.vocab_sizes.diagnosis_rows + 0, diagnoses).clamp(min=0), procedures, medications),
        "procedures": (diagnoses, torch.where(procedures > 0, (procedures + 1) % model.vocab_sizes.procedure_rows, procedures), medications),
        "medication-history": (diagnoses, procedures, torch.where(medications > 0, (medications - 1).clamp(min=INDEX_OFFSET), medications)),
    }
    with torch.no_grad():
        full = model(diagnoses, procedures, medications, visit_mask, modality_mask)
        for column, modality in enumerate(model.modalities()):
            mask = modality_mask.clone()
            mask[:, column] = 0.0
            masked = model(diagnoses, procedures, medications, visit_mask, mask)
            assert (masked - full).abs().max() > 1e-5, f"masking {modality.id} changed nothing"
            if modality.id in changed_data:
                other = model(*changed_data[modality.id], visit_mask, mask)
                torch.testing.assert_close(other, masked, atol=1e-6, rtol=0)
            one = modality_mask.clone()
            one[0, column] = 0.0
            torch.testing.assert_close(model(diagnoses, procedures, medications, visit_mask, one)[1:], full[1:], atol=1e-6, rtol=0)
    if "causal-effects" in [m.id for m in model.modalities()]:  # masked effects: the effect matrices do not matter
        mask = modality_mask.clone()
        mask[:, model.modality_index("causal-effects")] = 0.0
        with torch.no_grad():
            before = model(diagnoses, procedures, medications, visit_mask, mask)
            model.diagnosis_effects.mul_(-3.0)
            after = model(diagnoses, procedures, medications, visit_mask, mask)
        torch.testing.assert_close(after, before, atol=1e-6, rtol=0)


# --- causal effects -----------------------------------------------------------------------------


def test_effects_come_from_the_training_samples_given_to_prepare(data: PreparedData):
    patients = np.unique(data.samples.patient_ids)
    train = data.samples.subset(np.nonzero(np.isin(data.samples.patient_ids, patients[: len(patients) // 2]))[0])
    model = build("cafemed", data, train=train)
    expected = estimate_effects(training_visits(train, data.vocabularies.sizes()), EffectSettings(**EFFECTS))
    assert model.effects.visits == len(train) < len(data.samples)
    np.testing.assert_allclose(model.diagnosis_effects[INDEX_OFFSET:].numpy(), expected.diagnosis.significant(expected.settings.fdr))
    np.testing.assert_allclose(model.procedure_effects[INDEX_OFFSET:].numpy(), expected.procedure.significant(expected.settings.fdr))
    assert model.diagnosis_effects[:INDEX_OFFSET].abs().sum() == 0  # padding and unknown codes carry no effect
    # The synthetic diagnoses imply drugs: those effects are found and positive.
    assert (model.diagnosis_effects > 0.2).sum() >= 5
    assert "diagnosis_effects" in model.state_dict()  # fitted data travels with the weights


def test_causal_term_is_the_sum_of_the_patient_specific_weights(data: PreparedData):
    model = build("cafemed", data).eval()
    randomise(model)
    with torch.no_grad():
        model.absent["causal-effects"].zero_()
        feed = inputs(model, data)
        diagnosis_weights, procedure_weights = model.causal_weights(*feed)
        mask = feed[-1].clone()
        mask[:, model.modality_index("causal-effects")] = 0.0
        difference = model.compute_logits(*feed) - model.compute_logits(*feed[:-1], mask)
    torch.testing.assert_close(difference, diagnosis_weights.sum(dim=1) + procedure_weights.sum(dim=1), atol=1e-5, rtol=0)
    current = feed[0].gather(1, (feed[3].sum(dim=1).long() - 1).reshape(-1, 1, 1).expand(-1, 1, feed[0].shape[2])).squeeze(1)
    assert diagnosis_weights[current == 0].abs().max() == 0  # padding slots weigh nothing
    assert diagnosis_weights.abs().max() > 0


def test_cwg_makes_the_same_code_weigh_differently_for_different_patients(data: PreparedData):
    """Same current diagnoses, different history: CafeMed's weights differ, the static ablation's do not."""
    feed = list(inputs(build("cafemed", data), data, rows=2))
    diagnoses, procedures, medications, visit_mask, modality_mask = feed
    twin = [t.clone() for t in feed]
    twin[2] = torch.where(medications > 0, (medications + 5).clamp(max=data.vocabularies.sizes().medication_rows - 1), medications)
    for model_id, should_differ in (("cafemed", True), ("cafemed-no-cwg", False)):
        model = build(model_id, data).eval()
        randomise(model)
        with torch.no_grad():
            first, _ = model.causal_weights(*feed)
            second, _ = model.causal_weights(*twin)
        assert first.abs().max() > 0
        assert ((first - second).abs().max() > 1e-6) == should_differ, model_id


def test_ddi_loss_term_appears_above_the_target_rate(data: PreparedData):
    model = build("cafemed", data, target_ddi=0.0)
    assert model.target_ddi == 0.0 and model.ddi_matrix_name == "twosides-atc3"
    feed = inputs(model, data, rows=4)
    batch = Batch(*feed, targets=torch.zeros(4, len(data.vocabularies.medication)))
    everything = torch.full((4, len(data.vocabularies.medication)), 5.0, requires_grad=True)
    if model.ddi_adjacency.sum() == 0:
        pytest.skip("no interacting pair among the synthetic classes")
    term = model.extra_loss(batch, everything)
    assert term is not None and term.requires_grad
    assert model.extra_loss(batch, torch.full_like(everything, -5.0)) is None


# --- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", VARIANTS)
def test_onnx_export_matches_pytorch(model_id: str, data: PreparedData, tmp_path: Path):
    model = build(model_id, data).eval()
    randomise(model)
    feed = inputs(model, data)
    mask = feed[-1].clone()
    mask[2, -1] = 0.0
    mask[3, 0] = 0.0
    feed = (*feed[:-1], mask)
    path = tmp_path / "model.onnx"
    export_onnx(model, feed, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    other = inputs(model, data, rows=3)
    for batch in (feed, other):
        with torch.no_grad():
            expected = model(*batch).numpy()
        actual = session.run(None, {name: t.numpy() for name, t in zip(INPUT_NAMES, batch)})[0]
        np.testing.assert_allclose(actual, expected, atol=PARITY_TOLERANCE, rtol=0)


def test_export_folder_ships_the_effect_table_and_weights_in_a_valid_manifest(data: PreparedData, tmp_path: Path):
    model = build("cafemed", data).eval()
    randomise(model)
    request = ExportRequest(
        model_id="cafemed",
        model=model,
        vocabularies=data.vocabularies,
        limits=data.limits,
        threshold=0.4,
        threshold_chosen_on="test",
        split="test split",
        trained_on="synthetic",
        metrics={"model": "cafemed"},
    )
    manifest = export_model_folder(request, tmp_path)  # validates against models/manifest.schema.json
    assert manifest["family"] == "cafemed" and manifest["id"] == "cafemed"
    files = {row["file"]: row for row in manifest["extraFiles"]}
    assert {EFFECTS_FILE, WEIGHTS_FILE} <= set(files)
    assert "doubly robust effect on the treated" in manifest["description"] and "twosides-atc3" in manifest["description"]
    assert run_parity(tmp_path) <= PARITY_TOLERANCE
    # The table describes the same effects the model uses.
    table = read_effects(tmp_path / EFFECTS_FILE)
    np.testing.assert_allclose(
        table.diagnosis.significant(table.settings.fdr), model.diagnosis_effects[INDEX_OFFSET:].numpy(), atol=1e-5
    )
    document = json.loads((tmp_path / EFFECTS_FILE).read_text(encoding="utf-8"))
    assert document["medications"] == len(manifest["vocabularies"]["medication"]["entries"])
    assert document["diagnosis"]["entries"] == len(manifest["vocabularies"]["diagnosis"]["entries"])
    # causal-weights.onnx reproduces the PyTorch weights on the parity fixture's inputs.
    fixture = json.loads((tmp_path / "parity.json").read_text(encoding="utf-8"))
    feeds = {n: np.asarray(s["data"], dtype=s["dtype"]).reshape(s["dims"]) for n, s in fixture["inputs"].items()}
    session = onnxruntime.InferenceSession(str(tmp_path / WEIGHTS_FILE), providers=["CPUExecutionProvider"])
    diagnosis_weights, procedure_weights = session.run(["diagnosis_weights", "procedure_weights"], feeds)
    with torch.no_grad():
        expected = model.causal_weights(*(torch.from_numpy(feeds[n]) for n in INPUT_NAMES))
    np.testing.assert_allclose(diagnosis_weights, expected[0].numpy(), atol=PARITY_TOLERANCE, rtol=0)
    np.testing.assert_allclose(procedure_weights, expected[1].numpy(), atol=PARITY_TOLERANCE, rtol=0)
    assert diagnosis_weights.shape[1:] == (data.limits.max_diagnoses, len(data.vocabularies.medication))


def test_export_without_effects_is_refused_with_a_reason(data: PreparedData, tmp_path: Path):
    model = load_model_class("cafemed")(data.vocabularies.sizes(), data.knowledge, CONFIG)  # prepare() never called
    with pytest.raises(ValueError, match="call prepare"):
        model.export_extras(tmp_path, inputs(model, data))
    assert isinstance(model, CafeMed)
