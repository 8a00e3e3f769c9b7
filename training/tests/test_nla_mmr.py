"""NLA-MMR on the MedRecModel contract: text tables, modalities, history, cold start, ONNX export.

The frozen language model is not needed here: text tables are deterministic stand-in embeddings (one
unit vector per distinct text), so these tests check the model's wiring; test_text.py checks the
real encoder.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from test_knowledge_models import (
    BATCH,
    CONFIG,
    SIZES,
    VOCAB,
    assert_inference_equals_training_formulation,
    random_inputs,
    randomise_absent,
    tiny_knowledge,
)

from medrec_training.export import INPUT_NAMES, PARITY_TOLERANCE, ExportRequest, export_model_folder, export_onnx, run_parity, sha256_of
from medrec_training.knowledge import load_drug_knowledge
from medrec_training.models import MODEL_REGISTRY, load_model_class
from medrec_training.models.base import MedRecModel, ModelConfig
from medrec_training.tasks import INDEX_OFFSET, UNKNOWN_INDEX
from medrec_training.models.nla_mmr import NLAMMR
from medrec_training.text.building import VocabularyTexts
from medrec_training.text.cold_start import (
    COLD_START_FILE,
    COLD_START_PARITY_FILE,
    CONTRACT_INPUTS,
    EXTRA_INPUTS,
    export_cold_start_graph,
)
from medrec_training.text.knowledge import TextTables, with_tables
from medrec_training.training import train_model

VARIANTS = (
    "nla-mmr",
    "nla-mmr-text-only",
    "nla-mmr-structure-only",
    "nla-mmr-no-history",
    "nla-mmr-text-only-no-history",
    "nla-mmr-structure-only-no-history",
)
TEXT_DIM = 12


def stand_in_embedding(text: str, dim: int = TEXT_DIM) -> np.ndarray:
    """A deterministic unit vector per text (seeded by the text's hash), standing in for the encoder."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def stand_in_tables(texts: VocabularyTexts, dim: int = TEXT_DIM) -> TextTables:
    def code_table(group):
        table = np.zeros((len(group) + INDEX_OFFSET, dim), dtype=np.float32)
        has_text = np.zeros(len(group) + INDEX_OFFSET, dtype=bool)
        for position, text in enumerate(group):
            if text:
                table[position + INDEX_OFFSET], has_text[position + INDEX_OFFSET] = stand_in_embedding(text, dim), True
        return table, has_text

    diagnosis, diagnosis_has_text = code_table(texts.diagnosis)
    procedure, procedure_has_text = code_table(texts.procedure)
    medication = np.stack([stand_in_embedding(t, dim) for t in texts.medication])
    return TextTables(diagnosis, procedure, medication, diagnosis_has_text, procedure_has_text, "stand-in hash embeddings (tests)")


# The last diagnosis entry has no title: it must behave like an unknown code.
TEXTS = VocabularyTexts(
    diagnosis=tuple(f"diagnosis title {i}" for i in range(SIZES.diagnosis - 1)) + (None,),
    procedure=tuple(f"procedure title {i}" for i in range(SIZES.procedure)),
    medication=tuple(f"drug class {code}" for code in VOCAB),
)


@cache
def text_knowledge():
    return with_tables(tiny_knowledge(), TEXTS, stand_in_tables(TEXTS))


def build(model_id: str = "nla-mmr", seed: int = 0, **options) -> MedRecModel:
    torch.manual_seed(seed)
    return load_model_class(model_id)(SIZES, text_knowledge(), CONFIG.with_overrides(**options))


def inputs_for(model: MedRecModel, seed: int = 0, batch: int = BATCH):
    return random_inputs(seed, batch, len(model.modalities()))


def test_registry_has_the_model_and_its_ablations():
    for model_id in VARIANTS:
        assert model_id in MODEL_REGISTRY
        model_class = load_model_class(model_id)
        assert model_class.family == "nla-mmr" and issubclass(model_class, NLAMMR)
    ids = lambda model_id: [m.id for m in load_model_class(model_id).modalities()]  # noqa: E731
    assert ids("nla-mmr") == ["diagnoses", "procedures", "medication-history", "drug-text", "molecular-structure"]
    assert ids("nla-mmr-text-only")[-1] == "drug-text" and "molecular-structure" not in ids("nla-mmr-text-only")
    assert ids("nla-mmr-structure-only")[-1] == "molecular-structure" and "drug-text" not in ids("nla-mmr-structure-only")


@pytest.mark.parametrize("model_id", VARIANTS)
def test_forward_gives_probabilities_and_every_parameter_learns(model_id: str):
    model = build(model_id).train()
    inputs = inputs_for(model)
    logits = model.compute_logits(*inputs)
    assert logits.shape == (BATCH, len(VOCAB)) and torch.isfinite(logits).all()
    target = torch.zeros_like(logits)
    target[:, 1] = 1.0
    torch.nn.functional.binary_cross_entropy_with_logits(logits, target).backward()
    unreached = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith("absent.")]
    assert not unreached, f"parameters without gradient: {unreached}"
    model.eval()
    with torch.no_grad():
        probabilities = model(*inputs)
    assert ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.parametrize("model_id", VARIANTS)
def test_masking_a_modality_changes_the_output_exactly_when_the_model_uses_it(model_id: str):
    model = build(model_id).eval()
    randomise_absent(model)
    inputs = inputs_for(model)
    with torch.no_grad():
        full = model(*inputs)
        for column, modality in enumerate(model.modalities()):
            mask = inputs[-1].clone()
            mask[:, column] = 0.0
            changed = (model(*inputs[:-1], mask) - full).abs().max().item() > 1e-6
            assert changed == (modality.id in model.absent), f"{model_id}: masking {modality.id}"
            one = inputs[-1].clone()
            one[0, column] = 0.0  # masking one sample leaves the others alone
            torch.testing.assert_close(model(*inputs[:-1], one)[1:], full[1:], atol=1e-6, rtol=0)
    unused = {"medication-history"} if model_id.endswith("no-history") else set()
    assert set(model.absent) == {m.id for m in model.modalities()} - unused


@pytest.mark.parametrize("model_id", VARIANTS)
def test_inference_graph_equals_the_gathered_history_formulation(model_id: str):
    """Inference scores the history against the drug rows (gather and scatter-add) instead of the gathered
    [B, N, H] values, and mixes the drug tables after one product; training keeps the gathered form."""
    model = build(model_id)
    randomise_absent(model)
    assert_inference_equals_training_formulation(model, random_inputs(3, 8, len(model.modalities())))


def test_text_tables_are_constants_of_the_vocabulary():
    model = build()
    assert model.diagnosis_text.shape == (SIZES.diagnosis_rows, TEXT_DIM)
    assert model.drug_text.shape == (len(VOCAB), TEXT_DIM)
    assert not any(name.endswith("_text") for name in model.state_dict())  # rebuilt from the knowledge, not weights
    # padding, unknown and the title-less last entry read the learned unknown vector
    assert model.diagnosis_without_text[:, 0].tolist() == [1.0, 1.0] + [0.0] * (SIZES.diagnosis - 1) + [1.0]
    wrong = with_tables(tiny_knowledge(), TEXTS, stand_in_tables(VocabularyTexts(TEXTS.diagnosis[:-1], TEXTS.procedure, TEXTS.medication)))
    with pytest.raises(ValueError, match="text tables have"):
        NLAMMR(SIZES, wrong, CONFIG)
    with pytest.raises(ValueError, match="needs text embeddings"):
        NLAMMR(SIZES, tiny_knowledge(), CONFIG)


def test_a_code_without_title_reads_the_unknown_vector():
    model = build().eval()
    diagnoses, procedures, medications, visit_mask, modality_mask = inputs_for(model)
    diagnoses[:, :, :] = 0
    diagnoses[0, 0, 0] = SIZES.diagnosis_rows - 1  # the entry without a title (sample 0 has one visit)
    diagnoses[1, 1, 0] = UNKNOWN_INDEX  # sample 1's current visit: an unknown code
    diagnoses[2, 2, 0] = INDEX_OFFSET  # sample 2: a titled code
    inputs = (diagnoses, procedures, medications, visit_mask, modality_mask)
    with torch.no_grad():
        before = model(*inputs)
        model.unknown_diagnosis += 1.0
        after = model(*inputs)
    moved = (after - before).abs().amax(dim=1)
    assert moved[0] > 1e-5 and moved[1] > 1e-5 and moved[2] < 1e-7


def test_history_reads_earlier_visits_and_the_ablation_ignores_them():
    for model_id, reads in (
        ("nla-mmr", True),
        ("nla-mmr-no-history", False),
        ("nla-mmr-text-only-no-history", False),
        ("nla-mmr-structure-only-no-history", False),
    ):
        model = build(model_id).eval()
        inputs = inputs_for(model)
        medications = inputs[2].clone()
        medications[2, 0] = INDEX_OFFSET  # sample 2 has three visits: change its first visit's drugs
        with torch.no_grad():
            before = model(*inputs)
            after = model(inputs[0], inputs[1], medications, *inputs[3:])
        assert ((after[2] - before[2]).abs().max() > 1e-6) == reads
        torch.testing.assert_close(after[[0, 1, 3]], before[[0, 1, 3]])
    # the current visit's medication row is never read (it is the answer)
    model = build().eval()
    inputs = inputs_for(model)
    leaked = inputs[2].clone()
    leaked[0, 0] = INDEX_OFFSET + 1  # sample 0 has one visit: row 0 is its current visit
    with torch.no_grad():
        torch.testing.assert_close(model(inputs[0], inputs[1], leaked, *inputs[3:]), model(*inputs))


def test_a_drug_text_reaches_only_its_own_score():
    model = build().eval()
    diagnoses, procedures, medications, *rest = inputs_for(model)
    inputs = (diagnoses, procedures, torch.zeros_like(medications), *rest)  # no history: drug texts reach only the drug side
    with torch.no_grad():
        before = model(*inputs)
        model.drug_text[3] += 0.5
        after = model(*inputs)
    changed = (after - before).abs().amax(dim=0) > 1e-7
    assert changed.tolist() == [column == 3 for column in range(len(VOCAB))]


def test_a_new_code_addressed_through_the_extra_table_equals_the_same_text_in_the_vocabulary():
    model = build().eval()
    randomise_absent(model)
    diagnoses, procedures, *rest = inputs_for(model)
    entry = INDEX_OFFSET + 4
    diagnoses[:, :, 0] = torch.where(diagnoses[:, :, 0] > 0, torch.tensor(entry), diagnoses[:, :, 0])
    extra = model.diagnosis_text[[entry, entry + 1]].clone()  # row 0 = entry's own text
    renamed = torch.where(diagnoses == entry, torch.tensor(SIZES.diagnosis_rows), diagnoses)
    as_unknown = torch.where(diagnoses == entry, torch.tensor(UNKNOWN_INDEX), diagnoses)
    with torch.no_grad():
        in_vocabulary = model.compute_logits(diagnoses, procedures, *rest)
        cold_start = model.logits_with_new_codes(renamed, procedures, *rest, extra, None)
        unknown = model.compute_logits(as_unknown, procedures, *rest)
    torch.testing.assert_close(cold_start, in_vocabulary, atol=1e-6, rtol=0)
    assert (unknown - in_vocabulary).abs().max() > 1e-4  # without the text path the code is just 'unknown'


@pytest.mark.parametrize("model_id", VARIANTS)
def test_onnx_export_matches_pytorch(model_id: str, tmp_path: Path):
    model = build(model_id).eval()
    randomise_absent(model)
    inputs = inputs_for(model)
    mask = inputs[-1].clone()
    mask[2, -1] = 0.0
    mask[3, 0] = 0.0
    inputs = (*inputs[:-1], mask)
    path = tmp_path / "model.onnx"
    export_onnx(model, inputs, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    other = (*inputs_for(model, seed=3, batch=6)[:-1], torch.ones(6, len(model.modalities())))
    for feed in (inputs, other):
        with torch.no_grad():
            expected = model(*feed).numpy()
        actual = session.run(None, {n: t.numpy() for n, t in zip(INPUT_NAMES, feed, strict=True)})[0]
        np.testing.assert_allclose(actual, expected, atol=PARITY_TOLERANCE, rtol=0)


@pytest.mark.parametrize("model_id", ["nla-mmr", "nla-mmr-no-history", "nla-mmr-text-only-no-history"])
def test_cold_start_graph_matches_pytorch_and_equals_model_onnx_without_new_codes(model_id: str, tmp_path: Path):
    model = build(model_id).eval()
    randomise_absent(model)
    inputs = inputs_for(model)
    assert export_cold_start_graph(model, inputs, tmp_path) <= PARITY_TOLERANCE
    session = onnxruntime.InferenceSession(str(tmp_path / COLD_START_FILE), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [*CONTRACT_INPUTS, *EXTRA_INPUTS]
    fixture = json.loads((tmp_path / COLD_START_PARITY_FILE).read_text())
    traced_diagnoses = np.asarray(fixture["inputs"]["diagnoses"]["data"])
    assert (traced_diagnoses >= SIZES.diagnosis_rows).any()  # the fixture really uses extra rows
    # No new codes (zero extra rows): the contract graph's output, for any batch size.
    feed = inputs_for(model, seed=5, batch=7)
    feeds = {n: t.numpy() for n, t in zip(CONTRACT_INPUTS, feed, strict=True)}
    feeds |= {name: np.zeros((0, TEXT_DIM), np.float32) for name in EXTRA_INPUTS}
    with torch.no_grad():
        expected = model(*feed).numpy()
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, atol=PARITY_TOLERANCE, rtol=0)
    # New codes: what PyTorch says for the same extra rows.
    extra = np.stack([stand_in_embedding("a title nobody trained on"), stand_in_embedding("another new title")])
    diagnoses = feed[0].clone()
    diagnoses[:, 0, 0] = SIZES.diagnosis_rows + 1
    feeds |= {"diagnoses": diagnoses.numpy(), "diagnosis_text_extra": extra}
    with torch.no_grad():
        expected = torch.sigmoid(model.logits_with_new_codes(diagnoses, *feed[1:], torch.from_numpy(extra), None)).numpy()
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, atol=PARITY_TOLERANCE, rtol=0)


def test_export_folder_ships_the_cold_start_graph_and_names_the_text_encoder(prepared, tmp_path: Path):
    vocabularies = prepared.vocabularies
    texts = VocabularyTexts(
        diagnosis=tuple(e.title for e in vocabularies.diagnosis.entries),
        procedure=tuple(e.title for e in vocabularies.procedure.entries),
        medication=tuple(f"drug class {code}" for code in vocabularies.medication.codes()),
    )
    knowledge = with_tables(load_drug_knowledge(None, vocabularies.medication.codes()), texts, stand_in_tables(texts))
    config = ModelConfig(max_epochs=2, hidden_dim=16, options={"export_text_encoder": False})
    fit = train_model(NLAMMR, vocabularies.sizes(), knowledge, config, prepared.samples)
    manifest = export_model_folder(
        ExportRequest(
            model_id="nla-mmr",
            model=fit.model,
            vocabularies=vocabularies,
            limits=prepared.limits,
            threshold=fit.threshold,
            threshold_chosen_on="default 0.5",
            split="test split",
            trained_on="all synthetic patients",
            metrics={"jaccard": 0.0},
        ),
        tmp_path,
    )
    assert manifest["family"] == "nla-mmr" and "2501.07166" in manifest["paper"]["reference"]
    assert manifest["provenance"]["textEncoder"] == "stand-in hash embeddings (tests)"
    assert any("Sentence-BERT" in s["attribution"] for s in manifest["provenance"]["sources"])
    shipped = {row["file"]: row["sha256"] for row in manifest["extraFiles"]}
    assert set(shipped) == {"parity.json", "pytorch_model.pt", COLD_START_FILE, COLD_START_PARITY_FILE}
    assert all(sha256_of(tmp_path / name) == digest for name, digest in shipped.items())
    assert [m["id"] for m in manifest["modalities"]] == [m.id for m in NLAMMR.modalities()]
    assert run_parity(tmp_path) <= PARITY_TOLERANCE


def test_benchmark_exports_requested_models_besides_the_best(synthetic_database: Path, tmp_path: Path, capsys):
    """How models/nla-mmr/ is written when NLA-MMR is not the best model: --export (default nla-mmr)."""
    from medrec_training.benchmark import main

    arguments = ["--database", str(synthetic_database), "--models-dir", str(tmp_path), "--folds", "2", "--max-epochs", "2", "--no-knowledge"]
    assert main([*arguments, "--models", "most-frequent,logistic", "--export", "most-frequent,logistic"]) == 0
    printed = capsys.readouterr().out
    best = json.loads((tmp_path / "benchmark.json").read_text())["defaultModel"]
    for model_id in ("most-frequent", "logistic"):
        manifest = json.loads((tmp_path / model_id / "manifest.json").read_text())
        assert manifest["id"] == model_id and run_parity(tmp_path / model_id) <= PARITY_TOLERANCE
        assert ("default model chosen" in manifest["description"]) == (model_id == best)
    assert printed.count("Shipped ") == 2
    # the default asks for nla-mmr; a run that did not evaluate it says so instead of failing
    assert main([*arguments, "--models", "most-frequent"]) == 0
    assert "Not exported (not evaluated in this run): nla-mmr" in capsys.readouterr().out


def test_cold_start_experiment_hides_codes_from_training_and_addresses_them_through_their_text(prepared):
    from medrec_training.experiments.cold_start import hidden_share_of_current_visits, hide_diagnoses

    vocabularies = prepared.vocabularies
    texts = VocabularyTexts(
        diagnosis=tuple(e.title for e in vocabularies.diagnosis.entries),
        procedure=tuple(e.title for e in vocabularies.procedure.entries),
        medication=tuple(f"drug class {code}" for code in vocabularies.medication.codes()),
    )
    tables = stand_in_tables(texts)
    prepared_with_text = type(prepared)(
        prepared.cohort, vocabularies, prepared.limits, prepared.samples,
        with_tables(load_drug_knowledge(None, vocabularies.medication.codes()), texts, tables),
    )  # fmt: skip
    hidden = hide_diagnoses(prepared_with_text, 0.2, seed=42)
    assert len(hidden.entries) == round(0.2 * len(vocabularies.diagnosis))
    assert len(hidden.vocabularies.diagnosis) == len(vocabularies.diagnosis) - len(hidden.entries)
    hidden_codes = {(vocabularies.diagnosis.entries[i].system, vocabularies.diagnosis.entries[i].code) for i in hidden.entries}
    assert not hidden_codes & {(e.system, e.code) for e in hidden.vocabularies.diagnosis.entries}
    # training sees the hidden codes as 'unknown', slot for slot where the full encoding has them
    full = prepared.samples.diagnoses
    is_hidden = np.isin(full, hidden.entries + INDEX_OFFSET)
    assert is_hidden.any() and (hidden.samples.diagnoses[is_hidden] == UNKNOWN_INDEX).all()
    # with the text path each hidden code reads an extra row holding its own title's embedding
    reduced_rows = hidden.vocabularies.sizes().diagnosis_rows
    mapped = hidden.full_to_cold_start[full]
    assert (mapped[is_hidden] >= reduced_rows).all() and (mapped[~is_hidden] < reduced_rows).all()
    for k, entry in enumerate(hidden.entries):
        np.testing.assert_array_equal(hidden.extra_text[k], tables.diagnosis[entry + INDEX_OFFSET])
        assert hidden.full_to_cold_start[entry + INDEX_OFFSET] == reduced_rows + k
    kept_tables = hidden.knowledge.tables()
    assert kept_tables.diagnosis.shape[0] == reduced_rows
    share = hidden_share_of_current_visits(prepared.samples, hidden.entries)
    assert ((share > 0) <= (is_hidden.any(axis=2).any(axis=1))).all() and (0 <= share).all() and (share <= 1).all()
