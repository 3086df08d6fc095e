"""The second pass over a validated corpus: stream passages, queries and qrels as Arrow batches.

JSON lines are read as bytes in large chunks and parsed one at a time, parquet files batch by
batch; nothing is held beyond one batch. A record that validation would have refused raises an
AugplanError naming its place (the corpus should be validated first).
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from pathlib import Path

import pyarrow as pa

from store.corpus import _records as rec
from store.corpus.layout import CorpusFiles
from store.errors import AugplanError
from store.keys import passage_hash

PASSAGE_SCHEMA = pa.schema(
    [
        ("passage_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("passage_hash", pa.string()),
        ("ordinal", pa.int64()),
    ]
)
QUERY_SCHEMA = pa.schema([("query_id", pa.string()), ("text", pa.string())])
QREL_SCHEMA = pa.schema(
    [
        ("split", pa.string()),
        ("query_id", pa.string()),
        ("passage_id", pa.string()),
        ("score", pa.int32()),
    ]
)

_QREL_BATCH = 65536


def _unvalidated(where: str, message: str) -> AugplanError:
    return AugplanError(f"{where}: {message}", hint="validate the corpus before streaming it")


# --------------------------------------------------------------------------- passages


def _passage_batch(
    ids: list[str], titles: list[str], texts: list[str], start: int
) -> pa.RecordBatch:
    hashes = [passage_hash(t, x) for t, x in zip(titles, texts, strict=True)]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.array(titles, pa.string()),
            pa.array(texts, pa.string()),
            pa.array(hashes, pa.string()),
            pa.array(range(start, start + len(ids)), pa.int64()),
        ],
        schema=PASSAGE_SCHEMA,
    )


def _iter_jsonl_records(path: Path, with_title: bool) -> Iterator[tuple[str, str, str]]:
    for lineno, line in rec.read_lines(path):
        if line is None:
            raise _unvalidated(f"{path}:{lineno}", "line too long")
        if not line.strip():
            continue
        rid, title, text, errs = rec.parse_record(line, with_title)
        if errs or rid is None:
            raise _unvalidated(f"{path}:{lineno}", errs[0] if errs else "missing `_id`")
        yield rid, title, text


def iter_passages(files: CorpusFiles, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream the passages as PASSAGE_SCHEMA batches, in file order (``ordinal`` from 0)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if files.kind == "parquet":
        yield from _iter_parquet_passages(files.corpus, batch_size)
        return
    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    start = 0
    for rid, title, text in _iter_jsonl_records(files.corpus, True):
        ids.append(rid)
        titles.append(title)
        texts.append(text)
        if len(ids) >= batch_size:
            yield _passage_batch(ids, titles, texts, start)
            start += len(ids)
            ids, titles, texts = [], [], []
    if ids:
        yield _passage_batch(ids, titles, texts, start)


def _iter_parquet_passages(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    pf, id_col, title_col, text_col, errs = rec.parquet_columns(path)
    if errs:
        raise _unvalidated(str(path), errs[0])
    cols = [id_col, text_col] + ([title_col] if title_col else [])
    start = 0
    for batch in rec.parquet_batches(pf, cols, batch_size, path):
        ids = rec.id_list(batch.column(id_col))
        texts = batch.column(text_col).to_pylist()
        if title_col:
            titles = [t or "" for t in batch.column(title_col).to_pylist()]
        else:
            titles = [""] * len(ids)
        for i, (rid, text) in enumerate(zip(ids, texts, strict=True)):
            if not rid or text is None or not text.strip():
                raise _unvalidated(f"{path}: row {start + i}", "missing id or text")
        yield _passage_batch(ids, titles, texts, start)  # type: ignore[arg-type]
        start += len(ids)


# --------------------------------------------------------------------------- queries


def iter_queries(files: CorpusFiles, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream the queries as QUERY_SCHEMA batches; nothing when the corpus has no queries."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if files.queries is None:
        return
    ids: list[str] = []
    texts: list[str] = []
    for rid, _title, text in _iter_jsonl_records(files.queries, False):
        ids.append(rid)
        texts.append(text)
        if len(ids) >= batch_size:
            yield _query_batch(ids, texts)
            ids, texts = [], []
    if ids:
        yield _query_batch(ids, texts)


def _query_batch(ids: list[str], texts: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.string()), pa.array(texts, pa.string())], schema=QUERY_SCHEMA
    )


# --------------------------------------------------------------------------- qrels


def iter_qrels(
    files: CorpusFiles,
    batch_size: int = _QREL_BATCH,
    *,
    query_ids: Container[str] | None = None,
    passage_ids: Container[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream every qrels split as QREL_SCHEMA batches (splits in name order).

    Given the corpus' ``query_ids`` and/or ``passage_ids``, rows naming an id outside them are
    left out: the rows :func:`~store.corpus.validate` counted as dropped.
    """
    for split, path in sorted(files.qrels.items()):
        qids: list[str] = []
        cids: list[str] = []
        scores: list[int] = []
        for lineno, parsed in rec.qrel_rows(path):
            if isinstance(parsed, str):
                raise _unvalidated(f"{path}:{lineno}", parsed)
            if rec.unknown_ids(parsed[0], parsed[1], query_ids, passage_ids):
                continue
            qids.append(parsed[0])
            cids.append(parsed[1])
            scores.append(parsed[2])
            if len(qids) >= batch_size:
                yield _qrel_batch(split, qids, cids, scores)
                qids, cids, scores = [], [], []
        if qids:
            yield _qrel_batch(split, qids, cids, scores)


def _qrel_batch(split: str, qids: list[str], cids: list[str], scores: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([split] * len(qids), pa.string()),
            pa.array(qids, pa.string()),
            pa.array(cids, pa.string()),
            pa.array(scores, pa.int32()),
        ],
        schema=QREL_SCHEMA,
    )
