"""Export synthetic (query, passage) training pairs as jsonl, parquet or a BEIR folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import polars as pl

from store._db import Store, _q
from store.errors import AugplanError

FORMATS = ("jsonl", "parquet", "beir")


def training_pairs(store: Store, corpus: str, where: str | None = None) -> pl.DataFrame:
    """Accepted synthetic queries of a corpus joined with their passages, in passage order."""
    store.corpus_info(corpus)
    clause = f"corpus = {_q(corpus)} AND status = 'ok'"
    if where:
        clause += f" AND ({where})"
    try:
        aug = store.augmentations(
            clause, ["key", "query", "passage_id", "augmenter", "strategy", "seed", "idx"]
        )
    except (ValueError, RuntimeError) as exc:
        raise AugplanError(f"--where {where!r}: {str(exc).splitlines()[0]}") from None
    passages = store.scan(
        "passages", f"corpus = {_q(corpus)}", ["passage_id", "title", "text", "ordinal"]
    )
    df = pl.from_arrow(aug).join(pl.from_arrow(passages), on="passage_id", how="inner")
    return df.sort("ordinal", "augmenter", "idx").drop("ordinal").rename(
        {"key": "query_id", "text": "passage"}
    )


def export_pairs(
    store: Store, corpus: str, fmt: str, out: str | Path, *, where: str | None = None
) -> int:
    """Write the pairs to ``out``; returns how many. Written to a temp name, then renamed."""
    if fmt not in FORMATS:
        raise AugplanError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.exists():
        raise AugplanError(f"{out}: folder {out.parent} does not exist")
    pairs = training_pairs(store, corpus, where)
    if pairs.height == 0:
        raise AugplanError(
            f"corpus {corpus!r} has no accepted synthetic queries to export"
            + (f" matching {where!r}" if where else ""),
            hint="run `augplan generate --corpus NAME --augmenter MODEL` first",
        )
    if fmt == "beir":
        if out.exists() and any(out.iterdir()):
            raise AugplanError(f"{out}: folder exists and is not empty")
        tmp = Path(tempfile.mkdtemp(prefix=".augplan-export-", dir=out.parent))
        try:
            passages = pl.from_arrow(
                store.scan("passages", f"corpus = {_q(corpus)}", ["passage_id", "title", "text",
                                                                   "ordinal"])
            ).sort("ordinal")
            passages.select(pl.col("passage_id").alias("_id"), "title", "text").write_ndjson(
                tmp / "corpus.jsonl"
            )
            pairs.select(pl.col("query_id").alias("_id"), pl.col("query").alias("text")).unique(
                "_id", keep="first", maintain_order=True
            ).write_ndjson(tmp / "queries.jsonl")
            (tmp / "qrels").mkdir()
            pairs.select(
                pl.col("query_id").alias("query-id"),
                pl.col("passage_id").alias("corpus-id"),
                pl.lit(1).alias("score"),
            ).write_csv(tmp / "qrels" / "train.tsv", separator="\t")
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return pairs.height
    fd, tmp_name = tempfile.mkstemp(prefix=".augplan-export-", dir=out.parent)
    os.close(fd)
    try:
        if fmt == "jsonl":
            pairs.write_ndjson(tmp_name)
        else:
            pairs.write_parquet(tmp_name)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return pairs.height
