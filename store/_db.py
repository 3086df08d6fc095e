"""The store: LanceDB tables for corpora, passages, synthetic queries, runs, profiles and pilots.

``Store`` is composed of one mixin per concept (corpora, synthetic queries, records of runs,
profiles and pilots); this module holds the connection, the tables and their schemas. The
store package is the only code of augplan that imports lancedb.

A store lives in a local folder or in object storage (``s3://bucket/prefix`` and any URI
LanceDB accepts; options such as the endpoint and keys come as ``storage_options`` or from the
``AWS_*`` variables). Several writers may share one: generated rows are merge-inserted on a
primary key (``schemas.PRIMARY_KEYS``), counts come from the merge results, and a failed step
is undone by removing what it wrote, never by restoring an older version of a shared table.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCE_LOG", "error")  # lance's deprecation notices are not for users

import lancedb
import pyarrow as pa

from store import schemas
from store._augmentations import AugmentationsMixin
from store._corpora import CorporaMixin
from store._records import RecordsMixin
from store._util import default_location, is_remote, side_folder
from store.errors import AugplanError

DEFAULT_DIM = 384


class Store(CorporaMixin, AugmentationsMixin, RecordsMixin):
    """An augplan store: a LanceDB database in a local folder or in object storage.

    ``uri`` is where the database is; ``path`` is a local folder: the database itself when it
    is local, else a folder standing for it (``$AUGPLAN_HOME/remote/...``), beside which plans,
    training files and job logs are written as they are beside a local store.
    """

    def __init__(self, path: str | Path | None = None, *, dim: int = DEFAULT_DIM,
                 storage_options: Mapping[str, str] | None = None) -> None:
        location = str(path) if path else default_location()
        self.remote = is_remote(location)
        self.storage_options = dict(storage_options or {})
        if self.remote:
            self.uri = location.rstrip("/")
            self.path = side_folder(self.uri)
            for key, value in REMOTE_DEFAULTS.items():
                self.storage_options.setdefault(key, value)
        else:
            self.path = Path(location.removeprefix("file://")).expanduser()
            self.uri = str(self.path)
        self.dim = dim
        self._db = _connect(self.uri, self.storage_options, self.remote)
        self.path.mkdir(parents=True, exist_ok=True)
        self._tables: dict[str, Any] = {}

    def location(self) -> dict[str, Any]:
        """What another process needs to open this store (a worker, a job): its URI and
        storage options."""
        return {"uri": self.uri, "storage_options": dict(self.storage_options)}

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
                tbl = self._db.open_table(name)
            except ValueError:  # not there yet (another writer may be creating it too)
                try:
                    tbl = self._db.create_table(name, schema=want, exist_ok=True)
                except ValueError:  # that writer made it meanwhile, and set its primary key
                    tbl = self._db.open_table(name)
            _upgrade(name, tbl, want)
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

    def optimize(self, name: str = "augmentations") -> None:
        with contextlib.suppress(Exception):
            self.table(name).optimize()


#: Options every remote store gets unless given: fail within seconds on an unreachable
#: endpoint instead of retrying for three minutes.
REMOTE_DEFAULTS = {"connect_timeout": "5s", "client_retry_timeout": "20"}


def _connect(uri: str, options: dict[str, str], remote: bool) -> Any:
    """The LanceDB connection; a remote store is reached at once (a listing), so that a wrong
    endpoint, bucket or key is one clear error before anything is written."""
    try:
        db = lancedb.connect(uri, storage_options=options or None)
        if remote:
            db.list_tables()
    except (ValueError, OSError, RuntimeError) as exc:
        raise AugplanError(f"store {uri}: {storage_error(exc)}",
                           hint="check --store, --storage-option and the AWS_* variables"
                           ) from exc
    return db


_S3_CODES = {
    "NoSuchBucket": "the bucket does not exist",
    "InvalidAccessKeyId": "the access key was refused",
    "SignatureDoesNotMatch": "the secret key was refused",
    "AccessDenied": "access denied for these credentials",
    "InvalidToken": "the session token was refused",
    "ExpiredToken": "the session token has expired",
}


def storage_error(exc: BaseException) -> str:
    """One line for an error of object storage (LanceDB's messages are pages of Rust debug
    output)."""
    msg = str(exc)
    code = re.search(r"<Code>([^<]+)</Code>", msg)
    if code:
        return _S3_CODES.get(code.group(1), f"the server answered {code.group(1)}")
    if re.search(r"ConnectError|tcp connect error|dns error|Connection refused|timed out", msg):
        return "cannot reach the endpoint"
    status = re.search(r"status: (\d{3})", msg)
    if status and status.group(1) in ("401", "403"):
        return f"the credentials were refused (HTTP {status.group(1)})"
    if status:
        return f"the server answered HTTP {status.group(1)}"
    first = msg.splitlines()[0] if msg else type(exc).__name__
    return first[:200]


def _is_primary_key(field: pa.Field) -> bool:
    return any(k.startswith(b"lance-schema:unenforced-primary-key")
               for k in (field.metadata or {}))


def _upgrade(name: str, tbl: Any, want: pa.Schema) -> None:
    """Bring a table written by an older augplan up to ``want``: the columns it lacks (all
    null) and its primary key (one-time; safe if another process does it at the same time)."""
    have = set(tbl.schema.names)
    missing = [f.with_nullable(True) for f in want if f.name not in have]
    if missing:
        tbl.add_columns(pa.schema(missing))
    key = schemas.PRIMARY_KEYS.get(name)
    if key is None or _is_primary_key(tbl.schema.field(key)):
        return
    try:
        if tbl.schema.field(key).nullable:
            tbl.alter_columns({"path": key, "nullable": False})
        tbl.set_unenforced_primary_key(key)
    except (ValueError, OSError, RuntimeError):
        tbl.checkout_latest()
        if not _is_primary_key(tbl.schema.field(key)):  # not another writer's migration
            raise

