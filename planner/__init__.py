"""augplan planner: saturation curves, cost model and budget recommendations.

Pure computation: no I/O and no model code; it imports nothing else of augplan.

Modules: ``families`` (the curve families), ``curves`` (fitting, model selection, bootstrap),
``cost`` (device-hours per scale), ``pilots`` (pilot points grouped into fitted curves),
``options`` (plan options and objective weights), ``recommend`` (the budget optimisation),
``result`` (the Plan and its options), ``explain`` (its plain-language summary), ``backtest``, ``errors`` (PlanError and the
input fields it names).
"""

from planner.backtest import BacktestRow, backtest
from planner.cost import AugmenterCost, CostModel, nice_scale
from planner.curves import CurveFit, FamilyFit, fit_curve, fit_family
from planner.errors import PlanError
from planner.explain import explain
from planner.families import FAMILIES
from planner.options import PlanOptions, resolve_weights
from planner.pilots import Curve, PilotPoint, fit_curves
from planner.recommend import plan
from planner.result import Option, Plan

__all__ = [
    "FAMILIES", "AugmenterCost", "BacktestRow", "CostModel", "Curve", "CurveFit", "FamilyFit",
    "Option", "PilotPoint", "Plan", "PlanError", "PlanOptions", "backtest", "explain",
    "fit_curve", "fit_curves", "fit_family", "nice_scale", "plan", "resolve_weights",
]
