"""Plots of a plan: fitted curves with intervals, pilot points, the budget frontier and the
chosen point, as a PNG (matplotlib) or in the terminal (plotext)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _left(plan: Any) -> float:
    """Where n = 0 (the zero-shot point) is drawn on the log axis."""
    pos = [s for c in plan.curves for s in c.scales if s > 0] or [10]
    return min(pos) / 5


def _curve_grid(plan: Any, top: float) -> np.ndarray:
    return np.geomspace(_left(plan), top, 200)


def _x(plan: Any, n: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(n, float) <= 0, _left(plan), n)


def _frontier(plan: Any, cost: Any, augmenter: str) -> float:
    return cost.max_scale(augmenter, plan.budget_gpu_hours)


def _top(plan: Any, cost: Any) -> float:
    largest = max(max(c.scales) for c in plan.curves)
    top = max(largest * 1.5, plan.scale * 1.2)
    for c in plan.curves:
        if c.augmenter in cost.augmenters:
            top = max(top, min(_frontier(plan, cost, c.augmenter), largest * 4) * 1.05)
    return top


def _primary(plan: Any) -> str:
    return max(plan.objective, key=lambda e: plan.objective[e])


def plot_png(plan: Any, cost: Any, path: str | Path, *, metric_name: str = "nDCG@10",
             title: str | None = None) -> Path:
    """Write the plan's curves (primary eval set) as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = _primary(plan)
    curves = [c for c in plan.curves if c.eval_set == primary]
    top = _top(plan, cost)
    fig, ax = plt.subplots(figsize=(8.5, 5.2), dpi=120)
    for i, c in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        grid = _curve_grid(plan, top)
        pred = c.fit.predict(grid)
        lo, hi = c.fit.interval(grid)
        label = f"{c.augmenter} ({c.fit.best.family})"
        ax.plot(grid, pred, color=color, lw=2, label=label)
        ax.fill_between(grid, lo, hi, color=color, alpha=0.15, lw=0)
        ax.scatter(_x(plan, c.fit.n), c.fit.y, color=color, s=22, zorder=3, edgecolor="white",
                   linewidth=0.6)
        if c.augmenter in cost.augmenters:
            f = _frontier(plan, cost, c.augmenter)
            if 0 < f < top:
                ax.axvline(f, color=color, ls=":", lw=1.2)
                ax.annotate(f"budget: {f:,.0f}", (f, ax.get_ylim()[0]), rotation=90,
                            color=color, fontsize=8, va="bottom", ha="right")
    if plan.scale > 0:
        ax.scatter([plan.scale], [plan.predicted_metric], marker="*", s=260, color="gold",
                   edgecolor="black", zorder=5, label=f"chosen: {plan.augmenter} "
                   f"n={plan.scale:,}")
        ax.errorbar([plan.scale], [plan.predicted_metric],
                    yerr=[[plan.predicted_metric - plan.ci_low],
                          [plan.ci_high - plan.predicted_metric]],
                    color="black", capsize=4, lw=1, zorder=4)
    ax.set_xscale("log")
    ax.axvline(_left(plan) * 1.6, color="grey", lw=0.6, ls="--")
    ax.annotate("zero-shot", (_left(plan), ax.get_ylim()[1]), fontsize=8, va="top",
                color="grey")
    ax.set_xlabel("synthetic training pairs n (log scale; zero-shot at the left edge)")
    ax.set_ylabel(f"{metric_name} on {primary}")
    ax.set_title(title or f"fitted curves, {plan.confidence:.0%} bootstrap bands; budget "
                 f"{plan.budget_gpu_hours:g} GPU-hours", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_terminal(plan: Any, cost: Any, *, width: int = 90, height: int = 22,
                  metric_name: str = "nDCG@10", color: bool = True) -> str:
    """The same plot as text (plotext), x = log10(n); zero-shot at the left edge."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    primary = _primary(plan)
    top = _top(plan, cost)
    colors = ["blue", "red", "green", "magenta", "cyan", "orange"]
    for i, c in enumerate(c for c in plan.curves if c.eval_set == primary):
        grid = _curve_grid(plan, top)
        x = np.log10(grid).tolist()
        hue = colors[i % len(colors)]
        plt.plot(x, c.fit.predict(grid).tolist(), color=hue, label=c.augmenter)
        lo, hi = c.fit.interval(grid)
        plt.plot(x, lo.tolist(), color=hue, marker=".")
        plt.plot(x, hi.tolist(), color=hue, marker=".")
        plt.scatter(np.log10(_x(plan, c.fit.n)).tolist(), c.fit.y.tolist(), color=hue,
                    marker="o")
        if c.augmenter in cost.augmenters:
            f = _frontier(plan, cost, c.augmenter)
            if 0 < f < top:
                plt.vline(math.log10(f), color=hue)
    if plan.scale > 0:
        plt.scatter([math.log10(plan.scale)], [plan.predicted_metric], color="black",
                    marker="*", label="chosen")
    plt.xlabel("log10(n)")
    plt.ylabel(metric_name)
    plt.title(f"{metric_name} vs synthetic pairs; dotted: {plan.confidence:.0%} band; "
              "vertical: budget")
    text = plt.build()
    return text if color else plt.uncolorize(text)


__all__ = ["plot_png", "plot_terminal"]
