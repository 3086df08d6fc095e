"""Joint fits: the curves of several augmenters of one retriever and eval set share a shape.

The effective-data view of transfer: augmenter a's queries are worth ``k_a`` of a reference
augmenter's, ``M_a(n) = f(k_a * n)``. For the saturating families that is a per-augmenter scale
parameter (``n0`` of ``power``, ``tau`` of ``exp`` and ``decline``) with every other parameter
shared; where the data support it, the plateau (``power``: its height and gain) or the gain
(``decline``) is per augmenter too. Each tie is fitted by bounded least squares on all
augmenters' points at once, tied fits and the separate fits are compared by AICc on the same
points, and the winner's residual bootstrap is refitted in one batch. Shared parameters let two
or three points of a new augmenter borrow strength from the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import norm
from scipy.stats import t as student_t

from planner.curves import CurveFit, FamilyFit, aicc
from planner.families import FAMILIES, Array
from planner.lm import batched_lm


@dataclass(frozen=True)
class Tie:
    """One way to tie the curves: which parameters of ``family`` all augmenters share."""

    family: str
    shared: tuple[str, ...]

    @property
    def label(self) -> str:
        fam = FAMILIES[self.family]
        own = [p for p in fam.params if p not in self.shared]
        return f"{self.family}, per augmenter: {', '.join(own)}"


#: the ties tried: efficiency only (a per-augmenter scale), the plateau only (a per-augmenter
#: height on a shared shape), or both
TIES = (
    Tie("power", ("m_inf", "gain", "alpha")),
    Tie("power", ("n0", "alpha")),
    Tie("power", ("alpha",)),
    Tie("exp", ("m_inf", "gain")),
    Tie("exp", ("tau",)),
    Tie("decline", ("m0", "gain", "drift")),
    Tie("decline", ("m0", "drift")),
)


@dataclass
class JointFit:
    """The ties fitted to several augmenters, weighed against the curves fitted one by one.

    ``ties`` holds each converged tie's parameters per augmenter (in the family's own form),
    its AICc and its bootstrap draws; ``weights`` are Akaike weights over the ties and
    ``"separate"`` (on the same points), so a curve's draws are shared among the models by how
    well each explains the data, and the intervals carry the doubt about which is right."""

    names: list[str]
    ties: list[_TieFit]
    separate_aicc: float
    n_points: int

    @property
    def weights(self) -> dict[str, float]:
        scores = {t.tie.label: t.aicc for t in self.ties}
        scores["separate"] = self.separate_aicc
        finite = {k: v for k, v in scores.items() if math.isfinite(v)}
        if not finite:
            return {"separate": 1.0}
        low = min(finite.values())
        raw = {k: math.exp(-(v - low) / 2) for k, v in finite.items()}
        total = sum(raw.values())
        return {k: v / total for k, v in raw.items()}

    @property
    def best(self) -> _TieFit | None:
        """The tie with the lowest AICc when it beats fitting separately, else None."""
        top = min(self.ties, key=lambda t: t.aicc, default=None)
        return top if top is not None and top.aicc < self.separate_aicc else None


@dataclass
class _TieFit:
    tie: Tie
    theta: dict[str, tuple[float, ...]]
    rss: float
    aicc: float
    draws: dict[str, Array]


class _Layout:
    """Where each augmenter's family parameters sit in the joint parameter vector."""

    def __init__(self, tie: Tie, names: Sequence[str]) -> None:
        fam = FAMILIES[tie.family]
        self.fam, self.names = fam, list(names)
        self.shared = [i for i, p in enumerate(fam.params) if p in tie.shared]
        self.own = [i for i, p in enumerate(fam.params) if p not in tie.shared]
        self.size = len(self.shared) + len(self.own) * len(self.names)
        self.index = np.zeros((len(self.names), fam.k), dtype=int)
        for a in range(len(self.names)):
            for j, i in enumerate(self.shared):
                self.index[a, i] = j
            for j, i in enumerate(self.own):
                self.index[a, i] = len(self.shared) + a * len(self.own) + j

    def pack(self, thetas: Sequence[Sequence[float]]) -> Array:
        """A joint vector from per-augmenter parameter vectors (shared ones: their median)."""
        phi = np.zeros(self.size)
        arr = np.asarray(thetas, float)
        for a in range(len(self.names)):
            phi[self.index[a]] = arr[a]
        for i in self.shared:
            phi[self.index[0, i]] = float(np.median(arr[:, i]))
        return phi


def _predict(lay: _Layout, blocks: list[Array], phi: Array) -> Array:
    """Predictions of every block (augmenter) for parameters (B, P) -> (B, N)."""
    parts = []
    for a, n in enumerate(blocks):
        cols = [phi[:, lay.index[a, i]][:, None] for i in range(lay.fam.k)]
        parts.append(np.broadcast_to(lay.fam.f(n, cols), (phi.shape[0], n.size)))
    return np.concatenate(parts, axis=1)


def _jacobian(lay: _Layout, blocks: list[Array], phi: Array) -> Array:
    """(B, N, P): each block's family Jacobian scattered onto the joint parameters."""
    out = np.zeros((phi.shape[0], sum(b.size for b in blocks), lay.size))
    at = 0
    for a, n in enumerate(blocks):
        cols = [phi[:, lay.index[a, i]][:, None] for i in range(lay.fam.k)]
        jac = np.broadcast_to(lay.fam.jac(n, cols), (phi.shape[0], n.size, lay.fam.k))
        for i in range(lay.fam.k):
            out[:, at:at + n.size, lay.index[a, i]] += jac[:, :, i]
        at += n.size
    return out


def _bounds(lay: _Layout, n: Array, y: Array) -> tuple[Array, Array]:
    lo_f, hi_f = lay.fam.bounds(n, y)
    lo, hi = np.zeros(lay.size), np.zeros(lay.size)
    for a in range(len(lay.names)):
        lo[lay.index[a]] = lo_f
        hi[lay.index[a]] = hi_f
    return lo, hi


def _fit_tie(tie: Tie, names: list[str], blocks: list[Array], ys: list[Array],
             starts: list[list[Sequence[float]]]) -> tuple[Array, float] | None:
    """Best bounded least-squares fit of one tie: (joint parameters, RSS), None if none
    converged. ``starts``: per-augmenter starting vectors, one list per start."""
    lay = _Layout(tie, names)
    n_all, y_all = np.concatenate(blocks), np.concatenate(ys)
    lo, hi = _bounds(lay, n_all, y_all)
    span = hi - lo
    best = None
    for thetas in starts:
        x0 = np.clip(lay.pack(thetas), lo + 1e-9 * span, hi - 1e-9 * span)
        try:
            with np.errstate(all="ignore"):
                res = least_squares(
                    lambda p: _predict(lay, blocks, p[None, :])[0] - y_all, x0,
                    jac=lambda p: _jacobian(lay, blocks, p[None, :])[0],
                    bounds=(lo, hi), method="trf", x_scale="jac")
        except (ValueError, FloatingPointError):
            continue
        if np.all(np.isfinite(res.x)) and (best is None or res.cost < best.cost):
            best = res
    return None if best is None else (best.x, float(2 * best.cost))


def fit_joint(fits: dict[str, CurveFit], *, bootstrap: int = 1000, confidence: float = 0.9,
              seed: int = 0) -> JointFit | None:
    """Every tie of the augmenters' curves, scored by AICc against fitting them one by one
    (on the same points), each with its bootstrap; None for fewer than two augmenters."""
    names = sorted(fits)
    if len(names) < 2:
        return None
    blocks = [fits[a].n for a in names]
    ys = [fits[a].y for a in names]
    total = sum(b.size for b in blocks)
    separate_rss = sum(fits[a].best.rss for a in names)
    separate_k = sum(FAMILIES[fits[a].best.family].k for a in names)
    # a tie only in a family the separate fits chose for some augmenter (the saturating
    # families standing in for each other): a decline is tied only where one was seen
    chosen = {fits[a].best.family for a in names}
    if chosen & {"power", "exp"}:
        chosen |= {"power", "exp"}
    ties = []
    for i, tie in enumerate(TIES):
        if tie.family not in chosen:
            continue
        fam = FAMILIES[tie.family]
        starts = [[_own_start(fits[a], tie.family, j) for a in names]
                  for j in range(len(fam.starts(blocks[0], ys[0])))]
        got = _fit_tie(tie, names, blocks, ys, starts)
        if got is None:
            continue
        phi, rss = got
        lay = _Layout(tie, names)
        score = aicc(rss, total, lay.size)
        if not math.isfinite(score):
            continue
        draws = _bootstrap(lay, blocks, ys, phi, bootstrap, confidence, seed + 101 * (i + 1))
        ties.append(_TieFit(tie, {a: tuple(float(v) for v in phi[lay.index[k]])
                                  for k, a in enumerate(names)}, rss, score,
                            {a: draws[:, lay.index[k]] for k, a in enumerate(names)}))
    return JointFit(names, ties, aicc(separate_rss, total, separate_k), total)


def _own_start(fit: CurveFit, family: str, i: int) -> Sequence[float]:
    """A start for one augmenter: its own separate fit of the family when there is one,
    else the family's i-th default start on its points."""
    own = next((f for f in fit.fits if f.family == family and f.converged), None)
    if own is not None and i == 0 and all(math.isfinite(v) for v in own.theta):
        return own.theta
    starts = FAMILIES[family].starts(fit.n, fit.y)
    return starts[i % len(starts)]


def _bootstrap(lay: _Layout, blocks: list[Array], ys: list[Array], phi: Array, draws: int,
               confidence: float, seed: int) -> Array:
    """Residual bootstrap of the joint fit (as :mod:`planner.curves` does for one curve)."""
    if draws <= 0:
        return np.empty((0, lay.size))
    rng = np.random.default_rng(seed)
    y_all = np.concatenate(ys)
    fitted = _predict(lay, blocks, phi[None, :])[0]
    resid = y_all - fitted
    pts = y_all.size
    dof = max(pts - lay.size, 1)
    a = (1 + confidence) / 2
    widen = float(student_t.ppf(a, dof) / norm.ppf(a))
    resid = (resid - resid.mean()) * math.sqrt(pts / dof) * widen
    samples = fitted + rng.choice(resid, size=(draws, pts), replace=True)
    lo, hi = _bounds(lay, np.concatenate(blocks), y_all)
    return batched_lm(lambda p: _predict(lay, blocks, p),
                      lambda p: _jacobian(lay, blocks, p), samples, phi, (lo, hi))


def joint_curve_fit(fit: CurveFit, joint: JointFit, name: str, bootstrap: int) -> CurveFit:
    """One augmenter's curve as the joint models see it: the best model's parameters (the
    separate fit's when no tie beats it), and ``bootstrap`` draws shared among the ties and the
    separate fit by their weights, in each family's own form."""
    weights = joint.weights
    best = joint.best
    if best is not None:
        family, theta = best.tie.family, best.theta[name]
        with np.errstate(all="ignore"):
            pred = FAMILIES[family].f(fit.n, np.asarray(theta))
        rss = float(np.sum((pred - fit.y) ** 2))
        chosen = FamilyFit(family, theta, rss, len(fit.n), best.aicc, True)
        fits = [chosen, *fit.fits]
    else:
        chosen, fits = fit.best, fit.fits
    draw_sets: list[tuple[str, Array]] = []
    rng = np.random.default_rng(len(fit.n))
    for t in joint.ties:
        count = round(bootstrap * weights.get(t.tie.label, 0.0))
        if count and t.draws[name].size:
            d = t.draws[name]
            draw_sets.append((t.tie.family, d[rng.choice(d.shape[0], count)]))
    share = weights.get("separate", 0.0)
    for family, d in fit.draw_sets:
        count = round(d.shape[0] * share)
        if count:
            draw_sets.append((family, d[rng.choice(d.shape[0], count, replace=False)]))
    return CurveFit(fit.n, fit.y, chosen, fits, draw_sets, confidence=fit.confidence,
                    saturation_fraction=fit.saturation_fraction,
                    criterion="joint" if best is not None else fit.criterion, floor=fit.floor)


__all__ = ["TIES", "JointFit", "Tie", "fit_joint", "joint_curve_fit"]
