"""Held-out selection: a dev split carved out of a corpus' train (or test) queries, the split
that choices are made on, and how a report names the split it used.

Choices (pilots, plans, the autopilot) are made on ``dev`` when the corpus has one; the test
split is read only for the final report. A split carved out of ``test`` leaves the remainder as
``test``, and every later test score is computed on that remainder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from store import Store
from store.errors import AugplanError

#: fewest queries a carved split or the remainder it leaves may hold
MIN_QUERIES = 10
DEV = "dev"


@dataclass(frozen=True)
class Carved:
    corpus: str
    source: str
    target: str
    queries: int  # carved into ``target``
    left: int  # queries left in ``source``
    qrels: dict[str, int]  # qrels rows per split afterwards


def carve(store: Store, corpus: str, *, source: str = "train", n: int, seed: int = 0,
          target: str = DEV) -> Carved:
    """Move ``n`` of the queries judged in ``source`` (a deterministic choice: their ids
    ordered by a seeded hash) with all their qrels rows into a new split ``target``."""
    splits = store.qrel_splits(corpus)
    if source not in splits:
        raise AugplanError(f"--from {source!r}: corpus {corpus!r} has no such split "
                           f"(splits: {', '.join(splits) or 'none'})")
    if target in splits:
        raise AugplanError(f"corpus {corpus!r} already has a {target!r} split"
                           + (" (carved before)" if target in store.carved_splits(corpus) else ""),
                           hint="choices are made on it as it is")
    ids = sorted(set(store.qrels(corpus, source, positive=True).column("query_id").to_pylist()))
    if len(ids) < 2 * MIN_QUERIES:
        raise AugplanError(
            f"the {source!r} split of {corpus!r} has {len(ids)} judged queries: too few to "
            f"carve a {target!r} split (at least {2 * MIN_QUERIES}: {MIN_QUERIES} to choose on, "
            f"{MIN_QUERIES} left to {'report' if source == 'test' else 'train'} on)")
    if n < MIN_QUERIES:
        raise AugplanError(f"--dev {n}: a {target!r} split needs at least {MIN_QUERIES} queries")
    if len(ids) - n < MIN_QUERIES:
        raise AugplanError(f"--dev {n}: the {source!r} split of {corpus!r} has {len(ids)} judged "
                           f"queries; carving {n} would leave {len(ids) - n} (at least "
                           f"{MIN_QUERIES} must stay), so use at most {len(ids) - MIN_QUERIES}")
    chosen = sorted(ids, key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())[:n]
    note = {"from": source, "queries": n, "seed": seed, "left": len(ids) - n}
    counts = store.relabel_qrels(corpus, source=source, target=target, query_ids=chosen,
                                 note=note)
    return Carved(corpus, source, target, n, len(ids) - n, counts)


#: how many queries :func:`ensure_dev` carves, at most (and at most half of the source)
DEFAULT_DEV = {"train": 300, "test": 100}


def ensure_dev(store: Store, corpus: str, *, seed: int = 0) -> Carved | None:
    """A dev split for a corpus without one, carved with the defaults (out of train when it
    has one, else out of test; :data:`DEFAULT_DEV` queries, at most half of the source).
    None when the corpus has a dev split already, or too few judged queries to carve one
    (choices are then made on test, and the plan says so)."""
    splits = store.qrel_splits(corpus)
    if DEV in splits:
        return None
    source = "train" if "train" in splits else "test" if "test" in splits else None
    if source is None:
        return None
    judged = len(set(store.qrels(corpus, source, positive=True).column("query_id").to_pylist()))
    n = min(DEFAULT_DEV[source], judged // 2)
    if n < MIN_QUERIES or judged - n < MIN_QUERIES:
        return None
    return carve(store, corpus, source=source, n=n, seed=seed)


def choice_split(store: Store, corpus: str) -> str:
    """The split choices are made on: ``dev`` when the corpus has one, else ``test`` (and
    reports say that the choice then saw the test queries)."""
    return DEV if DEV in store.qrel_splits(corpus) else "test"


def split_note(store: Store, eval_set: str) -> str:
    """How a report names an eval set ``NAME:SPLIT``: the split, and for a split carved out of
    another or left over by a carve, what it holds."""
    corpus, _, split = eval_set.partition(":")
    if store.corpus_info(corpus, missing_ok=True) is None:
        return eval_set
    carved = store.carved_splits(corpus)
    if split in carved:
        c = carved[split]
        return f"{eval_set} ({c['queries']} queries carved out of {c['from']}, seed {c['seed']})"
    for name, c in carved.items():
        if c["from"] == split:
            return (f"{eval_set} (the {c['left']} queries left after carving {c['queries']} "
                    f"into {name})")
    return eval_set


def carve_fingerprint(store: Store, corpus: str, split: str) -> dict[str, object] | None:
    """What a pilot point's key must hold so that a score on ``split`` measured before a carve
    is not reused after it: the carve touching this split, or None when none did."""
    for name, c in store.carved_splits(corpus).items():
        if split in (name, c["from"]):
            return {"carved": name, **c}
    return None


__all__ = ["DEFAULT_DEV", "DEV", "MIN_QUERIES", "Carved", "carve", "carve_fingerprint",
           "choice_split", "ensure_dev", "split_note"]
