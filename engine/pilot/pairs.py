"""Training pairs of a pilot: the corpus' passages in a seeded order, the first n accepted
synthetic queries in that order (generated through the cache when missing), and the corpus'
own human pairs."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine.pilot.config import Event, PilotRequest
from store import Store
from store.errors import AugplanError


def passage_order(store: Store, corpus: str, sample_seed: int) -> list[tuple[str, str]]:
    """(passage_id, passage_hash) of the corpus in the pilot's seeded order."""
    t = store.passages(corpus, columns=["passage_id", "passage_hash"])
    pairs = list(zip(t.column("passage_id").to_pylist(), t.column("passage_hash").to_pylist(),
                     strict=True))
    return sorted(pairs, key=lambda p: hashlib.sha256(
        f"{sample_seed}:{p[1]}:{p[0]}".encode()).hexdigest())


def select_pairs(
    store: Store,
    request: PilotRequest,
    augmenter: str,
    n: int,
    *,
    models_dir: Path | None = None,
    on_event: Event | None = None,
    cluster: str | None = None,
    actors: int | None = None,
) -> tuple[list[tuple[str, str]], list[str], int]:
    """The first ``n`` accepted (query, passage text) pairs of ``augmenter`` in the seeded order,
    generating what is missing (on a Ray cluster when ``cluster`` is its address); returns
    (pairs, their keys, augmentations generated)."""
    from engine import generate as gen

    order = passage_order(store, request.corpus, request.sample_seed)
    greq = gen.GenerateRequest(corpus=request.corpus, augmenter=augmenter,
                               strategy=request.strategy, per_passage=request.per_passage,
                               backend=request.backend)
    plan, model_id = gen.resolve_plan(greq, models_dir)
    params = greq.sampling_params(plan)
    generated = 0
    walked = 0  # passages of the order whose augmentations exist and are quality-checked
    accepted: list[tuple[str, str, str]] = []  # (key, passage_id, query)
    while len(accepted) < n:
        if walked >= len(order):
            raise AugplanError(
                f"{augmenter}: only {len(accepted)} accepted queries from all "
                f"{len(order)} passages of {request.corpus!r}, fewer than scale {n}",
                hint="lower --scales or raise --per-passage")
        missing = n - len(accepted)
        chunk = [pid for pid, _ in order[walked: walked + max(16, math.ceil(missing * 1.15))]]
        sub = gen.GenerateRequest(**{**asdict(greq), "passages": tuple(chunk)})
        passages = store.passages(request.corpus, ids=chunk)
        rows = gen.plan_rows(sub, plan, model_id, params, passages)
        keys = [r["key"] for r in rows]
        have = _rows_by_key(store, request.corpus, keys)
        todo = [k for k in keys if k not in have]
        if todo:
            if on_event:
                on_event(f"{augmenter}: generating {len(todo)} queries for the next "
                         f"{len(chunk)} passages ({len(keys) - len(todo)} cached there; "
                         f"{len(accepted)}/{n} accepted before them)")
            report = gen.generate(store, sub, models_dir=models_dir,
                                  on_progress=_progress_events(augmenter, on_event),
                                  cluster=cluster, actors=actors)
            generated += report.generated
        unchecked = [k for k in keys if (have.get(k) or {}).get("vector") is None]
        if unchecked:
            from engine.quality import FilterOptions, QualityOptions, process

            if on_event:
                on_event(f"{augmenter}: filters and dedup")
            options = QualityOptions(filters=FilterOptions(round_trip=request.round_trip))
            process(store, request.corpus, models_dir=models_dir, options=options,
                    augmenter=augmenter, strategy=request.strategy)
            have = _rows_by_key(store, request.corpus, keys)
        for k, pid in ((r["key"], r["passage_id"]) for r in rows):
            row = have.get(k)
            if row is not None and row["status"] == "ok" and len(accepted) < n:
                accepted.append((k, pid, row["query"]))
        walked += len(chunk)
    texts = _passage_texts(store, request.corpus, [pid for _, pid, _ in accepted])
    pairs = [(query, texts[pid]) for _, pid, query in accepted]
    return pairs, [k for k, _, _ in accepted], generated


def _progress_events(augmenter: str, on_event: Event | None) -> Callable[[Any], None] | None:
    """A generate progress callback that reports every 64 new queries (with the rate)."""
    if on_event is None:
        return None
    last = [0]

    def post(p: Any) -> None:
        if p.generated - last[0] >= 64 or (p.done == p.total and p.generated > last[0]):
            last[0] = p.generated
            rate = p.generated / p.gen_seconds if p.gen_seconds else 0.0
            on_event(f"{augmenter}: {p.done}/{p.total} queries of this chunk "
                     f"({rate:.2f} queries/s)")

    return post


def _rows_by_key(store: Store, corpus: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    found = store.existing(list(keys))
    out = {}
    for r in found.to_pylist():
        if r["corpus"] == corpus:
            out[r["key"]] = r
    return out


def _passage_texts(store: Store, corpus: str, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    t = store.passages(corpus, ids=list(dict.fromkeys(ids)))
    return {pid: (f"{title} {text}".strip() if title else text) for pid, title, text in zip(
        t.column("passage_id").to_pylist(), t.column("title").to_pylist(),
        t.column("text").to_pylist(), strict=True)}


def human_pairs(store: Store, corpus: str, split: str) -> list[tuple[str, str]]:
    """Every positive (query, passage) pair of a qrels split, in a fixed order ([] if none)."""
    qrels = store.qrels(corpus, split, positive=True).select(["query_id", "passage_id"])
    if qrels.num_rows == 0:
        return []
    qrels = qrels.to_pylist()
    queries = {r["query_id"]: r["text"] for r in store.queries(corpus).to_pylist()}
    qrels = sorted((r["query_id"], r["passage_id"]) for r in qrels if r["query_id"] in queries)
    texts = _passage_texts(store, corpus, [p for _, p in qrels])
    return [(queries[qid], texts[pid]) for qid, pid in qrels]


