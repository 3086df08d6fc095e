"""The recommendation: which augmenter, strategy and scale to buy under a budget.

Pilot points become curves (:mod:`planner.pilots`), the curves of one (augmenter, strategy)
become an objective on a grid of scales with its cost, and the best affordable point wins; the
plan carries the alternatives at matched cost, the warnings and the next pilot to run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.cost import CostModel, nice_scale
from planner.errors import PlanError
from planner.explain import explain
from planner.options import PlanOptions, resolve_weights
from planner.pilots import Curve, PilotPoint, fit_curves
from planner.result import Option, Plan
from planner.value import expected_regret, regret_reduction

# ------------------------------------------------------------------------------- planning


@dataclass
class _Config:
    augmenter: str
    strategy: str
    curves: dict[str, Curve]  # by eval set
    grid: np.ndarray
    point: np.ndarray  # objective on the grid (point estimate)
    draws: np.ndarray  # (B, grid) objective draws
    low: np.ndarray
    high: np.ndarray
    hours: np.ndarray
    largest_pilot: int
    cap: float


def _objective(curves: dict[str, Curve], weights: dict[str, float], grid: np.ndarray,
               options: PlanOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    point = sum(w * curves[e].fit.predict(grid) for e, w in weights.items())
    draw_sets = [(w, curves[e].fit.predict_draws(grid)) for e, w in weights.items()]
    if all(d.shape[0] > 0 for _, d in draw_sets):
        b = min(d.shape[0] for _, d in draw_sets)
        draws = sum(w * d[:b] for w, d in draw_sets)
        a = (1 - options.confidence) / 2
        low, high = np.quantile(draws, a, axis=0), np.quantile(draws, 1 - a, axis=0)
    else:
        draws = np.empty((0, grid.size))
        low = high = np.asarray(point)
    return np.asarray(point), draws, low, high


def _configs(curves: list[Curve], weights: dict[str, float], cost: CostModel,
             options: PlanOptions, warnings: list[str]) -> list[_Config]:
    by: dict[tuple[str, str], dict[str, Curve]] = {}
    for c in curves:
        by.setdefault((c.augmenter, c.strategy), {})[c.eval_set] = c
    out = []
    for (aug, strat), cs in sorted(by.items()):
        missing = [e for e in weights if e not in cs]
        if missing:
            warnings.append(f"{aug}: no curve on {', '.join(missing)} - not considered")
            continue
        if aug not in cost.augmenters:
            warnings.append(f"{aug}: no cost profile - not considered "
                            "(measure it with `augplan bench` or add it to the profiles)")
            continue
        largest = max(max(c.scales) for c in cs.values())
        smallest = min(min((s for s in c.scales if s > 0), default=largest)
                       for c in cs.values())
        cap = min([largest * options.max_extrapolation]
                  + [cs[e].decline_cap for e in weights])
        top = max(cap, 1.0)
        pilots = sorted({s for c in cs.values() for s in c.scales if s <= top})
        # candidates: no augmentation, or between the smallest pilot scale and the cap
        # (below the smallest pilot is as unmeasured as far beyond the largest)
        top = max(top, float(smallest))
        grid = np.unique(np.concatenate([
            [0.0], np.geomspace(smallest, top, options.grid), pilots, [top]]))
        grid = np.unique(np.floor(grid[grid <= top]))  # whole queries
        point, draws, low, high = _objective(cs, weights, grid, options)
        hours = np.array([cost.hours(aug, float(n)) for n in grid])
        out.append(_Config(aug, strat, cs, grid, point, draws, low, high, hours, largest, cap))
    return out


def _score(cfg: _Config, options: PlanOptions) -> np.ndarray:
    return cfg.low if options.risk == "averse" else cfg.point


def _helps(cfgs: list[_Config], options: PlanOptions) -> bool:
    """True when some configuration beats its zero-shot point at a measured scale with
    ``confidence`` (bootstrap draws), or, without a bootstrap, when the best measured mean
    exceeds zero-shot by more than twice the residual noise."""
    for cfg in cfgs:
        scales = [s for c in cfg.curves.values() for s in c.scales if s > 0]
        if not scales:
            continue
        idx = [int(np.argmin(np.abs(cfg.grid - s))) for s in sorted(set(scales))]
        if cfg.draws.shape[0]:
            gain = cfg.draws[:, idx] - cfg.draws[:, [0]]
            if (np.mean(gain > 0, axis=0) >= options.confidence).any():
                return True
        else:
            noise = max(2 * c.fit.residual_sd for c in cfg.curves.values())
            if (cfg.point[idx] - cfg.point[0] > noise).any():
                return True
    return False


def _pick(cfgs: list[_Config], budget: float, options: PlanOptions,
          helps: bool) -> tuple[_Config, int]:
    best: tuple[float, float, int, int] | None = None  # (score, -hours, cfg index, grid index)
    for ci, cfg in enumerate(cfgs):
        score = _score(cfg, options)
        ok = np.flatnonzero(cfg.hours <= budget + 1e-12)
        if not helps:
            ok = ok[cfg.grid[ok] == 0]
        for gi in ok:
            key = (round(float(score[gi]), 9), -float(cfg.hours[gi]), -ci, int(gi))
            if best is None or key > best:
                best = key
    assert best is not None  # n = 0 costs nothing and is always on the grid
    cfg, gi = cfgs[-best[2]], best[3]
    if options.spend and cfg.grid[gi] > 0:  # the largest scale predicted as good as the best
        score = _score(cfg, options)
        ok = np.flatnonzero((cfg.hours <= budget + 1e-12) & (cfg.grid > 0)
                            & (score >= score[gi] - options.tolerance))
        gi = int(ok[np.argmax(cfg.grid[ok])])
    return cfg, gi


def _at_cost(cfg: _Config, hours: float, options: PlanOptions) -> int | None:
    ok = np.flatnonzero((cfg.hours <= hours + 1e-12) & (cfg.grid > 0))
    if ok.size == 0:
        return None
    score = _score(cfg, options)
    return int(ok[np.argmax(score[ok])])


def _option(cfg: _Config, gi: int, cost: CostModel) -> Option:
    h = float(cfg.hours[gi])
    return Option(cfg.augmenter, cfg.strategy, round(float(cfg.grid[gi])), float(cfg.point[gi]),
                  float(cfg.low[gi]), float(cfg.high[gi]), h, cost.money(h))


def _check_inputs(points: Sequence[PilotPoint], budget_gpu_hours: float,
                  options: PlanOptions) -> None:
    options.validate()
    if not math.isfinite(budget_gpu_hours) or budget_gpu_hours <= 0:
        raise PlanError("the budget must be a positive number of GPU-hours", "budget_gpu_hours")
    if not points:
        raise PlanError("no pilot points", "pilots")


def _check_affordable(cfgs: list[_Config], cost: CostModel, budget_gpu_hours: float) -> None:
    """The budget must buy some configuration at its smallest pilot scale."""
    cheapest = min(
        ((cost.hours(c.augmenter, min(s for cv in c.curves.values() for s in cv.scales if s > 0)),
          c.augmenter) for c in cfgs if any(s > 0 for cv in c.curves.values() for s in cv.scales)),
        default=None)
    if cheapest is not None and cheapest[0] > budget_gpu_hours:
        raise PlanError(
            f"a budget of {budget_gpu_hours:g} GPU-hours buys no configuration: the cheapest, "
            f"{cheapest[1]} at its smallest pilot scale, costs {cheapest[0]:.4g} GPU-hours",
            "budget_gpu_hours")


def _zero_shot(cfg: _Config, weights: dict[str, float]) -> float:
    """The measured zero-shot score where every curve has one, else the fitted M(0)."""
    return (sum(w * cfg.curves[e].means[0] for e, w in weights.items())
            if all(0 in cfg.curves[e].means for e in weights) else float(cfg.point[0]))


def _marginal(cfg: _Config, chosen: Option, weights: dict[str, float],
              cost: CostModel) -> float | None:
    """Metric gained per extra device-hour 10 % past the chosen scale."""
    n = chosen.scale
    if n <= 0:
        return None
    n2 = n * 1.1
    gain = float(sum(w * cfg.curves[e].fit.predict([n2])[0] for e, w in weights.items())
                 - chosen.predicted_metric)
    dh = cost.hours(cfg.augmenter, n2) - chosen.cost_gpu_hours
    return gain / dh if dh > 0 else None


def _warnings(cfg: _Config, n: int, curves: list[Curve], helps: bool, cost: CostModel,
              budget_gpu_hours: float, options: PlanOptions) -> list[str]:
    """What the reader of the plan should know: no gain, extrapolation, a decline or the
    extrapolation limit holding the scale back, a poorly determined plateau."""
    warnings = []
    if not helps:
        warnings.append("no pilot scale beats the zero-shot retriever beyond noise: "
                        "augmentation is unlikely to help this retriever")
    if n > cfg.largest_pilot:
        warnings.append(f"n={n:,} extrapolates {n / cfg.largest_pilot:.1f}x beyond the largest "
                        f"pilot scale ({cfg.largest_pilot:,})")
    affordable = cost.max_scale(cfg.augmenter, budget_gpu_hours)
    for c in cfg.curves.values():
        if c.decline_note and n > 0 and affordable > n * 1.01:  # the decline, not the budget
            warnings.append(f"{c.augmenter} on {c.eval_set}: {c.decline_note}; "
                            f"not recommending more")
    if (helps and math.isclose(n, cfg.largest_pilot * options.max_extrapolation, rel_tol=0.01)
            and affordable > n):
        warnings.append(f"the budget buys {nice_scale(affordable):,} queries of "
                        f"{cfg.augmenter}, but scales past {options.max_extrapolation:g}x the "
                        f"largest pilot ({cfg.largest_pilot:,}) are not extrapolated; run a "
                        "larger pilot first")
    for c in curves:
        if c.fit.best.family == "power" and c.fit.n_draws:
            lo, hi = c.fit.asymptote_interval()
            if hi - lo > 0.05:
                warnings.append(f"{c.augmenter} on {c.eval_set}: the plateau is poorly "
                                f"determined ([{lo:.3f}, {hi:.3f}]); more scales would help")
    return warnings


def _alternatives(cfg: _Config, cfgs: list[_Config], chosen: Option, options: PlanOptions,
                  cost: CostModel) -> list[Option]:
    """The best point of every other configuration at the chosen one's cost, best first."""
    alts = []
    for other in cfgs:
        if other is cfg:
            continue
        j = _at_cost(other, max(chosen.cost_gpu_hours, 1e-12), options)
        if j is not None:
            alts.append(_option(other, j, cost))
    alts.sort(key=lambda o: -o.predicted_metric)
    return alts


def plan(points: Sequence[PilotPoint], cost: CostModel, budget_gpu_hours: float, *,
         weights: dict[str, float], options: PlanOptions | None = None,
         metric_name: str = "nDCG@10") -> Plan:
    """Recommend (augmenter, strategy, scale) maximising the predicted metric (or its lower
    bound) within ``budget_gpu_hours`` (hours of the cost model's device)."""
    options = options or PlanOptions()
    _check_inputs(points, budget_gpu_hours, options)
    curves, warnings = fit_curves(points, options, weights)
    if not curves:
        raise PlanError("no curve could be fitted: " + "; ".join(warnings), "pilots")
    cfgs = _configs(curves, weights, cost, options, warnings)
    if not cfgs:
        raise PlanError("no augmenter has both curves and a cost profile: "
                        + "; ".join(warnings))
    _check_affordable(cfgs, cost, budget_gpu_hours)
    helps = _helps(cfgs, options)
    cfg, gi = _pick(cfgs, budget_gpu_hours, options, helps)
    chosen = _option(cfg, gi, cost)
    n = chosen.scale
    curve = cfg.curves[max(weights, key=lambda e: weights[e])]  # the primary eval set
    warnings.extend(_warnings(cfg, n, curves, helps, cost, budget_gpu_hours, options))
    result = Plan(
        augmenter=cfg.augmenter, strategy=cfg.strategy, scale=n,
        predicted_metric=chosen.predicted_metric, ci_low=chosen.ci_low, ci_high=chosen.ci_high,
        cost_gpu_hours=chosen.cost_gpu_hours, cost_money=chosen.cost_money,
        budget_gpu_hours=budget_gpu_hours, saturation_scale=curve.fit.saturation_scale(),
        saturation_ci=curve.fit.saturation_interval() if curve.fit.n_draws else None,
        marginal_gain_per_gpu_hour=_marginal(cfg, chosen, weights, cost),
        zero_shot=_zero_shot(cfg, weights), augmentation_helps=helps,
        objective=weights, risk=options.risk, confidence=options.confidence,
        alternatives=_alternatives(cfg, cfgs, chosen, options, cost), warnings=warnings,
        next_pilot=_next_pilot(cfg, gi, cfgs, budget_gpu_hours, options, cost, helps),
        curves=curves,
        cost_breakdown=cost.breakdown(cfg.augmenter, n),
        saturation_limit=cfg.largest_pilot * options.max_extrapolation,
        saturation_floor=min((s for s in curve.scales if s > 0), default=None),
        stability=_stability(cfg, gi, cfgs, budget_gpu_hours, options, helps),
    )
    result.explanation = explain(result, cost, metric_name)
    return result


def _contenders(cfg: _Config, gi: int, cfgs: list[_Config], budget: float,
                helps: bool) -> np.ndarray:
    """Bootstrap draws (options, draws) of every option the budget buys: the chosen one
    first, then each configuration at each affordable scale of its grid (only no augmentation
    when augmentation does not help). Empty without a bootstrap."""
    if cfg.draws.shape[0] == 0:
        return np.empty((0, 0))
    rows = [cfg.draws[:, [gi]]]
    for c in cfgs:
        if c.draws.shape[0] == 0:
            continue
        ok = np.flatnonzero(c.hours <= budget + 1e-12)
        if not helps:
            ok = ok[c.grid[ok] == 0]
        rows.append(c.draws[:, ok])
    b = min(r.shape[0] for r in rows)
    return np.concatenate([r[:b] for r in rows], axis=1).T


def _stability(cfg: _Config, gi: int, cfgs: list[_Config], budget: float,
               options: PlanOptions, helps: bool) -> float | None:
    """Share of bootstrap draws in which the chosen option is within ``options.tolerance`` of
    the best option the budget buys in that draw (any configuration at any affordable scale,
    and no augmentation); None without a bootstrap."""
    stack = _contenders(cfg, gi, cfgs, budget, helps)
    if stack.size == 0:
        return None
    return float(np.mean(stack[0] >= stack.max(axis=0) - options.tolerance))


def _pilot_candidates(c: _Config, budget: float) -> list[int]:
    """Scales worth measuring for one configuration: past its largest pilot (2x and 4x it)
    and at its best affordable scale, within its extrapolation cap; never a measured one."""
    measured = {s for cv in c.curves.values() for s in cv.scales}
    affordable = c.grid[c.hours <= budget + 1e-12]
    best = float(affordable[np.argmax(c.point[c.hours <= budget + 1e-12])]) if affordable.size \
        else 0.0
    out = set()
    for s in (2.0 * c.largest_pilot, 4.0 * c.largest_pilot, best):
        s = nice_scale(min(s, c.cap))
        if s > 0 and s not in measured:
            out.add(s)
    return sorted(out)


def _next_pilot(cfg: _Config, gi: int, cfgs: list[_Config], budget: float,
                options: PlanOptions, cost: CostModel, helps: bool) -> dict[str, Any] | None:
    """The pilot point with the largest expected reduction in the regret of the current
    choice per device-hour it costs (:mod:`planner.value`; the options are every affordable
    configuration and scale, :func:`_contenders`): for every configuration and every scale
    worth measuring (:func:`_pilot_candidates`), the bootstrap's
    predicted value there is the signal a measurement would give. None without a bootstrap;
    ``scale`` None when no point is expected to change the decision."""
    stack = _contenders(cfg, gi, cfgs, budget, helps)
    if stack.size == 0:
        return None
    now = expected_regret(stack, chosen=0)
    best: tuple[float, float, float, _Config, int] | None = None  # per hour, -hours, gain
    for c in cfgs:
        if c.draws.shape[0] == 0:
            continue
        for scale in _pilot_candidates(c, budget):
            k = int(np.argmin(np.abs(c.grid - scale)))
            gain = regret_reduction(stack, c.draws[: stack.shape[1], k], chosen=0)
            hours = max(cost.hours(c.augmenter, float(scale)), 1e-9)
            if best is None or (gain / hours, -hours) > best[:2]:
                best = (gain / hours, -hours, gain, c, scale)
    if best is None or best[2] < max(1e-5, 0.05 * options.tolerance):
        return {"augmenter": cfg.augmenter, "strategy": cfg.strategy, "scale": None,
                "expected_regret": round(now, 6),
                "reason": "the decision is already well determined by the pilots (no point in "
                          "reach is expected to change it)"}
    _, _, gain, c, scale = best
    return {
        "augmenter": c.augmenter, "strategy": c.strategy, "scale": scale,
        "expected_regret": round(now, 6), "regret_reduction": round(gain, 6),
        "cost_gpu_hours": round(cost.hours(c.augmenter, scale), 6),
        "reason": (f"measuring it is expected to cut the regret of the current choice from "
                   f"{now:.4f} to {now - gain:.4f}, the most per device-hour of the points "
                   "in reach"),
    }

__all__ = [
    "Curve",
    "Option",
    "PilotPoint",
    "Plan",
    "PlanOptions",
    "explain",
    "fit_curves",
    "plan",
    "resolve_weights",
]
