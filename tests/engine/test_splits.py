"""Held-out selection: a dev split carved out of train or test, deterministic and all or
nothing; the sealed test split; pilots and plans that choose on dev and never read test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import evaluate, pilot, planning, splits
from engine.datasets import locate
from store import Store
from store import corpus as corpus_io
from store.errors import AugplanError
from tests.helpers import PROFILES, make_env, ok, run, user_error

SMOL = "smollm2-135m"


def _scifact(tmp: Path, data_dir: Path) -> Store:
    s = Store(tmp / "store")
    s.import_corpus("scifact", corpus_io.detect(locate("scifact", data_dir)))
    return s


def _judged(store: Store, split: str) -> set[str]:
    return set(store.qrels("scifact", split, positive=True).column("query_id").to_pylist())


@pytest.fixture(scope="module")
def carved(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Store:
    store = _scifact(tmp_path_factory.mktemp("carved"), data_dir)
    splits.carve(store, "scifact", source="train", n=300, seed=0)
    return store


def test_carve_dev_out_of_train(carved: Store, tmp_path: Path, data_dir: Path) -> None:
    dev, train, test = (_judged(carved, s) for s in ("dev", "train", "test"))
    assert len(dev) == 300 and len(train) == 509 and len(test) == 300  # SciFact: 809 train
    assert not dev & train and not dev & test
    info = carved.corpus_info("scifact")
    assert json.loads(info["qrels"])["dev"] == carved.qrels("scifact", "dev").num_rows
    assert carved.carved_splits("scifact") == {
        "dev": {"from": "train", "queries": 300, "seed": 0, "left": 509}}
    # the same seed carves the same queries in another store; another seed others
    other = _scifact(tmp_path / "a", data_dir)
    splits.carve(other, "scifact", source="train", n=300, seed=0)
    assert _judged(other, "dev") == dev
    third = _scifact(tmp_path / "b", data_dir)
    splits.carve(third, "scifact", source="train", n=300, seed=1)
    assert _judged(third, "dev") != dev
    # human pairs now come from the 509 remaining train queries only
    humans = pilot.human_pairs(carved, "scifact", "train")
    remaining = carved.qrels("scifact", "train", positive=True)
    assert len(humans) == remaining.num_rows
    assert set(remaining.column("query_id").to_pylist()) == train
    # reports name what a split holds
    assert splits.split_note(carved, "scifact:dev") == (
        "scifact:dev (300 queries carved out of train, seed 0)")
    assert splits.choice_split(carved, "scifact") == "dev"


def test_carve_refusals(carved: Store) -> None:
    with pytest.raises(AugplanError, match="already has a 'dev' split"):
        splits.carve(carved, "scifact", source="test", n=50)
    with pytest.raises(AugplanError, match=r"no such split \(splits: dev, test, train\)"):
        splits.carve(carved, "scifact", source="validation", n=50, target="dev2")
    with pytest.raises(AugplanError, match="would leave 5"):
        splits.carve(carved, "scifact", source="test", n=295, target="dev2")
    with pytest.raises(AugplanError, match="at least 10 queries"):
        splits.carve(carved, "scifact", source="test", n=3, target="dev2")
    assert carved.qrel_splits("scifact") == ["dev", "test", "train"]  # nothing written


def test_sealed_split_cannot_be_read(carved: Store) -> None:
    with carved.sealed("scifact", "test"):
        with pytest.raises(AugplanError, match="'test' split of 'scifact' is sealed"):
            evaluate.load_eval_set(carved, "scifact:test")
        assert set(carved.qrels("scifact").column("split").to_pylist()) == {"dev", "train"}
        assert evaluate.load_eval_set(carved, "scifact:dev").query_ids
    assert len(evaluate.load_eval_set(carved, "scifact:test").query_ids) == 300


def test_cli_split_from_test(tmp_path: Path, models_dir: Path, data_dir: Path) -> None:
    env = make_env(tmp_path / "store", models_dir, data_dir)
    ok(run(["corpus", "import", "scifact"], env))
    msg = user_error(run(["corpus", "split", "scifact", "--from", "test", "--dev", "295"], env))
    assert "would leave 5" in msg and "\n" not in msg.strip().split("error:", 1)[1].strip()
    text = ok(run(["corpus", "split", "scifact", "--from", "test", "--dev", "100"], env))
    assert "100 queries of test are now 'dev' (200 left in test)" in text
    assert "computed on the 200 remaining test queries" in text
    store = Store(tmp_path / "store")
    assert len(_judged(store, "test")) == 200
    assert splits.split_note(store, "scifact:test") == (
        "scifact:test (the 200 queries left after carving 100 into dev)")
    msg = user_error(run(["corpus", "split", "scifact", "--from", "test", "--dev", "50"], env))
    assert "already has a 'dev' split" in msg


def test_too_few_queries_to_carve(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i}"}) + "\n"
        for i in range(30)))
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n" for i in range(12)))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\td{i}\t1\n" for i in range(12)))
    env = make_env(tmp_path / "store", models_dir)
    ok(run(["corpus", "import", str(root), "--name", "tiny"], env))
    msg = user_error(run(["corpus", "split", "tiny", "--from", "test", "--dev", "10"], env))
    assert "has 12 judged queries: too few to carve a 'dev' split" in msg


def test_carving_test_invalidates_test_points(tmp_path: Path, models_dir: Path,
                                              data_dir: Path) -> None:
    """A zero-shot score on the whole test split is not reused once a dev split was carved
    out of it: the remainder is another eval set."""
    store = _scifact(tmp_path, data_dir)
    request = pilot.PilotRequest(corpus="scifact", retriever="static-minilm", augmenters=(),
                                 seeds=(0,), evals=("scifact:test",), eval_mode="nano",
                                 nano_k=5, human=False)
    before = pilot.run_pilot(store, request, models_dir=models_dir)
    assert before.computed == 1 and before.points[0]["n_queries"] == 300
    splits.carve(store, "scifact", source="test", n=100)
    after = pilot.run_pilot(store, request, models_dir=models_dir)
    assert after.computed == 1 and after.reused == 0
    assert after.points[0]["n_queries"] == 200
    # and the default eval set is now dev
    dev = pilot.run_pilot(store, pilot.PilotRequest(
        corpus="scifact", retriever="static-minilm", augmenters=(), seeds=(0,),
        eval_mode="nano", nano_k=5, human=False), models_dir=models_dir)
    assert [p["eval_set"] for p in dev.points] == ["scifact:dev"]


def test_pilot_and_plan_choose_on_dev_without_reading_test(
        carved: Store, models_dir: Path, tmp_path: Path) -> None:
    """With the test split sealed, a whole pilot (zero-shot, human pairs, synthetic scales)
    and the plan made from it run: they read dev and train only."""
    request = pilot.PilotRequest(corpus="scifact", retriever="static-minilm",
                                 augmenters=(SMOL,), scales=(24, 48), seeds=(0, 1),
                                 eval_mode="nano", nano_k=5,
                                 train=pilot.TrainConfig(batch_size=16))
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILES)
    with carved.sealed("scifact", "test"):
        report = pilot.run_pilot(carved, request, models_dir=models_dir)
        assert {p["eval_set"] for p in report.points} == {"scifact:dev"}
        human = [p for p in report.points if p["kind"] == "human"]
        assert human and all(p["n_queries"] == 300 for p in report.points)
        # trained on the 509 remaining train queries' pairs, not the 809 of the import
        assert all(p["scale"] == len(pilot.human_pairs(carved, "scifact", "train"))
                   for p in human)
        made = planning.make_plan(1.0, store=carved, corpus="scifact", profiles=profiles,
                                  retriever="static-minilm")
    assert made.plan.objective == {"scifact:dev": 1.0}
    assert made.meta["eval_sets"] == ["scifact:dev (300 queries carved out of train, seed 0)"]
    assert not any("test queries" in w for w in made.plan.warnings)


def test_ensure_dev_carves_the_defaults_once(carved: Store, tmp_path: Path,
                                             data_dir: Path) -> None:
    """The demo's and the outcome bench's dev split: 300 of SciFact's train queries, the same
    ones `corpus split --dev 300 --seed 0` carves; nothing when a dev split exists."""
    fresh = _scifact(tmp_path, data_dir)
    done = splits.ensure_dev(fresh, "scifact")
    assert done is not None and (done.source, done.queries, done.left) == ("train", 300, 509)
    assert _judged(fresh, "dev") == _judged(carved, "dev")
    assert splits.ensure_dev(fresh, "scifact") is None
    assert splits.choice_split(fresh, "scifact") == "dev"
