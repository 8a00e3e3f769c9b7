"""Rebuild a shipped model folder's PyTorch module from its pytorch_model.pt (the state_dict the export writes).

The module is the training package's model class around the saved vocabulary sizes and configuration; a
family that needs drug knowledge (CafeMed, MKMed, NLA-MMR, SafeDrug) gets it rebuilt from the open data
(MEDREC_DATA_DIR, default ../shared/data) for the manifest's medication vocabulary, as training built it, so
that the saved state_dict loads into the same module. Used by bench/inference_torch.py and by
medrec_training.reexport.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from .export import PYTORCH_WEIGHTS_FILE, sha256_of
from .models.base import MedRecModel, ModelConfig
from .paths import project_root
from .tasks import Limits, Vocabularies, Vocabulary, VocabularyEntry, VocabSizes


class SavedModelError(ValueError):
    """The folder's PyTorch weights cannot be rebuilt (missing, hash mismatch, knowledge unavailable)."""


def manifest_vocabularies(manifest: dict) -> Vocabularies:
    def vocabulary(kind: str) -> Vocabulary:
        return Vocabulary([VocabularyEntry(e["system"], e["code"], e.get("title")) for e in manifest["vocabularies"][kind]["entries"]])

    return Vocabularies(vocabulary("diagnosis"), vocabulary("procedure"), vocabulary("medication"))


def manifest_limits(manifest: dict) -> Limits:
    limits = manifest["limits"]
    return Limits(limits["maxVisits"], limits["maxDiagnoses"], limits["maxProcedures"], limits["maxMedications"])


def default_data_dir() -> Path:
    return Path(os.environ.get("MEDREC_DATA_DIR", project_root().parent / "shared" / "data"))


def knowledge_for(manifest: dict, data_dir: Path | None = None) -> Any:
    """Drug knowledge aligned to the manifest's vocabularies (benchmark.knowledge_loader, as in training)."""
    from .benchmark import knowledge_loader  # lazy: the benchmark module imports most of the package

    root = data_dir or default_data_dir()
    try:
        knowledge, _, _ = knowledge_loader(root)(manifest_vocabularies(manifest))
    except (FileNotFoundError, ValueError) as error:
        raise SavedModelError(f"the drug knowledge this family needs could not be rebuilt from {root}: {error}") from error
    return knowledge


def build_model(
    class_path: str, sizes: dict, config: dict, manifest: dict | None = None, options: dict | None = None, data_dir: Path | None = None
) -> MedRecModel:
    """The training package's model class ("module:Class") around `sizes` (knowledge rebuilt when it needs it)."""
    module_name, _, class_name = class_path.partition(":")
    model_class = getattr(importlib.import_module(module_name), class_name)
    knowledge = None
    if model_class.requires_knowledge:
        if manifest is None:
            raise SavedModelError(f"{class_name} needs the drug knowledge base, and only a folder with pytorch_model.pt can rebuild it")
        knowledge = knowledge_for(manifest, data_dir)
    return model_class(VocabSizes(**sizes), knowledge, ModelConfig(**config, options=options or {}))


def load_saved_model(folder: Path, manifest: dict | None = None, data_dir: Path | None = None) -> MedRecModel | None:
    """The folder's model in eval mode, or None when the manifest lists no pytorch_model.pt (an older export).

    Raises SavedModelError when the file's sha256 differs from the manifest's or the module cannot be rebuilt.
    """
    if manifest is None:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = next((f for f in manifest.get("extraFiles", []) if f["file"] == PYTORCH_WEIGHTS_FILE), None)
    if listed is None:
        return None
    path = folder / PYTORCH_WEIGHTS_FILE
    actual = sha256_of(path)
    if actual != listed["sha256"]:
        raise SavedModelError(f"{path}: sha256 is {actual} but manifest.json says {listed['sha256']}")
    saved = torch.load(path, weights_only=True, map_location="cpu")
    options = json.loads(saved.get("config_options") or "{}")
    model = build_model(saved["class"], saved["vocab_sizes"], saved["config"], manifest, options, data_dir)
    model.load_state_dict(saved["state_dict"])
    return model.eval()
