"""Locations shared with the app (mirrors src/main/services/paths.ts and its environment variables)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The repository root: the folder holding package.json above this package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "package.json").exists():
            return parent
    raise RuntimeError(f"Cannot find the MedRec project root (no package.json above {here}).")


def data_dir() -> Path:
    """The open data folder: MEDREC_DATA_DIR, else ../shared/data beside the checkout."""
    configured = os.environ.get("MEDREC_DATA_DIR")
    return Path(configured).resolve() if configured else (project_root().parent / "shared" / "data").resolve()


def default_database_path() -> Path:
    configured = os.environ.get("MEDREC_DB")
    return Path(configured).resolve() if configured else project_root() / "resources" / "demo.sqlite"


def models_dir() -> Path:
    configured = os.environ.get("MEDREC_MODELS_DIR")
    return Path(configured).resolve() if configured else project_root() / "models"


def migrations_source() -> Path:
    """The TypeScript file that owns the SQLite schema (the single source of truth)."""
    return project_root() / "src" / "main" / "services" / "db" / "migrations.ts"
