"""The planner (pure computation): curve fitting, model selection, bootstrap, cost arithmetic,
recommendation rules and their properties."""

from __future__ import annotations

import ast
import math
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import least_squares

import planner
from planner import (
    FAMILIES,
    AugmenterCost,
    CostModel,
    PilotPoint,
    PlanError,
    PlanOptions,
    backtest,
    fit_curve,
    fit_curves,
    fit_family,
    nice_scale,
    plan,
    resolve_weights,
)
from planner.curves import aicc, refit_many
from planner.errors import FIELDS

ROOT = Path(__file__).resolve().parents[2]
SCALES = np.array([0, 250, 500, 1000, 2000, 4000], float)
TRUTH = {
    "power": (0.60, 0.08, 300.0, 1.5),
    "exp": (0.60, 0.08, 600.0),
    "loglin": (0.50, 0.01),
    "decline": (0.64, 0.03, 300.0, 0.012),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fit_recovers_noiseless_curves(family: str) -> None:
    y = FAMILIES[family].f(SCALES, np.array(TRUTH[family]))
    fit = fit_family(family, SCALES, y)
    assert fit.rss < 1e-8
    grid = np.array([100.0, 750.0, 3000.0])
    truth = FAMILIES[family].f(grid, np.array(TRUTH[family]))
    assert np.allclose(fit.predict(grid), truth, atol=1e-3)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_jacobians_match_finite_differences(family: str) -> None:
    fam = FAMILIES[family]
    theta = np.array(TRUTH[family])
    n = SCALES + 10
    jac = fam.jac(n, theta)
    for i in range(fam.k):
        h = 1e-6 * max(abs(theta[i]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        numeric = (fam.f(n, up) - fam.f(n, down)) / (2 * h)
        assert np.allclose(jac[:, i], numeric, rtol=1e-4, atol=1e-7), (family, i)


def test_aicc() -> None:
    assert aicc(0.01, 10, 2) == pytest.approx(10 * math.log(0.001) + 6 + 24 / 6)
    assert aicc(0.01, 5, 4) == math.inf  # too few points for the correction


def test_selection_prefers_the_true_shape() -> None:
    rng = np.random.default_rng(3)
    n = np.repeat(SCALES, 2)
    y = FAMILIES["decline"].f(n, np.array(TRUTH["decline"])) + rng.normal(0, 0.001, n.size)
    assert fit_curve(n, y, bootstrap=0).best.family == "decline"
    y = 0.4 + 0.002 * n / 1000 + rng.normal(0, 0.001, n.size) * 0  # a straight line in n ...
    y = FAMILIES["loglin"].f(n, np.array(TRUTH["loglin"])) + rng.normal(0, 0.0005, n.size)
    assert fit_curve(n, y, bootstrap=0).best.family == "loglin"
    y = FAMILIES["exp"].f(n, np.array(TRUTH["exp"])) + rng.normal(0, 0.001, n.size)
    assert fit_curve(n, y, bootstrap=0).best.family in ("exp", "power")


def test_few_points_use_leave_one_out() -> None:
    n = np.array([0, 250, 500, 1000, 2000], float)
    y = FAMILIES["exp"].f(n, np.array(TRUTH["exp"]))
    fit = fit_curve(n, y + np.array([0.001, -0.001, 0.0005, 0.0, -0.0005]), bootstrap=0)
    assert fit.criterion == "loo"
    assert all(FAMILIES[f.family].k <= 3 for f in fit.fits)
    with pytest.raises(ValueError, match="at least 4 points"):
        fit_curve([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="2 distinct scales"):
        fit_curve([5, 5, 5, 5], [0.1, 0.2, 0.3, 0.2])


def test_batched_refits_match_least_squares() -> None:
    rng = np.random.default_rng(0)
    fam = FAMILIES["exp"]
    y = fam.f(SCALES, np.array(TRUTH["exp"]))
    fit = fit_family("exp", SCALES, y)
    ys = y + rng.normal(0, 0.005, (40, SCALES.size))
    bounds = fam.bounds(SCALES, y)
    batched = refit_many("exp", SCALES, ys, fit.theta, bounds)
    for row, theta in zip(ys, batched, strict=True):
        ref = least_squares(lambda t, row=row: fam.f(SCALES, t) - row, fit.theta,
                            bounds=bounds, x_scale="jac")
        mine = float(np.sum((fam.f(SCALES, theta) - row) ** 2))
        assert mine <= 2 * ref.cost * (1 + 1e-6) + 1e-12


def test_bootstrap_intervals() -> None:
    rng = np.random.default_rng(1)
    n = np.repeat(SCALES, 2)
    truth = FAMILIES["exp"].f(n, np.array(TRUTH["exp"]))
    noisy = fit_curve(n, truth + rng.normal(0, 0.005, n.size), families=["exp"], seed=1)
    quiet = fit_curve(n, truth + rng.normal(0, 0.0005, n.size), families=["exp"], seed=1)
    lo, hi = noisy.interval([1000.0])
    assert lo[0] <= noisy.predict([1000.0])[0] <= hi[0]
    qlo, qhi = quiet.interval([1000.0])
    assert (qhi - qlo)[0] < (hi - lo)[0]
    alo, ahi = noisy.asymptote_interval()
    assert alo <= noisy.asymptote() <= ahi
    slo, shi = noisy.saturation_interval()
    assert slo <= noisy.saturation_scale() <= shi
    # exp: n reaching 95 % of the gain is -tau * ln(0.05)
    exact = fit_curve(n, truth, families=["exp"], bootstrap=0)
    assert exact.saturation_scale() == pytest.approx(600 * math.log(20), rel=1e-3)


def test_decline_peak_and_saturation() -> None:
    n = np.repeat(SCALES, 2)
    y = FAMILIES["decline"].f(n, np.array(TRUTH["decline"]))
    fit = fit_curve(n, y, families=["decline"], bootstrap=0)
    grid = np.linspace(0, 5000, 50001)
    true_peak = grid[np.argmax(FAMILIES["decline"].f(grid, np.array(TRUTH["decline"])))]
    assert fit.peak_scale() == pytest.approx(true_peak, rel=0.02)
    assert 0 < fit.saturation_scale() < fit.peak_scale()


# ------------------------------------------------------------------------------- cost


def test_cost_arithmetic_is_exact() -> None:
    cost = CostModel({"a": AugmenterCost("a", 1000.0, acceptance=0.5, cached=100),
                      "b": AugmenterCost("b", 4000.0)},
                     training_pairs_per_hour=10_000.0, embed_per_hour=20_000.0,
                     price_per_hour=3.0)
    # 300 accepted: 200 new ones need 400 generated; 400/1000 + 400/20000 + 300/10000
    assert cost.breakdown("a", 300) == pytest.approx(
        {"generation": 0.4, "filtering": 0.02, "training": 0.03, "total": 0.45})
    assert cost.hours("a", 50) == pytest.approx(0.005)  # cached: training only
    assert cost.money(0.45) == pytest.approx(1.35)
    for n in (50.0, 100.0, 300.0, 12345.0):
        assert cost.max_scale("a", cost.hours("a", n)) == pytest.approx(n)
    assert cost.max_scale("b", 1.0) == pytest.approx(1 / (1 / 4000 + 1 / 20000 + 1 / 10000))
    assert cost.per_query_ratio("a", "b") == pytest.approx(
        ((1 / 1000 + 1 / 20000) / 0.5) / (1 / 4000 + 1 / 20000))
    with pytest.raises(PlanError, match="no cost profile for augmenter 'c'"):
        cost.hours("c", 10)
    with pytest.raises(PlanError, match="queries_per_hour"):
        AugmenterCost("x", 0.0)
    with pytest.raises(PlanError, match="acceptance"):
        AugmenterCost("x", 10.0, acceptance=1.5)


def test_queries_of_one_passage_share_its_prompt() -> None:
    """K queries per passage pay the passage's prompt once where the backend shares it: at a
    prompt share of 0.6, a query at K = 3 costs 0.6 / 3 + 0.4 = 0.6 of one at K = 1."""
    a = AugmenterCost("a", 1000.0, prompt_share=0.6)
    assert a.hours_per_query(1) == pytest.approx(1 / 1000)
    assert a.hours_per_query(3) == pytest.approx(0.6 / 1000)
    assert AugmenterCost("b", 1000.0).hours_per_query(8) == pytest.approx(1 / 1000)
    one = CostModel({"a": a}, training_pairs_per_hour=10_000.0)
    three = replace(one, per_passage=3)
    assert three.breakdown("a", 300)["generation"] == pytest.approx(0.18)
    assert three.breakdown("a", 300)["training"] == one.breakdown("a", 300)["training"]
    for n in (10.0, 300.0, 5000.0):
        assert three.max_scale("a", three.hours("a", n)) == pytest.approx(n)
    assert three.max_scale("a", 1.0) > one.max_scale("a", 1.0)
    with pytest.raises(PlanError, match="prompt_share"):
        AugmenterCost("x", 10.0, prompt_share=1.0)
    with pytest.raises(PlanError, match="per_passage"):
        CostModel({"a": a}, 1.0, per_passage=0)


def test_nice_scale() -> None:
    assert [nice_scale(v) for v in (0.5, 7.9, 1234.0, 98765.0)] == [0, 7, 1200, 98000]


# ------------------------------------------------------------------------------- planning


def _points(curves: dict, scales=(0, 250, 500, 1000, 2000), seeds=(0, 1), noise=0.002,
            seed=0, eval_set="c:test") -> list[PilotPoint]:
    rng = np.random.default_rng(seed)
    out = []
    for aug, f in curves.items():
        for s in scales:
            for sd in seeds:
                if s == 0 and aug != next(iter(curves)):
                    continue
                out.append(PilotPoint("" if s == 0 else aug, s,
                                      float(f(s) + rng.normal(0, noise)), sd, "r", "inpars",
                                      eval_set))
    return out


RISING = {
    "small": lambda n: 0.40 + 0.05 * (1 - math.exp(-n / 600)),
    "large": lambda n: 0.40 + 0.06 * (1 - math.exp(-n / 800)),
}
COST = CostModel({"small": AugmenterCost("small", 20_000.0),
                  "large": AugmenterCost("large", 5_000.0)}, training_pairs_per_hour=100_000.0)
W = {"c:test": 1.0}


def test_plan_fields_and_explanation() -> None:
    p = plan(_points(RISING), COST, 0.3, weights=W, options=PlanOptions(bootstrap=300))
    d = p.to_dict()
    for key in ("augmenter", "strategy", "scale", "predicted_metric", "ci_low", "ci_high",
                "cost_gpu_hours", "saturation_scale", "marginal_gain_per_gpu_hour",
                "alternatives", "warnings", "next_pilot"):
        assert key in d
    assert p.scale > 0 and p.augmentation_helps
    assert p.ci_low <= p.predicted_metric <= p.ci_high
    assert p.cost_gpu_hours <= 0.3 + 1e-9
    assert p.cost_gpu_hours == pytest.approx(COST.hours(p.augmenter, p.scale), rel=1e-6)
    assert p.alternatives and all(a.cost_gpu_hours <= p.cost_gpu_hours + 1e-9
                                  for a in p.alternatives)
    assert p.augmenter in p.explanation and f"{p.scale:,}" in p.explanation


def test_never_beyond_the_extrapolation_limit() -> None:
    p = plan(_points(RISING), COST, 1000.0, weights=W, options=PlanOptions(bootstrap=0))
    assert p.scale <= 4 * 2000
    assert any("not extrapolated" in w for w in p.warnings)
    assert any("extrapolates" in w for w in p.warnings)


def test_never_past_a_measured_decline() -> None:
    peaked = {"small": lambda n: {0: 0.646, 250: 0.650, 500: 0.651, 1000: 0.641,
                                  2000: 0.630}[n]}
    cost = CostModel({"small": AugmenterCost("small", 20_000.0)}, 100_000.0)
    p = plan(_points(peaked, noise=0.0015), cost, 10.0, weights=W,
             options=PlanOptions(bootstrap=200))
    assert p.scale <= 500
    assert any("decline" in w or "peaks" in w for w in p.warnings) or p.scale == 0


def test_no_gain_keeps_the_zero_shot_retriever() -> None:
    flat = {"small": lambda n: 0.646}
    cost = CostModel({"small": AugmenterCost("small", 20_000.0)}, 100_000.0)
    p = plan(_points(flat, noise=0.003), cost, 10.0, weights=W,
             options=PlanOptions(bootstrap=300))
    assert p.scale == 0 and not p.augmentation_helps
    assert any("unlikely to help" in w for w in p.warnings)
    assert "zero-shot" in p.explanation


def test_bad_plans() -> None:
    pts = _points(RISING)
    with pytest.raises(PlanError, match="buys no configuration"):
        plan(pts, COST, 1e-6, weights=W, options=PlanOptions(bootstrap=0))
    with pytest.raises(PlanError, match="positive number"):
        plan(pts, COST, -1.0, weights=W)
    with pytest.raises(PlanError, match="no pilot points"):
        plan([], COST, 1.0, weights=W)
    with pytest.raises(PlanError, match="risk"):
        plan(pts, COST, 1.0, weights=W, options=PlanOptions(risk="wild"))
    with pytest.raises(PlanError, match="cost profile"):
        plan(pts, CostModel({"other": AugmenterCost("other", 1.0)}, 1.0), 1.0, weights=W,
             options=PlanOptions(bootstrap=0))


def test_resolve_weights() -> None:
    sets = ["scifact:test", "nfcorpus:test", "arguana:test"]
    assert resolve_weights(sets, None, corpus="scifact") == {"scifact:test": 1.0}
    assert resolve_weights(sets, "in=0.7,ood=0.3", corpus="scifact") == pytest.approx(
        {"scifact:test": 0.7, "nfcorpus:test": 0.15, "arguana:test": 0.15})
    assert resolve_weights(sets, None, only="nfcorpus:test") == {"nfcorpus:test": 1.0}
    with pytest.raises(PlanError, match="no pilot points on it"):
        resolve_weights(sets, "nosuch=1")
    with pytest.raises(PlanError, match="NAME=WEIGHT"):
        resolve_weights(sets, "scifact:test=-1")
    with pytest.raises(PlanError, match="eval set 'x'"):
        resolve_weights(sets, None, only="x")


def test_weighted_objective_mixes_eval_sets() -> None:
    pts = (_points(RISING, eval_set="c:test")
           + _points({"small": lambda n: 0.30 + 0.02 * (1 - math.exp(-n / 300)),
                      "large": lambda n: 0.30 - 0.00001 * n}, eval_set="o:test", seed=5))
    w = resolve_weights([p.eval_set for p in pts], "in=0.5,ood=0.5", corpus="c")
    p = plan(pts, COST, 0.3, weights=w, options=PlanOptions(bootstrap=0))
    inner = plan(pts, COST, 0.3, weights={"c:test": 1.0}, options=PlanOptions(bootstrap=0))
    assert p.objective == w
    assert p.predicted_metric < inner.predicted_metric  # the mix includes the lower set


def test_backtest() -> None:
    rows = backtest(_points(RISING), 1000, PlanOptions(bootstrap=200))
    assert {r.scale for r in rows} == {2000}
    assert all(abs(r.error) < 0.02 for r in rows)
    assert all(r.ci_low <= r.predicted <= r.ci_high for r in rows)
    with pytest.raises(PlanError, match="no pilot point above"):
        backtest(_points(RISING), 5000)


# ------------------------------------------------------------------------------- errors


def _field_of(call, *args, **kwargs) -> str | None:
    with pytest.raises(PlanError) as info:
        call(*args, **kwargs)
    assert "--" not in str(info.value)  # a library names inputs, never command-line flags
    return info.value.field


def test_plan_errors_name_their_field() -> None:
    pts = _points(RISING)
    sets = ["c:test", "o:test"]
    cases = [
        (PlanOptions(risk="wild").validate, "risk"),
        (PlanOptions(confidence=1.0).validate, "confidence"),
        (PlanOptions(bootstrap=-1).validate, "bootstrap"),
        (PlanOptions(risk="averse", bootstrap=10).validate, "bootstrap"),
        (PlanOptions(saturation_fraction=1.0).validate, "saturation_fraction"),
        (PlanOptions(max_extrapolation=0.5).validate, "max_extrapolation"),
        (lambda: plan(pts, COST, math.nan, weights=W), "budget_gpu_hours"),
        (lambda: plan(pts, COST, 1e-6, weights=W, options=PlanOptions(bootstrap=0)),
         "budget_gpu_hours"),
        (lambda: plan([], COST, 1.0, weights=W), "pilots"),
        (lambda: plan(pts[:3], COST, 1.0, weights=W), "pilots"),
        (lambda: resolve_weights([], None), "pilots"),
        (lambda: resolve_weights(sets, None, only="x"), "eval_set"),
        (lambda: resolve_weights(sets, "c:test"), "weights"),
        (lambda: resolve_weights(sets, "in=1"), "weights"),
        (lambda: resolve_weights(sets, "x=1"), "weights"),
        (lambda: resolve_weights(sets, "c:test=0"), "weights"),
        (lambda: backtest(pts, 5000), "fit_max_scale"),
        (lambda: backtest(pts, 0), "fit_max_scale"),
        (lambda: backtest([*pts, PilotPoint("other", 5000, 0.5)], 2000), "fit_max_scale"),
        (lambda: COST.hours("c", 1), "augmenter"),
        (lambda: AugmenterCost("x", 0.0), "queries_per_hour"),
        (lambda: AugmenterCost("x", 1.0, acceptance=0.0), "acceptance"),
        (lambda: AugmenterCost("x", 1.0, cached=-1), "cached"),
        (lambda: CostModel({}, 0.0), "pairs_per_hour"),
        (lambda: CostModel({}, 1.0, embed_per_hour=0.0), "embed_per_hour"),
        (lambda: CostModel({}, 1.0, price_per_hour=-1.0), "price_per_hour"),
    ]
    for call, field in cases:
        assert _field_of(call) == field
        assert field in FIELDS
    # two inputs at once: no single field
    assert _field_of(resolve_weights, sets, "c:test=1", only="c:test") is None
    assert _field_of(lambda: plan(pts, CostModel({"other": AugmenterCost("other", 1.0)}, 1.0),
                                  1.0, weights=W, options=PlanOptions(bootstrap=0))) is None


def test_every_plan_error_raise_names_a_known_field() -> None:
    """Every ``PlanError(...)`` in the planner passes a field of FIELDS (or none at all) and no
    message text names a command-line flag."""
    calls = 0
    for path in Path(planner.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "PlanError"):
                continue
            calls += 1
            texts = [c.value for c in ast.walk(node.args[0])
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            assert not any("--" in t for t in texts), (path.name, node.lineno)
            assert len(node.args) <= 2 and not node.keywords, (path.name, node.lineno)
            if len(node.args) == 2:
                assert isinstance(node.args[1], ast.Constant), (path.name, node.lineno)
                assert node.args[1].value in FIELDS, (path.name, node.lineno)
    assert calls >= 25


def test_plan_error_pickles_with_its_field() -> None:
    err = pickle.loads(pickle.dumps(PlanError("risk 'x': use neutral or averse", "risk")))
    assert isinstance(err, ValueError)
    assert (str(err), err.field) == ("risk 'x': use neutral or averse", "risk")
    assert PlanError("no single input").field is None


# ------------------------------------------------------------------------------- properties

_FIXED = _points(RISING, seed=7)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.02, 5.0), st.floats(1.0, 4.0))
def test_monotonic_in_budget(budget: float, factor: float) -> None:
    opts = PlanOptions(bootstrap=0)
    small = plan(_FIXED, COST, budget, weights=W, options=opts)
    large = plan(_FIXED, COST, budget * factor, weights=W, options=opts)
    assert large.predicted_metric >= small.predicted_metric - 1e-12


@settings(max_examples=15, deadline=None)
@given(st.floats(0.02, 2.0), st.floats(1.0, 4.0))
def test_monotonic_in_budget_risk_averse(budget: float, factor: float) -> None:
    opts = PlanOptions(bootstrap=100, risk="averse")
    small = plan(_FIXED, COST, budget, weights=W, options=opts)
    large = plan(_FIXED, COST, budget * factor, weights=W, options=opts)
    assert large.ci_low >= small.ci_low - 1e-12


@settings(max_examples=30, deadline=None)
@given(st.floats(0.3, 0.8), st.floats(0.01, 0.15), st.floats(100.0, 1500.0))
def test_exp_fits_recover_random_curves(m_inf: float, gain: float, tau: float) -> None:
    theta = np.array([m_inf, gain, tau])
    y = FAMILIES["exp"].f(SCALES, theta)
    fit = fit_family("exp", SCALES, y)
    assert np.allclose(fit.predict(SCALES), y, atol=5e-4)
    assert fit.theta[0] == pytest.approx(m_inf, abs=0.005)


# ------------------------------------------------------------------ joint fits and intervals


def test_joint_fit_lets_a_sparse_augmenter_borrow_strength() -> None:
    """Two augmenters on one shape, the second's queries worth half the first's and measured
    at two small scales only: fitted jointly (AICc prefers a tie), its prediction 4x past its
    largest pilot is nearer the truth than its own fit's; the ties' weights sum to one."""
    from planner.joint import fit_joint

    shape = np.array([0.50, 0.10, 400.0, 0.8])  # power: m_inf, gain, n0, alpha
    rng = np.random.default_rng(5)
    pts = [PilotPoint("", 0, 0.40, 0, "r", "inpars", "c:dev")]
    for aug, k, scales in (("a", 1.0, (250, 500, 1000, 2000)), ("b", 0.5, (250, 500))):
        for s in scales:
            for sd in (0, 1):
                y = FAMILIES["power"].f(np.array([k * s]), shape)[0] + rng.normal(0, 0.001)
                pts.append(PilotPoint(aug, s, float(y), sd, "r", "inpars", "c:dev"))
    joint, _ = fit_curves(pts, PlanOptions(bootstrap=200))
    alone, _ = fit_curves(pts, PlanOptions(bootstrap=200, joint=False))
    by = {c.augmenter: c for c in joint}
    assert by["a"].joint and by["a"].joint == by["b"].joint
    assert by["b"].fit.criterion == "joint" and not any(c.joint for c in alone)
    truth = FAMILIES["power"].f(np.array([0.5 * 2000]), shape)[0]
    own = next(c for c in alone if c.augmenter == "b").fit.predict([2000])[0]
    shared = by["b"].fit.predict([2000])[0]
    assert abs(shared - truth) < abs(own - truth)
    jf = fit_joint({c.augmenter: c.fit for c in alone}, bootstrap=0)
    assert jf is not None and jf.best is not None
    assert sum(jf.weights.values()) == pytest.approx(1.0)


NEW_USER = ((0, (0.227,)), (100, (0.2371, 0.2329)), (200, (0.2395, 0.2352)),
            (400, (0.2413, 0.2447)))


def test_intervals_stay_inside_what_the_points_allow() -> None:
    """A small pilot (every trained point above zero-shot 0.227): no interval reaches below
    the lowest trained mean by more than its noise, and a saturation scale far past the
    pilots is "not determined" rather than a number."""
    pts = [PilotPoint("s" if n else "", n, v, sd) for n, vals in NEW_USER
           for sd, v in enumerate(vals)]
    cost = CostModel({"s": AugmenterCost("s", 3600.0)}, training_pairs_per_hour=900_000.0)
    p = plan(pts, cost, 1.0, weights={"": 1.0})
    fit = p.curves[0].fit
    floor = 0.2350 - 2 * fit.residual_sd / math.sqrt(2)
    grid = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])
    lo, _hi = fit.interval(grid)
    assert (lo >= floor - 1e-9).all() and (lo > 0.227).all()
    assert p.ci_low > 0.227 and p.ci_low <= p.predicted_metric <= p.ci_high
    sentence = next(line for line in p.explanation.splitlines() if "saturat" in line)
    assert "not determined" in sentence and "1,600" in sentence
    assert "never to never" not in p.explanation


def test_saturation_under_the_smallest_pilot_is_not_a_number() -> None:
    """Every trained point on one plateau (a step from zero-shot): the fit may put the
    saturation scale anywhere under the smallest pilot scale, which nothing measured speaks
    for; the explanation says it is reached by then instead of a number."""
    step = ((0, (0.477,)), (100, (0.512, 0.500)), (200, (0.487, 0.494)),
            (400, (0.503, 0.497)))
    pts = [PilotPoint("s" if n else "", n, v, sd) for n, vals in step
           for sd, v in enumerate(vals)]
    cost = CostModel({"s": AugmenterCost("s", 3600.0)}, training_pairs_per_hour=900_000.0)
    p = plan(pts, cost, 1.0, weights={"": 1.0})
    assert p.saturation_floor == 100 and p.saturation_scale < 100
    sentence = next(line for line in p.explanation.splitlines() if "saturat" in line)
    assert "by the smallest pilot scale, 100 queries" in sentence and "not determined" in sentence
    assert p.to_dict()["saturation_floor"] == 100


def test_spend_takes_the_largest_scale_as_good_as_the_best() -> None:
    """A flat curve past its first pilot: by default the plan takes the cheapest scale of the
    best prediction; with ``spend`` the largest affordable one predicted within the tolerance
    of it (at most the extrapolation limit), of the same configuration."""
    step = ((0, (0.40,)), (100, (0.506, 0.500)), (200, (0.501, 0.504)))
    pts = [PilotPoint("s" if n else "", n, v, sd) for n, vals in step
           for sd, v in enumerate(vals)]
    cost = CostModel({"s": AugmenterCost("s", 3600.0)}, training_pairs_per_hour=900_000.0)
    saved = plan(pts, cost, 1.0, weights={"": 1.0}, options=PlanOptions(bootstrap=0))
    spent = plan(pts, cost, 1.0, weights={"": 1.0},
                 options=PlanOptions(bootstrap=0, spend=True))
    assert saved.scale <= 200 and spent.scale == pytest.approx(800, rel=0.01)
    assert spent.augmenter == saved.augmenter
    assert spent.predicted_metric >= saved.predicted_metric - 0.003
    held = plan(pts, cost, 0.05, weights={"": 1.0}, options=PlanOptions(bootstrap=0, spend=True))
    assert held.cost_gpu_hours <= 0.05 and held.scale < 800  # never past the budget


def test_explanation_of_a_curve_still_rising() -> None:
    from planner.explain import _saturation

    p = plan(_points(RISING), COST, 0.3, weights=W, options=PlanOptions(bootstrap=100))
    p.saturation_scale, p.saturation_ci = math.inf, (math.inf, math.inf)
    assert _saturation(p) == "The fitted curve has not saturated: it is still rising."


def test_backtest_halves_on_measured_scifact_curves() -> None:
    """The measured SciFact grid (bench/results/pilots-scifact.csv): every scale N whose half
    holds a curve is predicted once; the summary is computed from the rows."""
    from engine.planning import read_pilots_csv
    from planner.backtest import backtest_halves, summary

    pts = read_pilots_csv(ROOT / "bench" / "results" / "pilots-scifact.csv")
    rows = []
    for r in ("minilm-l6", "static-minilm"):
        rows += backtest_halves([p for p in pts if p.retriever == r], PlanOptions(bootstrap=200))
    assert sorted({(r.augmenter, r.scale) for r in rows}) == [
        (a, s) for a in ("qwen2.5-0.5b", "smollm2-135m") for s in (1000, 2000)]
    assert len(rows) == 8
    s = summary(rows)
    assert s["median_abs_error"] == pytest.approx(float(np.median([abs(r.error) for r in rows])))
    assert 0 <= s["coverage"] <= 1 and s["median_abs_error"] < 0.03


def test_next_pilot_is_the_point_worth_most_regret_per_hour() -> None:
    """Two close rivals measured only up to 250 queries: the next point is a larger scale of
    one of them, with a positive expected regret reduction; when one augmenter is far ahead at
    every measured scale, no point is asked for."""
    same = CostModel({"small": AugmenterCost("small", 10_000.0),
                      "large": AugmenterCost("large", 10_000.0)},
                     training_pairs_per_hour=100_000.0)
    close = _points(RISING, scales=(0, 100, 250), seeds=(0, 1, 2), noise=0.004)
    p = plan(close, same, 0.3, weights=W, options=PlanOptions(bootstrap=400))
    assert p.stability is not None and p.stability < 0.9
    nxt = p.next_pilot
    assert nxt and nxt["scale"] and nxt["scale"] > 250, nxt
    assert 0 < nxt["regret_reduction"] <= nxt["expected_regret"]
    assert "regret" in nxt["reason"]
    apart = {"small": lambda n: 0.40 + 0.001 * min(n, 1),
             "large": lambda n: 0.40 + 0.10 * (1 - math.exp(-n / 100))}
    far = _points(apart, scales=(0, 100, 250, 500), seeds=(0, 1, 2), noise=0.001)
    p = plan(far, same, 0.1, weights=W, options=PlanOptions(bootstrap=400))
    assert p.augmenter == "large"
    assert p.next_pilot and p.next_pilot["scale"] is None, p.next_pilot


def test_extrapolation_spread_from_the_pilots_own_backtest() -> None:
    """Curves whose largest scale falls off what the smaller ones foretell get a spread per
    doubling, and intervals past the largest pilot widen with it; curves that keep their
    shape get (almost) none."""
    from planner.pilots import extrapolation_spread

    opts = PlanOptions(bootstrap=200, joint=False)
    kept = _points(RISING, scales=(0, 100, 200, 400, 800), noise=0.0005)
    curves, _ = fit_curves(kept, opts)
    assert extrapolation_spread([c.fit for c in curves], opts) < 0.003
    bent = {
        "small": lambda n: RISING["small"](n) + (0.03 if n >= 800 else 0.0),
        "large": lambda n: RISING["large"](n) + (0.03 if n >= 800 else 0.0),
    }
    broken, _ = fit_curves(_points(bent, scales=(0, 100, 200, 400, 800), noise=0.0005), opts)
    spread = extrapolation_spread([c.fit for c in broken], opts)
    assert spread > 0.01
    fit = broken[0].fit
    assert fit.discrepancy == pytest.approx(spread)
    lo, hi = fit.interval([800, 3200])
    assert hi[1] - lo[1] > hi[0] - lo[0] + spread  # two doublings past the largest pilot
