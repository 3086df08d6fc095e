"""The protocol every generation backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypedDict


class Completion(TypedDict):
    """One completion with its token usage and wall time."""

    text: str
    prompt_tokens: int
    gen_tokens: int
    seconds: float


class Backend(Protocol):
    """Turns a prompt into a completion. Implementations: llama.cpp in-process (default)."""

    name: str

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seed: int,
        stop: Sequence[str],
    ) -> Completion: ...

    def close(self) -> None: ...
