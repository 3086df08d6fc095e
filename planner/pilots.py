"""Pilot points and the curves fitted to them: one per (augmenter, strategy, eval set), with
the scale past which a measured or fitted decline forbids going."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from planner.curves import CurveFit, fit_curve
from planner.joint import fit_joint, joint_curve_fit
from planner.options import PlanOptions


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
    joint: str = ""  # the tie of a joint fit with other augmenters ("" when fitted alone)


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
    fitted: dict[tuple[str, str, str], CurveFit] = {}
    warnings = []
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
        fitted[(aug, strat, ev)] = fit_curve(
            n, y, bootstrap=options.bootstrap, confidence=options.confidence,
            saturation_fraction=options.saturation_fraction, criterion=options.criterion,
            seed=options.seed)
    joint = _joint_fits(fitted, options) if options.joint else {}
    curves = [_curve(key, joint.get(key, (fit, ""))) for key, fit in fitted.items()]
    spread = extrapolation_spread([c.fit for c in curves], options)
    for c in curves:
        c.fit.discrepancy = spread
    return curves, warnings


def extrapolation_spread(fits: Iterable[CurveFit], options: PlanOptions) -> float:
    """How far, per doubling of the scale, the curves miss a measured scale they did not see:
    each curve with enough points is refitted on its scales up to half its largest and
    predicts the largest; the root mean square of those misses per doubling, less the seed
    noise of the measured means, pooled over the curves (one or two misses are too few to
    judge a curve alone). 0 when no curve has points enough."""
    misses, noise = [], []
    for fit in fits:
        n, y = fit.n, fit.y
        top = float(n.max())
        keep = n <= top / 2
        if keep.sum() < 4 or len(np.unique(n[keep])) < 2:
            continue
        try:
            small = fit_curve(n[keep], y[keep], bootstrap=0, criterion=options.criterion,
                              saturation_fraction=options.saturation_fraction)
        except ValueError:
            continue
        doublings = math.log2(top / max(float(n[keep].max()), 1.0))
        measured = float(y[n == top].mean())
        misses.append((float(small.predict([top])[0]) - measured) / doublings)
        noise.append(fit.residual_sd ** 2 / int(np.sum(n == top)) / doublings ** 2)
    if not misses:
        return 0.0
    return math.sqrt(max(float(np.mean(np.square(misses)) - np.mean(noise)), 0.0))


def _joint_fits(fitted: dict[tuple[str, str, str], CurveFit],
                options: PlanOptions) -> dict[tuple[str, str, str], tuple[CurveFit, str]]:
    """The curves of several augmenters on one (strategy, eval set) refitted jointly, where
    the joint fit wins by AICc: key -> (fit, the tie's label)."""
    by: dict[tuple[str, str], dict[str, CurveFit]] = {}
    for (aug, strat, ev), fit in fitted.items():
        by.setdefault((strat, ev), {})[aug] = fit
    out = {}
    for (strat, ev), fits in by.items():
        jf = fit_joint(fits, bootstrap=options.bootstrap, confidence=options.confidence,
                       seed=options.seed)
        if jf is None or not jf.ties:
            continue
        label = jf.best.tie.label if jf.best is not None else ""
        for aug, fit in fits.items():
            out[(aug, strat, ev)] = (joint_curve_fit(fit, jf, aug, options.bootstrap), label)
    return out


def _curve(key: tuple[str, str, str], fitted: tuple[CurveFit, str]) -> Curve:
    """A fitted curve with its scale means and the cap a measured or fitted decline sets."""
    (aug, strat, ev), (fit, joint) = key, fitted
    n, y = fit.n, fit.y
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
    return Curve(aug, strat, ev, fit, scales, means, cap, note, joint)


__all__ = ["Curve", "PilotPoint", "extrapolation_spread", "fit_curves"]
