"""The plain-language explanation of a plan."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.cost import CostModel
    from planner.result import Plan


def _fmt_n(n: float | None) -> str:
    if n is None or not math.isfinite(n):
        return "never"
    return f"{n:,.0f}"


def _saturation(p: Plan) -> str:
    """Where the chosen curve saturates, as far as the pilots determine it: a scale beyond the
    extrapolation limit is "not determined", and one under the smallest pilot scale is "by
    then": never a number the data cannot support."""
    sat, limit, ci = p.saturation_scale, p.saturation_limit, p.saturation_ci
    assert sat is not None
    if not math.isfinite(sat) and (ci is None or not math.isfinite(ci[0])):
        return "The fitted curve has not saturated: it is still rising."
    floor = p.saturation_floor
    if floor is not None and sat < floor:
        return (f"The curve has saturated (nearly all of its gain) by the smallest pilot scale, "
                f"{floor:,.0f} queries; where below it is not determined by the pilots.")
    if limit is not None and (not math.isfinite(sat) or sat > limit):
        return (f"Where the curve saturates is not determined by the pilots: the fit puts it "
                f"beyond {limit:,.0f} queries, the largest scale they speak for.")
    span = ""
    if ci is not None and math.isfinite(ci[0]):
        top = ci[1]
        high = (f"beyond {limit:,.0f}" if limit is not None and (not math.isfinite(top)
                                                                 or top > limit)
                else _fmt_n(top))
        low = (f"under {floor:,.0f}" if floor is not None and ci[0] < floor
               else _fmt_n(ci[0]))
        span = f" ({p.confidence:.0%} interval: {low} to {high})"
    return f"The curve saturates (nearly all of its gain) at about {sat:,.0f} queries{span}."


def explain(p: Plan, cost: CostModel, metric_name: str = "nDCG@10") -> str:
    """Plain-language summary of a plan."""
    lines = []
    if p.scale == 0:
        lines.append(f"Keep the zero-shot retriever: predicted {metric_name} "
                     f"{p.predicted_metric:.3f}. No augmentation measured in the pilots beats "
                     "it beyond noise within the budget.")
    else:
        lines.append(
            f"{p.augmenter}" + (f" ({p.strategy})" if p.strategy else "")
            + f" at {p.scale:,} queries: predicted {metric_name} {p.predicted_metric:.3f} "
            f"[{p.ci_low:.3f}, {p.ci_high:.3f}] ({p.confidence:.0%} interval), "
            f"{p.cost_gpu_hours:.3g} of {p.budget_gpu_hours:g} GPU-hours"
            + (f" ({p.cost_money:,.2f} at the given price)" if p.cost_money is not None else "")
            + (f"; zero-shot {p.zero_shot:.3f}" if p.zero_shot is not None else "") + ".")
    for a in p.alternatives[:3]:
        ratio = cost.per_query_ratio(a.augmenter, p.augmenter)
        delta = a.predicted_metric - p.predicted_metric
        lines.append(f"{a.augmenter} costs {ratio:.2g}x per query; at matched cost "
                     f"({a.scale:,} queries) it predicts {a.predicted_metric:.3f} "
                     f"({delta:+.3f}).")
    if p.saturation_scale is not None and p.scale > 0:
        lines.append(_saturation(p))
    if p.marginal_gain_per_gpu_hour is not None:
        lines.append(f"Past {p.scale:,}, each extra GPU-hour buys about "
                     f"{p.marginal_gain_per_gpu_hour:+.4f} {metric_name}.")
    if p.next_pilot and p.next_pilot.get("scale"):
        lines.append(f"Next pilot: {p.next_pilot['augmenter']} at "
                     f"{p.next_pilot['scale']:,} pairs ({p.next_pilot['reason']}).")
    return "\n".join(lines)


__all__ = ["explain"]
