"""Typed selections of synthetic-query rows.

Code above the store says *which* rows it wants (a corpus, a run, an augmenter, statuses,
passage ids...); the store turns a :class:`Selection` into its own filter, so no caller ever
assembles SQL text. A user's free-form ``--where`` filter rides along as given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: what the quality stage marks a row with (``empty``: the model produced no query)
STATUSES = ("ok", "filtered", "duplicate", "empty")


@dataclass(frozen=True)
class Selection:
    """Rows of the ``augmentations`` table. Every field left ``None`` selects everything; the
    fields that are set must all hold (AND).

    ``status`` is one status or several (any of them); ``exclude_status`` drops one.
    ``embedded`` selects rows with (True) or without (False) a query vector; ``has_query``
    rows whose query text is (True) or is not (False) empty. ``where`` is a user's own SQL
    filter over the columns, passed to LanceDB as given.
    """

    corpus: str | None = None
    run: str | None = None
    augmenter: str | None = None
    strategy: str | None = None
    status: str | tuple[str, ...] | None = None
    exclude_status: str | None = None
    passage_ids: tuple[str, ...] | None = None
    keys: tuple[str, ...] | None = None
    seed: int | None = None
    embedded: bool | None = None
    has_query: bool | None = None
    where: str | None = None

    def __post_init__(self) -> None:
        for name in ("passage_ids", "keys"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.status, list):
            object.__setattr__(self, "status", tuple(self.status))

    def narrow(self, **changes: Any) -> Selection:
        """This selection with some fields set (``sel.narrow(status="ok")``)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The selection in words, for reports ("corpus scifact, run R, status ok")."""
        parts = []
        for name, label in (("corpus", "corpus"), ("run", "run"), ("augmenter", "augmenter"),
                            ("strategy", "strategy"), ("seed", "seed")):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{label} {value}")
        if self.status is not None:
            statuses = (self.status,) if isinstance(self.status, str) else self.status
            parts.append("status " + " or ".join(statuses))
        if self.exclude_status is not None:
            parts.append(f"status not {self.exclude_status}")
        if self.passage_ids is not None:
            parts.append(f"{len(self.passage_ids)} passage(s)")
        if self.keys is not None:
            parts.append(f"{len(self.keys)} key(s)")
        if self.embedded is not None:
            parts.append("embedded" if self.embedded else "not embedded")
        if self.has_query is not None:
            parts.append("non-empty" if self.has_query else "empty")
        if self.where:
            parts.append(f"where {self.where}")
        return ", ".join(parts) or "all queries"


__all__ = ["STATUSES", "Selection"]
