"""Generation runs: synthetic queries for a corpus' passages, cached by content key.

Every (passage, model file, prompt, sampling params, seed, index) is generated at most once: a
re-run finds its keys in the store and generates nothing, and a run killed at any moment resumes
from the last committed batch (``augplan runs resume RUN`` or simply the same command again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine import catalogue, prompts
from engine.backends import Backend
from store import Store, now
from store.errors import AugplanError
from store.keys import augmentation_key, canonical_json
from store.schemas import augmentations as augmentation_schema

BACKENDS = ("llama.cpp", "llama.cpp-sequential", "transformers", "http")


@dataclass(frozen=True)
class GenerateRequest:
    corpus: str
    augmenter: str
    strategy: str = prompts.DEFAULT_STRATEGY
    limit: int | None = None  # the first n passages of the corpus (file order)
    passages: tuple[str, ...] = ()  # or these passage ids, in this order
    per_passage: int = 1
    seed: int = 0
    temperature: float | None = None  # default: 0 (greedy) for one query per passage, else 0.8
    top_p: float = 0.95
    top_k: int = 40
    batch_size: int = 16  # rows per store commit (and per batched decode wave)
    form: str | None = None  # completion | chat; default: the strategy's preference
    examples: tuple[tuple[str, str], ...] = ()  # (query, passage) pairs for promptagator
    backend: str = "llama.cpp"
    base_url: str | None = None  # for the http backend

    def sampling_params(self, plan: prompts.PromptPlan | prompts.Strategy) -> dict[str, Any]:
        temperature = self.temperature
        if temperature is None:
            temperature = 0.0 if self.per_passage == 1 else 0.8
        greedy = temperature == 0.0
        return {
            "temperature": float(temperature),
            "top_p": 1.0 if greedy else float(self.top_p),
            "top_k": 1 if greedy else int(self.top_k),
            "max_tokens": plan.max_tokens,
            "repeat_penalty": 1.0,
        }

    def manifest(self) -> dict[str, Any]:
        d = asdict(self)
        d["examples"] = [list(e) for e in self.examples]
        return d

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> GenerateRequest:
        fields = {k: manifest[k] for k in cls.__dataclass_fields__ if k in manifest}
        fields["examples"] = tuple(tuple(e) for e in fields.get("examples", ()))
        fields["passages"] = tuple(fields.get("passages", ()))
        return cls(**fields)


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
    evaluated_tokens: int = 0
    status: str = "finished"
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


class Cancelled(Exception):
    """The run was cancelled (``augplan runs cancel``) between two batches."""


def _call_seed(key: str, seed: int) -> int:
    """A per-row sampling seed: different for every passage and index, fixed for a key."""
    return (int(hashlib.sha256(f"{key}:{seed}".encode()).hexdigest()[:8], 16) + seed) % (2**31 - 1)


@cache
def _chat_info(path: str) -> tuple[str | None, str]:
    """(chat template, end-of-turn text) of a GGUF file, read from its vocabulary only."""
    from llama_cpp import Llama

    llm = Llama(model_path=path, vocab_only=True, verbose=False)
    try:
        return llm.metadata.get("tokenizer.chat_template"), llm._model.token_get_text(
            llm.token_eos()
        )
    finally:
        llm.close()


def open_backend(request: GenerateRequest, models_dir: Path | None = None) -> Backend:
    """The request's backend for a catalogue augmenter, after its sha256 check."""
    entry = catalogue.get_entry(request.augmenter)
    if request.backend not in BACKENDS:
        raise AugplanError(f"--backend {request.backend!r}: use one of {', '.join(BACKENDS)}")
    from engine.backends.factory import make_backend

    if request.backend == "http":
        return make_backend("http", request.augmenter, base_url=request.base_url)
    if request.backend == "llama.cpp":
        return make_backend("llama.cpp", entry.name, models_dir=models_dir,
                            n_parallel=min(request.batch_size, 4))
    return make_backend(request.backend, entry.name, models_dir=models_dir)


def resolve_plan(
    request: GenerateRequest, models_dir: Path | None = None, backend: Backend | None = None
) -> tuple[prompts.PromptPlan, str]:
    """The prompt plan for this model (chat form only with a chat template) and the model id
    that enters the content key (the file's sha256; the model name for a remote server)."""
    entry = catalogue.get_entry(request.augmenter)
    if entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {request.augmenter!r} is an {entry.kind}, "
                           "not an augmenter")
    strategy = prompts.load(request.strategy)
    if backend is not None:
        chat_template, eos = getattr(backend, "chat_template", None), getattr(
            backend, "eos_token", "")
    elif (request.backend == "http" or entry.completion_only or "chat" not in strategy.forms
          or request.form == "completion"):
        chat_template, eos = None, ""  # the model file is not needed to plan this
    else:
        path = catalogue.verify(request.augmenter, models_dir)
        chat_template, eos = _chat_info(str(path)) if path.is_file() else (None, "")
    if entry.completion_only:
        chat_template = None
    plan = strategy.resolve(chat_template=chat_template, eos_token=eos,
                            examples=request.examples, form=request.form)
    return plan, entry.sha256


def plan_rows(
    request: GenerateRequest,
    plan: prompts.PromptPlan,
    model_id: str,
    params: dict[str, Any],
    passages: Any,
) -> list[dict[str, Any]]:
    """One row per (passage, index) of ``passages`` (an Arrow table), keyed by content."""
    rows: list[dict[str, Any]] = []
    for ordinal, pid, phash, title, text in zip(
        passages.column("ordinal").to_pylist(),
        passages.column("passage_id").to_pylist(),
        passages.column("passage_hash").to_pylist(),
        passages.column("title").to_pylist(),
        passages.column("text").to_pylist(),
        strict=True,
    ):
        for idx in range(request.per_passage):
            variant = plan.variant_for(ordinal, idx)
            key = augmentation_key(phash, model_id, variant.hash, params, request.seed, idx)
            rows.append({"key": key, "passage_id": pid, "passage_hash": phash, "title": title,
                         "text": text, "idx": idx, "variant": variant})
    return rows


def generate(
    store: Store,
    request: GenerateRequest,
    *,
    models_dir: Path | None = None,
    backend: Backend | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    run_id: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GenerateReport:
    """Generate the missing synthetic queries of a request and commit them in batches.

    ``run_id`` continues an existing run record (resume). ``should_stop`` is polled between
    batches; the store's run status ``cancelling`` (set by ``augplan runs cancel``) stops too.
    """
    if request.per_passage < 1:
        raise AugplanError("--per-passage must be at least 1")
    if request.limit is not None and request.limit < 1:
        raise AugplanError("--limit must be at least 1")
    if request.batch_size < 1:
        raise AugplanError("--batch-size must be at least 1")
    t_start = time.perf_counter()
    plan, model_id = resolve_plan(request, models_dir, backend)
    params = request.sampling_params(plan)
    passages = store.passages(request.corpus, request.limit,
                              ids=list(request.passages) if request.passages else None)
    if passages.num_rows == 0:
        raise AugplanError(f"corpus {request.corpus!r} has no passages")

    rows = plan_rows(request, plan, model_id, params, passages)
    found = store.existing([r["key"] for r in rows])
    here: set[str] = set()
    elsewhere: dict[str, dict[str, Any]] = {}
    for row in found.to_pylist():
        if row["corpus"] == request.corpus:
            here.add(row["key"])
        else:
            elsewhere.setdefault(row["key"], row)

    manifest = {
        "kind": "generate",
        **request.manifest(),
        "model_sha256": model_id,
        "form": plan.form,
        "prompt_hash": plan.hash,
        "params": params,
        "target": len(rows),
        "pid": os.getpid(),
    }
    if run_id is None:
        run_id = store.start_run(manifest)
    else:
        store.update_run(run_id, status="running", message="resumed",
                         manifest=json.dumps(manifest, sort_keys=True))

    # Content already generated for another corpus: reuse it, don't generate it again.
    copies = []
    for r in rows:
        if r["key"] not in here and r["key"] in elsewhere:
            row = dict(elsewhere[r["key"]])
            row.update(corpus=request.corpus, uid=f"{request.corpus}/{r['key']}",
                       passage_id=r["passage_id"])
            copies.append(row)
    copied = store.add_augmentations(pa.Table.from_pylist(copies)) if copies else 0
    done_keys = here | {c["key"] for c in copies}
    todo = [r for r in rows if r["key"] not in done_keys]

    schema = augmentation_schema(store.dim)
    params_json = canonical_json(params)
    stats = {"prompt": 0, "gen": 0, "evaluated": 0, "generated": 0, "seconds": 0.0}
    samples: list[str] = []

    def post() -> None:
        if on_progress:
            on_progress(Progress(run_id, len(rows), len(rows) - len(todo) + stats["generated"],
                                 stats["generated"], stats["prompt"], stats["gen"],
                                 stats["seconds"]))

    def cancelled() -> bool:
        if should_stop is not None and should_stop():
            return True
        current = store.run(run_id)
        return current is not None and current["status"] == "cancelling"

    def checkpoint(status: str, message: str = "") -> None:
        store.update_run(run_id, status=status, message=message,
                         done=len(rows) - len(todo) + stats["generated"],
                         generated=stats["generated"], prompt_tokens=stats["prompt"],
                         gen_tokens=stats["gen"], seconds=stats["seconds"])

    post()
    status, message = "finished", ""
    try:
        # Waves of rows sharing one prompt prefix: one batched decode and one commit each.
        waves: list[list[dict[str, Any]]] = []
        by_variant: dict[str, list[dict[str, Any]]] = {}
        for r in todo:
            by_variant.setdefault(r["variant"].name, []).append(r)
        for group in by_variant.values():
            waves += [group[i:i + request.batch_size]
                      for i in range(0, len(group), request.batch_size)]
        if waves and backend is None:
            backend = open_backend(request, models_dir)
        for wave in waves:
            if cancelled():
                raise Cancelled
            variant = wave[0]["variant"]
            outs = backend.complete_many(
                [variant.render(r["title"], r["text"]) for r in wave],
                prefix=variant.prefix,
                max_tokens=params["max_tokens"],
                temperature=params["temperature"],
                top_p=params["top_p"],
                top_k=params["top_k"],
                seeds=[_call_seed(r["key"], request.seed) for r in wave],
                stop=variant.stop,
            )
            pending = []
            for r, out in zip(wave, outs, strict=True):
                query = prompts.parse_query(out["text"])
                pending.append({
                    "uid": f"{request.corpus}/{r['key']}",
                    "key": r["key"],
                    "corpus": request.corpus,
                    "passage_id": r["passage_id"],
                    "passage_hash": r["passage_hash"],
                    "query": query,
                    "raw": out["text"],
                    "augmenter": request.augmenter,
                    "model_sha256": model_id,
                    "strategy": plan.strategy,
                    "prompt_hash": variant.hash,
                    "params": params_json,
                    "temperature": params["temperature"],
                    "top_p": params["top_p"],
                    "seed": request.seed,
                    "idx": r["idx"],
                    "prompt_tokens": out["prompt_tokens"],
                    "gen_tokens": out["gen_tokens"],
                    "seconds": out["seconds"],
                    "run_id": run_id,
                    "created_at": now(),
                    "status": "ok" if query else "empty",
                    "reason": "" if query else f"empty completion ({variant.name})",
                    "dup_of": None,
                    "checks": json.dumps({"variant": variant.name, "form": plan.form}),
                    "embedder": None,
                    "vector": None,
                })
                stats["prompt"] += out["prompt_tokens"]
                stats["gen"] += out["gen_tokens"]
                stats["evaluated"] += out.get("evaluated_tokens", out["prompt_tokens"])
                stats["seconds"] += out["seconds"]
                if len(samples) < 5 and query:
                    samples.append(query)
            store.add_augmentations(pa.Table.from_pylist(pending, schema=schema))
            stats["generated"] += len(pending)
            checkpoint("running")
            post()
    except Cancelled:
        status, message = "cancelled", "cancelled between batches"
    except KeyboardInterrupt:
        status, message = "cancelled", "interrupted"
        raise
    except BaseException as exc:
        status, message = "failed", str(exc)[:500]
        raise
    finally:
        checkpoint(status, message)
    store.optimize()
    return GenerateReport(
        run_id=run_id,
        corpus=request.corpus,
        augmenter=request.augmenter,
        strategy=plan.strategy,
        target=len(rows),
        generated=stats["generated"],
        already_present=len(here),
        copied=copied,
        seconds=time.perf_counter() - t_start,
        gen_seconds=stats["seconds"],
        prompt_tokens=stats["prompt"],
        gen_tokens=stats["gen"],
        evaluated_tokens=stats["evaluated"],
        status=status,
        samples=samples,
    )


def resume(store: Store, run_id: str, *, models_dir: Path | None = None,
           on_progress: Callable[[Progress], None] | None = None) -> GenerateReport:
    """Continue a run from its manifest: only what is missing is generated."""
    manifest = json.loads(find_run(store, run_id)["manifest"])
    request = GenerateRequest.from_manifest(manifest)
    return generate(store, request, models_dir=models_dir, run_id=run_id,
                    on_progress=on_progress)


def find_run(store: Store, run_id: str) -> dict[str, Any]:
    """A run's record; an unknown id is a user error."""
    run = store.run(run_id)
    if run is None:
        raise AugplanError(f"no run {run_id!r}", hint="augplan runs list")
    return run


def run_state(run: dict[str, Any]) -> str:
    """A run's status as a user should read it: a 'running' run whose process is gone is
    'interrupted' (resumable)."""
    if run["status"] in ("running", "cancelling"):
        try:
            pid = int(json.loads(run["manifest"]).get("pid", 0))
        except (ValueError, TypeError):
            pid = 0
        if pid and not _alive(pid):
            return "interrupted"
    return run["status"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel(store: Store, run_id: str) -> str:
    """Ask a running run to stop after its current batch (or mark an interrupted one)."""
    state = run_state(find_run(store, run_id))
    if state == "running":
        store.update_run(run_id, status="cancelling")
        return "cancelling"
    if state == "interrupted":
        store.update_run(run_id, status="cancelled", message="cancelled after interruption")
        return "cancelled"
    raise AugplanError(f"run {run_id} is {state}; only running or interrupted runs can be "
                       "cancelled")


def load_examples(store: Store, corpus: str, *, split: str | None = None,
                  path: Path | None = None, limit: int = 8) -> tuple[tuple[str, str], ...]:
    """Few-shot (query, passage) pairs for promptagator: from a jsonl file with ``query`` and
    ``passage`` fields, or from a qrels split of the corpus (never use the split you evaluate
    on)."""
    pairs: list[tuple[str, str]] = []
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise AugplanError(f"{path}: cannot read examples ({exc})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                pairs.append((str(obj["query"]), str(obj["passage"])))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise AugplanError(f"{path}:{n}: an example needs 'query' and 'passage' "
                                   f"({type(exc).__name__})") from None
            if len(pairs) >= limit:
                break
    elif split is not None:
        pairs = store.qrel_pairs(corpus, split, limit=limit)
    if not pairs:
        raise AugplanError("no example pairs found"
                           + (f" in split {split!r} of corpus {corpus!r}" if split else ""))
    return tuple(pairs)


__all__ = ["BACKENDS", "GenerateReport", "GenerateRequest", "Progress", "cancel", "find_run",
           "generate",
           "load_examples", "open_backend", "plan_rows", "resolve_plan", "resume", "run_state"]
