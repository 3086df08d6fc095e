"""Backtest: fit on the small pilot scales only, predict the larger measured ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from planner.errors import PlanError
from planner.options import PlanOptions
from planner.pilots import PilotPoint, fit_curves


@dataclass(frozen=True)
class BacktestRow:
    augmenter: str
    strategy: str
    eval_set: str
    family: str
    scale: int
    measured: float  # mean over seeds
    predicted: float
    ci_low: float
    ci_high: float

    @property
    def error(self) -> float:
        return self.predicted - self.measured

    @property
    def covered(self) -> bool:
        return self.ci_low <= self.measured <= self.ci_high

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(error=round(self.error, 6), covered=self.covered)
        return d


def backtest(points: Sequence[PilotPoint], fit_max_scale: int,
             options: PlanOptions | None = None) -> list[BacktestRow]:
    """For each curve, fit on the points with scale <= ``fit_max_scale`` and predict the mean
    of every larger measured scale (with the bootstrap interval)."""
    options = options or PlanOptions()
    small = [p for p in points if p.scale <= fit_max_scale]
    large = [p for p in points if p.scale > fit_max_scale and p.kind != "human"]
    if not large:
        raise PlanError(f"no pilot point above scale {fit_max_scale:,} to predict",
                        "fit_max_scale")
    curves, _ = fit_curves(small, options)
    if not curves:
        raise PlanError(f"no curve could be fitted on scales <= {fit_max_scale:,} "
                        "(each needs 4 points on 2 scales)", "fit_max_scale")
    rows = []
    for c in curves:
        held = [p for p in large if (p.augmenter, p.strategy, p.eval_set)
                == (c.augmenter, c.strategy, c.eval_set)]
        for s in sorted({p.scale for p in held}):
            seeds = [p.metric for p in held if p.scale == s]
            measured = float(np.mean(seeds))
            lo, hi = c.fit.interval([s], measured_with=len(seeds))
            rows.append(BacktestRow(c.augmenter, c.strategy, c.eval_set, c.fit.best.family, s,
                                    measured, float(c.fit.predict([s])[0]), float(lo[0]),
                                    float(hi[0])))
    if not rows:
        raise PlanError("no curve fitted on the small scales has larger scales to predict",
                        "fit_max_scale")
    return rows


def backtest_halves(points: Sequence[PilotPoint],
                    options: PlanOptions | None = None) -> list[BacktestRow]:
    """For every measured scale N: fit on the points with scale <= N/2 and predict N (each
    held-out scale once; the points above N are not looked at). Scales whose halves hold too
    few points for a curve are left out."""
    rows = []
    scales = sorted({p.scale for p in points if p.scale > 0 and p.kind != "human"})
    for big in scales:
        subset = [p for p in points if p.scale <= big]
        try:
            found = backtest(subset, big // 2, options)
        except PlanError:
            continue
        rows += [r for r in found if r.scale == big]
    if not rows:
        raise PlanError("no curve has enough points at half of a measured scale to predict it "
                        "(each fit needs 4 points on 2 scales)", "pilots")
    return rows


def summary(rows: Sequence[BacktestRow]) -> dict[str, float]:
    """Median and mean absolute error and interval coverage of backtest rows."""
    errors = np.abs([r.error for r in rows])
    return {"points": len(rows), "median_abs_error": float(np.median(errors)),
            "mean_abs_error": float(np.mean(errors)),
            "coverage": float(np.mean([r.covered for r in rows]))}


__all__ = ["BacktestRow", "backtest", "backtest_halves", "summary"]
