"""Quality filters for synthetic queries. They mark rows, never delete them.

A row that fails a rule gets ``status = 'filtered'`` (``'empty'`` for a blank query) and a
``reason`` such as ``too_short: 2 words``; its ``checks`` JSON keeps every measurement (words,
letter ratio, copy containment, round-trip rank...), also for rows that pass, so a threshold can
be judged later without measuring again. Rules, in the order they are tried (the first that
fails names the reason):

1. ``empty`` -- nothing but whitespace.
2. ``degenerate`` -- no letters; a prompt echo (starts like the prompt's own scaffolding:
   ``Document:``, ``Example 4:``, ``Relevant Query:``...); the same token three or more times in a
   row; or, with four or more tokens, fewer distinct tokens than half the tokens.
3. ``too_short`` / ``too_long`` -- fewer than ``min_words`` (3) or more than ``max_words`` (40)
   whitespace-separated words.
4. ``garbage`` -- letters are less than ``min_letter_ratio`` (0.5) of the non-space characters;
   optionally ``not_english`` -- ASCII letters below ``min_ascii_ratio`` of the letters.
5. ``copied`` -- the query is lifted from its passage: at least ``copy_threshold`` (0.8) of
   its word 4-grams occur in the passage (title and text), or its longest run of tokens shared
   with the passage covers that fraction of the query. Queries with fewer than four tokens are
   measured but not flagged (a three-word keyword query is not a copy).
6. ``round_trip`` -- the consistency check of Promptagator (Dai et al., 2022): with the
   embedder, the query's own passage must rank in the top ``round_trip_k`` (20) of the whole
   corpus. The search is exact: query vectors are multiplied with the matrix of all passage
   vectors in blocks (256 queries x all passages), and the rank is 1 + the number of passages
   scoring strictly higher than the source. Exact search costs O(queries x passages x dim):
   about 1 s per 20k queries against SciFact's 5k passages on 2 cores, so it stays practical up
   to about a million passages (the matrix is then ~1.5 GB of float32, and 20k queries take a
   few minutes); beyond that an ANN index would be needed.

Passage vectors come from :func:`engine.embed.passage_matrix` (encoded once, ever, cached in the
store). ``precision`` chooses how passages are encoded: ``auto`` (the default) follows the bf16
rule of :mod:`engine.device` (bfloat16 autocast only on CPUs with AMX tiles, where it is faster),
``bfloat16`` asks for it wherever the CPU runs it, ``float32`` never uses it.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from engine.embed import (
    ENCODE_PRECISIONS,
    Embedder,
    passage_input,
    passage_matrix,
    vector_matrix,
)
from engine.quality.marks import RowMarks
from store import Selection, Store
from store.errors import AugplanError

PRECISIONS = ENCODE_PRECISIONS
# the prompt's own scaffolding at the start of a query: "Document: ...", "Example 4: ...", ...
ECHO_PATTERN = (r"^(?:(?:example|document|passage|text|title|relevant\s+query|query)\s*\d*\s*:"
                r"|example\s+\d+\b|write\s+a\s+search\s+query)")
FILTER_KEYS = ("words", "tokens", "letter_ratio", "ascii_ratio", "distinct_ratio", "max_repeat",
               "copy_containment", "longest_shared_run", "copied", "round_trip_rank",
               "round_trip_k")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FilterOptions:
    """Thresholds of the filters (see the module notes for each rule)."""

    min_words: int = 3
    max_words: int = 40
    copy_threshold: float = 0.8
    copy_ngram: int = 4
    min_letter_ratio: float = 0.5  # garbage below this; 0 turns the check off
    min_ascii_ratio: float = 0.0  # not_english below this (e.g. 0.9); 0: off
    max_repeat: int = 3  # the same token this many times in a row: degenerate
    min_distinct_ratio: float = 0.5
    echo_pattern: str = ECHO_PATTERN  # case-insensitive regular expression
    round_trip: bool = True
    round_trip_k: int = 20
    precision: str = "auto"  # passage encoding: auto (the bf16 rule), bfloat16 or float32

    def validate(self) -> None:
        if self.min_words < 0 or self.max_words < max(self.min_words, 1):
            raise AugplanError(f"word limits {self.min_words}..{self.max_words}: "
                               "need 0 <= min_words <= max_words")
        if not 0.0 < self.copy_threshold <= 1.0:
            raise AugplanError(f"copy threshold {self.copy_threshold}: use a value in (0, 1]")
        if self.round_trip_k < 1:
            raise AugplanError(f"--round-trip-k {self.round_trip_k}: must be at least 1")
        if self.precision not in PRECISIONS:
            raise AugplanError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")


@dataclass
class FilterReport:
    selected: int = 0
    candidates: int = 0
    ok: int = 0
    empty: int = 0
    filtered: dict[str, int] = field(default_factory=dict)  # reason name -> rows
    passages_encoded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- text rules
def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (punctuation dropped)."""
    return _WORD.findall(text.lower())


@dataclass
class PassageIndex:
    """Word n-grams and token positions of one passage, for the copy measures."""

    grams: set[tuple[str, ...]]
    positions: dict[str, list[int]]

    @staticmethod
    def build(text: str, n: int) -> PassageIndex:
        toks = tokens(text)
        positions: dict[str, list[int]] = {}
        for i, t in enumerate(toks):
            positions.setdefault(t, []).append(i)
        return PassageIndex({tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}, positions)


def copy_measures(q_tokens: list[str], passage: PassageIndex, n: int) -> tuple[float | None, int]:
    """(share of the query's n-grams found in the passage or None if it has none, longest run of
    consecutive query tokens that also occurs consecutively in the passage)."""
    grams = [tuple(q_tokens[i : i + n]) for i in range(len(q_tokens) - n + 1)]
    containment = sum(g in passage.grams for g in grams) / len(grams) if grams else None
    longest = 0
    prev: dict[int, int] = {}
    for t in q_tokens:
        cur = {p: prev.get(p - 1, 0) + 1 for p in passage.positions.get(t, ())}
        if cur:
            longest = max(longest, max(cur.values()))
        prev = cur
    return containment, longest


def text_checks(query: str, passage: PassageIndex | None,
                options: FilterOptions) -> tuple[str, str, dict[str, Any]]:
    """(status, reason, measurements) of one query by the text rules (1-5)."""
    stripped = query.strip()
    words = len(stripped.split())
    toks = tokens(stripped)
    chars = [c for c in stripped if not c.isspace()]
    letters = [c for c in chars if c.isalpha()]
    ascii_letters = sum(c.isascii() for c in letters)
    distinct = len(set(toks))
    run, longest_repeat, repeated = 1, 1 if toks else 0, ""
    for a, b in itertools.pairwise(toks):
        run = run + 1 if a == b else 1
        if run > longest_repeat:
            longest_repeat, repeated = run, a
    m: dict[str, Any] = {
        "words": words,
        "tokens": len(toks),
        "letter_ratio": round(len(letters) / len(chars), 4) if chars else 0.0,
        "ascii_ratio": round(ascii_letters / len(letters), 4) if letters else 0.0,
        "distinct_ratio": round(distinct / len(toks), 4) if toks else 0.0,
        "max_repeat": longest_repeat,
    }
    if passage is not None:
        containment, longest = copy_measures(toks, passage, options.copy_ngram)
        m["copy_containment"] = None if containment is None else round(containment, 4)
        m["longest_shared_run"] = longest
        run_share = longest / len(toks) if toks else 0.0
        m["copied"] = len(toks) >= options.copy_ngram and (
            (containment or 0.0) >= options.copy_threshold or run_share >= options.copy_threshold
        )
    if not stripped:
        return "empty", "empty: no text", m
    if not letters:
        return "filtered", "degenerate: no letters", m
    echo = _echo(options.echo_pattern).match(stripped)
    if echo:
        return "filtered", f"degenerate: prompt echo {echo.group(0)!r}", m
    if longest_repeat >= options.max_repeat:
        return "filtered", f"degenerate: {repeated!r} {longest_repeat} times in a row", m
    if len(toks) >= 4 and m["distinct_ratio"] < options.min_distinct_ratio:
        return "filtered", f"degenerate: {distinct} distinct of {len(toks)} tokens", m
    if words < options.min_words:
        return "filtered", f"too_short: {words} word{'s' if words != 1 else ''}", m
    if words > options.max_words:
        return "filtered", f"too_long: {words} words", m
    if options.min_letter_ratio and m["letter_ratio"] < options.min_letter_ratio:
        return "filtered", f"garbage: {m['letter_ratio']:.2f} letters", m
    if options.min_ascii_ratio and m["ascii_ratio"] < options.min_ascii_ratio:
        return "filtered", f"not_english: {m['ascii_ratio']:.2f} ascii letters", m
    if m.get("copied"):
        c = m["copy_containment"] or 0.0
        if c >= options.copy_threshold:
            why = f"{c:.2f} of {options.copy_ngram}-grams in passage"
        else:
            why = f"{m['longest_shared_run']} of {len(toks)} tokens in one run from passage"
        return "filtered", f"copied: {why}", m
    return "ok", "", m


@functools.cache
def _echo(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# ---------------------------------------------------------------------------- round trip
def round_trip_ranks(queries: np.ndarray, source: np.ndarray, passages: np.ndarray,
                     *, block: int = 256) -> np.ndarray:
    """Rank (1 = best) of each query's source passage among all passages, by exact inner
    product; ``source[i]`` is the row of query i's passage in ``passages``."""
    q = np.asarray(queries, np.float32)
    p = np.asarray(passages, np.float32)
    ranks = np.zeros(q.shape[0], np.int64)
    for start in range(0, q.shape[0], block):
        qb = q[start : start + block]
        scores = qb @ p.T
        own = scores[np.arange(qb.shape[0]), source[start : start + block]]
        ranks[start : start + block] = 1 + (scores > own[:, None]).sum(axis=1)
    return ranks


# ------------------------------------------------------------------------------- the stage
def apply_filters(
    store: Store,
    corpus: str,
    *,
    selection: Selection | None = None,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
    options: FilterOptions | None = None,
    reset: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> FilterReport:
    """Run the filters on the rows of a corpus (and selection) whose status is ok.

    All measured rows are written back in one commit (status, reason, checks). ``reset=True``
    first returns rows an earlier run had filtered to ok, so new thresholds apply to them too.
    ``on_progress(stage, done, total)`` reports passage encoding.
    """
    options = options or FilterOptions()
    options.validate()
    store.corpus_info(corpus)
    rows = store.augmentations((selection or Selection()).narrow(corpus=corpus))
    report = FilterReport(selected=rows.num_rows)
    if rows.num_rows == 0:
        return report
    marks = RowMarks.of(rows)
    if reset:
        marks.reset("filtered")
    cand = [int(k) for k in np.nonzero(marks.status == "ok")[0]]
    report.candidates = len(cand)
    if cand:
        if options.round_trip:
            embedder = embedder or Embedder(models_dir=models_dir)
        passages, matrix, report.passages_encoded = _passages(
            store, corpus, marks, cand, embedder if options.round_trip else None, options,
            on_progress)
        row_of = {pid: i for i, pid in enumerate(passages.column("passage_id").to_pylist())}
        _check_texts(marks, cand, passages, row_of, options)
        if matrix is not None and embedder is not None:
            _round_trip(marks, cand, row_of, matrix, embedder, options)
    _count(report, marks, cand)
    marks.write(store)
    return report


def _passages(store: Store, corpus: str, marks: RowMarks, cand: list[int],
              embedder: Embedder | None, options: FilterOptions,
              on_progress: Callable[[str, int, int], None] | None
              ) -> tuple[pa.Table, np.ndarray | None, int]:
    """(passages, their vector matrix or None, passages encoded now): every passage of the
    corpus with its vectors for the round trip, else only the candidates' passages."""
    if embedder is not None:
        return passage_matrix(
            store, corpus, embedder, precision=options.precision,
            on_progress=(lambda d, t: on_progress("encode passages", d, t)) if on_progress
            else None,
        )
    pids = marks.rows.column("passage_id").to_pylist()
    needed = sorted({pids[k] for k in cand})
    wanted = pl.DataFrame({"corpus": [corpus] * len(needed), "passage_id": needed})
    return store.passages_by_id(wanted).select(["passage_id", "title", "text"]), None, 0


def _check_texts(marks: RowMarks, cand: list[int], passages: pa.Table, row_of: dict[str, int],
                 options: FilterOptions) -> None:
    """The text rules (1-5) on every candidate; earlier filter measurements are replaced."""
    pids = marks.rows.column("passage_id").to_pylist()
    queries = marks.rows.column("query").to_pylist()
    titles = passages.column("title").to_pylist()
    texts = passages.column("text").to_pylist()
    indices: dict[str, PassageIndex] = {}
    for k in cand:
        pid = pids[k]
        index = indices.get(pid)
        if index is None and pid in row_of:
            i = row_of[pid]
            index = indices[pid] = PassageIndex.build(passage_input(titles[i], texts[i]),
                                                      options.copy_ngram)
        status, why, measured = text_checks(queries[k] or "", index, options)
        for key in FILTER_KEYS:
            marks.checks(k).pop(key, None)
        marks.mark(k, status, why, measured)


def _round_trip(marks: RowMarks, cand: list[int], row_of: dict[str, int], matrix: np.ndarray,
                embedder: Embedder, options: FilterOptions) -> None:
    """Rank of the source passage for every candidate still ok; filter those beyond k."""
    pids = marks.rows.column("passage_id").to_pylist()
    live = [k for k in cand if marks.status[k] == "ok" and pids[k] in row_of]
    if not live:
        return
    vecs = _query_vectors(marks.rows, live, embedder, matrix.shape[1])
    source = np.asarray([row_of[pids[k]] for k in live], np.int64)
    ranks = round_trip_ranks(vecs, source, matrix)
    k_max = options.round_trip_k
    for k, rank in zip(live, ranks.tolist(), strict=True):
        marks.checks(k).update(round_trip_rank=rank, round_trip_k=k_max)
        if rank > k_max:
            marks.mark(k, "filtered", f"round_trip: passage ranked {rank} > {k_max}")


def _query_vectors(rows: pa.Table, live: list[int], embedder: Embedder, dim: int) -> np.ndarray:
    """Vectors of the queries at ``live``: stored ones where the same embedder made them,
    encoded now for the others."""
    vec_col = rows.column("vector")
    valid = vec_col.is_valid().to_numpy(zero_copy_only=False)
    names = rows.column("embedder").to_pylist()
    queries = rows.column("query").to_pylist()
    reuse = [k for k in live if valid[k] and names[k] == embedder.name]
    fresh = [k for k in live if not (valid[k] and names[k] == embedder.name)]
    vecs = np.zeros((len(live), dim), np.float32)
    slot = {k: i for i, k in enumerate(live)}
    if reuse:
        vecs[[slot[k] for k in reuse]] = vector_matrix(vec_col.take(pa.array(reuse)))
    if fresh:
        vecs[[slot[k] for k in fresh]] = embedder.encode([queries[k] for k in fresh])
    return vecs


def _count(report: FilterReport, marks: RowMarks, cand: list[int]) -> None:
    """Candidates per outcome: ok, empty, or filtered per reason name."""
    for k in cand:
        if marks.status[k] == "ok":
            report.ok += 1
        elif marks.status[k] == "empty":
            report.empty += 1
        else:
            name = marks.reason[k].split(":", 1)[0]
            report.filtered[name] = report.filtered.get(name, 0) + 1
