"""In-process llama.cpp backend (llama-cpp-python's high-level API).

llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates only the tokens after
the longest common prefix, so prompts whose fixed part comes first pay for it once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.backends.base import Completion
from engine.device import default_threads

_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _plain_weight_layout() -> Iterator[None]:
    import llama_cpp.llama as high_level

    module = high_level.llama_cpp
    original = module.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    with _LOAD_LOCK:
        module.llama_model_default_params = params
        try:
            yield
        finally:
            module.llama_model_default_params = original


def open_llama(model_path: str | Path, **kw: Any) -> Any:
    """``llama_cpp.Llama`` with the weights kept in their file layout (no CPU "repacking").

    Repacked K-quant weights (Q4_K_M files: Qwen2.5, Gemma 3) are multiplied by different kernels
    for one token and for several, with slightly different rounding, so greedy outputs would
    depend on how tokens are grouped into a decode: a loop and a batched decode of the same
    prompts agreed on only 75-79% of Qwen2.5-0.5B's queries, against 100% with the file layout,
    at the same speed on this project's 2-core reference CPU. ``Llama`` has no argument for this,
    so the default model parameters are adjusted while it loads.
    """
    from llama_cpp import Llama

    with _plain_weight_layout():
        return Llama(model_path=str(model_path), **kw)


class LlamaCppBackend:
    name = "llama.cpp-sequential"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_batch: int = 256,
        n_threads: int | None = None,
    ) -> None:
        threads = n_threads or default_threads()
        # Both thread counts explicit: n_threads_batch defaults to every core and fights torch.
        self.llm = open_llama(
            model_path,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.chat_template: str | None = self.llm.metadata.get("tokenizer.chat_template")
        self.eos_token: str = self.llm._model.token_get_text(self.llm.token_eos())

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
    ) -> Completion:
        t0 = time.perf_counter()
        out = self.llm.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            repeat_penalty=1.0,
            seed=seed,
            stop=list(stop),
        )
        usage = out["usage"]
        return Completion(
            text=out["choices"][0]["text"],
            prompt_tokens=int(usage["prompt_tokens"]),
            gen_tokens=int(usage["completion_tokens"]),
            seconds=time.perf_counter() - t0,
        )

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
    ) -> list[Completion]:
        """One after the other (the reference path); the shared prefix stays in the KV cache."""
        return [
            self.complete(p, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                          top_k=top_k, seed=s, stop=stop)
            for p, s in zip(prompts, seeds, strict=True)
        ]

    def close(self) -> None:
        self.llm.close()
