"""The marks the quality stage leaves on rows (``status``, ``reason``, ``dup_of``, ``checks``),
read from a table of rows, changed in memory and written back in one commit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from store import Store

MARK_COLUMNS = ("status", "reason", "dup_of", "checks")


def load_checks(checks_json: str | None) -> dict[str, Any]:
    """A row's ``checks`` JSON as a dict ({} when empty or unreadable)."""
    if not checks_json:
        return {}
    try:
        data = json.loads(checks_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def dump_checks(checks: dict[str, Any]) -> str:
    """A ``checks`` dict as the row stores it ("" when empty)."""
    return json.dumps(checks, sort_keys=True) if checks else ""


@dataclass
class RowMarks:
    """The marks of a table of rows, position by position; ``changed`` says which to write."""

    rows: pa.Table
    status: np.ndarray  # object array of status strings
    reason: list[str]
    dup_of: list[str]
    raw_checks: list[str | None]  # the checks JSON as read
    changed: np.ndarray = field(init=False)
    _checks: dict[int, dict[str, Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.changed = np.zeros(self.rows.num_rows, bool)

    def checks(self, k: int) -> dict[str, Any]:
        """Row ``k``'s measurements, parsed on first use; changes to the dict are written."""
        got = self._checks.get(k)
        if got is None:
            got = self._checks[k] = load_checks(self.raw_checks[k])
        return got

    @classmethod
    def of(cls, rows: pa.Table) -> RowMarks:
        return cls(rows, np.asarray(rows.column("status").to_pylist(), dtype=object),
                   rows.column("reason").to_pylist(), rows.column("dup_of").to_pylist(),
                   rows.column("checks").to_pylist())

    def reset(self, status: str) -> np.ndarray:
        """Return the rows marked ``status`` to ok (reason and ``dup_of`` cleared); their
        positions."""
        idx = np.nonzero(self.status == status)[0]
        for k in idx:
            self.status[k], self.reason[k] = "ok", ""
            if status == "duplicate":
                self.dup_of[k] = ""
                self.checks(k).pop("dedup", None)
        self.changed[idx] = True
        return idx

    def mark(self, k: int, status: str, reason: str,
             checks: dict[str, Any] | None = None) -> None:
        """Set row ``k``'s status and reason and add ``checks`` to its measurements."""
        self.status[k], self.reason[k] = status, reason
        if checks:
            self.checks(k).update(checks)
        self.changed[k] = True

    def write(self, store: Store) -> int:
        """Write the changed rows back (one commit); returns how many."""
        idx = np.nonzero(self.changed)[0]
        if not idx.size:
            return 0
        out = self.rows.take(pa.array(idx))
        values = {"status": [self.status[k] for k in idx], "reason": [self.reason[k] for k in idx],
                  "dup_of": [self.dup_of[k] for k in idx],
                  "checks": [dump_checks(self.checks(k)) for k in idx]}
        for name in MARK_COLUMNS:
            out = out.set_column(out.schema.get_field_index(name), name,
                                 pa.array(values[name], pa.string()))
        store.update_augmentations(out)
        return int(idx.size)
