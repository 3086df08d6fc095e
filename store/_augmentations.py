"""The synthetic queries of the store: content-keyed inserts, marks, selections, search, and
the passage vectors the quality stage caches."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from store._sql import both, chunked_in, matching, selection_filter, selection_filters
from store._util import dedup_rows
from store.errors import AugplanError
from store.selection import Selection

SEARCH_MODES = ("vector", "fts", "hybrid")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class AugmentationsMixin:
    """Rows of ``augmentations`` (one synthetic query each) and ``passage_vectors``."""

    # ------------------------------------------------------------------ writes
    def add_augmentations(self, rows: pa.Table) -> int:
        """Insert rows whose (corpus, key) is new; duplicates inside the batch are dropped first.

        One LanceDB commit per call: a process killed at any moment leaves whole batches.
        """
        if rows.num_rows == 0:
            return 0
        rows = dedup_rows(rows.cast(self._schema("augmentations")), "uid")
        result = self.table("augmentations").merge_insert("uid").when_not_matched_insert_all(
        ).execute(rows, on_bad_vectors="null")
        return int(result.num_inserted_rows)

    def update_augmentations(self, rows: pa.Table) -> None:
        """Rewrite existing rows (vectors, status, reason...), matched on ``uid``; full rows."""
        if rows.num_rows:
            rows = dedup_rows(rows.cast(self._schema("augmentations")), "uid")
            self.table("augmentations").merge_insert(
                "uid"
            ).when_matched_update_all().execute(rows, on_bad_vectors="null")

    set_vectors = update_augmentations

    def add_passage_vectors(self, rows: pa.Table) -> int:
        """Insert passage vectors whose (passage_hash, embedder) is new; one commit."""
        if rows.num_rows == 0:
            return 0
        rows = dedup_rows(rows.cast(self._schema("passage_vectors")), "passage_hash")
        result = self.table("passage_vectors").merge_insert(
            ["passage_hash", "embedder"]).when_not_matched_insert_all().execute(rows)
        return int(result.num_inserted_rows)

    # ------------------------------------------------------------------- reads
    def existing(self, keys: list[str], columns: list[str] | None = None) -> pa.Table:
        """Rows (any corpus) whose content key is among ``keys``."""
        if not keys:
            return pa.Table.from_pylist([], schema=self._schema("augmentations")).select(
                columns or self._schema("augmentations").names
            )
        return self._scan_all("augmentations", list(chunked_in("key", keys)), columns)

    def augmentations(
        self,
        selection: Selection | None = None,
        columns: list[str] | None = None,
        *,
        limit: int | None = None,
        order_by: list[str] | None = None,
    ) -> pa.Table:
        """The selected synthetic queries as Arrow. ``limit`` and ``order_by`` (column names,
        ascending) are applied by LanceDB, so a listing reads only the rows it shows."""
        filters = selection_filters(selection)
        try:
            if limit is not None or order_by:
                return self._scan("augmentations", selection_filter(selection), columns,
                                  limit=limit, order_by=order_by)
            return self._scan_all("augmentations", filters, columns)
        except (ValueError, RuntimeError, OSError) as exc:
            raise self._selection_error(selection, exc) from None

    def count_augmentations(self, selection: Selection | None = None) -> int:
        """How many synthetic queries the selection holds (a bad ``where`` is a user error)."""
        try:
            return self._count("augmentations", selection_filter(selection))
        except (ValueError, RuntimeError, OSError) as exc:
            raise self._selection_error(selection, exc) from None

    @staticmethod
    def _selection_error(selection: Selection | None, exc: BaseException) -> AugplanError:
        if selection is not None and selection.where:
            return AugplanError(f"--where {selection.where!r}: {_first_line(exc)}",
                                hint="use SQL on the columns, e.g. "
                                "\"augmenter = 'smollm2-135m'\"")
        return AugplanError(f"reading synthetic queries failed: {_first_line(exc)}")

    def passage_vectors(self, embedder: str, hashes: pa.Array) -> pa.Table:
        """Cached passage vectors (passage_hash, vector) of one embedder for these hashes, one
        row per hash (two writers may both have cached a passage: the table has no compound
        primary key to stop them)."""
        base = matching(embedder=embedder)
        columns = ["passage_hash", "vector"]
        if len(hashes) <= 2000:
            rows = self._scan_all("passage_vectors",
                                  list(chunked_in("passage_hash", hashes.to_pylist(), base))
                                  or ["false"], columns)
        else:
            rows = self._scan("passage_vectors", base, columns)
            rows = rows.filter(pc.is_in(rows.column("passage_hash"), hashes))
        return dedup_rows(rows, "passage_hash")

    # ------------------------------------------------------------------ search
    def search(
        self,
        *,
        mode: str,
        text: str | None = None,
        vector: list[float] | None = None,
        selection: Selection | None = None,
        limit: int = 10,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Vector, full-text or hybrid search over synthetic queries, within a selection."""
        if mode not in SEARCH_MODES:
            raise AugplanError(f"--mode {mode!r}: use vector, fts or hybrid")
        tbl = self.table("augmentations")
        where = selection_filter(selection)
        if mode in ("fts", "hybrid"):
            self._ensure_fts(tbl)
        try:
            if mode == "vector":
                q = tbl.search(vector, vector_column_name="vector").where(
                    both(where, "vector IS NOT NULL"), prefilter=True)
            elif mode == "fts":
                q = tbl.search(text, query_type="fts", fts_columns="query")
                if where:
                    q = q.where(where, prefilter=True)
            else:
                q = (tbl.search(query_type="hybrid", vector_column_name="vector")
                     .vector(vector).text(text))
                q = q.where(both(where, "vector IS NOT NULL"), prefilter=True)
            if columns and mode != "hybrid":
                q = q.select(list(columns) + ["_distance" if mode == "vector" else "_score"])
            hits = q.limit(limit).to_arrow()
            if columns and mode == "hybrid":
                # Hybrid search passes a selection to both of its searches without their
                # score columns, and lance warns about that on stderr: select afterwards.
                hits = hits.select([*columns, "_relevance_score"])
            return hits
        except (ValueError, RuntimeError, OSError) as exc:
            where_text = selection.where if selection is not None else None
            raise AugplanError(f"search failed ({mode}, where={where_text!r}): "
                               f"{_first_line(exc)}") from None

    def _ensure_fts(self, tbl) -> None:
        names = {idx.name for idx in tbl.list_indices()}
        if "query_idx" not in names:
            from lancedb.index import FTS

            tbl.create_index("query", config=FTS(), replace=True)
        else:
            with contextlib.suppress(Exception):
                tbl.optimize()

    # ------------------------------------------------------------------- stats
    def facets(self, columns: Sequence[str] = ("augmenter", "strategy", "run_id")
               ) -> dict[str, list[str]]:
        """The distinct non-empty values of some columns over all synthetic queries."""
        t = self._scan("augmentations", None, list(columns))
        return {c: sorted({v for v in t.column(c).to_pylist() if v}) for c in columns}

    def stats(self) -> pl.DataFrame:
        """Synthetic queries per corpus, augmenter and strategy, with token and time totals."""
        t = self._scan(
            "augmentations",
            columns=["corpus", "augmenter", "strategy", "status", "gen_tokens", "seconds",
                     "vector"],
        )
        df = pl.from_arrow(t)
        if df.height == 0:
            return pl.DataFrame()
        return (
            df.group_by("corpus", "augmenter", "strategy")
            .agg(
                pl.len().alias("queries"),
                (pl.col("status") == "ok").sum().alias("ok"),
                pl.col("vector").is_not_null().sum().alias("embedded"),
                pl.col("gen_tokens").sum().alias("gen_tokens"),
                pl.col("seconds").sum().round(1).alias("gen_seconds"),
            )
            .sort("corpus", "augmenter", "strategy")
        )
