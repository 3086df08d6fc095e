"""Importing a model from a local file or folder (``augplan models pull NAME --path``), after
checking its sha256 before anything is copied."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from engine.catalogue.entries import ModelEntry
from engine.catalogue.files import _digest, _present, _tree_digest, sha256_file, sha256_tree
from engine.catalogue.landing import Log, _copy_stream, _land, _new_staging, _remove
from store.errors import AugplanError


def _import_local(entry: ModelEntry, source: Path, target: Path, force: bool, log: Log) -> Path:
    source = source.expanduser()
    what = "folder" if entry.is_folder else "file"
    if not source.exists():
        raise AugplanError(f"model {entry.name}: {source} does not exist")
    if entry.is_folder != source.is_dir():
        raise AugplanError(
            f"model {entry.name} is a {what} ({entry.filename}), but {source} is not a {what}"
        )
    log(f"{entry.name}: checking {source}")
    if entry.is_folder:
        missing = [rel for rel in entry.files if not (source / rel).is_file()]
        if missing:
            raise AugplanError(
                f"model {entry.name}: {source} lacks {', '.join(missing)}; refusing to import it"
            )
        actual = _tree_digest(source, entry.files)
    else:
        actual = sha256_file(source)
    if actual != entry.sha256:
        raise AugplanError(
            f"model {entry.name}: {source} does not match the catalogue: expected sha256 "
            f"{entry.sha256}, found sha256 {actual}; refusing to import it (nothing was copied)",
            hint=f"the catalogue expects {entry.family}, {entry.quantisation}"
            + ("" if entry.is_folder else f" ({entry.size_bytes:,} bytes)"),
        )
    if source.resolve() == target.resolve():
        return target
    if not force and _present(entry, target) and _digest(entry, target) == entry.sha256:
        log(f"{entry.name}: already present and verified: {target}")
        return target
    staged = _new_staging(entry, target.parent)
    try:
        if entry.is_folder:
            for rel in entry.files:
                (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, staged / rel)
            copied = sha256_tree(staged)
        else:
            digest = hashlib.sha256()
            with open(source, "rb") as src, open(staged, "wb") as out:
                _copy_stream(src, out, digest)
            copied = digest.hexdigest()
        return _land(entry, staged, copied, target, f"the copy of {source}")
    finally:
        _remove(staged)
