"""Small helpers of the store: timestamps, the default location, first-row dedup."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def augplan_home() -> Path:
    """``$AUGPLAN_HOME``, else ~/.augplan."""
    return Path(os.environ.get("AUGPLAN_HOME", Path.home() / ".augplan"))


def default_location() -> str:
    """The store's location: ``$AUGPLAN_STORE`` (a folder or a URI), else
    ``$AUGPLAN_HOME/store``."""
    return os.environ.get("AUGPLAN_STORE") or str(augplan_home() / "store")


def default_path() -> Path:
    """The default store as a local folder (for a remote default, its local side folder)."""
    location = default_location()
    return side_folder(location) if is_remote(location) else Path(location).expanduser()


def is_remote(location: str) -> bool:
    """Whether a store location is a URI of object storage (``s3://``, ``gs://``, ``az://``...)
    rather than a local folder (a path, or ``file://``)."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.lower() != "file"


def side_folder(uri: str) -> Path:
    """A local folder standing for a remote store: plans, training files and job logs are
    written beside it, as they are beside a local store's folder. One per URI, under
    ``$AUGPLAN_HOME/remote/``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", uri.partition("://")[2]).strip("_")[:60]
    digest = hashlib.sha256(uri.encode()).hexdigest()[:10]
    return augplan_home() / "remote" / f"{slug}-{digest}" / "store"


def dedup_rows(t: pa.Table, column: str) -> pa.Table:
    """Keep the first row of each value of ``column``."""
    if t.num_rows < 2:
        return t
    idx = pa.array(range(t.num_rows), pa.int64())
    first = (
        pa.table({"k": t.column(column), "i": idx}).group_by("k").aggregate([("i", "min")])
    ).column("i_min")
    return t.take(pc.take(first, pc.sort_indices(first)))
