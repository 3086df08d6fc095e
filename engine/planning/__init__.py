"""Glue between the store, the cost profiles and the planner: pilot points and cost models
from the store or from files, plans as documents beside the store, and running a plan at full
scale through the engine's resumable generation.

- ``points``: pilot points (store or CSV), their narrowing and summaries for the front doors;
- ``costs``: the cost model from profiles and the store's acceptance rates;
- ``plans``: making, saving, loading and executing plans;
- ``backtests``: backtests over every measured curve;
- ``errors``: the one place where planner errors become user errors.
"""

from engine.planning.backtests import BacktestGroup, backtest_groups, run_backtests
from engine.planning.costs import CostInputs, cost_model
from engine.planning.errors import planner_errors
from engine.planning.plans import (
    MadePlan,
    execute_plan,
    latest_plan,
    load_plan,
    make_plan,
    plan_document,
    plan_file,
    plan_options,
    training_file,
    write_plan,
)
from engine.planning.points import (
    PlanChoices,
    load_points,
    main_eval_mode,
    option_label,
    pilot_summary,
    plan_choices,
    points_from_store,
    read_pilots_csv,
    select_retriever,
    select_strategies,
    split_label,
    to_points,
)

__all__ = [
    "BacktestGroup",
    "CostInputs",
    "MadePlan",
    "PlanChoices",
    "backtest_groups",
    "cost_model",
    "execute_plan",
    "latest_plan",
    "load_plan",
    "load_points",
    "main_eval_mode",
    "make_plan",
    "option_label",
    "pilot_summary",
    "plan_choices",
    "plan_document",
    "plan_file",
    "plan_options",
    "planner_errors",
    "points_from_store",
    "read_pilots_csv",
    "run_backtests",
    "select_retriever",
    "select_strategies",
    "split_label",
    "to_points",
    "training_file",
    "write_plan",
]
