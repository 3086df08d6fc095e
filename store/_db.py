"""The store: LanceDB tables for corpora, passages, synthetic queries and runs.

This is the only module of augplan that imports lancedb.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCE_LOG", "error")  # lance's deprecation notices are not for users

import lancedb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from store import corpus as _corpus
from store import schemas
from store.errors import AugplanError

DEFAULT_DIM = 384


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def sql_str(value: str) -> str:
    """A SQL string literal (for the ``where`` filters of ``Store.scan`` and friends)."""
    return "'" + str(value).replace("'", "''") + "'"


_q = sql_str


def default_path() -> Path:
    env = os.environ.get("AUGPLAN_STORE")
    if env:
        return Path(env)
    home = Path(os.environ.get("AUGPLAN_HOME", Path.home() / ".augplan"))
    return home / "store"


class Store:
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

    def scan(
        self, name: str, where: str | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """All rows of a table matching a SQL filter (no vector search), as Arrow."""
        tbl = self.table(name)
        q = tbl.search()
        if where:
            q = q.where(where)
        if columns:
            q = q.select(columns)
        return q.limit(None).to_arrow()

    def count(self, name: str, where: str | None = None) -> int:
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

    # --------------------------------------------------------------- corpora
    def import_corpus(
        self,
        name: str,
        files: _corpus.CorpusFiles,
        *,
        replace: bool = False,
        batch_size: int = 8192,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[_corpus.CorpusSummary, bool]:
        """Validate a corpus fully, then write it. Returns (summary, written).

        Nothing is written when validation fails. Re-importing identical files is a no-op;
        different files under an existing name need ``replace=True``.
        """
        if not name or any(c in name for c in "'\"/\\ "):
            raise AugplanError(f"--name {name!r}: use letters, digits, '-', '_' or '.'")
        summary = _corpus.validate(files)
        existing = self.corpus_info(name, missing_ok=True)
        if existing is not None:
            if existing["fingerprint"] == summary.fingerprint:
                return summary, False
            if not replace:
                raise AugplanError(
                    f"corpus {name!r} already exists with different content",
                    hint="pass --replace to overwrite it, or choose another --name",
                )
        tables = ("corpora", "passages", "queries", "qrels")
        with self.atomic(*tables):
            if existing is not None:
                for t in tables:
                    self.table(t).delete(f"{'name' if t == 'corpora' else 'corpus'} = {_q(name)}")
            for batch in _corpus.iter_passages(files, batch_size=batch_size):
                self.table("passages").add(_with_corpus(batch, name, schemas.PASSAGES))
                if on_batch:
                    on_batch(batch.num_rows)
            for batch in _corpus.iter_queries(files, batch_size=batch_size):
                self.table("queries").add(_with_corpus(batch, name, schemas.QUERIES))
            for batch in _corpus.iter_qrels(files):
                self.table("qrels").add(_with_corpus(batch, name, schemas.QRELS))
            row = {
                "name": name,
                "kind": files.kind,
                "source": str(files.root),
                "fingerprint": summary.fingerprint,
                "n_passages": summary.n_passages,
                "n_queries": summary.n_queries,
                "qrels": json.dumps(summary.qrels, sort_keys=True),
                "imported_at": now(),
            }
            self.table("corpora").add(pa.Table.from_pylist([row], schema=schemas.CORPORA))
        for t in tables:
            self.table(t).optimize()
        return summary, True

    def corpora(self) -> list[dict[str, Any]]:
        return self.scan("corpora").to_pylist()

    def corpus_info(self, name: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        rows = self.scan("corpora", f"name = {_q(name)}").to_pylist()
        if not rows:
            if missing_ok:
                return None
            known = ", ".join(sorted(r["name"] for r in self.corpora())) or "none yet"
            raise AugplanError(
                f"--corpus {name!r}: no such corpus in the store (known: {known})",
                hint="import it first: augplan corpus import PATH --name NAME",
            )
        return rows[0]

    def passages(
        self, corpus: str, limit: int | None = None, *, ids: Sequence[str] | None = None
    ) -> pa.Table:
        """Passages of a corpus in file order (``limit``: the first n), or the passages named by
        ``ids`` in that order (an unknown id is an error)."""
        self.corpus_info(corpus)
        where = f"corpus = {_q(corpus)}"
        if ids is None:
            if limit is not None:
                where += f" AND ordinal < {int(limit)}"
            return self.scan("passages", where).sort_by("ordinal")
        parts = [self.scan("passages", where + " AND passage_id IN ("
                           + ",".join(_q(p) for p in ids[i : i + 500]) + ")")
                 for i in range(0, len(ids), 500)]
        found = pa.concat_tables(parts) if parts else self.scan("passages", "false")
        at = {p: i for i, p in enumerate(found.column("passage_id").to_pylist())}
        missing = [p for p in ids if p not in at]
        if missing:
            raise AugplanError(f"corpus {corpus!r} has no passage {missing[0]!r}"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return found.take([at[p] for p in ids])

    def passages_by_id(self, ids: pl.DataFrame) -> pa.Table:
        """Title and text of the given (corpus, passage_id) pairs."""
        parts = []
        for (corpus,), group in ids.group_by(["corpus"]):
            pids = group["passage_id"].to_list()
            for i in range(0, len(pids), 500):
                chunk = ",".join(_q(p) for p in pids[i : i + 500])
                parts.append(
                    self.scan("passages", f"corpus = {_q(corpus)} AND passage_id IN ({chunk})",
                              ["corpus", "passage_id", "title", "text"])
                )
        if not parts:
            return pa.table({"corpus": pa.array([], pa.string()),
                             "passage_id": pa.array([], pa.string()),
                             "title": pa.array([], pa.string()), "text": pa.array([], pa.string())})
        return pa.concat_tables(parts)

    def qrel_pairs(self, corpus: str, split: str, *, limit: int = 8) -> list[tuple[str, str]]:
        """(query text, passage text) pairs of a qrels split, in a fixed order."""
        self.corpus_info(corpus)
        qrels = self.scan("qrels", f"corpus = {_q(corpus)} AND split = {_q(split)} AND score > 0")
        if qrels.num_rows == 0:
            splits = sorted(set(self.scan("qrels", f"corpus = {_q(corpus)}", ["split"])
                                .column("split").to_pylist()))
            raise AugplanError(f"corpus {corpus!r} has no qrels split {split!r} "
                               f"(splits: {', '.join(splits) or 'none'})")
        pairs = pl.from_arrow(qrels).sort("query_id", "passage_id").unique(
            "query_id", keep="first", maintain_order=True).head(limit)
        queries = pl.from_arrow(self.scan("queries", f"corpus = {_q(corpus)}",
                                          ["query_id", "text"])).rename({"text": "query"})
        passages = pl.from_arrow(self.passages_by_id(pairs.select("corpus", "passage_id")))
        joined = pairs.join(queries, on="query_id").join(passages, on=["corpus", "passage_id"])
        return [(r["query"], f"{r['title']}. {r['text']}" if r["title"] else r["text"])
                for r in joined.sort("query_id").iter_rows(named=True)]

    # --------------------------------------------------------- augmentations
    def existing(self, keys: list[str], columns: list[str] | None = None) -> pa.Table:
        """Rows (any corpus) whose content key is among ``keys``."""
        parts = []
        for i in range(0, len(keys), 500):
            chunk = ",".join(_q(k) for k in keys[i : i + 500])
            parts.append(self.scan("augmentations", f"key IN ({chunk})", columns))
        if not parts:
            return pa.Table.from_pylist([], schema=self._schema("augmentations")).select(
                columns or self._schema("augmentations").names
            )
        return pa.concat_tables(parts)

    def add_augmentations(self, rows: pa.Table) -> int:
        """Insert rows whose (corpus, key) is new; duplicates inside the batch are dropped first.

        One LanceDB commit per call: a process killed at any moment leaves whole batches.
        """
        if rows.num_rows == 0:
            return 0
        rows = _dedup(rows.cast(self._schema("augmentations")), "uid")
        tbl = self.table("augmentations")
        before = tbl.count_rows()
        tbl.merge_insert("uid").when_not_matched_insert_all().execute(rows, on_bad_vectors="null")
        return tbl.count_rows() - before

    def update_augmentations(self, rows: pa.Table) -> None:
        """Rewrite existing rows (vectors, status, reason...), matched on ``uid``; full rows."""
        if rows.num_rows:
            rows = _dedup(rows.cast(self._schema("augmentations")), "uid")
            self.table("augmentations").merge_insert(
                "uid"
            ).when_matched_update_all().execute(rows, on_bad_vectors="null")

    set_vectors = update_augmentations

    def add_passage_vectors(self, rows: pa.Table) -> int:
        """Insert passage vectors whose (passage_hash, embedder) is new; one commit."""
        if rows.num_rows == 0:
            return 0
        rows = _dedup(rows.cast(self._schema("passage_vectors")), "passage_hash")
        tbl = self.table("passage_vectors")
        before = tbl.count_rows()
        tbl.merge_insert(["passage_hash", "embedder"]).when_not_matched_insert_all().execute(rows)
        return tbl.count_rows() - before

    def augmentations(
        self, where: str | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        return self.scan("augmentations", where, columns)

    def optimize(self, name: str = "augmentations") -> None:
        with contextlib.suppress(Exception):
            self.table(name).optimize()

    def search(
        self,
        *,
        mode: str,
        text: str | None = None,
        vector: list[float] | None = None,
        where: str | None = None,
        limit: int = 10,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Vector, full-text or hybrid search over synthetic queries, with an optional SQL filter."""
        tbl = self.table("augmentations")
        if mode in ("fts", "hybrid"):
            self._ensure_fts(tbl)
        try:
            if mode == "vector":
                q = tbl.search(vector, vector_column_name="vector").where(
                    _and(where, "vector IS NOT NULL"), prefilter=True
                )
            elif mode == "fts":
                q = tbl.search(text, query_type="fts", fts_columns="query")
                if where:
                    q = q.where(where, prefilter=True)
            elif mode == "hybrid":
                q = (
                    tbl.search(query_type="hybrid", vector_column_name="vector")
                    .vector(vector)
                    .text(text)
                )
                q = q.where(_and(where, "vector IS NOT NULL"), prefilter=True)
            else:
                raise AugplanError(f"--mode {mode!r}: use vector, fts or hybrid")
            if columns:
                extra = {"vector": ["_distance"], "fts": ["_score"], "hybrid": []}[mode]
                q = q.select(list(columns) + extra)
            return q.limit(limit).to_arrow()
        except AugplanError:
            raise
        except (ValueError, RuntimeError, OSError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AugplanError(f"search failed ({mode}, where={where!r}): {msg}") from None

    def _ensure_fts(self, tbl) -> None:
        names = {idx.name for idx in tbl.list_indices()}
        if "query_idx" not in names:
            from lancedb.index import FTS

            tbl.create_index("query", config=FTS(), replace=True)
        else:
            with contextlib.suppress(Exception):
                tbl.optimize()

    # ------------------------------------------------------------------ runs
    def start_run(self, manifest: dict[str, Any]) -> str:
        run_id = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        row = {
            "run_id": run_id,
            "kind": manifest.get("kind", "generate"),
            "corpus": manifest.get("corpus", ""),
            "augmenter": manifest.get("augmenter", ""),
            "strategy": manifest.get("strategy", ""),
            "manifest": json.dumps(manifest, sort_keys=True),
            "target": int(manifest.get("target", 0)),
            "done": 0,
            "generated": 0,
            "cached": 0,
            "status": "running",
            "message": "",
            "seconds": 0.0,
            "prompt_tokens": 0,
            "gen_tokens": 0,
            "diversity": "",
            "created_at": now(),
            "updated_at": now(),
        }
        self.table("runs").add(pa.Table.from_pylist([row], schema=schemas.RUNS))
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields["updated_at"] = now()
        self.table("runs").update(where=f"run_id = {_q(run_id)}", values=fields)

    def runs(self, where: str | None = None) -> list[dict[str, Any]]:
        rows = self.scan("runs", where).to_pylist()
        return sorted(rows, key=lambda r: r["created_at"])

    # -------------------------------------------------------------- profiles
    def add_profile(self, row: dict[str, Any]) -> bool:
        """Insert one cost profile unless one with its ``profile_id`` is there; True if added."""
        tbl = self.table("profiles")
        before = tbl.count_rows()
        batch = pa.Table.from_pylist([row], schema=schemas.PROFILES)
        tbl.merge_insert("profile_id").when_not_matched_insert_all().execute(batch)
        return tbl.count_rows() > before

    def profiles(self, where: str | None = None) -> list[dict[str, Any]]:
        """Cost profiles matching a SQL filter, oldest measurement first."""
        rows = self.scan("profiles", where).to_pylist()
        return sorted(rows, key=lambda r: (r["measured_at"] or "", r["profile_id"]))

    # ---------------------------------------------------------------- pilots
    def add_pilots(self, rows: list[dict[str, Any]]) -> int:
        """Insert pilot points unless their ``point_id`` is there; returns how many were new."""
        if not rows:
            return 0
        tbl = self.table("pilots")
        before = tbl.count_rows()
        batch = _dedup(pa.Table.from_pylist(rows, schema=schemas.PILOTS), "point_id")
        tbl.merge_insert("point_id").when_not_matched_insert_all().execute(batch)
        return tbl.count_rows() - before

    def pilots(self, where: str | None = None) -> list[dict[str, Any]]:
        """Pilot points matching a SQL filter, in a stable order."""
        rows = self.scan("pilots", where).to_pylist()
        return sorted(rows, key=lambda r: (r["corpus"], r["retriever"], r["eval_set"],
                                           r["augmenter"], r["strategy"], r["scale"], r["seed"]))

    # ----------------------------------------------------------------- stats
    def stats(self) -> pl.DataFrame:
        """Synthetic queries per corpus, augmenter and strategy, with token and time totals."""
        t = self.scan(
            "augmentations",
            columns=["corpus", "augmenter", "strategy", "status", "gen_tokens", "seconds", "vector"],
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


def _and(*clauses: str | None) -> str | None:
    parts = [f"({c})" for c in clauses if c]
    return " AND ".join(parts) if parts else None


def _with_corpus(batch: pa.RecordBatch, name: str, schema: pa.Schema) -> pa.Table:
    t = pa.Table.from_batches([batch])
    t = t.append_column("corpus", pa.array([name] * t.num_rows, pa.string()))
    return t.select(schema.names).cast(schema)


def _dedup(t: pa.Table, column: str) -> pa.Table:
    """Keep the first row of each value of ``column``."""
    if t.num_rows < 2:
        return t
    idx = pa.array(range(t.num_rows), pa.int64())
    first = (
        pa.table({"k": t.column(column), "i": idx}).group_by("k").aggregate([("i", "min")])
    ).column("i_min")
    return t.take(pc.take(first, pc.sort_indices(first)))
