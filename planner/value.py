"""The value of a pilot point: how much measuring it is expected to cut the regret of a choice.

The bootstrap draws of every option in contention are joint samples of what the truth might
be. The regret of choosing option ``i`` in draw ``b`` is ``max_j v[j, b] - v[i, b]``; the
current choice (the best mean) carries an expected regret over the draws. Measuring a new
point reveals, roughly, where the truth lies along that point's draws: the draws are split
into quantile bins of the point's predicted value (a coarse signal, as a noisy measurement of
two seeds is), the best option is chosen again inside each bin, and the expected regret after
the measurement is the bins' average. The reduction is the expected value of the measurement
(a preposterior analysis with the bootstrap as the posterior).
"""

from __future__ import annotations

import numpy as np


def expected_regret(values: np.ndarray, chosen: int | None = None) -> float:
    """Expected regret of option ``chosen`` (default: the one with the highest mean);
    ``values`` is (options, draws)."""
    if values.shape[1] == 0:
        return 0.0
    best = int(np.argmax(values.mean(axis=1))) if chosen is None else chosen
    return float(np.mean(values.max(axis=0) - values[best]))


def regret_reduction(values: np.ndarray, signal: np.ndarray, bins: int | None = None,
                     chosen: int | None = None) -> float:
    """Expected regret of the current choice (``chosen``, default the best mean) less the
    expected regret once ``signal`` (one value per draw, the candidate point's predicted
    metric) is observed to within a quantile bin and the best option is chosen again. Never
    negative: choosing again with more information cannot be worse on average."""
    draws = values.shape[1]
    if draws == 0 or signal.shape[0] != draws:
        return 0.0
    bins = bins or max(2, min(10, draws // 20))
    order = np.argsort(signal, kind="stable")
    after = 0.0
    for part in np.array_split(order, bins):
        if part.size:
            after += part.size * expected_regret(values[:, part])
    return max(expected_regret(values, chosen) - after / draws, 0.0)


__all__ = ["expected_regret", "regret_reduction"]
