"""The recommendation: which augmenter, strategy and scale to buy under a budget, and why."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from planner.cost import CostModel, PlanError, nice_scale
from planner.curves import CurveFit, fit_curve


@dataclass(frozen=True)
class PilotPoint:
    """One measured pilot point: a metric after training on ``scale`` synthetic pairs
    (scale 0: the zero-shot retriever; ``kind`` "human": trained on human pairs, a reference)."""

    augmenter: str
    scale: int
    metric: float
    seed: int = 0
    retriever: str = ""
    strategy: str = ""
    eval_set: str = ""
    kind: str = "synthetic"


@dataclass(frozen=True)
class PlanOptions:
    risk: str = "neutral"  # neutral: maximise the prediction; averse: its lower bound
    confidence: float = 0.9
    bootstrap: int = 1000
    saturation_fraction: float = 0.95
    max_extrapolation: float = 4.0  # never beyond this times the largest pilot scale
    criterion: str = "auto"
    grid: int = 160
    seed: int = 0

    def validate(self) -> None:
        if self.risk not in ("neutral", "averse"):
            raise PlanError(f"risk {self.risk!r}: use neutral or averse")
        if not 0.5 <= self.confidence < 1:
            raise PlanError("confidence must be in [0.5, 1)")
        if self.bootstrap < 0:
            raise PlanError("bootstrap must not be negative")
        if self.risk == "averse" and self.bootstrap < 50:
            raise PlanError("risk averse needs a bootstrap (at least 50 resamples)")
        if not 0 < self.saturation_fraction < 1:
            raise PlanError("saturation fraction must be in (0, 1)")
        if self.max_extrapolation < 1:
            raise PlanError("max extrapolation must be at least 1")


@dataclass
class Curve:
    """The fitted curve of one (augmenter, strategy, eval set)."""

    augmenter: str
    strategy: str
    eval_set: str
    fit: CurveFit
    scales: list[int]
    means: dict[int, float]
    decline_cap: float  # largest scale not past a measured or fitted decline (inf: none)
    decline_note: str = ""


def _num(v: float | None) -> float | None:
    """A number for JSON: 6 decimals; None for a missing or non-finite value."""
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


@dataclass
class Option:
    """One (augmenter, strategy, n) with its prediction and cost."""

    augmenter: str
    strategy: str
    scale: int
    predicted_metric: float
    ci_low: float
    ci_high: float
    cost_gpu_hours: float
    cost_money: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class Plan:
    augmenter: str
    strategy: str
    scale: int
    predicted_metric: float
    ci_low: float
    ci_high: float
    cost_gpu_hours: float
    cost_money: float | None
    budget_gpu_hours: float
    saturation_scale: float | None
    saturation_ci: tuple[float, float] | None
    marginal_gain_per_gpu_hour: float | None
    zero_shot: float | None
    augmentation_helps: bool
    objective: dict[str, float]
    risk: str
    confidence: float
    alternatives: list[Option] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_pilot: dict[str, Any] | None = None
    explanation: str = ""
    curves: list[Curve] = field(default_factory=list, repr=False)
    cost_breakdown: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        num = _num
        return {
            "augmenter": self.augmenter, "strategy": self.strategy, "scale": self.scale,
            "predicted_metric": num(self.predicted_metric), "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high), "confidence": self.confidence,
            "cost_gpu_hours": num(self.cost_gpu_hours), "cost_money": num(self.cost_money),
            "cost_breakdown": {k: num(v) for k, v in self.cost_breakdown.items()},
            "budget_gpu_hours": self.budget_gpu_hours,
            "saturation_scale": num(self.saturation_scale),
            "saturation_ci": ([num(v) for v in self.saturation_ci]
                              if self.saturation_ci else None),
            "marginal_gain_per_gpu_hour": num(self.marginal_gain_per_gpu_hour),
            "zero_shot": num(self.zero_shot), "augmentation_helps": self.augmentation_helps,
            "objective": self.objective, "risk": self.risk,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "warnings": list(self.warnings), "next_pilot": self.next_pilot,
            "explanation": self.explanation,
            "curves": [{
                "augmenter": c.augmenter, "strategy": c.strategy, "eval_set": c.eval_set,
                "family": c.fit.best.family,
                "params": dict(zip(c.fit.family.params, c.fit.best.theta, strict=True)),
                "criterion": c.fit.criterion, "asymptote": num(c.fit.asymptote()),
                "saturation_scale": num(c.fit.saturation_scale()),
                "pilot_scales": c.scales,
            } for c in self.curves],
        }


# ------------------------------------------------------------------------------- grouping


def resolve_weights(eval_sets: Sequence[str], spec: str | None, *, corpus: str | None = None,
                    only: str | None = None) -> dict[str, float]:
    """Objective weights per eval set from ``--eval SET`` (``only``) or ``--weights``.

    ``spec`` is ``NAME=w,...``; the names ``in`` (eval sets of the corpus itself, named
    ``CORPUS:split``) and ``ood`` (all others) share their weight equally. Without either, the
    in-domain sets are used when known, else every set equally. Weights are normalised.
    """
    sets = sorted(set(eval_sets))
    if not sets:
        raise PlanError("no eval sets in the pilots")
    if only is not None and spec is not None:
        raise PlanError("give --eval or --weights, not both")
    if only is not None:
        if only not in sets:
            raise PlanError(f"--eval {only!r}: no pilot points on it (have: {', '.join(sets)})")
        return {only: 1.0}

    def in_domain(s: str) -> bool:
        return corpus is not None and s.split(":", 1)[0] == corpus

    if spec is None:
        chosen = [s for s in sets if in_domain(s)] or sets
        return {s: 1.0 / len(chosen) for s in chosen}
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = math.nan
        if not sep or not math.isfinite(w) or w < 0:
            raise PlanError(f"--weights {part!r}: write NAME=WEIGHT with a weight >= 0")
        if name in ("in", "ood"):
            group = [s for s in sets if in_domain(s) == (name == "in")]
            if not group:
                raise PlanError(f"--weights {name}: no {'in' if name == 'in' else 'out-of'}"
                                f"-domain eval set among {', '.join(sets)}"
                                + ("" if corpus else " (name the corpus)"))
            for s in group:
                weights[s] = weights.get(s, 0.0) + w / len(group)
        elif name in sets:
            weights[name] = weights.get(name, 0.0) + w
        else:
            raise PlanError(f"--weights {name!r}: no pilot points on it "
                            f"(have: {', '.join(sets)})")
    total = sum(weights.values())
    if total <= 0:
        raise PlanError("--weights: at least one weight must be positive")
    return {k: v / total for k, v in weights.items() if v > 0}


def _measured_decline(means: dict[int, float], noise: float) -> tuple[float, str]:
    """(cap, note): the scale of the best measured mean when a larger scale measured lower
    by more than the noise, else inf."""
    scales = sorted(means)
    best = max(scales, key=lambda s: means[s])
    later = [s for s in scales if s > best and means[s] < means[best] - noise]
    if not later:
        return math.inf, ""
    return float(best), (f"measured decline: {means[best]:.4f} at n={best:,} falls to "
                         f"{means[later[0]]:.4f} at n={later[0]:,}")


def fit_curves(points: Iterable[PilotPoint], options: PlanOptions,
               eval_sets: Iterable[str] | None = None) -> tuple[list[Curve], list[str]]:
    """One curve per (augmenter, strategy, eval set); zero-shot rows (scale 0, no augmenter)
    join every augmenter's curve on their eval set. Returns (curves, warnings)."""
    pts = [p for p in points if p.kind != "human"]
    wanted = None if eval_sets is None else set(eval_sets)
    zero: dict[str, list[PilotPoint]] = {}
    groups: dict[tuple[str, str, str], list[PilotPoint]] = {}
    for p in pts:
        if wanted is not None and p.eval_set not in wanted:
            continue
        if p.scale == 0 and not p.augmenter:
            zero.setdefault(p.eval_set, []).append(p)
        else:
            groups.setdefault((p.augmenter, p.strategy, p.eval_set), []).append(p)
    curves, warnings = [], []
    for (aug, strat, ev), rows in sorted(groups.items()):
        if not any(r.scale == 0 for r in rows):
            rows = rows + zero.get(ev, [])
        n = np.array([r.scale for r in rows], float)
        y = np.array([r.metric for r in rows], float)
        label = f"{aug}" + (f"/{strat}" if strat else "") + (f" on {ev}" if ev else "")
        if len(n) < 4 or len(set(n.tolist())) < 2:
            warnings.append(f"{label}: {len(n)} point(s) on {len(set(n.tolist()))} scale(s); "
                            "a curve needs at least 4 points on 2 scales - skipped")
            continue
        fit = fit_curve(n, y, bootstrap=options.bootstrap, confidence=options.confidence,
                        saturation_fraction=options.saturation_fraction,
                        criterion=options.criterion, seed=options.seed)
        scales = sorted({int(s) for s in n})
        means = {s: float(y[n == s].mean()) for s in scales}
        reps = max(len(n) / len(scales), 1.0)
        noise = 2 * fit.residual_sd / math.sqrt(reps)
        cap, note = _measured_decline(means, noise)
        peak = fit.peak_scale()
        # a fitted peak caps the scale, but never below the best measured scale: a peak
        # between zero-shot and the first pilot scale is not something the pilots measured
        positive = [s for s in scales if s > 0]
        best_measured = max(positive, key=lambda s: means[s]) if positive else 0
        if max(peak, best_measured) < cap:
            cap = max(peak, float(best_measured))
            note = note or f"the fitted curve ({fit.best.family}) peaks at n={peak:,.0f}"
        curves.append(Curve(aug, strat, ev, fit, scales, means, cap, note))
    return curves, warnings


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
    return cfgs[-best[2]], best[3]


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


def plan(points: Sequence[PilotPoint], cost: CostModel, budget_gpu_hours: float, *,
         weights: dict[str, float], options: PlanOptions | None = None,
         metric_name: str = "nDCG@10") -> Plan:
    """Recommend (augmenter, strategy, scale) maximising the predicted metric (or its lower
    bound) within ``budget_gpu_hours`` (hours of the cost model's device)."""
    options = options or PlanOptions()
    options.validate()
    if not math.isfinite(budget_gpu_hours) or budget_gpu_hours <= 0:
        raise PlanError("the budget must be a positive number of GPU-hours")
    if not points:
        raise PlanError("no pilot points")
    curves, warnings = fit_curves(points, options, weights)
    if not curves:
        raise PlanError("no curve could be fitted: " + "; ".join(warnings))
    cfgs = _configs(curves, weights, cost, options, warnings)
    if not cfgs:
        raise PlanError("no augmenter has both curves and a cost profile: "
                        + "; ".join(warnings))
    cheapest = min(
        ((cost.hours(c.augmenter, min(s for cv in c.curves.values() for s in cv.scales if s > 0)),
          c.augmenter) for c in cfgs if any(s > 0 for cv in c.curves.values() for s in cv.scales)),
        default=None)
    if cheapest is not None and cheapest[0] > budget_gpu_hours:
        raise PlanError(
            f"a budget of {budget_gpu_hours:g} GPU-hours buys no configuration: the cheapest, "
            f"{cheapest[1]} at its smallest pilot scale, costs {cheapest[0]:.4g} GPU-hours")
    helps = _helps(cfgs, options)
    cfg, gi = _pick(cfgs, budget_gpu_hours, options, helps)
    chosen = _option(cfg, gi, cost)
    n = chosen.scale
    primary = max(weights, key=lambda e: weights[e])
    curve = cfg.curves[primary]
    # the measured zero-shot score where every curve has one, else the fitted M(0)
    zero = (sum(w * cfg.curves[e].means[0] for e, w in weights.items())
            if all(0 in cfg.curves[e].means for e in weights) else float(cfg.point[0]))

    # saturation, marginal gain
    sat = curve.fit.saturation_scale()
    sat_ci = curve.fit.saturation_interval() if curve.fit.n_draws else None
    marginal = None
    if n > 0:
        n2 = n * 1.1
        gain = float(sum(w * cfg.curves[e].fit.predict([n2])[0] for e, w in weights.items())
                     - chosen.predicted_metric)
        dh = cost.hours(cfg.augmenter, n2) - chosen.cost_gpu_hours
        marginal = gain / dh if dh > 0 else None

    # warnings
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

    # alternatives at matched cost
    alts = []
    for other in cfgs:
        if other is cfg:
            continue
        j = _at_cost(other, max(chosen.cost_gpu_hours, 1e-12), options)
        if j is not None:
            alts.append(_option(other, j, cost))
    alts.sort(key=lambda o: -o.predicted_metric)

    nxt = _next_pilot(cfg, gi, cfgs, budget_gpu_hours, options, cost)
    breakdown = cost.breakdown(cfg.augmenter, n)
    result = Plan(
        augmenter=cfg.augmenter, strategy=cfg.strategy, scale=n,
        predicted_metric=chosen.predicted_metric, ci_low=chosen.ci_low, ci_high=chosen.ci_high,
        cost_gpu_hours=chosen.cost_gpu_hours, cost_money=chosen.cost_money,
        budget_gpu_hours=budget_gpu_hours, saturation_scale=sat, saturation_ci=sat_ci,
        marginal_gain_per_gpu_hour=marginal, zero_shot=zero, augmentation_helps=helps,
        objective=weights, risk=options.risk, confidence=options.confidence,
        alternatives=alts, warnings=warnings, next_pilot=nxt, curves=curves,
        cost_breakdown=breakdown,
    )
    result.explanation = explain(result, cost, metric_name)
    return result


def _next_pilot(cfg: _Config, gi: int, cfgs: list[_Config], budget: float,
                options: PlanOptions, cost: CostModel) -> dict[str, Any] | None:
    """The pilot point that would most narrow the decision: where the chosen configuration or
    its closest rival at matched cost is least certain (widest interval), preferring a scale
    between the largest pilot and the chosen one when the choice extrapolates."""
    if cfg.draws.shape[0] == 0:
        return None
    candidates: list[tuple[float, _Config, float]] = []
    rivals = [cfg]
    others = [(o, _at_cost(o, float(cfg.hours[gi]), options)) for o in cfgs if o is not cfg]
    others = [(o, j) for o, j in others if j is not None]
    if others:
        rival, _ = max(others, key=lambda t: float(_score(t[0], options)[t[1]]))
        rivals.append(rival)
    for c in rivals:
        j = gi if c is cfg else _at_cost(c, float(cfg.hours[gi]), options)
        if j is None:
            continue
        target = float(c.grid[j])
        if target <= 0:
            continue
        if target > c.largest_pilot:  # halfway (geometrically) towards the extrapolated point
            target = min(target, max(2.0 * c.largest_pilot, math.sqrt(target * c.largest_pilot)))
        k = int(np.argmin(np.abs(c.grid - target)))
        width = float(c.high[k] - c.low[k])
        candidates.append((width, c, float(c.grid[k])))
    if not candidates:
        return None
    width, c, n = max(candidates, key=lambda t: t[0])
    scale = nice_scale(n)
    if scale in c.curves[next(iter(c.curves))].scales or width < 0.002:
        return {"augmenter": c.augmenter, "strategy": c.strategy, "scale": None,
                "interval_width": round(width, 6),
                "reason": "the decision is already well determined by the pilots"}
    return {
        "augmenter": c.augmenter, "strategy": c.strategy, "scale": scale,
        "interval_width": round(width, 6),
        "cost_gpu_hours": round(cost.hours(c.augmenter, scale), 6),
        "reason": (f"the {options.confidence:.0%} interval of {c.augmenter} at n~{scale:,} is "
                   f"{width:.4f} wide, the widest of the options in contention"),
    }


def _fmt_n(n: float | None) -> str:
    if n is None or not math.isfinite(n):
        return "never"
    return f"{n:,.0f}"


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
        ci = p.saturation_ci
        span = (f" ({p.confidence:.0%} interval: {_fmt_n(ci[0])} to {_fmt_n(ci[1])})"
                if ci else "")
        if math.isfinite(p.saturation_scale):
            lines.append(f"The curve saturates (nearly all of its gain) at about "
                         f"{p.saturation_scale:,.0f} queries{span}.")
        else:
            lines.append(f"The fitted curve has not saturated: it is still rising{span}.")
    if p.marginal_gain_per_gpu_hour is not None:
        lines.append(f"Past {p.scale:,}, each extra GPU-hour buys about "
                     f"{p.marginal_gain_per_gpu_hour:+.4f} {metric_name}.")
    if p.next_pilot and p.next_pilot.get("scale"):
        lines.append(f"Next pilot: {p.next_pilot['augmenter']} at "
                     f"{p.next_pilot['scale']:,} pairs ({p.next_pilot['reason']}).")
    return "\n".join(lines)


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
