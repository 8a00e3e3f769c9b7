"""A content-addressed file cache: arrays in .npz (no pickles) plus a JSON metadata blob.

The cache folder is <repo>/training/.cache (git-ignored) unless MEDREC_CACHE_DIR says otherwise.
A file's name carries the hash of everything it was computed from, so a changed input or code
version simply misses the cache; stale files can be deleted at will.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..paths import project_root

_META_KEY = "__meta_json__"


def cache_dir() -> Path:
    configured = os.environ.get("MEDREC_CACHE_DIR")
    return Path(configured).resolve() if configured else project_root() / "training" / ".cache"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(parts: dict[str, str]) -> str:
    """Short stable hash of a {name: value} description of the inputs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a half-written cache."""
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(arrays)
    payload[_META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the cache is shared by whoever trains
        with os.fdopen(descriptor, "wb") as handle:
            np.savez_compressed(handle, **payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`.lock while computing what goes into `path`.

    The benchmark runs folds in parallel processes that need the same cached result (e.g. MKMed's
    pre-training corpus); the second one waits and then reads the file instead of computing it again.
    Where fcntl is missing (Windows), it does not lock: both compute, and the atomic rename in
    save_arrays keeps the file whole.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


Cached = TypeVar("Cached")


def load_or_build(path: Path, load: Callable[[Path], Cached | None], build: Callable[[], Cached], *, use_cache: bool = True) -> Cached:
    """What `load(path)` finds (None: absent or damaged), else `build()`, which must save it to `path`.

    The build runs under cache_lock(path) and the file is looked for again once the lock is held, so
    parallel processes needing the same result build it once.
    """
    if use_cache and (found := load(path)) is not None:
        return found
    with cache_lock(path):
        if use_cache and (found := load(path)) is not None:  # built by another process meanwhile
            return found
        return build()


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    return arrays, meta
