"""augplan planner: saturation curves, cost model and budget recommendations.

Pure computation: no I/O and no model code; it imports nothing else of augplan.
"""

from planner.backtest import BacktestRow, backtest
from planner.cost import AugmenterCost, CostModel, PlanError, nice_scale
from planner.curves import FAMILIES, CurveFit, FamilyFit, fit_curve, fit_family
from planner.recommend import (
    Curve,
    Option,
    PilotPoint,
    Plan,
    PlanOptions,
    explain,
    fit_curves,
    plan,
    resolve_weights,
)

__all__ = [
    "FAMILIES", "AugmenterCost", "BacktestRow", "CostModel", "Curve", "CurveFit", "FamilyFit",
    "Option", "PilotPoint", "Plan", "PlanError", "PlanOptions", "backtest", "explain",
    "fit_curve", "fit_curves", "fit_family", "nice_scale", "plan", "resolve_weights",
]
