"""Backends by kind: one place that turns (kind, augmenter) into a ready backend.

``BACKENDS`` maps a kind to its constructor; a new backend is one more entry::

    BACKENDS["my-kind"] = my_constructor  # (augmenter, *, models_dir, base_url, device, **kw)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.backends.base import Backend
from store.errors import AugplanError

__all__ = ["BACKENDS", "BATCHED_SETTINGS", "DEFAULT_KIND", "BackendConstructor", "make_backend"]

DEFAULT_KIND = "llama.cpp"

BackendConstructor = Callable[..., Backend]


def _llamacpp(
    augmenter: str,
    *,
    models_dir: Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    **kw: Any,
) -> Backend:
    """The batched llama.cpp backend (many sequences per decode, shared prefix cached once)."""
    from engine import catalogue
    from engine.backends.llamacpp_batched import LlamaCppBatchedBackend

    _augmenter_entry(augmenter)
    path = catalogue.verify(augmenter, models_dir)
    return LlamaCppBatchedBackend(path, **{**BATCHED_SETTINGS, **kw})


#: The batched backend's settings unless a caller gives its own. Up to 4 sequences per step
#: keeps greedy outputs identical to the sequential reference: with more, llama.cpp's CPU
#: matmul for Q5_0/Q8_0 weights takes a kernel path that rounds differently (Qwen2.5-0.5B
#: agreed on 60/64 queries at 8, 59/64 at 16, 64/64 at 4), and on 2 cores going past 4 was at
#: most 4% faster, since prompt evaluation dominates.
BATCHED_SETTINGS = {"n_batch": 256, "n_parallel": 4}


def _llamacpp_sequential(
    augmenter: str,
    *,
    models_dir: Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    **kw: Any,
) -> Backend:
    """llama-cpp-python's high-level API, one prompt after the other (the reference path)."""
    from engine import catalogue
    from engine.backends.llamacpp import LlamaCppBackend

    _augmenter_entry(augmenter)
    path = catalogue.verify(augmenter, models_dir)
    # Gemma's 262k vocabulary makes the compute buffer ~4x larger at n_batch=256.
    kw.setdefault("n_batch", 128 if augmenter.startswith("gemma") else 256)
    return LlamaCppBackend(path, **kw)


def _transformers(
    augmenter: str,
    *,
    models_dir: Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    **kw: Any,
) -> Backend:
    from engine.backends.transformers_backend import TransformersBackend

    return TransformersBackend.from_catalogue(augmenter, models_dir, device=device, **kw)


def _http(
    augmenter: str,
    *,
    models_dir: Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    **kw: Any,
) -> Backend:
    from engine.backends.http_backend import OpenAIHTTPBackend

    if not base_url:
        raise AugplanError(
            "the http backend needs --base-url (an OpenAI-compatible server, e.g. "
            "http://127.0.0.1:8080)"
        )
    model = kw.pop("model", None) or augmenter
    return OpenAIHTTPBackend(base_url, model, **kw)


BACKENDS: dict[str, BackendConstructor] = {
    "llama.cpp": _llamacpp,
    "llama.cpp-sequential": _llamacpp_sequential,
    "transformers": _transformers,
    "http": _http,
}


def _augmenter_entry(name: str) -> None:
    from engine import catalogue

    entry = catalogue.get_entry(name)
    if entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {name!r} is an {entry.kind}, not an augmenter")


def make_backend(
    kind: str,
    augmenter: str,
    *,
    models_dir: str | Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    **kw: Any,
) -> Backend:
    """A backend of ``kind`` for ``augmenter`` (a catalogue name; for ``http``, the model name
    sent to the server unless ``model=`` is given). Extra keywords go to the constructor."""
    kind = kind or DEFAULT_KIND
    constructor = BACKENDS.get(kind)
    if constructor is None:
        raise AugplanError(
            f"--backend {kind!r}: unknown backend; known backends: {', '.join(BACKENDS)}"
        )
    directory = Path(models_dir) if models_dir is not None else None
    return constructor(augmenter, models_dir=directory, base_url=base_url, device=device, **kw)
