"""Staging and landing a fetched model: a hidden temporary name beside the target, the sha256
check, and the atomic rename into place. Shared by every fetcher."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.catalogue.entries import ModelEntry
from store.errors import AugplanError

_CHUNK = 4 * 1024 * 1024

Log = Callable[[str], None]


def _new_staging(entry: ModelEntry, directory: Path) -> Path:
    """A fresh hidden name beside the target; created with the usual (umask) permissions."""
    while True:
        staged = directory / f".{entry.filename}.{secrets.token_hex(6)}.partial"
        try:
            if entry.is_folder:
                os.mkdir(staged, 0o777)
            else:
                os.close(os.open(staged, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return staged


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _land(entry: ModelEntry, staged: Path, actual: str, target: Path, source: str) -> Path:
    """Move a checked staging copy onto the model's name; refuse (and delete it) on mismatch."""
    if actual != entry.sha256:
        _remove(staged)
        raise AugplanError(
            f"model {entry.name}: {source} gave bytes with sha256 {actual}, but the catalogue "
            f"expects {entry.sha256}; nothing was saved to {target.parent}",
        )
    if entry.is_folder or target.is_dir():
        aside = None
        if target.exists() or target.is_symlink():
            aside = Path(
                tempfile.mkdtemp(prefix=f".{entry.filename}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, aside / "old")
        os.replace(staged, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(staged, target)
    return target


def _copy_stream(src: Any, out: Any, digest: Any | None = None) -> int:
    n = 0
    while chunk := src.read(_CHUNK):
        out.write(chunk)
        if digest is not None:
            digest.update(chunk)
        n += len(chunk)
    return n
