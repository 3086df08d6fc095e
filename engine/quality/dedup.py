"""Duplicate synthetic queries: exact, semantic (embedding cosine) and lexical (MinHash LSH).

Duplicates are marked, never deleted: a duplicate row gets ``status = 'duplicate'``,
``dup_of = <uid of its representative>`` and a ``reason`` naming the method and the similarity
(``exact_duplicate``, ``semantic_duplicate: cosine 0.973``, ``lexical_duplicate: jaccard 0.857``);
its ``checks`` JSON gains a ``dedup`` entry with the same facts.

Which row is kept. Rows are ordered by (their generation run, ordinal of their passage in the
corpus file, created_at, idx, uid) -- the rows of an earlier run first (a run is placed by its
first row), then within a run the first passage first, then the row generated first, then the
lower sample index, with the uid as the last tie-break so the order is total and stable. So a
row generated later never displaces a kept one (what was accepted stays accepted as the store
grows: a pilot's first n accepted queries stay the same), and within one run the corpus order
decides, whatever order its rows finished in. Processing rows in that order,
a row is a duplicate when it is similar to an *earlier row that was kept*, and it points to the
earliest such row. So ``dup_of`` always names a kept row that is itself similar to the duplicate
(no chains: with a ~ b ~ c but not a ~ c, b points to a and c is kept).

Candidates are the rows of the selection whose status is ``ok``; rows already filtered, empty or
marked duplicate keep their status (``reset=True`` reconsiders earlier duplicates).

The steps: exact duplicates (same normalised text, by hash), then near duplicates among the rest
-- semantic and lexical pairs found by :mod:`engine.quality.pairs` (a random-projection forest and
MinHash LSH, never all pairs; every pair verified exactly), turned into representatives by
:func:`assign_representatives`. ``scope="passage"`` compares only queries of the same passage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.embed import unit_vectors
from engine.quality.marks import RowMarks
from engine.quality.pairs import (
    Pairs,
    lexical_pairs,
    normalise,
    semantic_pairs,
    semantic_pairs_within,
)
from store import Selection, Store
from store.errors import AugplanError

SCOPES = ("all", "passage")


def text_hash(text: str) -> str:
    """sha256 of the normalised text: equal for exact duplicates."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- assignment
def assign_representatives(
    n: int, edges: list[tuple[str, Pairs]]
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Greedy, in position order (position = rank): returns ``rep`` (-1 for kept rows, else the
    position of the kept row each duplicate points to) and, per row, the similarities of the edge
    to its representative by method."""
    neighbours: dict[int, dict[int, dict[str, float]]] = {}
    for method, pairs in edges:
        for a, b, s in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.sim.tolist(), strict=True):
            lo, hi = (a, b) if a < b else (b, a)
            neighbours.setdefault(hi, {}).setdefault(lo, {})[method] = round(float(s), 4)
    rep = np.full(n, -1, np.int64)
    how: list[dict[str, float]] = [{} for _ in range(n)]
    for row in sorted(neighbours):
        earlier = [lo for lo in neighbours[row] if rep[lo] == -1]
        if earlier:
            lo = min(earlier)
            rep[row] = lo
            how[row] = neighbours[row][lo]
    return rep, how


# ------------------------------------------------------------------------------- the stage
@dataclass(frozen=True)
class _Search:
    """What ``dedup`` was asked to look for."""

    scope: str
    semantic_threshold: float
    lexical_threshold: float
    semantic: bool
    lexical: bool
    trees: int
    seed: int


@dataclass(frozen=True)
class _Candidates:
    """Candidate rows in rank order (positions into the selection) and the columns the steps
    read, position by position of the selection."""

    order: np.ndarray
    uids: list[str]
    pids: list[str]
    queries: list[str]


def dedup(
    store: Store,
    corpus: str,
    *,
    selection: Selection | None = None,
    semantic_threshold: float = 0.95,
    lexical_threshold: float = 0.8,
    scope: str = "all",
    semantic: bool = True,
    lexical: bool = True,
    reset: bool = False,
    trees: int = 16,
    seed: int = 0,
) -> dict[str, int]:
    """Mark duplicate rows of a corpus (optionally of a narrower selection); one commit.

    Returns counts: ``selected`` rows, ``candidates`` (status ok), ``exact``, ``semantic``,
    ``lexical`` and total ``duplicates`` newly marked, ``kept``, and ``unembedded`` candidates
    (no vector: left out of the semantic comparison).
    """
    search = _Search(scope, semantic_threshold, lexical_threshold, semantic, lexical, trees,
                     seed)
    _validate(search)
    store.corpus_info(corpus)
    rows = store.augmentations((selection or Selection()).narrow(corpus=corpus))
    counts = {"selected": rows.num_rows, "candidates": 0, "exact": 0, "semantic": 0,
              "lexical": 0, "duplicates": 0, "kept": 0, "unembedded": 0}
    if rows.num_rows == 0:
        return counts
    marks = RowMarks.of(rows)
    if reset:
        marks.reset("duplicate")
    cand = np.nonzero(marks.status == "ok")[0]
    counts["candidates"] = int(cand.size)
    if cand.size:
        c = _Candidates(cand[_rank_order(store, corpus, rows, cand)],
                        rows.column("uid").to_pylist(), rows.column("passage_id").to_pylist(),
                        rows.column("query").to_pylist())
        rest = _mark_exact(marks, c, search, counts)
        edges = _near_pairs(rows, c, rest, search, counts)
        _mark_near(marks, c, rest, edges, counts)
    counts["duplicates"] = counts["exact"] + counts["semantic"] + counts["lexical"]
    counts["kept"] = counts["candidates"] - counts["duplicates"]
    marks.write(store)
    return counts


def _validate(search: _Search) -> None:
    if search.scope not in SCOPES:
        raise AugplanError(f"--scope {search.scope!r}: use one of {', '.join(SCOPES)}")
    for name, value in (("--semantic-threshold", search.semantic_threshold),
                        ("--lexical-threshold", search.lexical_threshold)):
        if not 0.0 < value <= 1.0:
            raise AugplanError(f"{name} {value}: use a value in (0, 1]")


def _mark_exact(marks: RowMarks, c: _Candidates, search: _Search,
                counts: dict[str, int]) -> np.ndarray:
    """Mark candidates with the same normalised text as an earlier one (within a passage when
    scope = passage); returns the other candidates, in rank order."""
    seen: dict[tuple[str, str], int] = {}
    exact_rep = np.full(c.order.size, -1, np.int64)
    for pos, k in enumerate(c.order):
        h = (c.pids[k] if search.scope == "passage" else "", text_hash(c.queries[k]))
        if h in seen:
            exact_rep[pos] = seen[h]
        else:
            seen[h] = pos
    for pos in np.nonzero(exact_rep >= 0)[0]:
        k, r = c.order[pos], c.order[exact_rep[pos]]
        _mark(marks, k, c.uids[r], "exact_duplicate",
              {"method": "exact", "same_passage": c.pids[k] == c.pids[r]})
    counts["exact"] = int((exact_rep >= 0).sum())
    return c.order[exact_rep < 0]


def _near_pairs(rows: pa.Table, c: _Candidates, rest: np.ndarray, search: _Search,
                counts: dict[str, int]) -> list[tuple[str, Pairs]]:
    """Semantic (``cosine``) and lexical (``jaccard``) pairs among ``rest`` (positions into
    ``rest``)."""
    group = (np.asarray([c.pids[k] for k in rest], dtype=object)
             if search.scope == "passage" else None)
    edges: list[tuple[str, Pairs]] = []
    if rest.size < 2:
        return edges
    if search.semantic:
        edges.extend(_semantic_edges(rows, rest, group, search, counts))
    if search.lexical:
        edges.append(("jaccard", lexical_pairs([c.queries[k] for k in rest],
                                               search.lexical_threshold, groups=group)))
    return edges


def _semantic_edges(rows: pa.Table, rest: np.ndarray, group: np.ndarray | None,
                    search: _Search, counts: dict[str, int]) -> list[tuple[str, Pairs]]:
    """Cosine pairs among the embedded rows of ``rest``; vectors of different embedders are not
    comparable, so one search per embedder."""
    vec_col = rows.column("vector")
    has_vec = np.asarray(vec_col.is_valid().to_pylist(), bool)[rest]
    counts["unembedded"] = int((~has_vec).sum())
    embedders = np.asarray(rows.column("embedder").to_pylist(), dtype=object)[rest]
    edges: list[tuple[str, Pairs]] = []
    for name in sorted({str(e) for e in embedders[has_vec]}):
        with_vec = np.nonzero(has_vec & (embedders.astype(str) == name))[0]
        if with_vec.size < 2:
            continue
        vecs = unit_vectors(vec_col, rest[with_vec])
        if group is not None:
            p = semantic_pairs_within(vecs, group[with_vec], search.semantic_threshold)
        else:
            p = semantic_pairs(vecs, search.semantic_threshold, trees=search.trees,
                               seed=search.seed)
        edges.append(("cosine", Pairs(with_vec[p.i], with_vec[p.j], p.sim)))
    return edges


def _mark_near(marks: RowMarks, c: _Candidates, rest: np.ndarray,
               edges: list[tuple[str, Pairs]], counts: dict[str, int]) -> None:
    """Mark each row of ``rest`` similar to an earlier kept one as its duplicate."""
    rep, how = assign_representatives(rest.size, edges)
    for pos in np.nonzero(rep >= 0)[0]:
        k, r = rest[pos], rest[rep[pos]]
        sims = how[pos]
        method = "semantic" if "cosine" in sims else "lexical"
        detail = ", ".join(f"{m} {s:.3f}" for m, s in sims.items())
        _mark(marks, k, c.uids[r], f"{method}_duplicate: {detail}",
              {"method": method, **sims, "same_passage": c.pids[k] == c.pids[r]})
        counts[method] += 1


def _rank_order(store: Store, corpus: str, rows: pa.Table, cand: np.ndarray) -> np.ndarray:
    """Positions into ``cand`` sorted by (run, passage ordinal, created_at, idx, uid), a run
    placed by the first created_at of its rows."""
    passages = store.passages(corpus, columns=["passage_id", "ordinal"])
    ordinal = dict(zip(passages.column("passage_id").to_pylist(),
                       passages.column("ordinal").to_pylist(), strict=True))
    big = len(ordinal) + 1
    pid = rows.column("passage_id").to_pylist()
    created = rows.column("created_at").to_pylist()
    sample = rows.column("idx").to_pylist()
    uid = rows.column("uid").to_pylist()
    runs = pa.table({"run": pc.fill_null(rows.column("run_id"), ""),
                     "created": pc.fill_null(rows.column("created_at"), "")})
    starts = runs.group_by("run").aggregate([("created", "min")])
    first = dict(zip(starts.column("run").to_pylist(), starts.column("created_min").to_pylist(),
                     strict=True))
    run = runs.column("run").to_pylist()
    keys = [(first[run[k]], run[k], ordinal.get(pid[k], big), created[k] or "",
             sample[k] or 0, uid[k]) for k in cand]
    return np.asarray(sorted(range(cand.size), key=keys.__getitem__), np.int64)


def _mark(marks: RowMarks, k: int, rep_uid: str, why: str, facts: dict[str, Any]) -> None:
    marks.dup_of[k] = rep_uid
    marks.mark(k, "duplicate", why, {"dedup": {**facts, "dup_of": rep_uid}})


__all__ = ["SCOPES", "assign_representatives", "dedup", "text_hash"]
