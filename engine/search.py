"""The cache of synthetic queries as users look at it: vector, full-text or hybrid search,
listings of a selection, and every query of one passage."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.embed import Embedder
from store import Selection, Store
from store.errors import AugplanError

MODES = ("vector", "fts", "hybrid")
_COLUMNS = ["query", "corpus", "passage_id", "augmenter", "strategy", "status", "key"]


def search_queries(
    store: Store,
    text: str,
    *,
    mode: str = "hybrid",
    selection: Selection | None = None,
    limit: int = 10,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
) -> pl.DataFrame:
    """Matching synthetic queries (within a selection) with a score and the passage each was
    generated for."""
    if mode not in MODES:
        raise AugplanError(f"--mode {mode!r}: use one of {', '.join(MODES)}")
    if not text.strip():
        raise AugplanError("the search text is empty")
    if limit < 1:
        raise AugplanError("--limit must be at least 1")
    if selection is not None and selection.corpus:
        store.corpus_info(selection.corpus)
    vector = None
    if mode in ("vector", "hybrid"):
        vector = (embedder or Embedder(models_dir=models_dir)).encode([text])[0].tolist()
    hits = store.search(mode=mode, text=text, vector=vector, selection=selection, limit=limit,
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


#: columns of a listing, and the order it is shown in (by passage, then by augmenter)
LIST_COLUMNS = ["query", "corpus", "passage_id", "augmenter", "strategy", "status", "idx"]
LIST_ORDER = ("corpus", "passage_id", "augmenter", "idx")


def list_queries(
    store: Store,
    selection: Selection | None = None,
    *,
    order: tuple[str, ...] = LIST_ORDER,
    limit: int = 50,
) -> pl.DataFrame:
    """The first ``limit`` queries of a selection in ``order``, with their passages (title,
    text) and a null score. LanceDB sorts and cuts, so only the rows shown are read."""
    if limit < 1:
        raise AugplanError("--limit must be at least 1")
    t = store.augmentations(selection, LIST_COLUMNS, limit=limit, order_by=list(order))
    if t.num_rows == 0:
        return pl.DataFrame()
    df = pl.from_arrow(t)
    passages = store.passages_by_id(df.select("corpus", "passage_id").unique())
    df = df.join(pl.from_arrow(passages), on=["corpus", "passage_id"], how="left",
                 maintain_order="left")
    return df.with_columns(pl.lit(None, pl.Float64).alias("score"))


def passage_queries(store: Store, corpus: str, passage_id: str) -> list[dict]:
    """Every query generated for one passage, by augmenter, strategy, seed and index."""
    t = store.augmentations(Selection(corpus=corpus, passage_ids=(passage_id,)),
                            ["query", "augmenter", "strategy", "status", "reason", "idx", "seed"])
    return sorted(t.to_pylist(), key=lambda q: (q["augmenter"], q["strategy"], q["seed"],
                                                q["idx"]))
