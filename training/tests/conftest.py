"""Shared fixtures: synthetic patient databases with the app's schema (see synthetic.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for `import synthetic`

from synthetic import STRUCTURES, write_database  # noqa: E402

torch.set_num_threads(1)  # small models: one thread is fastest and does not fight parallel test runs


@pytest.fixture(scope="session")
def synthetic_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_database(tmp_path_factory.mktemp("db") / "synthetic.sqlite", patients=60)


@pytest.fixture(scope="session")
def structures_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import json

    path = tmp_path_factory.mktemp("knowledge") / "atc3_smiles.json"
    path.write_text(json.dumps(STRUCTURES), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def prepared(synthetic_database: Path, structures_file: Path):
    from medrec_training.harness import prepare_data

    return prepare_data(synthetic_database, structures_file, folds=3)
