"""Measuring an augmenter: the passages to measure on (:func:`bench_corpus` picks the default
corpus), the backend, the timed passes, peak memory, and the resulting profile."""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.device import cpu_name, default_threads
from engine.profiles.data import AugmenterProfile, now_utc, save_profile
from engine.prompts import DEFAULT_STRATEGY
from store.errors import AugplanError

if TYPE_CHECKING:
    from engine.backends.base import Backend
    from engine.catalogue import ModelEntry
    from engine.prompts import PromptPlan, Strategy
    from store import Store

__all__ = [
    "DEFAULT_BENCH_CORPUS",
    "bench_corpus",
    "cpu_name",
    "measure_augmenter",
    "peak_rss_mb",
]

#: the corpus measured on when neither the caller nor the store names one (a BEIR dataset name)
DEFAULT_BENCH_CORPUS = "scifact"


# ------------------------------------------------------------------------------- memory


def _reset_peak_rss() -> None:
    """Start a fresh peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB: VmHWM (reset by the measurement), else
    psutil's or getrusage's lifetime peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 2**20
    except ImportError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def _cuda_in_use(backend: Any) -> bool:
    device = getattr(backend, "device", None)
    return "torch" in sys.modules and getattr(device, "type", None) == "cuda"


# ------------------------------------------------------------------------------- passages


def bench_corpus(store: Store | None) -> str:
    """The corpus a benchmark measures on when none is given: the store's corpus (of several,
    the one with the most passages, ties by name), else SciFact (:data:`DEFAULT_BENCH_CORPUS`,
    found on disk)."""
    corpora = store.corpora() if store is not None else []
    if not corpora:
        return DEFAULT_BENCH_CORPUS
    best = min(corpora, key=lambda c: (-int(c.get("n_passages") or 0), str(c["name"])))
    return str(best["name"])


def _passages(
    n: int, store: Store | None, corpus: str | Path | None, data_dir: str | Path | None
) -> list[tuple[str, str]]:
    """(title, text) of the first ``n`` passages: a store corpus, else a BEIR folder/dataset."""
    if store is not None and corpus is not None:
        info = store.corpus_info(str(corpus), missing_ok=True)
        if info is not None:
            t = store.passages(str(corpus), n)
            return list(zip(t.column("title").to_pylist(), t.column("text").to_pylist(),
                            strict=True))
    from engine.datasets import locate
    from store import corpus as corpus_io

    name = str(corpus or DEFAULT_BENCH_CORPUS)
    files = corpus_io.detect(locate(name, data_dir))
    for batch in corpus_io.iter_passages(files, batch_size=n):
        return [(r["title"] or "", r["text"] or "") for r in batch.to_pylist()[:n]]
    raise AugplanError(f"corpus {name!r} has no passages")


# ------------------------------------------------------------------------------- steps


def _catalogue_entry(
    augmenter: str, *, backend: str, instance: Backend | None
) -> ModelEntry | None:
    """The augmenter's catalogue entry; None for an open instance or an HTTP model not in it."""
    from engine import catalogue

    entry = None
    try:
        entry = catalogue.get_entry(augmenter)
    except AugplanError:
        if instance is None and backend != "http":
            raise
    if entry is not None and entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {augmenter!r} is an {entry.kind}, not an augmenter")
    return entry


def _open_backend(
    backend: str,
    augmenter: str,
    *,
    models_dir: str | Path | None,
    base_url: str | None,
    device: str | None,
    batch_size: int | None,
) -> Backend:
    """Open ``backend`` for ``augmenter``; ``batch_size`` is the transformers batch, the batched
    llama.cpp slots or the HTTP concurrency."""
    from engine.backends.factory import make_backend

    kw: dict[str, Any] = {}
    if batch_size is not None and backend != "llama.cpp-sequential":
        kw[{"http": "concurrency", "llama.cpp": "n_parallel"}.get(backend, "batch_size")] = (
            batch_size)
    return make_backend(backend, augmenter, models_dir=models_dir, base_url=base_url,
                        device=device, **kw)


def _prompts(
    strat: Strategy,
    instance: Backend,
    entry: ModelEntry | None,
    rows: Sequence[tuple[str, str]],
    *,
    examples: Sequence[tuple[str, str]] | None,
    form: str | None,
) -> tuple[PromptPlan, list[tuple[str, str]], dict[str, Any]]:
    """The strategy's plan for this backend, the ``(variant, prompt)`` of every passage, and the
    greedy sampling parameters of the passes."""
    chat = getattr(instance, "chat_template", None)
    if entry is not None and entry.completion_only:
        chat = None
    plan = strat.resolve(chat_template=chat, eos_token=getattr(instance, "eos_token", ""),
                         examples=examples, form=form)
    texts = []
    for i, (title, text) in enumerate(rows):
        variant = plan.variant_for(i, 0)
        texts.append((variant.name, variant.render(title, text)))
    params: dict[str, Any] = {
        "temperature": 0.0, "top_p": 1.0, "top_k": 1, "seed": 0,
        "max_tokens": plan.max_tokens,
        "variants": {v.name: (v.prefix, v.stop) for v in plan.variants},
    }
    return plan, texts, params


def _run(
    backend: Backend,
    prompts: Sequence[tuple[str, str]],
    *,
    max_tokens: int,
    params: dict[str, Any],
) -> tuple[float, int, int, int, int]:
    """(seconds, prompt tokens, evaluated prompt tokens, generated tokens, empty completions)
    of one pass over ``(variant, prompt)`` pairs, one ``complete_many`` call per variant."""
    from engine.prompts import parse_query

    groups: dict[str, list[str]] = {}
    for variant, prompt in prompts:
        groups.setdefault(variant, []).append(prompt)
    outs = []
    t0 = time.perf_counter()
    for variant, texts in groups.items():
        prefix, stop = params["variants"][variant]
        outs += backend.complete_many(
            texts, prefix=prefix, max_tokens=max_tokens, temperature=params["temperature"],
            top_p=params["top_p"], top_k=params["top_k"], seeds=[params["seed"]] * len(texts),
            stop=stop,
        )
    seconds = time.perf_counter() - t0
    empty = sum(1 for o in outs if not parse_query(o["text"]))
    prompt_tokens = sum(o["prompt_tokens"] for o in outs)
    evaluated = sum(o.get("evaluated_tokens", o["prompt_tokens"]) for o in outs)
    return seconds, prompt_tokens, evaluated, sum(o["gen_tokens"] for o in outs), empty


@dataclass(frozen=True)
class _Passes:
    """What the two timed passes measured (the first: prompt evaluation with one generated token
    per prompt; the second: full generation)."""

    prompts: int
    prompt_seconds: float
    prompt_tokens: int
    evaluated_tokens: int
    gen_seconds: float
    gen_prompt_tokens: int
    gen_tokens: int
    empty: int
    peak_rss_mb: float
    peak_gpu_mb: float | None

    def rates(self) -> tuple[float, float, float]:
        """(prompt tokens/s, generated tokens/s, queries/s); generated tokens/s from the
        difference of the passes when it is positive, else from the second pass alone."""
        prompt_tps = self.prompt_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0
        decode_tokens = self.gen_tokens - self.prompts  # the first pass made one per prompt
        decode_seconds = self.gen_seconds - self.prompt_seconds
        if decode_tokens > 0 and decode_seconds > 0:
            gen_tps = decode_tokens / decode_seconds
        else:
            gen_tps = self.gen_tokens / self.gen_seconds if self.gen_seconds > 0 else 0.0
        qps = self.prompts / self.gen_seconds if self.gen_seconds > 0 else 0.0
        return prompt_tps, gen_tps, qps


def _timed_passes(
    instance: Backend, texts: Sequence[tuple[str, str]], *, max_tokens: int,
    params: dict[str, Any],
) -> _Passes:
    """A warm-up on one full batch, then the two timed passes, and the peak memory."""
    gpu = _cuda_in_use(instance)
    if gpu:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    # Warm-up on one full batch: first calls pay for allocations and kernel selection.
    warm = getattr(instance, "batch_size", None) or getattr(instance, "n_parallel", None)
    _run(instance, texts[: max(1, min(len(texts), int(warm or 1)))], max_tokens=2, params=params)
    p_seconds, p_tokens, p_eval, _, _ = _run(instance, texts, max_tokens=1, params=params)
    g_seconds, g_prompt, _, g_tokens, empty = _run(instance, texts, max_tokens=max_tokens,
                                                   params=params)
    peak_gpu = None
    if gpu:
        import torch

        peak_gpu = torch.cuda.max_memory_allocated() / 2**20
    return _Passes(
        prompts=len(texts), prompt_seconds=p_seconds, prompt_tokens=p_tokens,
        evaluated_tokens=p_eval, gen_seconds=g_seconds, gen_prompt_tokens=g_prompt,
        gen_tokens=g_tokens, empty=empty, peak_rss_mb=peak_rss_mb(), peak_gpu_mb=peak_gpu,
    )


def _settings(
    plan: PromptPlan,
    passes: _Passes,
    *,
    load_seconds: float,
    corpus: str,
    entry: ModelEntry | None,
    instance: Backend,
) -> dict[str, Any]:
    """The profile's ``params``: sampling, timings, token totals, the corpus measured on, the
    model's checksum and the backend's batching and dtype."""
    settings: dict[str, Any] = {
        "form": plan.form, "max_tokens": plan.max_tokens, "temperature": 0.0,
        "load_seconds": round(load_seconds, 3), "prompt_seconds": round(passes.prompt_seconds, 3),
        "generate_seconds": round(passes.gen_seconds, 3),
        "prompt_tokens": int(passes.gen_prompt_tokens),
        "evaluated_prompt_tokens": int(passes.evaluated_tokens),
        "gen_tokens": int(passes.gen_tokens), "empty": int(passes.empty), "corpus": corpus,
        # the K queries of a passage decode its prompt once (see AugmenterProfile.prompt_share)
        "shares_passage_prompt": bool(getattr(instance, "fork", False)),
    }
    if entry is not None:
        settings["model_sha256"] = entry.sha256
    for attr in ("batch_size", "n_parallel", "concurrency", "dtype"):
        value = getattr(instance, attr, None)
        if value is not None:
            settings[attr] = value if isinstance(value, int | float) else str(value).split(".")[-1]
    return settings


def _sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant digits (short, stable numbers in TOML)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


# ------------------------------------------------------------------------------- measuring


def measure_augmenter(
    augmenter: str,
    *,
    strategy: str = DEFAULT_STRATEGY,
    backend: str = "llama.cpp",
    passages: int = 32,
    store: Store | None = None,
    corpus: str | Path | None = None,
    models_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    examples: Sequence[tuple[str, str]] | None = None,
    form: str | None = None,
    instance: Backend | None = None,
    save: bool = True,
) -> AugmenterProfile:
    """Measure an augmenter's throughput on ``passages`` passages and return its profile.

    Passages come from ``corpus`` in ``store`` when it is there, else from a BEIR folder or
    dataset name (found under ``data_dir`` / $AUGPLAN_DATA_DIR). Without ``corpus``, the
    store's corpus (:func:`bench_corpus`), else SciFact. After a warm-up on one batch, two
    timed passes: every prompt with ``max_tokens=1`` (prompt evaluation), then full greedy
    generation. Prompt tokens/s comes from the first pass, generated tokens/s from the
    difference of the two, queries/s from the second (end to end, model loading excluded).
    ``batch_size`` is the transformers batch, the batched llama.cpp slots or the HTTP
    concurrency. ``instance`` measures an open backend instead of opening one (``backend`` then
    only names it). The profile's ``params`` name the corpus. The profile is saved in ``store``
    when one is given (and ``save``).
    """
    from engine import prompts

    if passages < 1:
        raise AugplanError(f"--passages must be at least 1, got {passages}")
    strat = prompts.load(strategy)
    if strat.needs_examples and not examples:
        strat.resolve(examples=examples)  # raises the strategy's own "needs examples" error
    entry = _catalogue_entry(augmenter, backend=backend, instance=instance)
    source = str(corpus) if corpus is not None else bench_corpus(store)
    rows = _passages(passages, store, source, data_dir)

    _reset_peak_rss()
    t_load = time.perf_counter()
    owned = instance is None
    if instance is None:
        instance = _open_backend(backend, augmenter, models_dir=models_dir, base_url=base_url,
                                 device=device, batch_size=batch_size)
    load_seconds = time.perf_counter() - t_load
    try:
        plan, texts, params = _prompts(strat, instance, entry, rows, examples=examples,
                                       form=form)
        passes = _timed_passes(instance, texts, max_tokens=plan.max_tokens, params=params)
    finally:
        if owned:
            instance.close()

    prompt_tps, gen_tps, qps = passes.rates()
    profile = AugmenterProfile(
        augmenter=augmenter,
        strategy=plan.strategy,
        backend=getattr(instance, "name", backend) if owned else backend,
        device=getattr(instance, "device_name", None) or cpu_name(),
        threads=int(getattr(instance, "threads", 0) or default_threads()),
        prompt_tokens_per_s=_sig(prompt_tps),
        gen_tokens_per_s=_sig(gen_tps),
        queries_per_s=_sig(qps),
        queries_per_hour=_sig(qps * 3600.0),
        peak_rss_mb=round(passes.peak_rss_mb, 1),
        peak_gpu_mb=None if passes.peak_gpu_mb is None else round(passes.peak_gpu_mb, 1),
        passages=len(texts),
        measured_at=now_utc(),
        params=_settings(plan, passes, load_seconds=load_seconds, corpus=source, entry=entry,
                         instance=instance),
        model_params=entry.params if entry is not None else None,
    )
    if store is not None and save:
        save_profile(store, profile)
    return profile
