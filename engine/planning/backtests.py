"""Backtests over every measured curve: the pilot points of each (corpus or file, retriever),
each curve fitted on its small scales and asked to predict the larger ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.planning.errors import planner_errors
from engine.planning.points import load_points, read_pilots_csv
from planner import PilotPoint
from store import Store
from store.errors import AugplanError


@dataclass
class BacktestGroup:
    source: str  # corpus name or CSV file
    retriever: str
    points: list[PilotPoint]


def backtest_groups(store: Store | None, *, corpora: Sequence[str] = (),
                    pilots: Sequence[Path] = (), retriever: str | None = None,
                    strategy: str | None = None, metric: str = "ndcg@10",
                    eval_mode: str | None = None) -> list[BacktestGroup]:
    """The pilot points to backtest, one group per (source, retriever): the CSV files given,
    the corpora named, or (neither) every corpus of the store that has pilot points."""
    sources: list[tuple[str, list[PilotPoint] | None]] = [
        (str(p), read_pilots_csv(p)) for p in pilots]
    if not pilots:
        if store is None:
            store = Store()
        names = list(corpora) or sorted({p["corpus"] for p in store.pilots()})
        if not names:
            raise AugplanError("no pilot points in the store to backtest",
                               hint="run `augplan pilot` first, or give --pilots FILE.csv")
        sources += [(c, None) for c in names]
    groups = []
    for source, points in sources:
        if points is None:
            retrievers = sorted({p["retriever"] for p in store.pilots(corpus=source)})  # type: ignore[union-attr]
        else:
            retrievers = sorted({p.retriever for p in points})
        for r in ([retriever] if retriever else retrievers):
            if points is None:
                got, _ = load_points(store, corpus=source, retriever=r, strategy=strategy,
                                     metric=metric, eval_mode=eval_mode)
            else:
                got = [p for p in points if p.retriever == r]
                if strategy:
                    got = [p for p in got if p.strategy == strategy or p.scale == 0]
            if got:
                groups.append(BacktestGroup(source, r, got))
    if not groups:
        raise AugplanError("no pilot points of " + (f"retriever {retriever!r}" if retriever
                                                   else "any retriever") + " to backtest")
    return groups


def run_backtests(groups: Sequence[BacktestGroup], fit_max_scale: int | None,
                  options: Any) -> list[tuple[BacktestGroup, Any]]:
    """(group, planner.BacktestRow) for every held-out point of every group: fit on scales
    <= ``fit_max_scale`` and predict the larger ones, or (None) fit on n <= N/2 and predict N
    for every measured N. A group too small to fit is left out; none at all is an error."""
    from planner import PlanError, backtest
    from planner.backtest import backtest_halves

    rows = []
    problems = []
    for g in groups:
        try:
            found = (backtest_halves(g.points, options) if fit_max_scale is None
                     else backtest(g.points, fit_max_scale, options))
        except PlanError as exc:
            problems.append(f"{g.source} {g.retriever}: {exc}")
            continue
        rows += [(g, r) for r in found]
    if not rows:
        with planner_errors():
            raise PlanError("nothing to backtest: " + "; ".join(problems), "fit_max_scale")
    return rows


__all__ = ["BacktestGroup", "backtest_groups", "run_backtests"]
