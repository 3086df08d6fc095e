"""The store: LanceDB tables for corpora, passages, synthetic queries, runs, profiles and pilots.

``Store`` is composed of one mixin per concept (corpora, synthetic queries, records of runs,
profiles and pilots); this module holds the connection, the tables and their schemas. The
store package is the only code of augplan that imports lancedb.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCE_LOG", "error")  # lance's deprecation notices are not for users

import lancedb
import pyarrow as pa

from store import schemas
from store._augmentations import AugmentationsMixin
from store._corpora import CorporaMixin
from store._records import RecordsMixin
from store._util import default_path

DEFAULT_DIM = 384


class Store(CorporaMixin, AugmentationsMixin, RecordsMixin):
    """An augplan store on disk (a LanceDB database folder)."""

    def __init__(self, path: str | Path | None = None, *, dim: int = DEFAULT_DIM) -> None:
        self.path = Path(path) if path else default_path()
        self.path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = lancedb.connect(str(self.path))
        self._tables: dict[str, Any] = {}

    # ---------------------------------------------------------------- tables
    def _schema(self, name: str) -> pa.Schema:
        if name == "augmentations":
            return schemas.augmentations(self.dim)
        return {
            "corpora": schemas.CORPORA,
            "passages": schemas.PASSAGES,
            "queries": schemas.QUERIES,
            "qrels": schemas.QRELS,
            "runs": schemas.RUNS,
            "passage_vectors": schemas.passage_vectors(self.dim),
            "profiles": schemas.PROFILES,
            "pilots": schemas.PILOTS,
        }[name]

    def table(self, name: str):
        tbl = self._tables.get(name)
        if tbl is None:
            want = self._schema(name)
            try:
                tbl = self._db.create_table(name, schema=want, exist_ok=True)
            except ValueError:
                # A store written by an older augplan: add the columns it lacks (all null).
                tbl = self._db.open_table(name)
                have = set(tbl.schema.names)
                missing = [f for f in want if f.name not in have]
                if missing:
                    tbl.add_columns(pa.schema(missing))
            self._tables[name] = tbl
        else:
            tbl.checkout_latest()
        return tbl

    def _scan(
        self,
        name: str,
        where: str | None = None,
        columns: list[str] | None = None,
        *,
        limit: int | None = None,
        order_by: list[str] | None = None,
    ) -> pa.Table:
        """Rows of a table matching the store's own filter text (no vector search)."""
        q = self.table(name).search()
        if where:
            q = q.where(where)
        if columns:
            q = q.select(columns)
        if order_by:
            from lancedb.query import ColumnOrdering

            q = q.order_by([ColumnOrdering(column_name=c) for c in order_by])
        return q.limit(limit).to_arrow()

    def _scan_all(self, name: str, filters: list[str | None],
                  columns: list[str] | None = None) -> pa.Table:
        """The union of the rows of several filters (chunks of a long id list)."""
        parts = [self._scan(name, f, columns) for f in filters]
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables([p.cast(parts[0].schema) for p in parts])

    def count(self, name: str) -> int:
        """Rows in a table."""
        return self.table(name).count_rows()

    def _count(self, name: str, where: str | None) -> int:
        return self.table(name).count_rows(where) if where else self.table(name).count_rows()

    @contextlib.contextmanager
    def atomic(self, *names: str) -> Iterator[None]:
        """All-or-nothing writes: on any error the named tables go back to their old version."""
        versions = {n: self.table(n).version for n in names}
        try:
            yield
        except BaseException:
            for n, v in versions.items():
                tbl = self.table(n)
                if tbl.version != v:
                    tbl.restore(v)
            raise

    def optimize(self, name: str = "augmentations") -> None:
        with contextlib.suppress(Exception):
            self.table(name).optimize()

