"""The autopilot end to end on real components (SciFact with a carved dev split, SmolLM2-135M
queries, the static retriever): pilots on dev only, the test split read once after the choice,
the budget counted, a rerun that computes nothing; bad input exits 2."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from engine import profiles, splits
from engine.autopilot import AutopilotRequest, run_autopilot
from engine.datasets import locate
from store import Store
from store import corpus as corpus_io
from tests.helpers import PROFILES, make_env, run, user_error

SMOL = "smollm2-135m"


class _Recording(Store):
    """A store that logs every qrels read (by split) into a shared event list."""

    def __init__(self, path: Path, log: list[str]) -> None:
        super().__init__(path)
        self.log = log

    def qrels(self, corpus: str, split: str | None = None, *, positive: bool = False):
        self.log.append(f"qrels {split}")
        return super().qrels(corpus, split, positive=positive)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("autopilot")
    store = Store(root / "store")
    store.import_corpus("scifact", corpus_io.detect(locate("scifact", data_dir)))
    splits.carve(store, "scifact", source="train", n=100, seed=0)
    toml = root / "profiles.toml"
    toml.write_text(PROFILES)
    profiles.import_profiles(store, toml)
    return root / "store", toml


REQUEST = AutopilotRequest(corpus="scifact", retriever="static-minilm", augmenters=(SMOL,),
                           budget_hours=0.05, pilot_share=0.5, first_scale=24, seeds=(0, 1),
                           eval_mode="nano", nano_k=5, max_points=1)


def test_autopilot_chooses_on_dev_and_reads_test_once(setup: tuple[Path, Path],
                                                      models_dir: Path) -> None:
    log: list[str] = []
    store = _Recording(setup[0], log)
    report = run_autopilot(store, REQUEST, models_dir=models_dir,
                           on_event=lambda m: log.append(m))
    final = next(i for i, e in enumerate(log) if e.startswith("final run:"))
    reads_before = [e for e in log[:final] if e.startswith("qrels")]
    assert "qrels dev" in reads_before and "qrels test" not in reads_before
    assert "qrels test" in log[final:]
    # the final model is trained once for its evaluations on dev and on test
    trained = [e for e in log[final:] if "training on" in e]
    assert len(trained) == (1 if report.plan["scale"] else 0), trained
    # every pilot point was measured on dev; the final model on dev and test in full
    points = store.pilots(corpus="scifact", retriever="static-minilm")
    pilots = [p for p in points if p["eval_mode"] == "nano5"]
    assert pilots and {p["eval_set"] for p in pilots} == {"scifact:dev"}
    finals = [p for p in points if p["eval_mode"] == "full"]
    assert {p["eval_set"] for p in finals} == {"scifact:test"}
    assert report.steps and report.stopped
    assert (SMOL, 24) in report.points and (SMOL, 48) in report.points
    # the share: the first points' training and evaluation time is known only once measured
    # (they may overrun it, and then say so); no point is bought past it
    cap = REQUEST.pilot_share * REQUEST.budget_hours
    first = report.steps[0]["pilot_hours"]
    assert 0 < first <= report.pilot_hours
    assert any("over the pilot share" in w for w in report.warnings) == (first > cap)
    assert len(report.points) == 2 or first < cap
    assert report.final_hours >= 0
    assert 0 < report.dev_score < 1 and 0 < report.test_score < 1
    assert report.test_set == "scifact:test" and "carved out of train" in report.dev_set
    assert "under two training batches" in report.warnings[0]  # 24 pairs at batch 32
    assert report.plan["scale"] == 0 or report.plan["augmenter"] == SMOL
    # a rerun is instant: everything comes from the pilots table and the cache
    again: list[str] = []
    rerun = run_autopilot(Store(setup[0]), REQUEST, models_dir=models_dir,
                          on_event=again.append)
    assert not any("training on" in e or "generating" in e for e in again), again
    assert len(Store(setup[0]).pilots(corpus="scifact")) == len(points)
    assert (rerun.plan, rerun.test_score) == (report.plan, report.test_score)
    # points the autopilot did not measure (earlier pilots of the store) are neither read nor
    # paid for: a striking foreign point at a new scale changes nothing
    foreign = [dict(p, point_id=f"foreign-{p['seed']}", scale=400, ndcg_at_10=0.99)
               for p in pilots if p["kind"] == "synthetic" and p["scale"] == 48]
    assert Store(setup[0]).add_pilots(foreign) == len(foreign) > 0
    third = run_autopilot(Store(setup[0]), REQUEST, models_dir=models_dir)
    assert (third.plan, third.points) == (report.plan, report.points)
    assert third.pilot_hours == pytest.approx(report.pilot_hours)


def _first_price(store: Store, r: AutopilotRequest) -> tuple[float, float]:
    """(price, measured) device-hours of the first points of ``r`` once measured in the
    module's store: what the autopilot prices them at before buying them (generation, the
    zero-shot point's evaluation time for each evaluation, and training at the retriever's
    latest recorded rate), and what they cost once measured."""
    from engine.autopilot import _costs, _pilot_rows, pilot_hours

    rate = tomllib.loads(PROFILES)["augmenters"][SMOL]["queries_per_hour"]
    zero = _pilot_rows(store, r, [])
    each = max(float(p["eval_seconds"]) for p in zero)
    zero_cost = sum(float(p["train_seconds"]) + float(p["eval_seconds"]) for p in zero)
    cost = _costs(store, r)
    pairs = len(r.seeds) * 3 * r.first_scale * r.train.epochs  # both scales, every seed
    price = (2 * r.first_scale / rate + pairs / cost.training_pairs_per_hour
             + (zero_cost + 4 * each) / 3600)
    first = [(SMOL, r.first_scale), (SMOL, 2 * r.first_scale)]
    return price, pilot_hours(store, r, cost, first)


def test_first_points_priced_with_their_evaluations(setup: tuple[Path, Path],
                                                    models_dir: Path) -> None:
    """A share that buys the first points' queries but not their training and evaluations on
    dev (timed on the zero-shot point, measured first) is refused before any of them is
    bought, with the budget that would buy them."""
    from store.errors import AugplanError

    store = Store(setup[0])
    run_autopilot(store, REQUEST, models_dir=models_dir)  # cached after the first test
    floor, _ = _first_price(store, REQUEST)
    rate = tomllib.loads(PROFILES)["augmenters"][SMOL]["queries_per_hour"]
    gen = 2 * REQUEST.first_scale / rate
    tight = replace(REQUEST, pilot_share=0.9, budget_hours=(gen + (floor - gen) / 2) / 0.9)
    before = len(store.pilots(corpus="scifact"))
    with pytest.raises(AugplanError) as err:
        run_autopilot(store, tight, models_dir=models_dir)
    msg = str(err.value)
    assert "cannot buy the smallest pilot" in msg and "to generate, train and evaluate" in msg
    assert "4 dev evaluations" in msg and "timed on the zero-shot point" in msg
    assert "the latest rate recorded for static-minilm" in msg
    # the budget that buys them: a tenth to spare, rounded up (by at most a tenth)
    need = float(msg.split("--budget-gpu-hours to at least ")[1].split(" ")[0])
    assert 1.1 * floor / 0.9 <= need <= 1.1 * 1.1 * floor / 0.9
    assert err.value.need_hours == need
    assert "--pilot-share to" not in msg  # they cost more than the whole budget: no share buys
    assert len(store.pilots(corpus="scifact")) == before  # nothing bought


def test_pilots_that_cost_the_whole_budget(setup: tuple[Path, Path], models_dir: Path,
                                          tmp_path: Path) -> None:
    """The first points' training is priced at the retriever's latest recorded rate; when
    that rate is far faster than this run's (one recorded elsewhere), a budget whose share
    buys their price but whose whole is spent once their training is measured (300 epochs or
    more: minutes, against evaluations of a second, or of many on a busy machine, where the
    zero-shot evaluation that prices them was timed). The autopilot stops adding points, says
    so, and still trains and reports a choice among the queries the pilots generated (it
    used to fail planning for a budget of nothing)."""
    import shutil

    from engine.autopilot import _pilot_request
    from engine.device import device_name
    from engine.pilot import TrainConfig, run_pilot
    from engine.profiles import TrainingProfile
    from store import now

    # training that outweighs the rest: 300 epochs, or more where the zero-shot evaluation
    # that prices the points' evaluations was timed slow (a busy machine)
    for epochs in (300, 600, 1200):
        slow = replace(REQUEST, train=TrainConfig(epochs=epochs))
        for augs, scales in (((), (1,)), ((SMOL,), (24, 48))):  # its zero-shot, first points
            run_pilot(Store(setup[0]), _pilot_request(slow, augs, scales), models_dir=models_dir)
        copy = tmp_path / f"store-{epochs}"
        shutil.copytree(setup[0], copy)  # the module's store keeps its true rate
        store = Store(copy)
        store.add_profile(TrainingProfile(retriever="static-minilm", device=device_name(),
                                          pairs_per_s=1e6, pairs_per_hour=3.6e9, batch_size=32,
                                          max_seq_length=256, measured_at=now()).to_row())
        floor, measured = _first_price(store, slow)
        if measured > 1.01 * floor:  # the case under test: the points' training is on top
            break
    else:
        pytest.fail(f"{epochs} epochs of the first points ({measured:.4g} h) do not outweigh "
                    f"their priced evaluations ({floor:.4g} h)")
    budget = (floor + measured) / 2
    tight = replace(slow, pilot_share=min(floor * (1 + 1e-6) / budget, 0.999),
                    budget_hours=budget)
    report = run_autopilot(store, tight, models_dir=models_dir)
    assert report.steps[0]["pilot_hours"] == pytest.approx(measured)
    assert report.stopped == "the pilots spent the whole budget"
    assert any("leaves no final run" in w and "from the queries the pilots generated" in w
               for w in report.warnings)
    assert report.points == [(SMOL, 24), (SMOL, 48)] and len(report.steps) == 1
    assert report.plan["scale"] in (0, 24, 48)
    assert 0 < report.dev_score < 1 and 0 < report.test_score < 1


def test_autopilot_refuses_bad_input(setup: tuple[Path, Path], models_dir: Path,
                                     tmp_path: Path, data_dir: Path) -> None:
    env = make_env(setup[0], models_dir)
    base = ["autopilot", "--corpus", "scifact", "--augmenters", SMOL]
    msg = user_error(run([*base[:3], "--augmenters", "nosuch", "--budget-gpu-hours", "1"], env))
    assert "nosuch" in msg
    msg = user_error(run([*base, "--budget-gpu-hours", "1", "--pilot-share", "1.5"], env))
    assert "--pilot-share 1.5: give a share in (0, 1)" in msg
    msg = user_error(run([*base, "--budget-gpu-hours", "0.0000001"], env))
    assert "cannot buy the smallest informative pilot" in msg
    msg = user_error(run([*base, "--budget-gpu-hours", "0.0000001", "--first-scale", "5"], env))
    assert "cannot buy the smallest pilot: 10 queries of each candidate" in msg
    fresh = make_env(tmp_path / "s", models_dir, data_dir)
    assert run(["corpus", "import", "scifact"], fresh).returncode == 0
    msg = user_error(run([*base, "--budget-gpu-hours", "1"], fresh))
    assert "has no dev split" in msg and "augplan corpus split" in msg


@pytest.mark.anyio
async def test_tui_autopilot(setup: tuple[Path, Path], models_dir: Path) -> None:
    """The Plan pane's a: the autopilot as a job process, its points and choices (with their
    stability) landing in the log; on the store of the run above it recomputes nothing."""
    from textual.widgets import Input, Log, SelectionList

    from tests.tui.test_tui import errors, settle
    from tui.app import AugplanApp

    app = AugplanApp(setup[0], models_dir)
    async with app.run_test(size=(100, 40)) as tui:
        await settle(tui)
        app.action_show_tab("plan")
        pane = app.query_one("#plan-pane")
        pane.query_one("#plan-augmenters", SelectionList).select(SMOL)
        pane._set_select("#plan-retriever", "static-minilm")
        app.query_one("#plan-budget", Input).value = str(REQUEST.budget_hours)
        pane.autopilot_settings = {"pilot_share": REQUEST.pilot_share,
                                   "first_scale": REQUEST.first_scale,
                                   "seeds": list(REQUEST.seeds), "nano_k": REQUEST.nano_k,
                                   "max_points": REQUEST.max_points}
        await tui.press("a")
        await settle(tui, timeout=900)
        assert not errors(app)
        log = "\n".join(app.query_one("#plan-log", Log).lines)
        assert "autopilot: starting pilots" in log and "of refits" in log
        assert "autopilot: done:" in log and "test" in log
        assert "training on" not in log  # every point came from the pilots table


def test_first_points_are_informative_and_cheapest_first(tmp_path: Path) -> None:
    """Without --first-scale the first points are never under two training batches; when the
    pilot share cannot buy them for every candidate, the cheapest per query are piloted."""
    from engine.autopilot_budget import PilotsUnaffordable, first_points, round_up

    store = Store(tmp_path / "s")
    toml = tmp_path / "p.toml"
    toml.write_text("".join(f'[augmenters.{a}]\nqueries_per_hour = {q}\ndevice = "x"\n\n'
                            for a, q in (("fast", 3600), ("mid", 1800), ("slow", 600))))
    profiles.import_profiles(store, toml)
    r = AutopilotRequest(corpus="c", retriever="r", augmenters=("slow", "fast", "mid"),
                         budget_hours=1.0)
    every = first_points(store, r, 2.0)
    assert (every.scale, every.piloted, every.warnings, every.every_hours) == (
        200, ("slow", "fast", "mid"), [], None)
    some = first_points(store, r, 0.15)  # 128 queries: fast+mid 0.107 h, +slow 0.32
    assert (some.scale, some.piloted) == (64, ("fast", "mid"))
    warnings = some.warnings
    assert "not piloted, so not chosen: slow" in warnings[0]
    # 128 queries of each: 0.32 h, over a share of 0.25; with a tenth to spare, 1.408 h
    assert "a budget of 1.5 h at --pilot-share 0.25 pilots every candidate" in warnings[0]
    assert some.every_hours == 1.5  # the same figure, for reports that read it
    with pytest.raises(PilotsUnaffordable, match="smallest informative pilot: 128 queries") as err:
        first_points(store, r, 0.01)
    # 128/3600 h, with a tenth to spare: 0.0391 h, at a share of 0.25 or of a 1 h budget
    assert "at least 0.16 (at --pilot-share 0.25)" in str(err.value)
    assert "or --pilot-share to at least 0.04 (at 1 h)" in str(err.value)
    assert err.value.need_hours == 0.16 and err.value.exit_code == 2
    assert err.value.need_share == 0.04
    assert [round_up(x) for x in (0.202, 0.2, 0.0356, 1234.0)] == [0.21, 0.2, 0.036, 1300.0]
    # the first points' training is priced at the retriever's own rate, never another's
    from engine.autopilot_budget import training_rate
    from engine.profiles import TrainingProfile

    def rate(name: str, per_hour: float, when: str) -> None:
        store.add_profile(TrainingProfile(retriever=name, device="x", pairs_per_s=per_hour / 3600,
                                          pairs_per_hour=per_hour, batch_size=32,
                                          max_seq_length=256, measured_at=when).to_row())

    rate("other", 1000.0, "2026-01-01T00:00:00+00:00")
    assert training_rate(store, r) is None
    rate("r", 7200.0, "2026-01-02T00:00:00+00:00")
    rate("r", 3600.0, "2026-01-03T00:00:00+00:00")  # the latest
    assert training_rate(store, r) == 3600.0
    with_training = first_points(store, r, 0.15, train_rate=3600.0)  # 2 x 192 pairs: +0.107 h
    assert (with_training.scale, with_training.piloted) == (64, ("fast",))


def test_a_choice_at_the_extrapolation_cap_asks_for_a_larger_pilot() -> None:
    """A choice is stable only among the scales the plan may extrapolate to: one at the cap
    (4x the largest pilot) while the budget buys more asks for a pilot at twice the largest
    scale; one the budget holds under the cap asks for none."""
    import math

    import numpy as np

    from engine.autopilot import _lift_cap
    from planner import AugmenterCost, CostModel, PilotPoint, PlanOptions, plan

    rng = np.random.default_rng(0)
    points = [PilotPoint("" if s == 0 else "a", s,
                         0.40 + 0.05 * (1 - math.exp(-s / 600)) + rng.normal(0, 0.001), seed,
                         "r", "inpars", "c:dev")
              for s in (0, 64, 128) for seed in (0, 1)]
    cost = CostModel({"a": AugmenterCost("a", 3600.0)}, training_pairs_per_hour=100_000.0)
    r = AutopilotRequest(corpus="c", retriever="r", augmenters=("a",), budget_hours=1.0)
    mine = [("a", 64), ("a", 128)]
    options = PlanOptions(bootstrap=0)
    capped = plan(points, cost, 0.5, weights={"c:dev": 1.0}, options=options)  # ~1,800 queries
    assert capped.scale == pytest.approx(4 * 128, rel=0.01)
    lift = _lift_cap(r, cost, capped, mine, 0.5)
    assert lift is not None and (lift["augmenter"], lift["scale"]) == ("a", 256)
    assert "extrapolation cap" in lift["reason"]
    held = plan(points, cost, 0.05, weights={"c:dev": 1.0}, options=options)  # ~180 queries
    assert held.scale < 4 * 128 and _lift_cap(r, cost, held, mine, 0.05) is None


def test_a_pilot_of_the_choice_pays_its_queries_from_the_budget_not_the_share() -> None:
    """A pilot of the current choice (a cap-lifting one, say) generates queries the final run
    uses: only its training and evaluation must fit in the pilot share; the budget must hold
    all of it. Any other point pays its queries from the share, and the share ignores what
    earlier such points advanced."""
    from engine.autopilot import overrun

    share = {"pilot_cap": 0.125, "budget": 0.5}
    # 0.113 h spent, a point of 0.043 h of queries and 0.002 h of training and evaluation
    assert overrun(0.113, 0.0, 0.043, 0.002, advance=False, **share) == "pilot share"
    assert overrun(0.113, 0.0, 0.043, 0.002, advance=True, **share) is None
    assert overrun(0.113, 0.0, 0.043, 0.02, advance=True, **share) == "pilot share"
    assert overrun(0.113, 0.0, 0.40, 0.002, advance=True, **share) == "budget"
    # after a lift that advanced 0.043 h: a second lift fits, a plain point still does not
    assert overrun(0.158, 0.043, 0.086, 0.004, advance=True, **share) is None
    assert overrun(0.158, 0.043, 0.086, 0.004, advance=False, **share) == "pilot share"
    assert overrun(0.158, 0.043, 0.0, 0.004, advance=False, **share) is None
