"""Retrieval evaluation of a SentenceTransformer on a BEIR-format split held in the store.

Metrics come from ``ranx`` (nDCG@10 primary, Recall@100, MRR@10); nothing here computes a metric
by hand. Search is exact (normalised embeddings, one matrix product per block of queries), which
is fast at the sizes pilots use.

Two modes:

* ``full`` — every passage of the corpus is encoded and searched;
* ``nano`` — NanoBEIR-style: the candidate pool is, per query, its relevant passages plus its
  top-``nano_k`` BM25 passages (``bm25s``), and only the union of those pools is encoded. The
  BM25 pools are computed once per evaluator and reused by every pilot point.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.device import PRECISIONS, bf16_faster
from store import Store
from store.errors import AugplanError

METRICS = ("ndcg@10", "recall@100", "mrr@10")
TOP_K = 100


@dataclass
class EvalSet:
    name: str  # corpus:split
    corpus: str
    split: str
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    doc_ids: list[str]
    doc_texts: list[str]


def parse_eval(spec: str) -> tuple[str, str]:
    """``NAME:SPLIT`` (``NAME`` alone means the test split)."""
    name, _, split = spec.strip().partition(":")
    if not name:
        raise AugplanError(f"--eval {spec!r}: expected NAME:SPLIT, e.g. scifact:test")
    return name, split or "test"


def load_eval_set(store: Store, spec: str) -> EvalSet:
    """The queries, qrels and passages of ``NAME:SPLIT`` from the store, with clear errors."""
    corpus, split = parse_eval(spec)
    if store.corpus_info(corpus, missing_ok=True) is None:
        known = ", ".join(c["name"] for c in store.corpora()) or "none"
        raise AugplanError(f"--eval {spec!r}: no corpus {corpus!r} in the store (corpora: {known})",
                           hint=f"augplan corpus import {corpus} --name {corpus}")
    qrels = pl.from_arrow(store.qrels(corpus, split, positive=True))
    if qrels.height == 0:
        splits = store.qrel_splits(corpus)
        raise AugplanError(f"--eval {spec!r}: corpus {corpus!r} has no qrels for split "
                           f"{split!r} (splits with qrels: {', '.join(splits) or 'none'})")
    queries = pl.from_arrow(store.queries(corpus))
    queries = queries.filter(pl.col("query_id").is_in(qrels["query_id"].unique().implode()))
    queries = queries.sort("query_id")
    if queries.height == 0:
        raise AugplanError(f"--eval {spec!r}: none of the split's qrels names a known query")
    query_ids = queries["query_id"].to_list()
    known = set(query_ids)
    rel: dict[str, dict[str, int]] = {}
    for qid, pid, score in qrels.select("query_id", "passage_id", "score").iter_rows():
        if qid in known:
            rel.setdefault(qid, {})[pid] = int(score)
    passages = store.passages(corpus)
    titles = passages.column("title").to_pylist()
    texts = passages.column("text").to_pylist()
    docs = [f"{t} {x}".strip() if t else x for t, x in zip(titles, texts, strict=True)]
    return EvalSet(spec if ":" in spec else f"{corpus}:{split}", corpus, split,
                   query_ids, queries["text"].to_list(), rel,
                   passages.column("passage_id").to_pylist(), docs)


def metrics_for(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str,
                                                                                           float]:
    """nDCG@10, Recall@100 and MRR@10 with ranx (a query with no results scores 0)."""
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    full_run = {q: (run.get(q) or {"\x00none": 0.0}) for q in qrels}
    with _quiet_numba():
        out = ranx_evaluate(Qrels(qrels), Run(full_run), list(METRICS), make_comparable=True)
    return {k: float(v) for k, v in out.items()}


@contextlib.contextmanager
def _quiet_numba() -> Iterator[None]:
    """ranx's numba kernels warn, when first compiled, about a uint64 -> int64 cast inside
    ranx (NumbaTypeSafetyWarning): not ours to fix and not for users; only that warning
    category is silenced, only around ranx."""
    from numba.core.errors import NumbaTypeSafetyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        yield


@dataclass
class Evaluator:
    """Evaluates models on one eval set; what does not depend on the model is prepared once."""

    evalset: EvalSet
    mode: str = "full"  # full | nano
    nano_k: int = 10
    ignore_identical_ids: bool = False
    precision: str = "auto"  # auto | bf16 | fp32 (transformer encoders; static ones stay fp32)
    batch_size: int = 64
    _pool: list[int] | None = field(default=None, init=False, repr=False)
    _warm: bool = field(default=False, init=False, repr=False)
    #: Seconds per stage of the last ``evaluate`` call (and the passages it encoded); "setup"
    #: is what is not charged to the model (the nano pool and metric kernels, made once; the
    #: warm-up encoding).
    last_timings: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("full", "nano"):
            raise AugplanError(f"--eval-mode {self.mode!r}: use full or nano")
        if self.precision not in PRECISIONS:
            raise AugplanError(f"--precision {self.precision!r}: use auto, bf16 or fp32")
        if self.nano_k < 1:
            raise AugplanError("--nano-k must be at least 1")

    @property
    def label(self) -> str:
        return self.mode if self.mode == "full" else f"nano{self.nano_k}"

    def pool(self) -> list[int]:
        """Indices of the passages searched: all of them, or the nano pool."""
        if self._pool is None:
            if self.mode == "full":
                self._pool = list(range(len(self.evalset.doc_ids)))
            else:
                self._pool = self._nano_pool()
        return self._pool

    def _nano_pool(self) -> list[int]:
        import bm25s

        es = self.evalset
        index = {d: i for i, d in enumerate(es.doc_ids)}
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(es.doc_texts, stopwords="en", show_progress=False),
                        show_progress=False)
        k = min(self.nano_k, len(es.doc_ids))
        hits, _ = retriever.retrieve(bm25s.tokenize(es.query_texts, stopwords="en",
                                                    show_progress=False), k=k,
                                     show_progress=False)
        chosen: set[int] = {int(i) for i in np.asarray(hits).ravel()}
        for rel in es.qrels.values():
            chosen.update(index[d] for d in rel if d in index)
        return sorted(chosen)

    def _warm_up(self, model: Any) -> None:
        """Once per evaluator, ranx compiles its numba kernels (seconds) on a run shaped like
        this set's (its own qrels); once per model, one query is encoded (the process' first
        encoding warms torch up). Neither is charged to the model's evaluation."""
        if not self._warm:
            metrics_for(self.evalset.qrels, {q: {d: 1.0 for d in rel}
                                             for q, rel in self.evalset.qrels.items()})
            self._warm = True
        self._encode(model, self.evalset.query_texts[:1])

    def _encode(self, model: Any, texts: list[str]) -> np.ndarray:
        import contextlib

        import torch

        # the bf16 rule of engine.device, for the device the model sits on
        device = str(getattr(model, "device", "cpu")).split(":", 1)[0]
        bf16 = self.precision == "bf16" or (self.precision == "auto" and bf16_faster(device))
        static = type(model[0]).__name__ == "StaticEmbedding"
        ctx = (torch.autocast(device, dtype=torch.bfloat16) if bf16 and not static
               else contextlib.nullcontext())
        with ctx, torch.inference_mode():
            vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def evaluate(self, model: Any,
                 on_progress: Callable[[str], None] | None = None) -> tuple[dict[str, float],
                                                                            float]:
        """(metrics, seconds) of ``model`` on the eval set. The seconds are this model's own:
        what the evaluator prepares once for every model (the BM25 pool of nano mode, the
        metric kernels' compilation) and a one-query warm-up encoding are timed apart, in
        ``last_timings["setup"]``, so the first model evaluated is not charged more than the
        others."""
        t_setup = time.perf_counter()
        es = self.evalset
        pool = self.pool()
        self._warm_up(model)
        t0 = time.perf_counter()
        if on_progress:
            on_progress(f"encoding {len(pool)} passages")
        docs = self._encode(model, [es.doc_texts[i] for i in pool])
        t_docs = time.perf_counter()
        queries = self._encode(model, es.query_texts)
        t_queries = time.perf_counter()
        pool_ids = [es.doc_ids[i] for i in pool]
        k = min(TOP_K + (1 if self.ignore_identical_ids else 0), len(pool_ids))
        run: dict[str, dict[str, float]] = {}
        for start in range(0, len(queries), 256):
            scores = queries[start:start + 256] @ docs.T
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for row, qid in enumerate(es.query_ids[start:start + 256]):
                hits = {pool_ids[j]: float(scores[row, j]) for j in top[row]}
                if self.ignore_identical_ids:
                    hits.pop(qid, None)
                run[qid] = dict(sorted(hits.items(), key=lambda kv: -kv[1])[:TOP_K])
        t_search = time.perf_counter()
        metrics = metrics_for(es.qrels, run)
        t_end = time.perf_counter()
        self.last_timings = {
            "setup": t0 - t_setup, "encode_passages": t_docs - t0,
            "encode_queries": t_queries - t_docs, "search": t_search - t_queries,
            "metrics": t_end - t_search, "passages_encoded": float(len(pool)),
        }
        return metrics, time.perf_counter() - t0


__all__ = ["METRICS", "EvalSet", "Evaluator", "load_eval_set", "metrics_for", "parse_eval"]
