"""Search the cache of synthetic queries: vector, full-text or hybrid, with SQL filters."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.embed import Embedder
from store import Store
from store.errors import AugplanError

MODES = ("vector", "fts", "hybrid")
_COLUMNS = ["query", "corpus", "passage_id", "augmenter", "strategy", "status", "key"]


def search_queries(
    store: Store,
    text: str,
    *,
    corpus: str | None = None,
    mode: str = "hybrid",
    where: str | None = None,
    limit: int = 10,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
) -> pl.DataFrame:
    """Matching synthetic queries with a score and the passage each was generated for."""
    if mode not in MODES:
        raise AugplanError(f"--mode {mode!r}: use one of {', '.join(MODES)}")
    if not text.strip():
        raise AugplanError("the search text is empty")
    if limit < 1:
        raise AugplanError("--limit must be at least 1")
    if corpus:
        store.corpus_info(corpus)
    clauses = [c for c in (where, f"corpus = '{corpus}'" if corpus else None) if c]
    full_where = " AND ".join(f"({c})" for c in clauses) or None
    vector = None
    if mode in ("vector", "hybrid"):
        vector = (embedder or Embedder(models_dir=models_dir)).encode([text])[0].tolist()
    hits = store.search(mode=mode, text=text, vector=vector, where=full_where, limit=limit,
                        columns=_COLUMNS)
    df = pl.from_arrow(hits)
    if df.height == 0:
        return pl.DataFrame(schema={"score": pl.Float64, "query": pl.Utf8, "passage_id": pl.Utf8})
    if "_distance" in df.columns:
        df = df.with_columns((1.0 - pl.col("_distance") / 2.0).alias("score"))  # cosine, unit vectors
    elif "_relevance_score" in df.columns:
        df = df.with_columns(pl.col("_relevance_score").alias("score"))
    else:
        df = df.with_columns(pl.col("_score").alias("score"))
    passages = store.passages_by_id(df.select("corpus", "passage_id").unique())
    df = df.join(pl.from_arrow(passages), on=["corpus", "passage_id"], how="left")
    return df.select(
        "score", "query", "corpus", "passage_id", "title", "text", "augmenter", "strategy",
        "status",
    )
