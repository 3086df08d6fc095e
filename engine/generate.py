"""Generation runs: synthetic queries for a corpus' passages, cached by content key.

Every (passage, model file, prompt, sampling params, seed, index) is generated at most once: a
re-run finds its keys in the store and generates nothing, and a run killed at any moment resumes
from the last committed batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine import catalogue, prompts
from engine.backends import Backend, LlamaCppBackend
from store import Store, now
from store.errors import AugplanError
from store.keys import augmentation_key, canonical_json
from store.schemas import augmentations as augmentation_schema


@dataclass(frozen=True)
class GenerateRequest:
    corpus: str
    augmenter: str
    strategy: str = "inpars"
    limit: int | None = None  # the first n passages of the corpus (file order)
    per_passage: int = 1
    seed: int = 0
    temperature: float | None = None  # default: 0 (greedy) for one query per passage, else 0.8
    top_p: float = 0.95
    top_k: int = 40
    batch_size: int = 16  # rows per store commit

    def sampling_params(self, template: prompts.PromptTemplate) -> dict[str, Any]:
        temperature = self.temperature
        if temperature is None:
            temperature = 0.0 if self.per_passage == 1 else 0.8
        greedy = temperature == 0.0
        return {
            "temperature": float(temperature),
            "top_p": 1.0 if greedy else float(self.top_p),
            "top_k": 1 if greedy else int(self.top_k),
            "max_tokens": template.max_tokens,
            "repeat_penalty": 1.0,
        }


@dataclass
class Progress:
    """Posted after each committed batch (and once at the start)."""

    run_id: str
    total: int  # rows the request covers
    done: int  # rows present now (cached + generated so far)
    generated: int
    prompt_tokens: int
    gen_tokens: int
    gen_seconds: float  # wall time spent in the model


@dataclass
class GenerateReport:
    run_id: str
    corpus: str
    augmenter: str
    strategy: str
    target: int
    generated: int
    already_present: int
    copied: int  # found under another corpus with the same content key: reused, not generated
    seconds: float
    gen_seconds: float
    prompt_tokens: int
    gen_tokens: int
    samples: list[str] = field(default_factory=list)

    @property
    def queries_per_s(self) -> float:
        return self.generated / self.gen_seconds if self.gen_seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.gen_tokens / self.gen_seconds if self.gen_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["queries_per_s"] = round(self.queries_per_s, 3)
        d["tokens_per_s"] = round(self.tokens_per_s, 1)
        return d


def _call_seed(key: str, seed: int) -> int:
    """A per-row sampling seed: different for every passage and index, fixed for a key."""
    return (int(hashlib.sha256(f"{key}:{seed}".encode()).hexdigest()[:8], 16) + seed) % (2**31 - 1)


def open_backend(augmenter: str, models_dir: Path | None = None) -> tuple[Backend, str]:
    """The default backend for a catalogue augmenter, after its sha256 check."""
    entry = catalogue.get_entry(augmenter)
    if entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {augmenter!r} is an {entry.kind}, not an augmenter")
    path = catalogue.verify(augmenter, models_dir)
    n_batch = 128 if entry.name.startswith("gemma") else 256
    return LlamaCppBackend(path, n_batch=n_batch), entry.sha256


def generate(
    store: Store,
    request: GenerateRequest,
    *,
    models_dir: Path | None = None,
    backend: Backend | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> GenerateReport:
    """Generate the missing synthetic queries of a request and commit them in batches."""
    if request.per_passage < 1:
        raise AugplanError("--per-passage must be at least 1")
    if request.limit is not None and request.limit < 1:
        raise AugplanError("--limit must be at least 1")
    t_start = time.perf_counter()
    template = prompts.load(request.strategy)
    entry = catalogue.get_entry(request.augmenter)
    if entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {request.augmenter!r} is an {entry.kind}, not an augmenter")
    params = request.sampling_params(template)
    passages = store.passages(request.corpus, request.limit)
    if passages.num_rows == 0:
        raise AugplanError(f"corpus {request.corpus!r} has no passages")

    # The plan: one row per (passage, index), keyed by content.
    plan: list[dict[str, Any]] = []
    for pid, phash, title, text in zip(
        passages.column("passage_id").to_pylist(),
        passages.column("passage_hash").to_pylist(),
        passages.column("title").to_pylist(),
        passages.column("text").to_pylist(),
        strict=True,
    ):
        for idx in range(request.per_passage):
            key = augmentation_key(phash, entry.sha256, template.hash, params, request.seed, idx)
            plan.append(
                {"key": key, "passage_id": pid, "passage_hash": phash, "title": title,
                 "text": text, "idx": idx}
            )
    keys = [p["key"] for p in plan]
    found = store.existing(keys)
    here = set()
    elsewhere: dict[str, dict[str, Any]] = {}
    for row in found.to_pylist():
        if row["corpus"] == request.corpus:
            here.add(row["key"])
        else:
            elsewhere.setdefault(row["key"], row)

    manifest = {
        "kind": "generate",
        "corpus": request.corpus,
        "augmenter": request.augmenter,
        "model_sha256": entry.sha256,
        "strategy": template.id,
        "prompt_hash": template.hash,
        "params": params,
        "limit": request.limit,
        "per_passage": request.per_passage,
        "seed": request.seed,
        "target": len(plan),
    }
    run_id = store.start_run(manifest)

    # Content already generated for another corpus: reuse it, don't generate it again.
    copies = []
    for p in plan:
        if p["key"] not in here and p["key"] in elsewhere:
            row = dict(elsewhere[p["key"]])
            row.update(corpus=request.corpus, uid=f"{request.corpus}/{p['key']}",
                       passage_id=p["passage_id"])
            copies.append(row)
    copied = store.add_augmentations(pa.Table.from_pylist(copies)) if copies else 0
    done_keys = here | {c["key"] for c in copies}
    todo = [p for p in plan if p["key"] not in done_keys]

    schema = augmentation_schema(store.dim)
    params_json = canonical_json(params)
    prompt_tokens = gen_tokens = generated = 0
    gen_seconds = 0.0
    samples: list[str] = []

    def post() -> None:
        if on_progress:
            on_progress(Progress(run_id, len(plan), len(plan) - len(todo) + generated, generated,
                                 prompt_tokens, gen_tokens, gen_seconds))

    post()
    status, message = "finished", ""
    try:
        if todo and backend is None:
            backend, _ = open_backend(request.augmenter, models_dir)
        pending: list[dict[str, Any]] = []
        for i, p in enumerate(todo):
            out = backend.complete(
                template.render(p["title"], p["text"]),
                max_tokens=params["max_tokens"],
                temperature=params["temperature"],
                top_p=params["top_p"],
                top_k=params["top_k"],
                seed=_call_seed(p["key"], request.seed),
                stop=template.stop,
            )
            query = prompts.parse_query(out["text"])
            pending.append(
                {
                    "uid": f"{request.corpus}/{p['key']}",
                    "key": p["key"],
                    "corpus": request.corpus,
                    "passage_id": p["passage_id"],
                    "passage_hash": p["passage_hash"],
                    "query": query,
                    "raw": out["text"],
                    "augmenter": request.augmenter,
                    "model_sha256": entry.sha256,
                    "strategy": template.id,
                    "prompt_hash": template.hash,
                    "params": params_json,
                    "temperature": params["temperature"],
                    "top_p": params["top_p"],
                    "seed": request.seed,
                    "idx": p["idx"],
                    "prompt_tokens": out["prompt_tokens"],
                    "gen_tokens": out["gen_tokens"],
                    "seconds": out["seconds"],
                    "run_id": run_id,
                    "created_at": now(),
                    "status": "ok" if query else "empty",
                    "reason": "" if query else "empty completion",
                    "embedder": None,
                    "vector": None,
                }
            )
            prompt_tokens += out["prompt_tokens"]
            gen_tokens += out["gen_tokens"]
            gen_seconds += out["seconds"]
            if len(samples) < 5 and query:
                samples.append(query)
            if len(pending) >= request.batch_size or i == len(todo) - 1:
                store.add_augmentations(pa.Table.from_pylist(pending, schema=schema))
                generated += len(pending)
                pending = []
                store.update_run(run_id, done=len(plan) - len(todo) + generated,
                                 generated=generated, prompt_tokens=prompt_tokens,
                                 gen_tokens=gen_tokens, seconds=gen_seconds)
                post()
    except KeyboardInterrupt:
        status, message = "cancelled", "interrupted"
        raise
    except BaseException as exc:
        status, message = "failed", str(exc)[:500]
        raise
    finally:
        store.update_run(run_id, status=status, message=message, done=len(plan) - len(todo)
                         + generated, generated=generated, seconds=gen_seconds,
                         prompt_tokens=prompt_tokens, gen_tokens=gen_tokens)
    store.optimize()
    return GenerateReport(
        run_id=run_id,
        corpus=request.corpus,
        augmenter=request.augmenter,
        strategy=template.id,
        target=len(plan),
        generated=generated,
        already_present=len(here),
        copied=copied,
        seconds=time.perf_counter() - t_start,
        gen_seconds=gen_seconds,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        samples=samples,
    )

