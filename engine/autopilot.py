"""The autopilot: pilots chosen by the plan inside a share of the budget, then the plan run.

1. **Start** with the cheapest informative points: zero-shot and every candidate augmenter at
   two small scales (``first_scale`` and twice it; by default the largest of
   ``FIRST_SCALES``, never under two training batches, that the pilot share buys; when it
   buys that for only some, the cheapest per query) with two seeds, on the dev split (a
   corpus without one is refused: choices never see the test split). The zero-shot point is
   measured first: it times one evaluation on dev, so the first points are priced with their
   generation, their evaluations and their training (at the retriever's last recorded
   training rate, when there is one) before they are bought (a transformer retriever's
   evaluations can cost far more than its queries). A share that buys none is refused.
2. **Loop**: fit the curves, plan with what is left of the budget, and measure the stability
   of the choice (the share of bootstrap draws in which it is within ``tolerance`` of the best
   option in contention, ``planner.Plan.stability``). Stop when it reaches ``stability`` (unless
   the choice sits at the plan's extrapolation cap while the budget buys more: then a pilot at
   twice the chosen augmenter's largest scale lifts the cap), when
   the planner has no point left to ask for, or when the next point would overrun the pilot
   share. Otherwise measure the point the planner names (``Plan.next_pilot``: the largest
   expected cut in the regret of the current choice per device-hour, ``planner.value``) and
   refit. Only the autopilot's own points are read and paid for. A point of the current
   choice (its augmenter and strategy, at most its scale: a cap-lifting point, say) generates
   queries the final run uses if the choice holds: their generation is an advance on the
   final run, paid from the budget but not from the pilot share (only the point's training
   and evaluation must fit there).
3. **Final run**: the plan's queries (generated through the cache), the retriever trained on
   them, evaluated on dev; only then is the test split unsealed and the final model evaluated
   on it (full evaluation).

Every pilot point goes through the pilots table and every query through the cache, so a
killed autopilot resumes where it stopped and a rerun computes nothing. The budget counts
generation (from the cost profiles) and the training and evaluation seconds the store
recorded for each point, in hours of this device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine import catalogue
from engine.autopilot_budget import (
    FIRST_SCALES,
    AutopilotRequest,
    PilotsUnaffordable,
    first_points,
    training_rate,
)
from engine.pilot import PilotRequest, run_pilot
from engine.splits import DEV, split_note
from store import Store
from store.errors import AugplanError

Event = Callable[[str], None]


@dataclass
class AutopilotReport:
    steps: list[dict[str, Any]] = field(default_factory=list)  # one per plan of the loop
    points: list[tuple[str, int]] = field(default_factory=list)  # (augmenter, scale) measured
    pilot_hours: float = 0.0  # every pilot point's cost, the advance included
    advance_hours: float = 0.0  # queries of the choice's own pilots, paid outside the share
    final_hours: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)
    dev_score: float | None = None
    test_score: float | None = None
    dev_set: str = ""
    test_set: str = ""
    stopped: str = ""
    warnings: list[str] = field(default_factory=list)
    every_candidate_hours: float | None = None  # the budget that pilots all, when some are not


def _validate(store: Store, r: AutopilotRequest) -> None:
    if not 0 < r.pilot_share < 1:
        raise AugplanError(f"--pilot-share {r.pilot_share:g}: give a share in (0, 1)")
    if not (math.isfinite(r.budget_hours) and r.budget_hours > 0):
        raise AugplanError("--budget-gpu-hours must be a positive number")
    if not r.augmenters:
        raise AugplanError("--augmenters: name at least one candidate augmenter")
    for a in r.augmenters:
        entry = catalogue.get_entry(a)
        if entry.kind != "augmenter":
            raise AugplanError(f"--augmenters: {a!r} is an {entry.kind}, not an augmenter")
    if r.final_seed in r.seeds:
        raise AugplanError(f"the final training seed {r.final_seed} is one of the pilots' seeds")
    if r.first_scale is not None and r.first_scale < 1:
        raise AugplanError("--first-scale must be at least 1")
    if DEV not in store.qrel_splits(r.corpus):
        raise AugplanError(
            f"corpus {r.corpus!r} has no dev split: the autopilot chooses on dev and keeps "
            "test for the final report",
            hint=f"carve one: augplan corpus split {r.corpus} --from train --dev 300 "
            "(or --from test)")


def _costs(store: Store, r: AutopilotRequest) -> Any:
    """The planner's cost model (profiles of the device), checked to cover every candidate."""
    from engine.planning import cost_model
    from engine.profiles import stored_profiles

    inputs = cost_model(stored_profiles(store), r.retriever, device=r.device, store=store,
                        corpus=r.corpus)
    missing = [a for a in r.augmenters if a not in inputs.model.augmenters]
    if missing:
        raise AugplanError(f"--augmenters: no cost profile for {', '.join(missing)}",
                           hint="measure it: augplan bench --augmenter NAME")
    return inputs.model


def _pilot_request(r: AutopilotRequest, augmenters: tuple[str, ...],
                   scales: tuple[int, ...], **kw: Any) -> PilotRequest:
    return PilotRequest(corpus=r.corpus, retriever=r.retriever, augmenters=augmenters,
                        scales=scales, seeds=r.seeds, evals=(f"{r.corpus}:{DEV}",),
                        eval_mode=r.eval_mode, nano_k=r.nano_k, human=False, train=r.train,
                        **kw)


def pilot_hours(store: Store, r: AutopilotRequest, cost: Any,
                points: Sequence[tuple[str, int]]) -> float:
    """Device-hours the autopilot's pilot points (``points``: (augmenter, scale), and
    zero-shot) cost: generating each candidate's queries up to its largest measured scale
    (cost profiles) plus the training and evaluation seconds the store recorded for each
    point. A point cached by an earlier run counts as if it were measured now: the budget is
    the same whether the store is fresh or not."""
    rows = _pilot_rows(store, r, points)
    seconds = sum(float(p["train_seconds"]) + float(p["eval_seconds"]) for p in rows)
    hours = seconds / 3600
    for a in r.augmenters:
        top = max((int(p["scale"]) for p in rows if p["augmenter"] == a), default=0)
        hours += _generation_hours(cost, a, top)
    return hours


def _pilot_rows(store: Store, r: AutopilotRequest,
                points: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The autopilot's own pilot points in the store: zero-shot and the (augmenter, scale)
    pairs it measured, on dev, in the pilots' evaluation mode and seeds. Other points of the
    store (earlier pilots, the final model trained with ``final_seed``) are neither read nor
    paid for, so a run on a used store chooses and spends as on a fresh one."""
    mine = set(points)
    return [p for p in store.pilots(corpus=r.corpus, retriever=r.retriever)
            if p["eval_set"] == f"{r.corpus}:{DEV}" and p["eval_mode"] == _mode_label(r)
            and (p["kind"] == "zero-shot"
                 or (p["kind"] == "synthetic" and p["seed"] in r.seeds
                     and (p["augmenter"], int(p["scale"])) in mine))]


def _generation_hours(cost: Any, augmenter: str, n: float) -> float:
    """Hours to generate (and filter) the queries n accepted pairs need, cached or not."""
    parts = cost.with_cached().breakdown(augmenter, n)
    return parts["generation"] + parts["filtering"]


def _plan(store: Store, r: AutopilotRequest, cost: Any, budget: float,
          mine: Sequence[tuple[str, int]]) -> Any:
    """The plan from the autopilot's own pilot points (``mine``, dev split) for ``budget``
    hours. It spends the budget (``PlanOptions.spend``): scales the pilots predict as good as
    the best are not a saving but data no pilot has shown useless."""
    from engine.planning import load_points, planner_errors, split_label
    from planner import PlanOptions, plan

    points, _ = load_points(store, corpus=r.corpus, retriever=r.retriever,
                            eval_mode=_mode_label(r), augmenters=r.augmenters)
    dev = f"{r.corpus}:{DEV}"
    own = set(mine)
    points = [p for p in points if p.eval_set == dev
              and split_label(p.augmenter)[1] == 1  # its pilots are one query per passage
              and (p.kind == "zero-shot"
                   or (p.seed in r.seeds and (p.augmenter, int(p.scale)) in own))]
    cost = _own_cost(r, cost, mine)
    with planner_errors():
        return plan(points, cost, budget, weights={dev: 1.0},
                    options=PlanOptions(tolerance=r.tolerance, spend=True))


def _own_cost(r: AutopilotRequest, cost: Any, mine: Sequence[tuple[str, int]]) -> Any:
    """The cost model the plans use: with ``fresh_cache``, only the pilots' own queries are in
    hand (the largest scale of each piloted augmenter)."""
    if not r.fresh_cache:
        return cost
    return cost.with_cached({a: max(n for b, n in mine if b == a) for a, _ in mine})


def _continuations(r: AutopilotRequest, cost: Any,
                   mine: Sequence[tuple[str, int]]) -> tuple[float, float]:
    """(cheapest, dearest) final run at a scale the pilots generated, no new queries: what the
    budget left must buy for the plan to have a choice; the dearest is what the final run
    costs at most once the pilots have spent the whole budget (any measured scale may be
    chosen)."""
    own = _own_cost(r, cost, mine)
    hours = [own.hours(a, n) for a, n in mine] or [0.0]
    return min(hours), max(1e-9, max(hours))


def _mode_label(r: AutopilotRequest) -> str:
    return f"nano{r.nano_k}" if r.eval_mode == "nano" else "full"


@dataclass(frozen=True)
class _Where:
    """Where pilots run: the models folder, and the Ray cluster (None: this process)."""

    models: Path | None
    cluster: str | None


def run_autopilot(store: Store, r: AutopilotRequest, *, models_dir: Path | None = None,
                  on_event: Event | None = None, cluster: str | None = None) -> AutopilotReport:
    """Pilots, plan and final run inside the budget; see the module's description. With
    ``cluster`` (a Ray address) every batch of points (generation, then each point as a task)
    runs there; the points are still chosen one after the other."""
    say = on_event or (lambda m: None)
    where = _Where(models_dir, cluster)
    _validate(store, r)
    pilot_cap = r.pilot_share * r.budget_hours
    first_points(store, r, pilot_cap)  # a share whose generation alone overruns: refused
    report = AutopilotReport(dev_set=split_note(store, f"{r.corpus}:{DEV}"))
    with store.sealed(r.corpus, "test"):
        # the zero-shot point first: it times an evaluation on dev, the pilots' largest cost
        # with a transformer retriever, so the first points are priced before they are bought
        say(f"zero-shot on {report.dev_set}: it prices the pilots' evaluations")
        run_pilot(store, _pilot_request(r, (), (1,)), models_dir=where.models, on_event=say,
                  cluster=where.cluster)
        zero = _pilot_rows(store, r, [])
        per_eval = max((float(p["eval_seconds"]) for p in zero), default=0.0)
        spent = sum(float(p["train_seconds"]) + float(p["eval_seconds"]) for p in zero)
        start = first_points(store, r, pilot_cap, eval_hours=per_eval / 3600,
                             spent=spent / 3600, train_rate=training_rate(store, r))
        r = replace(r, first_scale=start.scale, augmenters=start.piloted)
        report.warnings += start.warnings
        report.every_candidate_hours = start.every_hours
        for w in start.warnings:
            say(f"warning: {w}")
        say(f"starting pilots: zero-shot and {', '.join(r.augmenters)} at "
            f"{r.first_scale} and {2 * r.first_scale} queries on {report.dev_set}")
        run_pilot(store, _pilot_request(r, r.augmenters, (r.first_scale, 2 * r.first_scale)),
                  models_dir=where.models, on_event=say, cluster=where.cluster)
        report.points += [(a, s) for a in r.augmenters for s in (r.first_scale,
                                                                 2 * r.first_scale)]
        cost = _costs(store, r)  # after the first points, which record the training rate
        result = _loop(store, r, cost, pilot_cap, report, where, say)
        report.plan = {"augmenter": result.augmenter, "strategy": result.strategy,
                       "scale": result.scale, "predicted": result.predicted_metric,
                       "ci": [result.ci_low, result.ci_high], "stability": result.stability,
                       "cost_hours": result.cost_gpu_hours}
    # the choice is made: the final model is evaluated on dev and, once, on the test split
    report.test_set = split_note(store, f"{r.corpus}:test")
    scores = _final(store, r, result, where, say)
    report.dev_score = scores[f"{r.corpus}:{DEV}"]
    report.test_score = scores[f"{r.corpus}:test"]
    report.final_hours = _final_hours(store, r, result, cost, report)
    return report


def _loop(store: Store, r: AutopilotRequest, cost: Any, pilot_cap: float,
          report: AutopilotReport, where: _Where, say: Event) -> Any:
    """Add the planner's next point until the choice is stable or the pilot share is spent;
    returns the last plan."""
    for step in range(r.max_points + 1):
        spent = pilot_hours(store, r, cost, report.points)
        report.pilot_hours = spent
        if step == 0 and spent > pilot_cap:
            report.warnings.append(
                f"the first points cost {spent:.3g} h, over the pilot share ({pilot_cap:.3g} h): "
                "their training and evaluation were priced before they were measured (training "
                "at the retriever's last recorded rate, if any); the final run gets what is "
                "left of the budget")
            say(f"warning: {report.warnings[-1]}")
        left = r.budget_hours - spent
        cheapest, dearest = _continuations(r, cost, report.points)
        spent_all = left <= 0 or left < cheapest  # no final run even on the pilots' queries
        if spent_all:
            report.warnings.append(
                f"the pilots cost {spent:.3g} h of the budget ({r.budget_hours:.3g} h), which "
                f"leaves no final run: it is bought on top ({dearest:.3g} h at most), from the "
                "queries the pilots generated")
            say(f"warning: {report.warnings[-1]}")
        result = _plan(store, r, cost, dearest if spent_all else left, report.points)
        nxt = result.next_pilot or {}
        choice = f"{result.augmenter} n={result.scale:,}" if result.scale else "zero-shot"
        report.steps.append({"choice": choice,
                             "predicted": result.predicted_metric,
                             "stability": result.stability, "pilot_hours": spent,
                             "next": nxt.get("scale") and f"{nxt['augmenter']} n={nxt['scale']}"})
        say(f"choice {report.steps[-1]['choice']} (predicted {result.predicted_metric:.4f}, "
            f"stable in {100 * (result.stability or 0):.0f}% of refits); pilots spent "
            f"{spent - report.advance_hours:.3g} of {pilot_cap:.3g} h"
            + (f" (and {report.advance_hours:.3g} h advanced to the final run's queries)"
               if report.advance_hours else ""))
        if spent_all:
            report.stopped = "the pilots spent the whole budget"
            return result
        if (result.stability or 0) >= r.stability:
            lift = _lift_cap(r, cost, result, report.points, left)
            if lift is None:
                report.stopped = f"the choice is stable (>= {r.stability:.0%} of refits)"
                return result
            nxt = lift
        if not nxt.get("scale"):
            report.stopped = "the planner asks for no further point"
            return result
        aug, scale = nxt["augmenter"], int(nxt["scale"])
        have = max((n for a, n in report.points if a == aug), default=0)
        gen = _generation_hours(cost, aug, scale) - _generation_hours(cost, aug, have)
        fit = (len(r.seeds) * scale * r.train.epochs / cost.training_pairs_per_hour
               + _eval_hours(store, r, report.points))
        ahead = ((aug, nxt["strategy"]) == (result.augmenter, result.strategy)
                 and scale <= result.scale)  # queries the final run uses
        over = overrun(spent, report.advance_hours, gen, fit, advance=ahead,
                       pilot_cap=pilot_cap, budget=r.budget_hours)
        if over:
            report.stopped = (f"the next point ({aug} n={scale}, ~{gen + fit:.3g} h"
                              f"{f', of which {gen:.3g} h an advance' if ahead else ''}) would "
                              f"overrun the {over}")
            return result
        say(f"next pilot point: {aug} at {scale} queries ({nxt.get('reason', '')})")
        run_pilot(store, _pilot_request(r, (aug,), (scale,), strategy=nxt["strategy"]),
                  models_dir=where.models, on_event=say, cluster=where.cluster)
        report.points.append((aug, scale))
        report.advance_hours += gen if ahead else 0.0
    report.stopped = f"{r.max_points} points added"
    return result


def overrun(spent: float, advanced: float, gen: float, fit: float, *, advance: bool,
            pilot_cap: float, budget: float) -> str | None:
    """What a next pilot point would overrun ("pilot share", "budget"), or None. ``spent``:
    the pilots' hours so far, of which ``advanced`` went to queries of the choice's own
    points; the point costs ``gen`` hours of new queries and ``fit`` of training and
    evaluation. A point of the current choice (its augmenter and strategy, at most its scale)
    generates queries the final run uses if the choice holds (``advance``): their generation
    is paid from the budget, not the share; any other point's from the share."""
    if spent - advanced + fit + (0.0 if advance else gen) > pilot_cap:
        return "pilot share"
    return "budget" if spent + gen + fit > budget else None


def _lift_cap(r: AutopilotRequest, cost: Any, result: Any,
              points: Sequence[tuple[str, int]], left: float) -> dict[str, Any] | None:
    """The point that lifts the plan's extrapolation cap, or None. A choice that sits at the
    cap (``max_extrapolation`` times its augmenter's largest pilot scale) while the budget
    left buys more of it is stable only among the scales the plan may extrapolate to: a pilot
    at twice that largest scale moves the cap (and its queries serve the final run)."""
    limit = getattr(result, "saturation_limit", None)
    top = max((n for a, n in points if a == result.augmenter), default=0)
    if not (result.scale and limit and top and math.isclose(result.scale, limit, rel_tol=0.01)):
        return None
    if _own_cost(r, cost, points).max_scale(result.augmenter, left) <= 1.01 * result.scale:
        return None
    return {"augmenter": result.augmenter, "strategy": result.strategy, "scale": 2 * top,
            "reason": f"the choice sits at the extrapolation cap ({result.scale:,} queries, "
                      f"{result.scale / top:g}x the largest pilot) while the budget buys more: "
                      "a larger pilot lifts the cap"}


def _eval_hours(store: Store, r: AutopilotRequest,
                points: Sequence[tuple[str, int]]) -> float:
    rows = _pilot_rows(store, r, points)
    per = sum(float(p["eval_seconds"]) for p in rows) / max(len(rows), 1)
    return len(r.seeds) * per / 3600


def _final(store: Store, r: AutopilotRequest, result: Any, where: _Where,
           say: Event) -> dict[str, float]:
    """The plan's retriever (seed ``final_seed``), trained once and evaluated on dev as the
    pilots were (so the prediction and the measurement compare; a scale the pilots measured
    is reused) and in full on test. Both are points of the pilots table, so a rerun reuses
    them. Returns nDCG@10 by eval set."""
    if result.scale == 0:
        request = _pilot_request(r, (), (1,))
    else:
        request = _pilot_request(r, (result.augmenter,), (int(result.scale),),
                                 strategy=result.strategy)
    request = replace(request, seeds=(r.final_seed,),
                      evals=(f"{r.corpus}:{DEV}", f"{r.corpus}:test"),
                      eval_modes=(r.eval_mode, "full"))
    say(f"final run: {result.augmenter if result.scale else 'zero-shot'} n={result.scale}")
    want = "zero-shot" if result.scale == 0 else "synthetic"
    rep = run_pilot(store, request, models_dir=where.models, on_event=say,
                    cluster=where.cluster)
    return {p["eval_set"]: float(p["ndcg_at_10"]) for p in rep.points if p["kind"] == want}


def _final_hours(store: Store, r: AutopilotRequest, result: Any, cost: Any,
                 report: AutopilotReport) -> float:
    """Generation of the queries past the pilots' plus the final training. Its evaluations are
    the report, which a fixed recipe's final model needs as well: not charged to the budget."""
    if result.scale == 0:
        return 0.0
    rows = [p for p in store.pilots(corpus=r.corpus, retriever=r.retriever, kind="synthetic")
            if p["augmenter"] == result.augmenter and p["scale"] == result.scale
            and p["eval_mode"] == "full" and p["seed"] == r.final_seed
            and p["eval_set"] == f"{r.corpus}:test"]
    piloted = max((s for a, s in report.points if a == result.augmenter), default=0)
    gen = _generation_hours(cost, result.augmenter, max(result.scale - piloted, 0))
    train = max((float(p["train_seconds"]) for p in rows), default=0.0)
    return gen + train / 3600


__all__ = ["FIRST_SCALES", "AutopilotReport", "AutopilotRequest", "PilotsUnaffordable",
           "pilot_hours", "run_autopilot"]
