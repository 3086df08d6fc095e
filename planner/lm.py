"""A batched, bounded Levenberg-Marquardt solver: many least-squares refits of one model at
once (the rows of a bootstrap), one batched k x k solve per iteration."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Array = np.ndarray


def batched_lm(f: Callable[[Array], Array], jac: Callable[[Array], Array], ys: Array,
               theta0: Sequence[float], bounds: tuple[Sequence[float], Sequence[float]], *,
               iterations: int = 100, weights: Array | None = None) -> Array:
    """Fit ``f`` to every row of ``ys`` (B, N), warm-started at ``theta0`` (k,).

    ``f(theta)`` maps parameters (B, k) to predictions (B, N), ``jac(theta)`` to their Jacobian
    (B, N, k). A projected step (clipped to ``bounds``) is accepted per row only when it lowers
    that row's own (``weights``-weighted) residual sum. Returns the parameters (B, k).
    """
    lo, hi = np.asarray(bounds[0], float), np.asarray(bounds[1], float)
    rows = ys.shape[0]
    k = len(theta0)
    theta = np.tile(np.asarray(theta0, float), (rows, 1))
    lam = np.full(rows, 1e-3)
    w = np.ones_like(ys) if weights is None else np.asarray(weights, float)
    sw = np.sqrt(w)

    def cost(t: Array) -> Array:
        r = (f(t) - ys) * sw
        return np.einsum("bn,bn->b", r, r)

    current = cost(theta)
    eye = np.eye(k)
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            r = (f(theta) - ys) * sw
            jm = jac(theta) * sw[:, :, None]
            jtj = np.einsum("bni,bnj->bij", jm, jm)
            g = np.einsum("bni,bn->bi", jm, r)
            diag = np.einsum("bii->bi", jtj)
            a = jtj + lam[:, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
            try:
                step = np.linalg.solve(a, -g[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = -g / np.maximum(diag, 1e-12)
            cand = np.clip(theta + step, lo, hi)
            new = cost(cand)
            better = np.isfinite(new) & (new < current)
            theta[better] = cand[better]
            current = np.where(better, new, current)
            lam = np.where(better, lam / 3, np.minimum(lam * 4, 1e8))
    return theta


__all__ = ["batched_lm"]
