"""Fitting saturation curves: robust least squares, model selection and the bootstrap.

The curve families (``power``, ``exp``, ``loglin``, ``decline``) live in
:mod:`planner.families`. Each family is fitted with :func:`scipy.optimize.least_squares`
(bounded trust-region, several starts), families are compared by AICc, and intervals come from a
residual bootstrap of the selected family (residuals rescaled for the fitted degrees of freedom).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import brentq, least_squares
from scipy.stats import norm
from scipy.stats import t as student_t

from planner.families import FAMILIES, Array, CurveFamily
from planner.lm import batched_lm

# ------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class FamilyFit:
    """Least-squares fit of one family: parameters, residual sum of squares, AICc."""

    family: str
    theta: tuple[float, ...]
    rss: float
    n_points: int
    aicc: float
    converged: bool
    loo: float = math.nan  # leave-one-out mean squared error, when computed

    def predict(self, n: Array | Sequence[float] | float) -> Array:
        with np.errstate(all="ignore"):
            return FAMILIES[self.family].f(np.asarray(n, dtype=float), np.asarray(self.theta))


def aicc(rss: float, n_points: int, k_params: int) -> float:
    """Corrected Akaike criterion of a Gaussian least-squares fit (the noise variance counts as
    a parameter); infinite when there are too few points for the correction."""
    k = k_params + 1
    if n_points - k - 1 <= 0:
        return math.inf
    rss = max(rss, 1e-12 * n_points)
    return n_points * math.log(rss / n_points) + 2 * k + 2 * k * (k + 1) / (n_points - k - 1)


def _clip_start(x0: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> Array:
    lo_a, hi_a = np.asarray(lo, float), np.asarray(hi, float)
    span = hi_a - lo_a
    return np.clip(np.asarray(x0, float), lo_a + 1e-9 * span, hi_a - 1e-9 * span)


def _least_squares(fam: CurveFamily, n: Array, y: Array, x0: Array,
                   bounds: tuple[list[float], list[float]], max_nfev: int | None = None):
    def resid(t: Array) -> Array:
        return fam.f(n, t) - y

    def jac(t: Array) -> Array:
        return fam.jac(n, t)

    return least_squares(resid, x0, jac=jac, bounds=bounds, method="trf", x_scale="jac",
                         max_nfev=max_nfev)


def fit_family(family: str, n: Sequence[float], y: Sequence[float],
               starts: Sequence[Sequence[float]] | None = None) -> FamilyFit:
    """Best of several bounded least-squares fits of ``family`` to the points (n, y)."""
    fam = FAMILIES[family]
    n_a, y_a = np.asarray(n, float), np.asarray(y, float)
    bounds = fam.bounds(n_a, y_a)
    best = None
    for x0 in (starts if starts is not None else fam.starts(n_a, y_a)):
        try:
            with np.errstate(all="ignore"):
                res = _least_squares(fam, n_a, y_a, _clip_start(x0, *bounds), bounds)
        except (ValueError, FloatingPointError):
            continue
        if not np.all(np.isfinite(res.x)):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        return FamilyFit(family, tuple(math.nan for _ in fam.params), math.inf, len(n_a),
                         math.inf, False)
    rss = float(2 * best.cost)
    return FamilyFit(family, tuple(float(v) for v in best.x), rss, len(n_a),
                     aicc(rss, len(n_a), fam.k), bool(best.success))


# ------------------------------------------------------------------------------- the fit


@dataclass
class CurveFit:
    """The selected family of one curve with its bootstrap draws.

    ``fits`` holds every family that was tried (best first). ``draw_sets`` holds bootstrap
    parameter vectors per family: the resamples are shared among the families by their weights
    (Akaike weights, or the same form on leave-one-out error), so the intervals carry the
    uncertainty of which family is right, not only of its parameters.
    """

    n: Array
    y: Array
    best: FamilyFit
    fits: list[FamilyFit]
    draw_sets: list[tuple[str, Array]] = field(default_factory=list)
    confidence: float = 0.9
    saturation_fraction: float = 0.95
    criterion: str = "aicc"
    # what the measured points allow: no trained scale is predicted below the lowest measured
    # mean by more than the noise (a fall the pilots never saw is not extrapolated)
    floor: float = -math.inf
    # extrapolation: the spread per doubling past the largest measured scale that the fit's
    # own shape cannot see (``planner.pilots`` estimates it from the pilots' own backtest);
    # each draw gets z * discrepancy * log2(n / largest) there, with one z per draw
    discrepancy: float = 0.0

    @property
    def family(self) -> CurveFamily:
        return FAMILIES[self.best.family]

    @property
    def n_draws(self) -> int:
        return sum(d.shape[0] for _, d in self.draw_sets)

    @property
    def weights(self) -> dict[str, float]:
        """Weights of the families: Akaike weights exp(-dAICc/2), or with leave-one-out
        selection the same form on N ln(LOO error), the criterion's analogue of N ln(RSS/N)."""
        pts = len(self.n)
        if self.criterion == "loo":
            scores = {f.family: pts * math.log(max(f.loo, 1e-300)) for f in self.fits
                      if math.isfinite(f.loo)}
        else:
            scores = {f.family: f.aicc for f in self.fits if math.isfinite(f.aicc)}
        if not scores:
            return {self.best.family: 1.0}
        low = min(scores.values())
        raw = {k: math.exp(-(v - low) / 2) for k, v in scores.items()}
        total = sum(raw.values())
        return {k: v / total for k, v in raw.items()}

    @property
    def residual_sd(self) -> float:
        dof = max(len(self.n) - self.family.k, 1)
        return math.sqrt(self.best.rss / dof)

    def _floored(self, n: Array, pred: Array) -> Array:
        return np.where(n > 0, np.maximum(pred, self.floor), pred)

    def predict(self, n: Array | Sequence[float] | float) -> Array:
        n_a = np.asarray(n, float)
        return self._floored(n_a, self.best.predict(n_a))

    def predict_draws(self, n: Array | Sequence[float]) -> Array:
        """Bootstrap predictions, shape (draws, len(n)); empty without a bootstrap."""
        n_a = np.atleast_1d(np.asarray(n, float))
        parts = []
        with np.errstate(all="ignore"):
            for name, draws in self.draw_sets:
                fam = FAMILIES[name]
                cols = [draws[:, i:i + 1] for i in range(fam.k)]
                parts.append(np.broadcast_to(fam.f(n_a, cols), (draws.shape[0], n_a.size)))
        if not parts:
            return np.empty((0, n_a.size))
        draws = np.concatenate(parts)
        if self.discrepancy > 0:
            beyond = np.log2(np.maximum(n_a, 1.0) / max(float(self.n.max()), 1.0))
            # one z per draw, seeded by the curve's own points: curves miss independently
            z = np.random.default_rng(zlib.crc32(self.y.tobytes())).standard_normal(
                (draws.shape[0], 1))
            draws = draws + z * self.discrepancy * np.maximum(beyond, 0.0)
        return self._floored(n_a, draws)

    def interval(self, n: Array | Sequence[float], *,
                 measured_with: int = 0) -> tuple[Array, Array]:
        """Equal-tailed ``confidence`` interval of M(n) from the bootstrap (the point estimate
        twice without one). ``measured_with`` > 0: the interval of a score measured as the mean
        of that many seeds, so each draw also carries the seed noise of such a measurement
        (the residual spread over sqrt(seeds))."""
        draws = self.predict_draws(n)
        if draws.shape[0] == 0:
            p = np.atleast_1d(self.predict(n))
            return p, p
        if measured_with > 0:
            # the noise of a mean of seeds, at the t spread of the few residual degrees of
            # freedom the residual sd rests on
            rng = np.random.default_rng(len(self.n))
            dof = max(len(self.n) - self.family.k, 1)
            draws = draws + (rng.standard_t(dof, draws.shape) * self.residual_sd
                             / math.sqrt(measured_with))
        a = (1 - self.confidence) / 2
        return np.quantile(draws, a, axis=0), np.quantile(draws, 1 - a, axis=0)

    # ---- summary quantities of one parameter vector
    def _asymptote(self, theta: Sequence[float], family: str | None = None) -> float:
        fam = FAMILIES[family or self.best.family]
        if fam.name in ("power", "exp"):
            return float(theta[0])
        if fam.name == "decline":
            peak = self._peak(theta)
            if not math.isfinite(peak):  # no drift: saturates at m0 + g
                return float(theta[0] + theta[1])
            return float(fam.f(np.array([peak]), np.asarray(theta))[0])
        return math.inf if theta[1] > 0 else float(fam.f(np.array([0.0]), np.asarray(theta))[0])

    def _peak(self, theta: Sequence[float]) -> float:
        """Scale of the maximum of a ``decline`` curve (inf when it never turns down)."""
        _, g, tau, d = theta
        if d <= 0:
            return math.inf
        if g <= d:  # f'(0) = (g - d)/tau <= 0: falls from the start
            return 0.0

        def slope(x: float) -> float:
            return g / tau * math.exp(-x / tau) - d / (tau + x)

        hi = tau
        while slope(hi) > 0:
            hi *= 2
            if hi > 1e12:
                return math.inf
        return float(brentq(slope, 0.0, hi))

    def _saturation(self, theta: Sequence[float], family: str | None = None) -> float:
        q = self.saturation_fraction
        fam = FAMILIES[family or self.best.family]
        if fam.name == "power":
            _, _, n0, alpha = theta
            return float(n0 * ((1 - q) ** (-1 / alpha) - 1))
        if fam.name == "exp":
            return float(-theta[2] * math.log(1 - q))
        if fam.name == "decline":
            peak = self._peak(theta)
            if not math.isfinite(peak):
                return math.inf
            t = np.asarray(theta)
            f0 = fam.f(np.array([0.0]), t)[0]
            top = fam.f(np.array([peak]), t)[0]
            if top - f0 <= 0 or peak == 0:
                return 0.0
            target = f0 + q * (top - f0)
            return float(brentq(lambda x: fam.f(np.array([x]), t)[0] - target, 0.0, peak))
        return math.inf  # loglin never saturates

    def asymptote(self) -> float:
        """The plateau (power, exp), the peak value (decline), or inf (rising loglin)."""
        return self._asymptote(self.best.theta)

    def saturation_scale(self) -> float:
        """n reaching ``saturation_fraction`` of the gain from n = 0 to the plateau or peak."""
        return self._saturation(self.best.theta)

    def peak_scale(self) -> float:
        """n of the maximum when the selected curve turns down, else inf."""
        if self.family.name == "decline":
            return self._peak(self.best.theta)
        if self.family.name == "loglin" and self.best.theta[1] < 0:
            return 0.0
        if self.family.name in ("power", "exp") and self.best.theta[1] < 0:
            return 0.0
        return math.inf

    def _draw_interval(self, fn: Callable[[Sequence[float], str], float],
                       basic: bool = False) -> tuple[float, float]:
        """Percentile interval of ``fn`` over the draws; ``basic`` reflects it around the
        estimate (2 est - q_hi, 2 est - q_lo), which corrects a bias the draws share with the
        estimate - the maximum of a noisy curve sits above the true maximum."""
        v = fn(self.best.theta, self.best.family)
        if self.n_draws == 0:
            return v, v
        vals = np.array([fn(t, name) for name, draws in self.draw_sets for t in draws])
        a = (1 - self.confidence) / 2
        # no interpolation: a draw may be infinite (a curve that never saturates)
        lo = float(np.quantile(vals, a, method="inverted_cdf"))
        hi = float(np.quantile(vals, 1 - a, method="inverted_cdf"))
        if basic and math.isfinite(lo) and math.isfinite(hi):
            return 2 * v - hi, 2 * v - lo
        return lo, hi

    def asymptote_interval(self) -> tuple[float, float]:
        """Interval of the plateau (percentile) or of the peak value (basic bootstrap)."""
        return self._draw_interval(self._asymptote, basic=self.family.name == "decline")

    def saturation_interval(self) -> tuple[float, float]:
        return self._draw_interval(self._saturation)


def loo_error(fit: FamilyFit, n: Sequence[float], y: Sequence[float]) -> float:
    """Leave-one-out mean squared prediction error of a family: each point predicted by the
    family refitted (warm-started at ``fit``) without it."""
    fam = FAMILIES[fit.family]
    n_a, y_a = np.asarray(n, float), np.asarray(y, float)
    if not all(math.isfinite(v) for v in fit.theta):
        return math.inf
    pts = len(n_a)
    bounds = fam.bounds(n_a, y_a)
    weights = 1.0 - np.eye(pts)
    theta = refit_many(fit.family, n_a, np.tile(y_a, (pts, 1)),
                       _clip_start(fit.theta, *bounds), bounds, weights=weights)
    pred = np.array([fam.f(n_a[i:i + 1], theta[i])[0] for i in range(pts)])
    return float(np.mean((pred - y_a) ** 2))


def fit_curve(
    n: Sequence[float],
    y: Sequence[float],
    *,
    families: Sequence[str] = tuple(FAMILIES),
    criterion: str = "auto",
    bootstrap: int = 1000,
    confidence: float = 0.9,
    saturation_fraction: float = 0.95,
    seed: int = 0,
) -> CurveFit:
    """Fit every family, select one, and bootstrap the selected one.

    ``criterion``: ``aicc`` (lowest corrected AIC; a family with too few points for the
    correction is skipped), ``loo`` (lowest leave-one-out error), or ``auto`` (AICc when every
    family has at least 3 points more than it has parameters, else leave-one-out). Points may
    repeat a scale (one per seed); at least 4 points on 2 scales are needed.
    """
    n_a, y_a = np.asarray(n, float), np.asarray(y, float)
    if n_a.shape != y_a.shape or n_a.ndim != 1:
        raise ValueError("n and y must be 1-d and of equal length")
    if len(n_a) < 4:
        raise ValueError(f"a curve needs at least 4 points, got {len(n_a)}")
    if len(np.unique(n_a)) < 2:
        raise ValueError("a curve needs at least 2 distinct scales")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown curve families: {', '.join(unknown)}")
    if criterion not in ("auto", "aicc", "loo"):
        raise ValueError(f"unknown criterion {criterion!r}: use auto, aicc or loo")
    fits = sorted((fit_family(f, n_a, y_a) for f in families), key=lambda f: f.aicc)
    if criterion == "auto":
        k_max = max(FAMILIES[f].k for f in families)
        criterion = "aicc" if len(n_a) >= k_max + 4 else "loo"
    if criterion == "loo":
        # each leave-one-out refit keeps at least one residual degree of freedom
        fits = [f for f in fits if FAMILIES[f.family].k <= len(n_a) - 2] or fits[:1]
        loo = {f.family: loo_error(f, n_a, y_a) for f in fits}
        fits = sorted(fits, key=lambda f: (loo[f.family], FAMILIES[f.family].k))
        fits = [replace(f, loo=loo[f.family]) for f in fits]
        best = fits[0]
    else:
        usable = [f for f in fits if math.isfinite(f.aicc)]
        best = usable[0] if usable else min(fits, key=lambda f: (FAMILIES[f.family].k, f.rss))
    cf = CurveFit(n_a, y_a, best, fits, confidence=confidence,
                  saturation_fraction=saturation_fraction, criterion=criterion)
    cf.floor = measured_floor(n_a, y_a, cf.residual_sd)
    if bootstrap > 0:
        shares = {k: w for k, w in cf.weights.items() if w >= 0.01}
        total = sum(shares.values())
        by_name = {f.family: f for f in fits}
        for i, (name, w) in enumerate(sorted(shares.items(), key=lambda kv: -kv[1])):
            count = max(round(bootstrap * w / total), 1)
            if all(math.isfinite(v) for v in by_name[name].theta):
                cf.draw_sets.append((name, _bootstrap(cf, by_name[name], count, seed + i)))
    return cf


def measured_floor(n: Array, y: Array, residual_sd: float) -> float:
    """How far down the measured points allow a trained scale to go (``CurveFit.floor``): the
    lowest mean of a trained scale (n > 0) less twice its standard error; -inf without one."""
    trained = [s for s in np.unique(n) if s > 0]
    if not trained:
        return -math.inf
    return min(float(y[n == s].mean()) - 2 * residual_sd / math.sqrt(int(np.sum(n == s)))
               for s in trained)


def refit_many(family: str, n: Array, ys: Array, theta0: Sequence[float],
               bounds: tuple[Sequence[float], Sequence[float]], iterations: int = 100,
               weights: Array | None = None) -> Array:
    """Refit ``family`` to many response vectors at once (rows of ``ys``), warm-started at
    ``theta0`` (:func:`planner.lm.batched_lm`), so a 1,000-draw bootstrap costs milliseconds
    instead of 1,000 ``least_squares`` calls. ``weights`` (same shape as ``ys``) weight each
    squared residual (0 leaves a point out)."""
    fam = FAMILIES[family]

    def cols(t: Array) -> list[Array]:
        return [t[:, i:i + 1] for i in range(fam.k)]

    return batched_lm(lambda t: fam.f(n, cols(t)),
                      lambda t: np.broadcast_to(fam.jac(n, cols(t)), (t.shape[0], len(n), fam.k)),
                      ys, theta0, bounds, iterations=iterations, weights=weights)


def _bootstrap(cf: CurveFit, fit: FamilyFit, draws: int, seed: int) -> Array:
    """Residual bootstrap of one family's fit: residuals centred and rescaled by
    sqrt(N / (N - k)) so their spread matches the noise, each resample refitted."""
    rng = np.random.default_rng(seed)
    fam = FAMILIES[fit.family]
    fitted = fit.predict(cf.n)
    resid = cf.y - fitted
    n_pts = len(cf.n)
    dof = max(n_pts - fam.k, 1)
    # rescaled for the fitted degrees of freedom, and widened by t/z for the few residual
    # degrees of freedom a handful of pilot points leaves (small-sample correction)
    a = (1 + cf.confidence) / 2
    widen = float(student_t.ppf(a, dof) / norm.ppf(a))
    resid = (resid - resid.mean()) * math.sqrt(n_pts / dof) * widen
    ys = fitted + rng.choice(resid, size=(draws, n_pts), replace=True)
    bounds = fam.bounds(cf.n, cf.y)
    return refit_many(fam.name, cf.n, ys, _clip_start(fit.theta, *bounds), bounds)


__all__ = ["FAMILIES", "CurveFamily", "CurveFit", "FamilyFit", "aicc", "fit_curve",
           "fit_family", "loo_error", "measured_floor", "refit_many"]
