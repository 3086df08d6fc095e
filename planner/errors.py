"""The planner's one error type: an input it cannot work with.

The planner is a library, so its messages name inputs in plain words ("risk 'x': use neutral or
averse"), never a command-line flag. ``PlanError.field`` names the input an error is about (one
of :data:`FIELDS`, or None when no single input is to blame); a front door turns it into its own
vocabulary (a flag, a form field, a profile key).
"""

from __future__ import annotations

#: Every ``field`` a PlanError may carry, with the input it names.
FIELDS: dict[str, str] = {
    # PlanOptions
    "risk": "the risk attitude (neutral or averse)",
    "confidence": "the interval level",
    "bootstrap": "the number of bootstrap resamples",
    "saturation_fraction": "the share of the gain that counts as saturated",
    "max_extrapolation": "the largest multiple of the largest pilot scale to recommend",
    # plan() and backtest()
    "budget_gpu_hours": "the budget in GPU-hours",
    "pilots": "the pilot points",
    "fit_max_scale": "the largest pilot scale a backtest fits on",
    # resolve_weights()
    "eval_set": "the single eval set to optimise",
    "weights": "the objective weights per eval set (NAME=WEIGHT,...)",
    # the cost model
    "augmenter": "the augmenter whose cost profile is asked for",
    "queries_per_hour": "an augmenter's generation throughput",
    "acceptance": "an augmenter's share of generated queries that pass the filters",
    "cached": "an augmenter's accepted queries that already exist",
    "prompt_share": "an augmenter's share of a query's time spent on its passage's prompt",
    "per_passage": "the queries generated per passage",
    "pairs_per_hour": "the training throughput",
    "embed_per_hour": "the filtering and embedding throughput",
    "price_per_hour": "the price of one device-hour",
}


class PlanError(ValueError):
    """An input the planner cannot work with: the message says which and what to do;
    ``field`` names the input (a key of :data:`FIELDS`), or is None when no single input is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[PlanError], tuple[str, str | None]]:
        return type(self), (str(self), self.field)


__all__ = ["FIELDS", "PlanError"]
