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
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine import catalogue, prompts
from engine.backends import Backend
from engine.runs import Cancelled, Progress, RunTracker, cancel, find_run, open_run, run_state
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
    workers: dict[str, int] = field(default_factory=dict)  # blocks per cluster worker

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
    cluster: str | None = None,
    actors: int | None = None,
) -> GenerateReport:
    """Generate the missing synthetic queries of a request and commit them in batches.

    ``run_id`` continues an existing run record (resume). ``should_stop`` is polled between
    batches; the store's run status ``cancelling`` (set by ``augplan runs cancel``) stops too.
    ``cluster`` (a Ray address) decodes the batches on a pool of ``actors`` generator actors
    there (``engine.cluster``); each finished batch is committed here as it returns.
    """
    _check_request(request)
    if cluster is not None:  # reached first: a wrong address writes nothing
        from engine.cluster import connect

        connect(cluster)
    t_start = time.perf_counter()
    plan, model_id = resolve_plan(request, models_dir, backend)
    params = request.sampling_params(plan)
    rows = plan_rows(request, plan, model_id, params, _request_passages(store, request))
    here, elsewhere = _find_cached(store, request.corpus, rows)
    run_id = open_run(store, _run_manifest(request, plan, model_id, params, len(rows), cluster),
                      run_id)
    copied, copied_keys = _copy_from_other_corpora(store, request.corpus, rows, here, elsewhere)
    done_keys = here | copied_keys
    todo = [r for r in rows if r["key"] not in done_keys]
    job = _Job(request, plan, model_id, params, run_id)
    tracker = RunTracker(store, run_id, total=len(rows), present=len(rows) - len(todo),
                         on_progress=on_progress, should_stop=should_stop)
    workers: dict[str, int] = {}
    if cluster is None:
        status = tracker.run_to_end(
            lambda: _generate_waves(job, tracker, todo, backend, models_dir))
    else:
        status = tracker.run_to_end(lambda: _generate_on_cluster(
            job, tracker, _waves(todo, request.batch_size), cluster, actors, models_dir,
            workers))
    store.optimize()
    c = tracker.counts
    return GenerateReport(
        run_id=run_id, corpus=request.corpus, augmenter=request.augmenter,
        strategy=plan.strategy, target=len(rows), generated=c.generated,
        already_present=len(here), copied=copied, seconds=time.perf_counter() - t_start,
        gen_seconds=c.seconds, prompt_tokens=c.prompt_tokens, gen_tokens=c.gen_tokens,
        evaluated_tokens=c.evaluated_tokens, status=status, samples=c.samples,
        workers=workers,
    )


def _check_request(request: GenerateRequest) -> None:
    if request.per_passage < 1:
        raise AugplanError("--per-passage must be at least 1")
    if request.limit is not None and request.limit < 1:
        raise AugplanError("--limit must be at least 1")
    if request.batch_size < 1:
        raise AugplanError("--batch-size must be at least 1")


def _request_passages(store: Store, request: GenerateRequest) -> pa.Table:
    """The passages a request covers (its ids, else the first ``limit``); none is an error."""
    passages = store.passages(request.corpus, request.limit,
                              ids=list(request.passages) if request.passages else None)
    if passages.num_rows == 0:
        raise AugplanError(f"corpus {request.corpus!r} has no passages")
    return passages


def _find_cached(store: Store, corpus: str,
                 rows: list[dict[str, Any]]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """The planned keys already stored: those under ``corpus``, and for each key found under
    another corpus the first such row."""
    here: set[str] = set()
    elsewhere: dict[str, dict[str, Any]] = {}
    for row in store.existing([r["key"] for r in rows]).to_pylist():
        if row["corpus"] == corpus:
            here.add(row["key"])
        else:
            elsewhere.setdefault(row["key"], row)
    return here, elsewhere


def _run_manifest(request: GenerateRequest, plan: prompts.PromptPlan, model_id: str,
                  params: dict[str, Any], target: int,
                  cluster: str | None = None) -> dict[str, Any]:
    """The run record's manifest: what ``resume`` needs, whose process the run is, and the
    Ray cluster it decodes on (None: in that process)."""
    return {"kind": "generate", **request.manifest(), "model_sha256": model_id,
            "form": plan.form, "prompt_hash": plan.hash, "params": params, "target": target,
            "pid": os.getpid(), "cluster": cluster}


def _copy_from_other_corpora(store: Store, corpus: str, rows: list[dict[str, Any]], here: set[str],
                             elsewhere: dict[str, dict[str, Any]]) -> tuple[int, set[str]]:
    """Commit, re-addressed to ``corpus``, the rows already generated for another corpus (query,
    raw text, checks and vector as stored): reused, not generated again. Returns (rows written,
    their keys)."""
    copies = []
    for r in rows:
        if r["key"] not in here and r["key"] in elsewhere:
            row = dict(elsewhere[r["key"]])
            row.update(corpus=corpus, uid=f"{corpus}/{r['key']}", passage_id=r["passage_id"])
            copies.append(row)
    copied = store.add_augmentations(pa.Table.from_pylist(copies)) if copies else 0
    return copied, {c["key"] for c in copies}


@dataclass(frozen=True)
class _Job:
    """What every row a run generates shares."""

    request: GenerateRequest
    plan: prompts.PromptPlan
    model_id: str
    params: dict[str, Any]
    run_id: str

    @cached_property
    def params_json(self) -> str:
        return canonical_json(self.params)


def _waves(todo: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    """``todo`` in waves of rows sharing one variant (one prompt prefix): one batched decode and
    one store commit each. A wave holds at most ``batch_size`` rows but never splits the rows of
    one passage (its queries share the decode of their prompt): a passage with more rows than
    that is a wave of its own."""
    by_variant: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in todo:
        by_variant.setdefault(r["variant"].name, {}).setdefault(r["passage_id"], []).append(r)
    waves: list[list[dict[str, Any]]] = []
    for passages in by_variant.values():
        wave: list[dict[str, Any]] = []
        for rows in passages.values():
            if wave and len(wave) + len(rows) > batch_size:
                waves.append(wave)
                wave = []
            wave.extend(rows)
        waves.append(wave)
    return waves


def _generate_waves(job: _Job, tracker: RunTracker, todo: list[dict[str, Any]],
                    backend: Backend | None, models_dir: Path | None) -> None:
    """Generate ``todo`` wave by wave, stopping (``Cancelled``) between two waves when asked to;
    the backend is opened only if there is something to generate."""
    waves = _waves(todo, job.request.batch_size)
    if not waves:
        return
    if backend is None:
        backend = open_backend(job.request, models_dir)
    for wave in waves:
        if tracker.stop_requested():
            raise Cancelled
        _generate_wave(job, tracker, backend, wave)


def _block(job: _Job, wave: list[dict[str, Any]]) -> dict[str, Any]:
    """The decode of one wave as plain values: the backend's ``complete_many`` arguments."""
    variant, params = wave[0]["variant"], job.params
    return {
        "prompts": [variant.render(r["title"], r["text"]) for r in wave],
        "prefix": variant.prefix, "stop": list(variant.stop),
        "seeds": [_call_seed(r["key"], job.request.seed) for r in wave],
        "params": {k: params[k] for k in ("max_tokens", "temperature", "top_p", "top_k")},
    }


def _generate_wave(job: _Job, tracker: RunTracker, backend: Backend,
                   wave: list[dict[str, Any]]) -> None:
    """One batched decode of rows sharing a variant, committed at once, then checkpointed."""
    block = _block(job, wave)
    outs = backend.complete_many(block["prompts"], prefix=block["prefix"], seeds=block["seeds"],
                                 stop=block["stop"], **block["params"])
    _commit_wave(job, tracker, wave, outs)


def _generate_on_cluster(job: _Job, tracker: RunTracker, waves: list[list[dict[str, Any]]],
                         address: str, actors: int | None, models_dir: Path | None,
                         workers: dict[str, int]) -> None:
    """The waves decoded by generator actors on a Ray cluster, each committed here as it
    returns (in any order); stops between two results when asked to."""
    if not waves:
        return
    from engine import cluster

    request = job.request
    settings: dict[str, Any] = {}
    if request.backend == "llama.cpp":
        settings["n_parallel"] = min(request.batch_size, 4)
    if request.backend == "http":
        settings["base_url"] = request.base_url
    threads = int(os.environ["AUGPLAN_THREADS"]) if os.environ.get("AUGPLAN_THREADS") else 1
    spec = cluster.ActorSpec(request.backend, request.augmenter,
                             str(models_dir) if models_dir else None, settings, threads)
    catalogue.get_entry(request.augmenter)  # a wrong name fails here, not in every actor
    for i, outs, worker in cluster.decode_blocks(address, spec, [_block(job, w) for w in waves],
                                                 actors=actors):
        _commit_wave(job, tracker, waves[i], outs)
        workers[worker] = workers.get(worker, 0) + 1
        if tracker.stop_requested():
            raise Cancelled


def _commit_wave(job: _Job, tracker: RunTracker, wave: list[dict[str, Any]],
                 outs: list[dict[str, Any]]) -> None:
    """Commit one decoded wave at once, then checkpoint the run."""
    variant = wave[0]["variant"]
    pending = []
    for r, out in zip(wave, outs, strict=True):
        query = prompts.parse_query(out["text"])
        pending.append(_augmentation(job, variant, r, out, query))
        tracker.counts.add(out, query)
    schema = augmentation_schema(tracker.store.dim)
    tracker.store.add_augmentations(pa.Table.from_pylist(pending, schema=schema))
    tracker.counts.generated += len(pending)
    tracker.checkpoint()
    tracker.post()


def _augmentation(job: _Job, variant: prompts.PromptVariant, r: dict[str, Any],
                  out: dict[str, Any], query: str) -> dict[str, Any]:
    """The stored row of the planned row ``r`` (of its wave's ``variant``), from its completion
    ``out``."""
    request = job.request
    return {
        "uid": f"{request.corpus}/{r['key']}", "key": r["key"], "corpus": request.corpus,
        "passage_id": r["passage_id"], "passage_hash": r["passage_hash"],
        "query": query, "raw": out["text"],
        "augmenter": request.augmenter, "model_sha256": job.model_id,
        "strategy": job.plan.strategy, "prompt_hash": variant.hash, "params": job.params_json,
        "temperature": job.params["temperature"], "top_p": job.params["top_p"],
        "seed": request.seed, "idx": r["idx"],
        "prompt_tokens": out["prompt_tokens"], "gen_tokens": out["gen_tokens"],
        "seconds": out["seconds"], "run_id": job.run_id, "created_at": now(),
        "status": "ok" if query else "empty",
        "reason": "" if query else f"empty completion ({variant.name})", "dup_of": None,
        "checks": json.dumps({"variant": variant.name, "form": job.plan.form}),
        "embedder": None, "vector": None,
    }


def resume(store: Store, run_id: str, *, models_dir: Path | None = None,
           on_progress: Callable[[Progress], None] | None = None) -> GenerateReport:
    """Continue a run from its manifest: only what is missing is generated."""
    manifest = json.loads(find_run(store, run_id)["manifest"])
    request = GenerateRequest.from_manifest(manifest)
    return generate(store, request, models_dir=models_dir, run_id=run_id,
                    on_progress=on_progress)


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


__all__ = ["BACKENDS", "Cancelled", "GenerateReport", "GenerateRequest", "Progress", "cancel",
           "find_run", "generate", "load_examples", "open_backend", "plan_rows", "resolve_plan",
           "resume", "run_state"]
