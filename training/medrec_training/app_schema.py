"""The app's SQLite schema, taken from src/main/services/db/migrations.ts (the single source of truth).

Used by tests and tools that need an empty patient database of the current schema without Node.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from .paths import migrations_source

_MIGRATION = re.compile(r"version:\s*(\d+)\s*,[\s\S]*?sql:\s*`([^`]*)`")


def app_migrations(source: Path | None = None) -> list[tuple[int, str]]:
    """(version, sql) of every migration, in order."""
    path = source or migrations_source()
    text = path.read_text(encoding="utf-8")
    found = [(int(version), sql) for version, sql in _MIGRATION.findall(text)]
    if not found:
        raise RuntimeError(f"{path}: no migrations found (expected entries with `version: N` and `sql: \\`...\\``).")
    versions = [version for version, _ in found]
    if versions != sorted(versions):
        raise RuntimeError(f"{path}: migrations are not in version order: {versions}.")
    return found


def create_app_database(path: Path | str) -> sqlite3.Connection:
    """A new database at `path` with every app migration applied (as openDatabase would)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA foreign_keys = ON")
    for version, sql in app_migrations():
        with connection:
            connection.executescript(sql)
            connection.execute(f"PRAGMA user_version = {version}")
    return connection
