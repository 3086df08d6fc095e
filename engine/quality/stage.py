"""The quality stage of a corpus' synthetic queries: embed, filter, deduplicate, score diversity.

``process`` runs the steps in that order on the rows of a corpus (or of one run, or of any
selection). Each step marks rows in the store (status, reason, checks, dup_of) and never
deletes one, so the stage can be re-run: rows already marked keep their status unless
``recheck`` asks for them to be measured again with the current thresholds. The diversity
scores of the selection are returned and, for a run, kept in the run's ``diversity`` JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from engine.embed import Embedder, embed_pending, passage_input, vectors_or_zero
from engine.quality.dedup import SCOPES, dedup
from engine.quality.diversity import diversity_scores
from engine.quality.filters import (
    FilterOptions,
    FilterReport,
    PassageIndex,
    apply_filters,
    text_checks,
)
from engine.quality.marks import load_checks
from store import STATUSES, Selection, Store
from store.errors import AugplanError

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class QualityOptions:
    """What the quality stage does, and with which thresholds."""

    filters: FilterOptions = field(default_factory=FilterOptions)
    run_filters: bool = True
    dedup: bool = True
    semantic_threshold: float = 0.95
    lexical_threshold: float = 0.8
    scope: str = "all"  # duplicates across the whole selection, or only within a passage
    where: str | None = None  # a user's own SQL filter on the rows (passed as given)
    recheck: bool = False  # measure rows filtered or marked duplicate before again
    diversity: bool = True
    diversity_sample: int = 500
    seed: int = 0

    def validate(self) -> None:
        self.filters.validate()
        if self.scope not in SCOPES:
            raise AugplanError(f"--scope {self.scope!r}: use one of {', '.join(SCOPES)}")
        for name, value in (("--semantic-threshold", self.semantic_threshold),
                            ("--lexical-threshold", self.lexical_threshold)):
            if not 0.0 < value <= 1.0:
                raise AugplanError(f"{name} {value}: use a value in (0, 1]")
        if self.diversity_sample < 2:
            raise AugplanError(f"diversity sample {self.diversity_sample}: must be at least 2")


@dataclass
class QualityReport:
    corpus: str
    run_id: str | None
    where: str  # the selection the stage worked on, in words
    selected: int
    embedded: int
    filters: FilterReport | None
    dedup: dict[str, int] | None
    status: dict[str, int]  # rows of the selection per status, after the stage
    reasons: dict[str, dict[str, int]]  # rows not ok per status and reason name, after the stage
    diversity: dict[str, Any] | None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["filters"] = self.filters.to_dict() if self.filters else None
        return d


def selection(corpus: str | None, run_id: str | None = None, where: str | None = None, *,
              augmenter: str | None = None, strategy: str | None = None) -> Selection:
    """The rows of a corpus, a run, an augmenter and strategy, and a user's own filter (any
    may be None)."""
    return Selection(corpus=corpus, run=run_id, where=where, augmenter=augmenter,
                     strategy=strategy)


def check_run(
    store: Store,
    corpus: str,
    run_id: str,
    *,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
    round_trip: bool = False,
    on_progress: Progress | None = None,
) -> QualityReport:
    """The quality pass after a generation: ``process`` on the run's queries with the default
    filters (the round-trip filter only when asked)."""
    options = QualityOptions(filters=replace(FilterOptions(), round_trip=round_trip))
    return process(store, corpus, run_id=run_id, embedder=embedder, models_dir=models_dir,
                   options=options, on_progress=on_progress)


# ------------------------------------------------------------------------------- the stage
def process(
    store: Store,
    corpus: str,
    *,
    run_id: str | None = None,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
    options: QualityOptions | None = None,
    on_progress: Progress | None = None,
    augmenter: str | None = None,
    strategy: str | None = None,
) -> QualityReport:
    """embed_pending -> filters -> dedup -> diversity on a corpus (or one of its runs, or the
    queries of one ``augmenter`` and ``strategy``: a pilot's training set is one augmenter's
    queries, and another augmenter's query of the same passage is not its duplicate, so its
    accepted queries do not depend on what else the store holds).

    ``on_progress(stage, done, total)`` reports the long steps (embedding queries, encoding
    passages). The diversity scores are returned and, when ``run_id`` is given, stored in the
    run's ``diversity`` JSON.
    """
    options = options or QualityOptions()
    options.validate()
    _check_corpus_and_run(store, corpus, run_id)
    sel = selection(corpus, run_id, options.where, augmenter=augmenter, strategy=strategy)
    selected = store.count_augmentations(sel)
    seconds: dict[str, float] = {}
    with _timed(seconds, "embed"):
        embedder, embedded = _embed_step(store, corpus, embedder, models_dir, options,
                                         on_progress)
    filter_report = None
    if options.run_filters:
        with _timed(seconds, "filters"):
            filter_report = apply_filters(
                store, corpus, selection=sel, embedder=embedder, options=options.filters,
                reset=options.recheck, on_progress=on_progress)
    dedup_counts = None
    if options.dedup:
        with _timed(seconds, "dedup"):
            dedup_counts = dedup(
                store, corpus, selection=sel, semantic_threshold=options.semantic_threshold,
                lexical_threshold=options.lexical_threshold, scope=options.scope,
                reset=options.recheck, seed=options.seed)
    scores = None
    if options.diversity:
        with _timed(seconds, "diversity"):
            scores = _diversity_step(store, sel, run_id, options)
    return QualityReport(
        corpus=corpus, run_id=run_id, where=sel.describe(), selected=selected, embedded=embedded,
        filters=filter_report, dedup=dedup_counts, status=status_counts(store, sel),
        reasons=reason_counts(store, sel), diversity=scores, seconds=seconds,
    )


def _check_corpus_and_run(store: Store, corpus: str, run_id: str | None) -> None:
    """A known corpus, and a known run of that corpus (when one is named)."""
    store.corpus_info(corpus)
    if run_id is None:
        return
    run = store.run(run_id)
    if run is None:
        raise AugplanError(f"--run {run_id!r}: no such run", hint="augplan runs list")
    if run["corpus"] != corpus:
        raise AugplanError(f"--run {run_id!r} belongs to corpus {run['corpus']!r}, "
                           f"not {corpus!r}")


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """Wall seconds of a step, rounded to ms, into ``seconds[step]``."""
    t0 = time.perf_counter()
    yield
    seconds[step] = round(time.perf_counter() - t0, 3)


def _embed_step(store: Store, corpus: str, embedder: Embedder | None, models_dir: Path | None,
                options: QualityOptions, on_progress: Progress | None
                ) -> tuple[Embedder | None, int]:
    """Embed the corpus' queries that have no vector; loads the embedder when this or the
    round-trip filter needs it. Returns (the embedder, queries embedded now)."""
    pending = store.count_augmentations(Selection(corpus=corpus, embedded=False,
                                                  has_query=True))
    needs_model = pending > 0 or (options.run_filters and options.filters.round_trip)
    if needs_model and embedder is None:
        embedder = Embedder(models_dir=models_dir)
    if not pending:
        return embedder, 0
    return embedder, embed_pending(
        store, corpus, embedder=embedder,
        on_progress=(lambda d, t: on_progress("embed queries", d, t)) if on_progress else None,
    )


def _diversity_step(store: Store, sel: Selection, run_id: str | None,
                    options: QualityOptions) -> dict[str, Any]:
    """Diversity of all non-empty queries of the selection, with the kept ones' under
    ``kept``; stored with the run when there is one."""
    scores = diversity_for(store, sel, sample=options.diversity_sample, seed=options.seed)
    scores["kept"] = diversity_for(store, sel, statuses=("ok",),
                                   sample=options.diversity_sample, seed=options.seed)
    if run_id is not None:
        store.update_run(run_id, diversity=json.dumps(scores, sort_keys=True))
    return scores


# ------------------------------------------------------------------------------ read-outs
def status_counts(store: Store, selection: Selection) -> dict[str, int]:
    """Rows per status in a selection (every status listed, zeros included)."""
    t = store.augmentations(selection, ["status"])
    counts = {s: 0 for s in STATUSES}
    for s in t.column("status").to_pylist():
        counts[s or "ok"] = counts.get(s or "ok", 0) + 1
    return counts


def reason_counts(store: Store, selection: Selection) -> dict[str, dict[str, int]]:
    """Rows of a selection that are not ok, per status and reason name (the part before ':'),
    most frequent first: ``{"filtered": {"too_short": 3, ...}, "duplicate": {...}, ...}``."""
    t = store.augmentations(selection.narrow(exclude_status="ok"), ["status", "reason"])
    if t.num_rows == 0:
        return {}
    df = pl.from_arrow(t).with_columns(
        pl.col("reason").fill_null("").str.split(":").list.first().str.strip_chars()
        .alias("name"))
    out: dict[str, dict[str, int]] = {}
    for r in df.group_by("status", "name").len().sort("len", descending=True).iter_rows():
        out.setdefault(r[0], {})[r[1] or "(no reason)"] = int(r[2])
    return out


def diversity_for(
    store: Store,
    selection: Selection | None = None,
    *,
    statuses: tuple[str, ...] | None = None,
    sample: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Diversity scores of any selection of stored queries (a run, an augmenter, a strategy...).

    By default every non-empty query of the selection counts, whatever its status (the output
    of the generator as it was); ``statuses=("ok",)`` scores only the queries that are kept.
    The copy rate uses the filters' ``copied`` measurement where a row has one and measures the
    others against their passage here.
    """
    selection = selection or Selection()
    rows = store.augmentations(
        selection, ["corpus", "passage_id", "query", "status", "checks", "vector"]
    )
    df_status = rows.column("status").to_pylist()
    queries = rows.column("query").to_pylist()
    keep = [k for k in range(rows.num_rows)
            if (queries[k] or "").strip() and df_status[k] != "empty"
            and (statuses is None or df_status[k] in statuses)]
    rows = rows.take(pa.array(keep, pa.int64()))
    queries = [queries[k] for k in keep]
    keys = [f"{c}/{p}" for c, p in zip(rows.column("corpus").to_pylist(),
                                       rows.column("passage_id").to_pylist(), strict=True)]
    vectors = vectors_or_zero(rows.column("vector"), store.dim) if rows.num_rows else None
    scores = diversity_scores(queries, vectors, keys, copy_flags=_copy_flags(store, rows),
                              sample=sample, seed=seed)
    scores["where"] = selection.describe()
    scores["statuses"] = list(statuses) if statuses else "all non-empty"
    return scores


def _copy_flags(store: Store, rows: pa.Table) -> list[bool]:
    """Whether each row's query is copied from its passage (measured where not known)."""
    if rows.num_rows == 0:
        return []
    flags: list[bool | None] = []
    for c in rows.column("checks").to_pylist():
        data = load_checks(c)
        flags.append(bool(data["copied"]) if "copied" in data else None)
    missing = [k for k, f in enumerate(flags) if f is None]
    if missing:
        _measure_copies(store, rows, missing, flags)
    return [bool(f) for f in flags]


def _measure_copies(store: Store, rows: pa.Table, missing: list[int],
                    flags: list[bool | None]) -> None:
    """Measure the copy flag of the rows at ``missing`` against their passages, in place."""
    opts = FilterOptions()
    corpora = rows.column("corpus").to_pylist()
    pids = rows.column("passage_id").to_pylist()
    queries = rows.column("query").to_pylist()
    wanted = pl.DataFrame({"corpus": [corpora[k] for k in missing],
                           "passage_id": [pids[k] for k in missing]}).unique()
    passages = store.passages_by_id(wanted).to_pylist()
    index = {(p["corpus"], p["passage_id"]): PassageIndex.build(
        passage_input(p["title"], p["text"]), opts.copy_ngram) for p in passages}
    for k in missing:
        passage = index.get((corpora[k], pids[k]))
        if passage is None:
            flags[k] = False
            continue
        _, _, measured = text_checks(queries[k], passage, opts)
        flags[k] = bool(measured.get("copied"))


__all__ = ["QualityOptions", "QualityReport", "check_run", "diversity_for", "process",
           "reason_counts", "selection", "status_counts"]
