"""The value of a pilot point: expected regret and its reduction by a measurement."""

from __future__ import annotations

import numpy as np
import pytest

from planner.value import expected_regret, regret_reduction


def test_regret_of_a_sure_choice_is_zero() -> None:
    values = np.array([[0.5, 0.6, 0.55], [0.4, 0.5, 0.45]])  # option 0 wins in every draw
    assert expected_regret(values) == 0.0


def test_a_signal_that_tells_the_winner_removes_the_regret() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.50, 0.02, 1000)
    b = rng.normal(0.50, 0.02, 1000)
    values = np.stack([a, b])
    now = expected_regret(values)
    assert now > 0.005
    # measuring a - b (which one wins) removes nearly all of it; noise tells nothing
    assert regret_reduction(values, a - b, bins=10) > 0.8 * now
    assert regret_reduction(values, rng.normal(size=1000), bins=10) < 0.2 * now
    # a signal about an option no one would choose anyway is worth less than the rivals'
    assert regret_reduction(values, a, bins=10) < regret_reduction(values, a - b, bins=10)


def test_reduction_never_negative_and_empty_is_zero() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.5, 0.01, (3, 200))
    for _ in range(20):
        assert regret_reduction(values, rng.normal(size=200)) >= 0.0
    assert regret_reduction(np.empty((2, 0)), np.empty(0)) == 0.0
    assert expected_regret(np.empty((2, 0))) == 0.0


def test_regret_of_a_given_choice() -> None:
    values = np.array([[0.50, 0.50], [0.52, 0.48], [0.42, 0.60]])
    assert expected_regret(values, chosen=0) == pytest.approx(0.06)  # (0.02 + 0.10) / 2
    # measuring what tells draw 0 from draw 1 removes it: choose option 1, then option 2
    assert regret_reduction(values, np.array([0.0, 1.0]), bins=2, chosen=0) == pytest.approx(0.06)
    assert regret_reduction(values, np.array([0.0, 0.0]), bins=1, chosen=0) == pytest.approx(
        0.06 - 0.05)  # no information: only the switch to the best mean (option 2)
