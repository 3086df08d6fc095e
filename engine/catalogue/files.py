"""The models folder on disk: where it is, where each model lives in it, hashing files and
folders, and checking a model's bytes against the catalogue (``verify``, ``status``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.catalogue.entries import ModelEntry, _load, get_entry
from store.errors import AugplanError

MODELS_DIR_ENV = "AUGPLAN_MODELS_DIR"


def _resolve_dir(override: str | Path | None) -> Path:
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".augplan" / "models"


def models_dir(override: str | Path | None = None) -> Path:
    """The models directory: ``override``, else $AUGPLAN_MODELS_DIR, else ~/.augplan/models.

    It is created if missing.
    """
    directory = _resolve_dir(override)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AugplanError(
            f"cannot create the models directory {directory}: {exc.strerror or exc}",
            hint=f"pass a writable folder or set {MODELS_DIR_ENV}",
        ) from exc
    return directory


def model_path(entry: ModelEntry, directory: Path) -> Path:
    """Where ``entry`` lives inside ``directory`` (a .gguf file, or the embedder's folder)."""
    return Path(directory) / entry.filename


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of one file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _tree_files(root: Path) -> list[str]:
    rels = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for fn in filenames:
            rels.append((Path(dirpath) / fn).relative_to(root).as_posix())
    return rels


def _tree_digest(root: Path, rels: Iterable[str]) -> str:
    lines = sorted(f"{rel}\t{sha256_file(root / rel)}\n" for rel in rels)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Hash of a folder: sha256 over the sorted lines "relpath<TAB>sha256(file)<LF>" of every
    file under it (relpath with "/" separators, relative to ``path``)."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    return _tree_digest(root, _tree_files(root))


def _present(entry: ModelEntry, path: Path) -> bool:
    return path.is_dir() if entry.is_folder else path.is_file()


def _digest(entry: ModelEntry, path: Path) -> str:
    return sha256_tree(path) if entry.is_folder else sha256_file(path)


def human_size(n: float) -> str:
    """A byte count as people read it (decimal units: 1.2 MB)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _missing_error(entry: ModelEntry, path: Path) -> AugplanError:
    what = "folder" if entry.is_folder else "file"
    if path.exists():
        other = "a file" if entry.is_folder else "a folder"
        return AugplanError(
            f"model {entry.name}: {path} is {other}, but the model is a {what}",
            hint=f"remove it and run `augplan models pull {entry.name}`",
        )
    return AugplanError(
        f"model {entry.name} ({what} {entry.filename}) is not in {path.parent}; "
        f"run `augplan models pull {entry.name}`"
    )


def _mismatch_error(entry: ModelEntry, path: Path, actual: str) -> AugplanError:
    return AugplanError(
        f"model {entry.name}: {path} does not match the catalogue: expected sha256 "
        f"{entry.sha256}, found sha256 {actual}; refusing to load it",
        hint=f"run `augplan models pull {entry.name}` to replace it with a checked copy",
    )


def _check(entry: ModelEntry, path: Path) -> None:
    if not _present(entry, path):
        raise _missing_error(entry, path)
    actual = _digest(entry, path)
    if actual != entry.sha256:
        raise _mismatch_error(entry, path, actual)


def verify(name: str, directory: Path | None = None) -> Path:
    """Check the sha256 of model ``name`` in the models directory and return its path.

    Missing or mismatching bytes raise AugplanError; nothing unchecked is ever returned.
    """
    entry = get_entry(name)
    path = model_path(entry, _resolve_dir(directory))
    _check(entry, path)
    return path


def status(directory: str | Path | None = None, *, check: bool = False) -> list[dict[str, Any]]:
    """One row per catalogue entry. ``verified`` is None unless ``check`` (which hashes every
    present model, about a second per GB)."""
    base = _resolve_dir(directory)
    rows = []
    for entry in _load().values():
        path = model_path(entry, base)
        present = _present(entry, path)
        verified: bool | None = None
        if check:
            verified = present and _digest(entry, path) == entry.sha256
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "family": entry.family,
                "params": entry.params,
                "quantisation": entry.quantisation,
                "size_bytes": entry.size_bytes,
                "present": present,
                "verified": verified,
                "path": str(path),
            }
        )
    return rows
