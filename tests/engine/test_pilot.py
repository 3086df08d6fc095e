"""Pilot runs end to end on real data: SciFact, SmolLM2-135M queries, the static retriever
(trains in seconds), nano evaluation; metrics checked against known values; reruns reuse."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

import pytest

from engine import evaluate, pilot
from engine.datasets import locate
from store import Selection, Store
from store import corpus as corpus_io
from store.errors import AugplanError
from tests.helpers import make_env, ok, run, user_error

SMOL = "smollm2-135m"


def test_metrics_on_a_hand_made_case() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}, "q3": {"d9": 1}}
    run_ = {
        "q1": {"d1": 0.9, "d5": 0.1},  # relevant at rank 1
        "q2": {"d4": 0.9, "d2": 0.8, "d6": 0.7, "d3": 0.6},  # relevant at ranks 2 and 4
        "q3": {},  # nothing retrieved
    }
    m = evaluate.metrics_for(qrels, run_)
    ndcg_q2 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert m["ndcg@10"] == pytest.approx((1 + ndcg_q2 + 0) / 3)
    assert m["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["recall@100"] == pytest.approx((1 + 1 + 0) / 3)


def test_parse_eval() -> None:
    assert evaluate.parse_eval("scifact:test") == ("scifact", "test")
    assert evaluate.parse_eval("nfcorpus") == ("nfcorpus", "test")
    with pytest.raises(AugplanError, match="NAME:SPLIT"):
        evaluate.parse_eval(":test")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Store:
    s = Store(tmp_path_factory.mktemp("pilot") / "store")
    s.import_corpus("scifact", corpus_io.detect(locate("scifact", data_dir)))
    return s


def test_bad_eval_sets(store: Store) -> None:
    with pytest.raises(AugplanError, match="no corpus 'nosuch'"):
        evaluate.load_eval_set(store, "nosuch:test")
    with pytest.raises(AugplanError, match=r"no qrels for split 'dev'.*test, train"):
        evaluate.load_eval_set(store, "scifact:dev")


def test_evaluation_seconds_are_the_models_own(store: Store, models_dir: Path) -> None:
    """What an evaluator prepares once (the nano pool, the metric kernels) and the warm-up
    encoding are timed apart: the first model is not charged more than the next ones."""
    from engine import retrievers

    ev = evaluate.Evaluator(evaluate.load_eval_set(store, "scifact:test"), mode="nano",
                            nano_k=3)
    model = retrievers.load("static-minilm", models_dir)
    _, first = ev.evaluate(model)
    setup = ev.last_timings["setup"]
    stages = sum(v for k, v in ev.last_timings.items()
                 if k not in ("setup", "passages_encoded"))
    assert first == pytest.approx(stages, abs=0.05)
    ev.evaluate(model)
    assert setup > ev.last_timings["setup"]  # the pool and the kernels, once
    assert ev.last_timings["passages_encoded"] == len(ev.pool()) < len(ev.evalset.doc_ids)


def test_measure_training(tmp_path: Path, data_dir: Path, models_dir: Path) -> None:
    """A training timed on the corpus' own train pairs becomes the retriever's training
    profile on this device (what prices a training before any pilot has trained)."""
    from engine.profiles import TrainingProfile, stored_profiles

    fresh = Store(tmp_path / "store")
    fresh.import_corpus("scifact", corpus_io.detect(locate("scifact", data_dir)))
    rate = pilot.measure_training(fresh, "scifact", "static-minilm", pairs=64,
                                  models_dir=models_dir)
    got = [p for p in stored_profiles(fresh) if isinstance(p, TrainingProfile)]
    assert len(got) == 1 and got[0].retriever == "static-minilm"
    assert got[0].device == pilot.device_name() and got[0].batch_size == 32
    assert got[0].pairs_per_s == pytest.approx(rate, rel=1e-3) and rate > 0
    with pytest.raises(AugplanError, match="10 train pairs, fewer than two training batches"):
        pilot.measure_training(fresh, "scifact", "static-minilm", pairs=10,
                               models_dir=models_dir)
    assert len([p for p in stored_profiles(fresh) if isinstance(p, TrainingProfile)]) == 1


def test_passage_order_is_seeded(store: Store) -> None:
    a = pilot.passage_order(store, "scifact", 0)
    assert a == pilot.passage_order(store, "scifact", 0)
    b = pilot.passage_order(store, "scifact", 1)
    assert sorted(a) == sorted(b) and a[:50] != b[:50]


REQUEST = pilot.PilotRequest(
    corpus="scifact", retriever="static-minilm", augmenters=(SMOL,), scales=(24, 48),
    seeds=(0,), eval_mode="nano", nano_k=5, train=pilot.TrainConfig(batch_size=16),
)


@pytest.fixture(scope="module")
def first(store: Store, models_dir: Path) -> pilot.PilotReport:
    return pilot.run_pilot(store, REQUEST, models_dir=models_dir)


def test_tiny_pilot(first: pilot.PilotReport, store: Store) -> None:
    kinds = sorted((p["kind"], p["scale"]) for p in first.points)
    # zero-shot, the 809 human train pairs, and the two synthetic scales
    assert [k for k, _ in kinds] == ["human", "synthetic", "synthetic", "zero-shot"]
    assert [s for k, s in kinds if k == "synthetic"] == [24, 48]
    assert first.computed == 4 and first.reused == 0 and first.trained == 3
    assert first.generated >= 48
    by = {(p["kind"], p["scale"]): p for p in first.points}
    zero = by[("zero-shot", 0)]
    assert 0.3 < zero["ndcg_at_10"] < 0.6  # static MiniLM vectors, no training
    human = next(p for p in first.points if p["kind"] == "human")
    assert human["scale"] > 500
    # Training on the corpus' own pairs moves the weak retriever a lot.
    assert human["ndcg_at_10"] > zero["ndcg_at_10"] + 0.05
    for p in first.points:
        assert p["eval_set"] == "scifact:test" and p["eval_mode"] == "nano5"
        assert 0 < p["ndcg_at_10"] <= 1 and 0 < p["recall_at_100"] <= 1
        assert p["n_queries"] == 300 and p["device"]
        if p["kind"] != "zero-shot":
            assert p["train_seconds"] > 0
    assert len(store.pilots(corpus="scifact")) == 4
    # Training throughput was recorded as a cost profile.
    assert store.profiles(kind="training", name="static-minilm")


def test_rerun_recomputes_nothing(first: pilot.PilotReport, store: Store,
                                  models_dir: Path) -> None:
    again = pilot.run_pilot(store, REQUEST, models_dir=models_dir)
    assert (again.computed, again.trained, again.generated) == (0, 0, 0)
    assert again.reused == 4
    assert sorted(p["point_id"] for p in again.points) == sorted(
        p["point_id"] for p in first.points)


def test_one_training_for_evaluations_in_two_modes(first: pilot.PilotReport, store: Store,
                                                    models_dir: Path, tmp_path: Path) -> None:
    """A mode per eval set: each point is trained once for both; its stored evaluation in the
    first mode (same key as a one-mode request) is reused, the other is measured."""
    import shutil

    shutil.copytree(store.path, tmp_path / "store")  # the module's store keeps one eval set
    copy = Store(tmp_path / "store")
    both = dataclasses.replace(REQUEST, human=False, evals=("scifact:test", "scifact:train"),
                               eval_modes=("nano", "full"))
    rep = pilot.run_pilot(copy, both, models_dir=models_dir)
    assert (rep.reused, rep.computed, rep.trained) == (3, 3, 2)  # zero-shot, n=24, n=48
    modes = {(p["eval_set"], p["eval_mode"]) for p in rep.points}
    assert modes == {("scifact:test", "nano5"), ("scifact:train", "full")}
    with pytest.raises(AugplanError, match="1 evaluation modes for 2 eval sets"):
        pilot.run_pilot(copy, dataclasses.replace(both, eval_modes=("full",)))


def test_selection_is_nested(first: pilot.PilotReport, store: Store, models_dir: Path) -> None:
    small, small_keys, gen_a = pilot.select_pairs(store, REQUEST, SMOL, 24, models_dir=models_dir)
    big, big_keys, gen_b = pilot.select_pairs(store, REQUEST, SMOL, 48, models_dir=models_dir)
    assert gen_a == gen_b == 0  # all in the cache
    assert big_keys[:24] == small_keys and big[:24] == small
    assert len(set(big_keys)) == 48
    ok_keys = set(store.augmentations(Selection(status="ok"), ["key"]).column("key").to_pylist())
    assert set(big_keys) <= ok_keys


def test_export_rows(first: pilot.PilotReport) -> None:
    rows = pilot.export_rows(first.points)
    assert {r["scale"] for r in rows if r["augmenter"] == SMOL} == {0, 24, 48}
    assert all(set(r) == set(pilot.CSV_COLUMNS) for r in rows)
    with pytest.raises(AugplanError, match="--metric"):
        pilot.export_rows(first.points, "map")


def test_cli_pilots(first: pilot.PilotReport, store: Store, models_dir: Path,
                    data_dir: Path) -> None:
    env = make_env(store.path, models_dir, data_dir, COLUMNS="200")
    shown = ok(run(["pilots", "show", "--corpus", "scifact"], env))
    assert "static-minilm" in shown and "(zero-shot)" in shown
    rows = list(csv.DictReader(io.StringIO(ok(run(["pilots", "export", "--corpus", "scifact"],
                                                   env)))))
    assert {r["scale"] for r in rows if r["augmenter"] == SMOL} == {"0", "24", "48"}
    assert all(0 < float(r["metric"]) < 1 for r in rows)
    # The same grid from the command line: everything is in the store already.
    done = ok(run(["pilot", "--corpus", "scifact", "--retriever", "static-minilm",
                   "--augmenters", SMOL, "--scales", "24,48", "--seeds", "0",
                   "--eval-mode", "nano", "--nano-k", "5", "--batch-size", "16"], env))
    assert "0 points computed, 4 reused" in done
    text = user_error(run(["pilot", "--corpus", "scifact", "--eval", "nosuch:test"], env))
    assert "no corpus 'nosuch'" in text
    text = user_error(run(["pilot", "--corpus", "scifact", "--eval", "scifact:dev"], env))
    assert "no qrels for split 'dev'" in text
    assert "--scales" in user_error(run(["pilot", "--corpus", "scifact", "--scales", "a,b"],
                                        env))
    assert "--retriever" in user_error(run(["pilot", "--corpus", "scifact", "--retriever",
                                            "nope"], env))


def test_plan_and_run_from_the_store(first: pilot.PilotReport, store: Store, models_dir: Path,
                                     data_dir: Path, tmp_path: Path) -> None:
    # A second seed gives the curve enough points: zero-shot + 2 scales x 2 seeds.
    second = pilot.run_pilot(store, dataclasses.replace(REQUEST, seeds=(0, 1)),
                             models_dir=models_dir)
    assert second.computed == 3 and second.generated == 0  # 2 synthetic + human, seed 1
    env = make_env(store.path, models_dir, data_dir, COLUMNS="200")
    profile = tmp_path / "cpu.toml"
    profile.write_text(f'[augmenters.{SMOL}]\nqueries_per_hour = 3600\n'
                       f'device = "{pilot.device_name()}"\n')
    ok(run(["profiles", "import", str(profile)], env))
    plan_path = tmp_path / "plan.json"
    doc = json.loads(ok(run(["plan", "--corpus", "scifact", "--retriever", "static-minilm",
                             "--budget-gpu-hours", "0.5", "--format", "json", "--bootstrap",
                             "200", "-o", str(plan_path)], env)))
    assert doc["corpus"] == "scifact" and doc["retriever"] == "static-minilm"
    assert doc["augmenter"] == SMOL and doc["scale"] <= 4 * 48
    assert [c["pilot_scales"] for c in doc["curves"]] == [[0, 24, 48]]
    assert doc["human_reference"] > doc["zero_shot"]
    # the training profile the pilots recorded prices the training
    assert doc["cost_sources"]["training"].startswith(pilot.device_name())
    assert not any("several devices" in w for w in doc["warnings"])
    # Run a plan of 40 accepted queries: all are cached, so nothing is generated.
    run_plan = tmp_path / "run.json"
    run_plan.write_text(json.dumps({**doc, "scale": 40}))
    out = tmp_path / "train.jsonl"
    text = ok(run(["run", "--plan", str(run_plan), "--out", str(out)], env))
    assert "0 queries generated" in text and "40 training pairs" in text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and all(r["query"] and r["passage"] for r in rows)
    keys = pilot.select_pairs(store, REQUEST, SMOL, 40, models_dir=models_dir)[1]
    assert [r["key"] for r in rows] == keys
    assert "--eval-mode 'full'" in user_error(run(
        ["plan", "--corpus", "scifact", "--retriever", "static-minilm", "--budget-gpu-hours",
         "1", "--eval-mode", "full"], env))
    assert "several retrievers" not in user_error(run(
        ["plan", "--corpus", "nosuch", "--budget-gpu-hours", "1"], env))


def test_next_point_request_joins_the_existing_curve(first: pilot.PilotReport, store: Store,
                                                     models_dir: Path) -> None:
    """A point asked for by the planner is measured with the pilots' own configuration: asking
    for a measured scale finds it in the store (same configuration hash)."""
    req = pilot.next_point_request(store, "scifact", "static-minilm", SMOL, 48)
    assert (req.eval_mode, req.nano_k, req.train.batch_size) == ("nano", 5, 16)
    assert req.scales == (48,) and not req.human and req.evals == ("scifact:test",)
    again = pilot.run_pilot(store, req, models_dir=models_dir)
    assert again.computed == 0 and again.reused == 1 + len(req.seeds)  # + zero-shot
    with pytest.raises(AugplanError, match="no synthetic pilot points of 'minilm-l6'"):
        pilot.next_point_request(store, "scifact", "minilm-l6", SMOL, 48)


def lift_synthetic_points(store: Store, lifts: dict[int, float]) -> None:
    """Raise the measured nDCG@10 of the synthetic points at these scales by these amounts.
    Whether 24 or 48 SmolLM2 pairs beat the zero-shot static retriever beyond noise depends on
    the CPU (llama.cpp's greedy outputs differ between CPU families); the test below is about
    the Plan pane's m and x, which need a plan that buys augmentation and a decision the next
    point can change (the curve levels off: does more help?), whatever this machine
    generated."""
    for n, lift in lifts.items():
        store.table("pilots").update(where=f"kind = 'synthetic' AND scale = {int(n)}",
                                     values_sql={"ndcg_at_10": f"ndcg_at_10 + {lift}"})


@pytest.mark.slow
@pytest.mark.anyio
async def test_tui_next_pilot_and_run_plan(first: pilot.PilotReport, store: Store,
                                           models_dir: Path, tmp_path: Path) -> None:
    """The TUI's Plan pane on real pilots: p plans, m measures the suggested next pilot point
    (a job process: generation, training, evaluation) and replans with it, x runs the plan and
    writes its training pairs beside the store."""
    from textual.widgets import Input, Log

    from engine.profiles import import_profiles
    from tests.tui.test_tui import errors, settle
    from tui.app import AugplanApp

    pilot.run_pilot(store, dataclasses.replace(REQUEST, seeds=(0, 1)), models_dir=models_dir)
    lift_synthetic_points(store, {24: 0.02, 48: 0.027})
    profile = tmp_path / "cpu.toml"
    profile.write_text(f'[augmenters.{SMOL}]\nqueries_per_hour = 3600\n'
                       f'device = "{pilot.device_name()}"\n')
    import_profiles(store, profile)
    app = AugplanApp(store.path, models_dir)
    async with app.run_test(size=(100, 40)) as tui:
        await settle(tui)
        pane = app.query_one("#plan-pane")
        app.query_one("#plan-budget", Input).value = "0.03"
        app.action_show_tab("plan")
        await tui.press("p")
        await settle(tui)
        assert not errors(app) and pane.doc is not None
        nxt = pane.doc["next_pilot"]
        assert nxt["augmenter"] == SMOL, nxt
        if not nxt.get("scale"):
            # one augmenter whose curve rises in every bootstrap draw: the largest affordable
            # scale is best in every draw, so no measurement can change the decision
            # (planner.value; the rule itself is tested in tests/planner). m still measures
            # a point named as next: twice the largest pilot.
            assert "well determined" in nxt["reason"], nxt
            nxt = pane.doc["next_pilot"] = dict(nxt, scale=96)
        assert nxt["scale"] not in (24, 48), nxt
        await tui.press("m")
        await settle(tui, timeout=900)
        assert not errors(app)
        log = "\n".join(app.query_one("#plan-log", Log).lines)
        assert "done: 2 points computed, 1 reused" in log  # 2 seeds; the zero-shot point
        lift_synthetic_points(store, {nxt["scale"]: 0.03})
        scales = {p["scale"] for p in store.pilots(kind="synthetic")}
        assert nxt["scale"] in scales
        assert nxt["scale"] in pane.doc["curves"][0]["pilot_scales"]  # replanned with it
        # a budget the cached queries nearly cover: x generates little, then exports
        app.query_one("#plan-budget", Input).value = "0.002"
        app.action_show_tab("plan")
        await tui.press("p")
        await settle(tui)
        await tui.press("x")
        await settle(tui, timeout=900)
        assert not errors(app)
        doc = pane.doc
        out = store.path.parent / f"train-scifact-{SMOL}-{doc['scale']}.jsonl"
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == doc["scale"] and all(r["query"] and r["passage"] for r in rows)
        assert f"{doc['scale']} training pairs written to {out.name}" in "\n".join(
            app.query_one("#plan-log", Log).lines)
