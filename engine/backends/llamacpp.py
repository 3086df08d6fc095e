"""In-process llama.cpp backend (llama-cpp-python's high-level API).

llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates only the tokens after
the longest common prefix, so prompts whose fixed part comes first pay for it once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from engine.backends.base import Completion


def default_threads() -> int:
    env = os.environ.get("AUGPLAN_THREADS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class LlamaCppBackend:
    name = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_batch: int = 256,
        n_threads: int | None = None,
    ) -> None:
        from llama_cpp import Llama

        threads = n_threads or default_threads()
        # Both thread counts explicit: n_threads_batch defaults to every core and fights torch.
        self.llm = Llama(
            model_path=str(model_path),
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
