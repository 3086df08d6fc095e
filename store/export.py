"""Export synthetic (query, passage) training pairs as jsonl, parquet, a BEIR folder, or a
Hugging Face ``datasets.Dataset`` saved to disk (what sentence-transformers' trainer reads)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from store._db import Store
from store.errors import AugplanError
from store.selection import Selection

FORMATS = ("jsonl", "parquet", "beir", "hf")
_FOLDER_FORMATS = ("beir", "hf")


def training_pairs(store: Store, corpus: str, selection: Selection | None = None
                   ) -> pl.DataFrame:
    """Accepted synthetic queries of a corpus (and selection) joined with their passages, in
    passage order."""
    store.corpus_info(corpus)
    sel = (selection or Selection()).narrow(corpus=corpus, status="ok")
    aug = store.augmentations(
        sel, ["key", "query", "passage_id", "augmenter", "strategy", "seed", "idx"]
    )
    passages = store.passages(corpus, columns=["passage_id", "title", "text", "ordinal"])
    df = pl.from_arrow(aug).join(pl.from_arrow(passages), on="passage_id", how="inner")
    return df.sort("ordinal", "augmenter", "idx").drop("ordinal").rename(
        {"key": "query_id", "text": "passage"}
    )


def export_pairs(
    store: Store, corpus: str, fmt: str, out: str | Path, *, selection: Selection | None = None
) -> int:
    """Write the pairs to ``out``; returns how many. Written under a temporary name in the
    same folder, then renamed: a failed export leaves nothing behind."""
    if fmt not in FORMATS:
        raise AugplanError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.exists():
        raise AugplanError(f"{out}: folder {out.parent} does not exist")
    if fmt in _FOLDER_FORMATS and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AugplanError(f"{out}: folder exists and is not empty")
    pairs = training_pairs(store, corpus, selection)
    if pairs.height == 0:
        where = selection.describe() if selection is not None else ""
        raise AugplanError(
            f"corpus {corpus!r} has no accepted synthetic queries to export"
            + (f" matching {where}" if where and where != "all queries" else ""),
            hint="run `augplan generate --corpus NAME --augmenter MODEL` first",
        )
    if fmt == "beir":
        _write_folder(out, lambda tmp: _write_beir(store, corpus, pairs, tmp))
    elif fmt == "hf":
        _write_folder(out, lambda tmp: _write_hf(pairs, tmp))
    else:
        _write_file(out, lambda tmp: pairs.write_ndjson(tmp) if fmt == "jsonl"
                    else pairs.write_parquet(tmp))
    return pairs.height


def _write_folder(out: Path, write: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".augplan-export-", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_file(out: Path, write: Callable[[str], object]) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".augplan-export-", dir=out.parent)
    os.close(fd)
    try:
        write(tmp_name)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _write_beir(store: Store, corpus: str, pairs: pl.DataFrame, folder: Path) -> None:
    passages = pl.from_arrow(store.passages(corpus, columns=["passage_id", "title", "text"]))
    passages.select(pl.col("passage_id").alias("_id"), "title", "text").write_ndjson(
        folder / "corpus.jsonl"
    )
    pairs.select(pl.col("query_id").alias("_id"), pl.col("query").alias("text")).unique(
        "_id", keep="first", maintain_order=True
    ).write_ndjson(folder / "queries.jsonl")
    (folder / "qrels").mkdir()
    pairs.select(
        pl.col("query_id").alias("query-id"),
        pl.col("passage_id").alias("corpus-id"),
        pl.lit(1).alias("score"),
    ).write_csv(folder / "qrels" / "train.tsv", separator="\t")


def _write_hf(pairs: pl.DataFrame, folder: Path) -> None:
    """Two text columns, (query, passage), in the order sentence-transformers' trainer takes
    as (anchor, positive); the passage is its title and text as the pilots train on it."""
    from datasets import Dataset

    frame = pairs.select(
        "query",
        pl.when(pl.col("title").fill_null("") != "")
        .then(pl.concat_str([pl.col("title"), pl.lit(" "), pl.col("passage")]))
        .otherwise(pl.col("passage")).str.strip_chars().alias("passage"),
    )
    Dataset(frame.to_arrow()).save_to_disk(str(folder))
