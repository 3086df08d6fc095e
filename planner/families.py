"""Saturation curve families: each maps the augmentation scale ``n`` (training pairs) to a
retrieval metric, with its Jacobian, parameter bounds and least-squares starting points.

* ``power``   ``M(n) = M_inf - A * (1 + n/n0) ** -alpha``   (asymptote ``M_inf``; M(0) = M_inf - A)
* ``exp``     ``M(n) = M_inf - A * exp(-n/tau)``            (asymptote ``M_inf``)
* ``loglin``  ``M(n) = a + b * ln(1 + n)``                  (no asymptote; a baseline)
* ``decline`` ``M(n) = m0 + g * (1 - exp(-n/tau)) - d * ln(1 + n/tau)``
  (a saturating gain minus a drift in log n: it can rise, peak and fall)

Every function takes a parameter vector ``theta`` or, for batched refits, a list of (B, 1)
columns of parameter draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class CurveFamily:
    """One parametric family: ``f(n, theta)``, its Jacobian, bounds and starting points."""

    name: str
    params: tuple[str, ...]
    f: Callable[[Array, Array], Array]
    jac: Callable[[Array, Array], Array]
    bounds: Callable[[Array, Array], tuple[list[float], list[float]]]
    starts: Callable[[Array, Array], list[list[float]]]
    has_asymptote: bool
    can_decline: bool

    @property
    def k(self) -> int:
        return len(self.params)


def _cols(*cols: Array | float) -> Array:
    """Jacobian columns stacked on the last axis: (N, k) for one parameter vector, (B, N, k)
    when each parameter is a (B, 1) column of bootstrap draws."""
    return np.stack(np.broadcast_arrays(*cols), axis=-1)


def _power_f(n: Array, t: Array) -> Array:
    m_inf, a, n0, alpha = t
    return m_inf - a * (1.0 + n / n0) ** (-alpha)


def _power_jac(n: Array, t: Array) -> Array:
    _, a, n0, alpha = t
    base = 1.0 + n / n0
    p = base ** (-alpha)
    return _cols(1.0, -p, -a * alpha * p / base * n / n0 ** 2, a * p * np.log(base))


def _exp_f(n: Array, t: Array) -> Array:
    m_inf, a, tau = t
    return m_inf - a * np.exp(-n / tau)


def _exp_jac(n: Array, t: Array) -> Array:
    _, a, tau = t
    e = np.exp(-n / tau)
    return _cols(1.0, -e, -a * e * n / tau ** 2)


def _loglin_f(n: Array, t: Array) -> Array:
    return t[0] + t[1] * np.log1p(n)


def _loglin_jac(n: Array, t: Array) -> Array:
    return _cols(1.0, np.log1p(n) + 0.0 * t[1])


def _decline_f(n: Array, t: Array) -> Array:
    m0, g, tau, d = t
    return m0 + g * (1.0 - np.exp(-n / tau)) - d * np.log1p(n / tau)


def _decline_jac(n: Array, t: Array) -> Array:
    _, g, tau, d = t
    e = np.exp(-n / tau)
    return _cols(1.0, 1.0 - e, -g * e * n / tau ** 2 + d * n / (tau * (tau + n)),
                 -np.log1p(n / tau))


def _span(n: Array, y: Array) -> tuple[float, float, float, float]:
    pos = n[n > 0]
    lo_n = float(pos.min()) if pos.size else 1.0
    hi_n = float(n.max()) if n.size else 1.0
    return lo_n, max(hi_n, lo_n), float(y.min()), float(y.max())


def _y_bounds(y: Array) -> tuple[float, float]:
    lo, hi = float(y.min()), float(y.max())
    width = max(hi - lo, 0.05)
    return lo - 10 * width, hi + 10 * width


def _power_bounds(n: Array, y: Array) -> tuple[list[float], list[float]]:
    ylo, yhi = _y_bounds(y)
    amp = 10 * max(float(np.ptp(y)), 0.05)
    return [ylo, -amp, 1.0, 0.3], [yhi, amp, 1e7, 3.0]


def _power_starts(n: Array, y: Array) -> list[list[float]]:
    lo_n, hi_n, _, _ = _span(n, y)
    y0 = float(y[n == n.min()].mean())
    top = float(y[n == n.max()].mean())
    gain = top - y0 or 1e-3
    return [[top + 0.2 * gain, 1.2 * gain, n0, alpha]
            for n0 in (lo_n / 2, hi_n / 2) for alpha in (0.5, 1.5)]


def _exp_bounds(n: Array, y: Array) -> tuple[list[float], list[float]]:
    ylo, yhi = _y_bounds(y)
    amp = 10 * max(float(np.ptp(y)), 0.05)
    return [ylo, -amp, 1.0], [yhi, amp, 1e7]


def _exp_starts(n: Array, y: Array) -> list[list[float]]:
    lo_n, hi_n, _, _ = _span(n, y)
    y0 = float(y[n == n.min()].mean())
    top = float(y[n == n.max()].mean())
    gain = top - y0 or 1e-3
    return [[top + 0.1 * gain, 1.1 * gain, tau] for tau in (lo_n, hi_n / 3, hi_n)]


def _loglin_bounds(n: Array, y: Array) -> tuple[list[float], list[float]]:
    ylo, yhi = _y_bounds(y)
    return [ylo, -1.0], [yhi, 1.0]


def _loglin_starts(n: Array, y: Array) -> list[list[float]]:
    return [[float(y.mean()), 0.0]]


def _decline_bounds(n: Array, y: Array) -> tuple[list[float], list[float]]:
    ylo, yhi = _y_bounds(y)
    amp = 10 * max(float(np.ptp(y)), 0.05)
    return [ylo, 0.0, 1.0, 0.0], [yhi, amp, 1e7, amp]


def _decline_starts(n: Array, y: Array) -> list[list[float]]:
    lo_n, hi_n, _, hi_y = _span(n, y)
    y0 = float(y[n == n.min()].mean())
    gain = max(hi_y - y0, 1e-3)
    return [[y0, 1.5 * gain, tau, d] for tau in (lo_n / 2, hi_n / 4)
            for d in (0.1 * gain, 0.5 * gain)]


FAMILIES: dict[str, CurveFamily] = {
    "power": CurveFamily("power", ("m_inf", "gain", "n0", "alpha"), _power_f, _power_jac,
                         _power_bounds, _power_starts, True, False),
    "exp": CurveFamily("exp", ("m_inf", "gain", "tau"), _exp_f, _exp_jac, _exp_bounds,
                       _exp_starts, True, False),
    "loglin": CurveFamily("loglin", ("a", "b"), _loglin_f, _loglin_jac, _loglin_bounds,
                          _loglin_starts, False, True),
    "decline": CurveFamily("decline", ("m0", "gain", "tau", "drift"), _decline_f,
                           _decline_jac, _decline_bounds, _decline_starts, False, True),
}


__all__ = ["FAMILIES", "Array", "CurveFamily"]
