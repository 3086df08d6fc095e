"""The store's own filter text: selections and column matches turned into LanceDB SQL.

Private to ``store``: the only place where filter text is written. Values are always quoted
here, so a name with a quote in it is data, never SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from store.selection import Selection

#: ids per ``IN (...)`` list: long id lists are read in chunks of this size
CHUNK = 500


def literal(value: Any) -> str:
    """A SQL literal: strings quoted (quotes doubled), numbers and booleans as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def both(*clauses: str | None) -> str | None:
    """The clauses joined with AND (each in parentheses); None when there are none."""
    parts = [f"({c})" for c in clauses if c]
    return " AND ".join(parts) if parts else None


def matching(**columns: Any) -> str | None:
    """``column = value AND ...`` for every column whose value is not None."""
    return both(*(f"{c} = {literal(v)}" for c, v in columns.items() if v is not None))


def one_of(column: str, values: Sequence[Any]) -> str:
    """``column IN (...)`` (``false`` for no values)."""
    if not values:
        return "false"
    return f"{column} IN ({','.join(literal(v) for v in values)})"


def chunked_in(column: str, values: Sequence[Any], base: str | None = None) -> Iterator[str]:
    """``base AND column IN (chunk)`` for each chunk of ``values`` (none for no values)."""
    for i in range(0, len(values), CHUNK):
        clause = both(base, one_of(column, values[i : i + CHUNK]))
        assert clause is not None
        yield clause


def _scalar_part(sel: Selection) -> str | None:
    statuses = (sel.status,) if isinstance(sel.status, str) else sel.status
    return both(
        matching(corpus=sel.corpus, run_id=sel.run, augmenter=sel.augmenter,
                 strategy=sel.strategy, seed=sel.seed),
        one_of("status", statuses) if statuses is not None else None,
        f"status != {literal(sel.exclude_status)}" if sel.exclude_status is not None else None,
        None if sel.embedded is None
        else ("vector IS NOT NULL" if sel.embedded else "vector IS NULL"),
        None if sel.has_query is None else ("query != ''" if sel.has_query else "query = ''"),
        sel.where,
    )


def selection_filters(sel: Selection | None) -> list[str | None]:
    """The filter(s) of a selection of synthetic queries: one per chunk of its passage ids or
    keys (their union is the selection), ``[None]`` for everything."""
    if sel is None:
        return [None]
    base = _scalar_part(sel)
    filters: list[str | None] = [base]
    for column, values in (("passage_id", sel.passage_ids), ("key", sel.keys)):
        if values is None:
            continue
        filters = [c for f in filters for c in chunked_in(column, values, f)] or ["false"]
    return filters


def selection_filter(sel: Selection | None) -> str | None:
    """One filter for a selection (ids inline, however many): for counts and searches."""
    if sel is None:
        return None
    return both(_scalar_part(sel),
                one_of("passage_id", sel.passage_ids) if sel.passage_ids is not None else None,
                one_of("key", sel.keys) if sel.keys is not None else None)
