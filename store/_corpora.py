"""The corpus tables of the store: corpora, passages, queries and qrels (import and reading)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from store import corpus as _corpus
from store import schemas
from store._sql import both, chunked_in, matching, one_of
from store._util import now
from store.errors import AugplanError

_CORPUS_TABLES = ("corpora", "passages", "queries", "qrels")
#: marks the rows of a corpus being re-imported until they replace the old ones
_STAGING = "~importing~"


class CorporaMixin:
    """Import a corpus (validated first, written all or nothing) and read it back."""

    def import_corpus(
        self,
        name: str,
        files: _corpus.CorpusFiles,
        *,
        replace: bool = False,
        strict: bool = False,
        batch_size: int = 8192,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[_corpus.CorpusSummary, bool]:
        """Validate a corpus fully, then write it. Returns (summary, written).

        Nothing is written when validation fails. Qrels rows naming a query or corpus id the
        corpus lacks are left out and counted in ``summary.dropped_qrels`` (recorded with the
        corpus); with ``strict`` they fail the import instead. Re-importing identical files is a
        no-op; different files under an existing name need ``replace=True``.
        """
        if not name or any(c in name for c in "'\"/\\ "):
            raise AugplanError(f"--name {name!r}: use letters, digits, '-', '_' or '.'")
        summary = _corpus.validate(files, strict=strict)
        existing = self.corpus_info(name, missing_ok=True)
        if existing is not None:
            if existing["fingerprint"] == summary.fingerprint:
                return summary, False
            if not replace:
                raise AugplanError(
                    f"corpus {name!r} already exists with different content",
                    hint="pass --replace to overwrite it, or choose another --name",
                )
        # The rows go in under a name of their own and become the corpus only once all are
        # written (its ``corpora`` row last): a failed import removes what it wrote and leaves
        # the store, and any old corpus of that name, as they were, without restoring an older
        # version of a table that other writers may share.
        staging = name if existing is None else f"{name}{_STAGING}{uuid.uuid4().hex[:12]}"
        if existing is None:  # rows a killed import of this name left behind, unregistered
            self._drop_corpus_rows(name)
        try:
            row = self._write_corpus(staging, files, summary, batch_size, on_batch)
        except BaseException:
            self._drop_corpus_rows(staging)
            raise
        if existing is not None:
            self._drop_corpus_rows(name)
            self.table("corpora").delete(matching(name=name))
            for t in _CORPUS_TABLES[1:]:
                self.table(t).update(where=matching(corpus=staging), values={"corpus": name})
        self.table("corpora").add(pa.Table.from_pylist([row], schema=schemas.CORPORA))
        for t in _CORPUS_TABLES:
            self.table(t).optimize()
        return summary, True

    def _drop_corpus_rows(self, name: str) -> None:
        """Remove a corpus' passages, queries and qrels (not its ``corpora`` row)."""
        for t in _CORPUS_TABLES[1:]:
            self.table(t).delete(matching(corpus=name))

    def _write_corpus(self, name: str, files: _corpus.CorpusFiles,
                      summary: _corpus.CorpusSummary, batch_size: int,
                      on_batch: Callable[[int], None] | None) -> dict[str, Any]:
        """Write the passages, queries and qrels under ``name``; returns the ``corpora`` row
        (not written: the caller adds it once the corpus is complete)."""
        # The ids are collected only when validation dropped qrels rows: iter_qrels leaves out
        # the rows naming ids outside them, the same rows validation counted.
        keep_ids = summary.dropped_qrels.count > 0
        passage_ids: set[str] | None = set() if keep_ids else None
        query_ids: set[str] | None = set() if keep_ids and files.queries is not None else None
        for batch in _corpus.iter_passages(files, batch_size=batch_size):
            self.table("passages").add(_with_corpus(batch, name, schemas.PASSAGES))
            if passage_ids is not None:
                passage_ids.update(batch.column("passage_id").to_pylist())
            if on_batch:
                on_batch(batch.num_rows)
        for batch in _corpus.iter_queries(files, batch_size=batch_size):
            self.table("queries").add(_with_corpus(batch, name, schemas.QUERIES))
            if query_ids is not None:
                query_ids.update(batch.column("query_id").to_pylist())
        for batch in _corpus.iter_qrels(files, query_ids=query_ids, passage_ids=passage_ids):
            self.table("qrels").add(_with_corpus(batch, name, schemas.QRELS))
        return {
            "name": name.split(_STAGING)[0],
            "kind": files.kind,
            "source": str(files.root),
            "fingerprint": summary.fingerprint,
            "n_passages": summary.n_passages,
            "n_queries": summary.n_queries,
            "qrels": json.dumps(summary.qrels, sort_keys=True),
            "imported_at": now(),
            "dropped_qrels": summary.dropped_qrels.to_json(),
            "carved_splits": None,
        }

    def dropped_qrels(self, name: str) -> _corpus.DroppedQrels:
        """The qrels rows left out when the corpus was imported (none for a corpus imported
        by an augplan that did not record them)."""
        info = self.corpus_info(name)
        assert info is not None
        return _corpus.DroppedQrels.from_json(info.get("dropped_qrels"))

    def corpora(self) -> list[dict[str, Any]]:
        return self._scan("corpora").to_pylist()

    def corpus_names(self) -> list[str]:
        return sorted(r["name"] for r in self.corpora())

    def corpus_info(self, name: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        rows = self._scan("corpora", matching(name=name)).to_pylist()
        if not rows:
            if missing_ok:
                return None
            known = ", ".join(self.corpus_names()) or "none yet"
            raise AugplanError(
                f"--corpus {name!r}: no such corpus in the store (known: {known})",
                hint="import it first: augplan corpus import PATH --name NAME",
            )
        return rows[0]

    def passages(
        self,
        corpus: str,
        limit: int | None = None,
        *,
        ids: Sequence[str] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Passages of a corpus in file order (``limit``: the first n), or the passages named by
        ``ids`` in that order (an unknown id is an error)."""
        self.corpus_info(corpus)
        cols = None if columns is None else sorted({*columns, "passage_id", "ordinal"})
        if ids is None:
            where = matching(corpus=corpus)
            if limit is not None:
                where += f" AND ordinal < {int(limit)}"
            found = self._scan("passages", where, cols).sort_by("ordinal")
            return found if columns is None else found.select(columns)
        found = self._scan_all("passages", list(chunked_in("passage_id", list(ids),
                                                           matching(corpus=corpus))), cols)
        at = {p: i for i, p in enumerate(found.column("passage_id").to_pylist())}
        missing = [p for p in ids if p not in at]
        if missing:
            raise AugplanError(f"corpus {corpus!r} has no passage {missing[0]!r}"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        found = found.take([at[p] for p in ids])
        return found if columns is None else found.select(columns)

    def passages_by_id(self, ids: pl.DataFrame) -> pa.Table:
        """Title and text of the given (corpus, passage_id) pairs."""
        parts = []
        for (corpus,), group in ids.group_by(["corpus"]):
            parts += [self._scan("passages", f, ["corpus", "passage_id", "title", "text"])
                      for f in chunked_in("passage_id", group["passage_id"].to_list(),
                                          matching(corpus=corpus))]
        if not parts:
            return pa.table({c: pa.array([], pa.string())
                             for c in ("corpus", "passage_id", "title", "text")})
        return pa.concat_tables(parts)

    def queries(self, corpus: str, columns: list[str] | None = None) -> pa.Table:
        """The corpus' own (human) queries: query_id, text."""
        return self._scan("queries", matching(corpus=corpus), columns or ["query_id", "text"])

    def qrels(self, corpus: str, split: str | None = None, *,
              positive: bool = False) -> pa.Table:
        """Relevance judgements of a corpus (of one split; only score > 0 with ``positive``).

        A split sealed with :meth:`sealed` cannot be read: naming it raises, and reading every
        split leaves its rows out."""
        sealed = sorted(s for c, s in _sealed_splits(self) if c == corpus)
        if split is not None and split in sealed:
            raise AugplanError(f"the {split!r} split of {corpus!r} is sealed: it is read only "
                               "for the final report, never to make a choice")
        where = both(matching(corpus=corpus, split=split),
                     "score > 0" if positive else None,
                     f"NOT ({one_of('split', sealed)})" if split is None and sealed else None)
        return self._scan("qrels", where)

    @contextlib.contextmanager
    def sealed(self, corpus: str, split: str) -> Iterator[None]:
        """While the block runs, the qrels of ``corpus``'s ``split`` cannot be read (the test
        split while choices are made: pilots, plans, the autopilot's loop)."""
        seals = _sealed_splits(self)
        key = (corpus, split)
        added = key not in seals
        seals.add(key)
        try:
            yield
        finally:
            if added:
                seals.discard(key)

    def carved_splits(self, corpus: str) -> dict[str, dict[str, Any]]:
        """Splits carved out of another after import: target -> {from, queries, seed, left}."""
        info = self.corpus_info(corpus)
        assert info is not None
        return json.loads(info.get("carved_splits") or "{}")

    def relabel_qrels(self, corpus: str, *, source: str, target: str,
                      query_ids: Sequence[str], note: dict[str, Any]) -> dict[str, int]:
        """Move the qrels rows of ``query_ids`` from split ``source`` to a new split ``target``
        (all or nothing), record ``note`` as how ``target`` was carved, and return the corpus'
        qrels rows per split afterwards."""
        info = self.corpus_info(corpus)
        assert info is not None
        if target in self.qrel_splits(corpus):
            raise AugplanError(f"corpus {corpus!r} already has a {target!r} split")
        carved = json.loads(info.get("carved_splits") or "{}")
        try:
            for clause in chunked_in("query_id", list(query_ids),
                                     matching(corpus=corpus, split=source)):
                self.table("qrels").update(where=clause, values={"split": target})
            splits = self._scan("qrels", matching(corpus=corpus), ["split"]).column("split")
            counts: dict[str, int] = {}
            for s in splits.to_pylist():
                counts[s] = counts.get(s, 0) + 1
            carved[target] = note
            self.table("corpora").update(
                where=matching(name=corpus),
                values={"qrels": json.dumps(counts, sort_keys=True),
                        "carved_splits": json.dumps(carved, sort_keys=True)})
        except BaseException:  # undo: the moved rows go back (the new split is this call's)
            self.table("qrels").update(where=matching(corpus=corpus, split=target),
                                       values={"split": source})
            raise
        return counts

    def qrel_splits(self, corpus: str) -> list[str]:
        """The corpus' qrels splits (train, dev, test...), sorted."""
        t = self._scan("qrels", matching(corpus=corpus), ["split"])
        return sorted(set(t.column("split").to_pylist()))

    def positive_qrels(self, corpus: str, split: str) -> pa.Table:
        """The split's judgements with score > 0; an unknown split is an error naming the
        corpus' splits."""
        self.corpus_info(corpus)
        qrels = self.qrels(corpus, split, positive=True)
        if qrels.num_rows == 0:
            splits = self.qrel_splits(corpus)
            raise AugplanError(f"corpus {corpus!r} has no qrels split {split!r} "
                               f"(splits: {', '.join(splits) or 'none'})")
        return qrels

    def qrel_pairs(self, corpus: str, split: str, *, limit: int = 8
                   ) -> list[tuple[str, str]]:
        """(query text, passage text) pairs of a qrels split, in a fixed order."""
        qrels = self.positive_qrels(corpus, split)
        pairs = pl.from_arrow(qrels).sort("query_id", "passage_id").unique(
            "query_id", keep="first", maintain_order=True).head(limit)
        queries = pl.from_arrow(self.queries(corpus)).rename({"text": "query"})
        passages = pl.from_arrow(self.passages_by_id(pairs.select("corpus", "passage_id")))
        joined = pairs.join(queries, on="query_id").join(passages, on=["corpus", "passage_id"])
        return [(r["query"], f"{r['title']}. {r['text']}" if r["title"] else r["text"])
                for r in joined.sort("query_id").iter_rows(named=True)]


def _with_corpus(batch: pa.RecordBatch, name: str, schema: pa.Schema) -> pa.Table:
    t = pa.Table.from_batches([batch])
    t = t.append_column("corpus", pa.array([name] * t.num_rows, pa.string()))
    return t.select(schema.names).cast(schema)


def _sealed_splits(store: Any) -> set[tuple[str, str]]:
    """The (corpus, split) pairs sealed on this store object."""
    seals = getattr(store, "_sealed", None)
    if seals is None:
        seals = store._sealed = set()
    return seals
