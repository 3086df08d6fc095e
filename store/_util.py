"""Small helpers of the store: timestamps, the default location, first-row dedup."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def default_path() -> Path:
    env = os.environ.get("AUGPLAN_STORE")
    if env:
        return Path(env)
    home = Path(os.environ.get("AUGPLAN_HOME", Path.home() / ".augplan"))
    return home / "store"


def dedup_rows(t: pa.Table, column: str) -> pa.Table:
    """Keep the first row of each value of ``column``."""
    if t.num_rows < 2:
        return t
    idx = pa.array(range(t.num_rows), pa.int64())
    first = (
        pa.table({"k": t.column(column), "i": idx}).group_by("k").aggregate([("i", "min")])
    ).column("i_min")
    return t.take(pc.take(first, pc.sort_indices(first)))
