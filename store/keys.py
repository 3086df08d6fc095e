"""Content keys: every stored thing is addressed by a hash of what it was made from."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_text(*parts: str) -> str:
    """sha256 hex of the parts joined by a NUL byte (unambiguous for any text)."""
    h = hashlib.sha256()
    for i, part in enumerate(parts):
        if i:
            h.update(b"\x00")
        h.update(part.encode("utf-8"))
    return h.hexdigest()


def passage_hash(title: str, text: str) -> str:
    """Content hash of a passage: the same title and text give the same hash in any corpus."""
    return sha256_text(title, text)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values always give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def augmentation_key(
    passage_hash: str,
    model_sha256: str,
    prompt_hash: str,
    params: dict[str, Any],
    seed: int,
    index: int,
) -> str:
    """Store key of one synthetic query: (passage, model file, prompt, sampling params, seed, index)."""
    return sha256_text(passage_hash, model_sha256, prompt_hash, canonical_json(params), str(seed), str(index))[:40]
