"""Fetching a model from the Hugging Face Hub (only on request, and never with HF_HUB_OFFLINE
set)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from engine.catalogue.entries import ModelEntry
from engine.catalogue.files import human_size, sha256_file, sha256_tree
from engine.catalogue.landing import Log, _land, _new_staging, _remove
from store.errors import AugplanError


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _pull_hub(entry: ModelEntry, target: Path, log: Log) -> Path:
    if entry.hub is None:
        raise AugplanError(f"model {entry.name} has no Hugging Face Hub source in the catalogue")
    repo_id, hub_file = entry.hub
    where = f"{repo_id}/{hub_file}" if hub_file else repo_id
    local_hint = f"or import a copy you have with `augplan models pull {entry.name} --path FILE`"
    if _hub_offline():
        raise AugplanError(
            f"model {entry.name}: cannot download {where} from the Hugging Face Hub because "
            "HF_HUB_OFFLINE is set (downloads are switched off)",
            hint=f"unset HF_HUB_OFFLINE on a machine with network access, {local_hint}",
        )
    try:
        import huggingface_hub
    except ImportError as exc:
        raise AugplanError(
            f"model {entry.name}: the huggingface_hub package is not installed, so {where} "
            "cannot be downloaded from the Hub",
            hint=f"install huggingface-hub, {local_hint}",
        ) from exc
    log(
        f"{entry.name}: downloading {where} from the Hugging Face Hub "
        f"(about {human_size(entry.size_bytes)})"
    )
    with tempfile.TemporaryDirectory(
        prefix=f".{entry.filename}.", suffix=".hub", dir=target.parent
    ) as tmp:
        try:
            if hub_file is not None:
                got = Path(
                    huggingface_hub.hf_hub_download(
                        repo_id=repo_id, filename=hub_file, local_dir=tmp
                    )
                )
            else:
                huggingface_hub.snapshot_download(
                    repo_id=repo_id, allow_patterns=list(entry.files), local_dir=tmp
                )
        except Exception as exc:  # network, auth, missing file: all end the same way for users
            first = (str(exc).strip().splitlines() or [""])[0]
            raise AugplanError(
                f"model {entry.name}: download of {where} from the Hugging Face Hub failed: "
                f"{type(exc).__name__}: {first}",
                hint=f"check network access to huggingface.co, {local_hint}",
            ) from exc
        staged = _new_staging(entry, target.parent)
        try:
            if hub_file is not None:
                os.replace(got, staged)
                actual = sha256_file(staged)
            else:
                for rel in entry.files:
                    if not (Path(tmp) / rel).is_file():
                        raise AugplanError(f"model {entry.name}: {where} has no file {rel}")
                    (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(Path(tmp) / rel, staged / rel)
                actual = sha256_tree(staged)
            return _land(entry, staged, actual, target, f"the Hugging Face Hub ({where})")
        finally:
            _remove(staged)
