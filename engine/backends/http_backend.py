"""A backend for OpenAI-compatible completion servers: llama-server (llama.cpp), vLLM,
``python -m llama_cpp.server`` and the like.

Only ``POST {base_url}/v1/completions`` is used, with the prompt, ``max_tokens``,
``temperature``, ``top_p``, ``seed`` and ``stop`` (plus ``top_k``, which these servers accept;
pass ``send_top_k=False`` for one that rejects unknown fields). Token counts come from the
answer's ``usage``. Nothing but ``base_url`` is ever contacted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from engine.backends.base import Completion
from store.errors import AugplanError

__all__ = ["OpenAIHTTPBackend"]


class OpenAIHTTPBackend:
    """Completions from an OpenAI-compatible server; ``complete_many`` sends up to
    ``concurrency`` requests at a time (servers with continuous batching serve them together)."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120,
        concurrency: int = 4,
        send_top_k: bool = True,
    ) -> None:
        if concurrency < 1:
            raise AugplanError(f"concurrency must be at least 1, got {concurrency}")
        base = base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise AugplanError(f"--base-url {base_url!r}: use an http:// or https:// URL")
        base = base.removesuffix("/v1")
        self.base_url = base
        self.url = f"{base}/v1/completions"
        self.model = model
        self.concurrency = concurrency
        self.send_top_k = send_top_k
        self.device_name = f"server at {base}"
        self.chat_template: str | None = None  # the server applies its own, if any
        self.eos_token = ""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout), limits=limits, trust_env=False
        )

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
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "seed": int(seed),
            "stop": [s for s in stop if s][:4] or None,
        }
        if self.send_top_k and top_k > 0:
            body["top_k"] = int(top_k)
        body = {k: v for k, v in body.items() if v is not None}
        t0 = time.perf_counter()
        try:
            resp = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise AugplanError(
                f"{self.url} did not answer within {self._client.timeout.read:.0f} s",
                hint="raise the timeout or check the server's load",
            ) from None
        except httpx.HTTPError as exc:
            raise AugplanError(
                f"cannot reach the completion server at {self.url}: {exc}",
                hint="start the server (e.g. `python -m llama_cpp.server --model FILE`) or fix "
                "--base-url",
            ) from None
        seconds = time.perf_counter() - t0
        if resp.status_code >= 400:
            raise AugplanError(f"{self.url} answered HTTP {resp.status_code}: {_detail(resp)}")
        try:
            data = resp.json()
            text = data["choices"][0]["text"]
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            gen_tokens = int(usage.get("completion_tokens", 0))
            cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AugplanError(
                f"{self.url} answered HTTP {resp.status_code} with no completion in it "
                f"({type(exc).__name__}: {exc}): {resp.text[:200]!r}"
            ) from None
        for s in stop:  # servers apply stop strings; this also covers the ones beyond four
            if s and s in text:
                text = text[: text.index(s)]
        return Completion(text=str(text), prompt_tokens=prompt_tokens, gen_tokens=gen_tokens,
                          seconds=seconds, evaluated_tokens=prompt_tokens - cached)

    def complete_many(
        self,
        prompts: Sequence[str],
        *,
        prefix: str | None = None,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        top_k: int = 0,
        seeds: Sequence[int] | int | None = None,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """Completions of whole prompts in the order given, ``concurrency`` in flight.

        ``prefix`` (the part every prompt starts with) is accepted for the protocol; servers
        with a prompt cache reuse it by themselves."""
        n = len(prompts)
        if isinstance(seeds, int) or seeds is None:
            seed_list = [int(seeds or 0)] * n
        else:
            seed_list = [int(s) for s in seeds]
            if len(seed_list) != n:
                raise ValueError(f"{len(seed_list)} seeds for {n} prompts")

        def one(i: int) -> Completion:
            return self.complete(prompts[i], max_tokens=max_tokens,
                                 temperature=temperature, top_p=top_p, top_k=top_k,
                                 seed=seed_list[i], stop=stop)

        if n <= 1 or self.concurrency == 1:
            return [one(i) for i in range(n)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, n)) as pool:
            return list(pool.map(one, range(n)))

    def close(self) -> None:
        self._client.close()


def _detail(resp: httpx.Response) -> str:
    """The server's own error message (OpenAI style ``{"error": {"message": ...}}``), short."""
    text = resp.text
    try:
        err = resp.json().get("error")
        text = str(err.get("message", err) if isinstance(err, dict) else err or text)
    except (ValueError, AttributeError):
        pass
    return " ".join(text.split())[:300]
