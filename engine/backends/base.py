"""The protocol every generation backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypedDict


class Completion(TypedDict, total=False):
    """One completion with its token usage and wall time."""

    text: str
    prompt_tokens: int  # tokens of the whole prompt
    gen_tokens: int
    seconds: float
    evaluated_tokens: int  # prompt tokens actually computed (a cached prefix is not)


class Backend(Protocol):
    """Turns prompts into completions.

    Implementations: llama.cpp in-process (sequential reference and batched), transformers,
    OpenAI-compatible HTTP. ``chat_template`` is the model's template (None for completion-only
    models and servers that hide it); ``eos_token`` its end-of-turn text.
    """

    name: str
    chat_template: str | None
    eos_token: str

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

    def complete_many(
        self,
        prompts: list[str],
        *,
        prefix: str | None = None,
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seeds: list[int],
        stop: Sequence[str],
    ) -> list[Completion]: ...

    def close(self) -> None: ...
