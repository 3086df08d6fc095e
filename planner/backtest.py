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
            measured = float(np.mean([p.metric for p in held if p.scale == s]))
            lo, hi = c.fit.interval([s])
            rows.append(BacktestRow(c.augmenter, c.strategy, c.eval_set, c.fit.best.family, s,
                                    measured, float(c.fit.predict([s])[0]), float(lo[0]),
                                    float(hi[0])))
    if not rows:
        raise PlanError("no curve fitted on the small scales has larger scales to predict",
                        "fit_max_scale")
    return rows


__all__ = ["BacktestRow", "backtest"]
