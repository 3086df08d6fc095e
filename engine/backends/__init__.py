"""Generation backends behind one small protocol (see ``base``).

The backends that need torch, transformers or httpx are imported on first use, so importing this
package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.backends.base import Backend, Completion
from engine.backends.llamacpp import LlamaCppBackend

if TYPE_CHECKING:
    from engine.backends.factory import BACKENDS, make_backend
    from engine.backends.http_backend import OpenAIHTTPBackend
    from engine.backends.llamacpp_batched import LlamaCppBatchedBackend
    from engine.backends.transformers_backend import TransformersBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "Completion",
    "LlamaCppBackend",
    "LlamaCppBatchedBackend",
    "OpenAIHTTPBackend",
    "TransformersBackend",
    "make_backend",
]

_LAZY = {
    "TransformersBackend": "engine.backends.transformers_backend",
    "OpenAIHTTPBackend": "engine.backends.http_backend",
    "LlamaCppBatchedBackend": "engine.backends.llamacpp_batched",
    "BACKENDS": "engine.backends.factory",
    "make_backend": "engine.backends.factory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
