"""Generation on a Ray cluster (2 CPUs on 127.0.0.1) against a store in object storage (moto
on 127.0.0.1): blocks are committed as they return, a killed driver resumes without losing or
duplicating a row, a rerun generates nothing, and two drivers at once keep one row per key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from engine.cluster import parse_cluster
from store import AugplanError, Store
from tests.helpers import AUGPLAN, ROOT, make_env, ok, run, user_error

PASSAGES = 8


def corpus(data_dir: Path, root: Path) -> Path:
    """The first passages of SciFact as a BEIR folder."""
    root.mkdir(parents=True, exist_ok=True)
    with (data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(PASSAGES)]
    (root / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    first = json.loads(lines[0])["_id"]
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a question"}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\t{first}\t1\n")
    return root


def make_setting(bucket: dict[str, Any], ray_address: str, models_dir: Path, data_dir: Path,
                 tmp_path: Path) -> dict[str, Any]:
    env = make_env(tmp_path / "unused", models_dir, AUGPLAN_HOME=str(tmp_path / "home"),
                   AUGPLAN_THREADS="1", **bucket["env"])
    source = corpus(data_dir, tmp_path / "corpus")
    return {"env": env, "source": source, "bucket": bucket, "address": ray_address}


@pytest.fixture
def setting(s3_bucket: dict[str, Any], ray_address: str, models_dir: Path, data_dir: Path,
            tmp_path: Path) -> dict[str, Any]:
    """The moto store, the session's Ray cluster, the models and an 8-passage corpus."""
    return make_setting(s3_bucket, ray_address, models_dir, data_dir, tmp_path)


def store_at(setting: dict[str, Any], prefix: str) -> Store:
    return Store(f"s3://{setting['bucket']['bucket']}/{prefix}",
                 storage_options=setting["bucket"]["options"])


def generate_args(setting: dict[str, Any], prefix: str, limit: int = PASSAGES) -> list[str]:
    return ["generate", "--corpus", "c", "--augmenter", "smollm2-135m", "--limit", str(limit),
            "--batch-size", "1", "--no-embed", "--json", "--cluster", setting["address"],
            "--store", f"s3://{setting['bucket']['bucket']}/{prefix}"]


def imported(setting: dict[str, Any], prefix: str) -> None:
    ok(run(["corpus", "import", str(setting["source"]), "--name", "c", "--store",
            f"s3://{setting['bucket']['bucket']}/{prefix}"], setting["env"]))


def kill_when(args: list[str], env: dict[str, str], ready: Any, timeout: float) -> None:
    """Run ``augplan ARGS`` and SIGKILL it as soon as ``ready()`` holds (it must not have
    ended before)."""
    driver = subprocess.Popen([str(AUGPLAN), *args], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline:
        assert driver.poll() is None, "the command ended before it could be killed"
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()


def queries(store: Store) -> dict[str, str]:
    rows = store.augmentations().to_pylist()
    uids = [r["uid"] for r in rows]
    assert len(uids) == len(set(uids)), "a uid stored twice"
    return {r["uid"]: r["query"] for r in rows}


def test_generation_on_the_cluster_resumes_after_a_killed_driver(setting: dict[str, Any]
                                                                 ) -> None:
    kill_and_resume(setting)


def test_the_same_kill_and_resume_against_seaweedfs(seaweedfs_bucket: dict[str, Any],
                                                    ray_address: str, models_dir: Path,
                                                    data_dir: Path, tmp_path: Path) -> None:
    """The kill/resume test against a real S3-compatible server binary (SeaweedFS)."""
    kill_and_resume(make_setting(seaweedfs_bucket, ray_address, models_dir, data_dir, tmp_path))


def kill_and_resume(setting: dict[str, Any]) -> None:
    """An uninterrupted run, then a driver killed mid-run and run again: the same rows, each
    once; a third run generates and commits nothing."""
    env = setting["env"]
    # an uninterrupted run: every planned key once, decoded by more than one actor
    imported(setting, "whole")
    report = json.loads(ok(run(generate_args(setting, "whole"), env)))
    assert report["generated"] == PASSAGES and report["target"] == PASSAGES
    assert len(report["workers"]) > 1 and sum(report["workers"].values()) == PASSAGES
    whole = queries(store_at(setting, "whole"))
    assert len(whole) == PASSAGES

    # a driver killed with SIGKILL once some blocks are committed, then the same command
    imported(setting, "killed")
    store = store_at(setting, "killed")
    kill_when(generate_args(setting, "killed"), env,
              lambda: store.count("augmentations") >= 2, timeout=600)
    kept = store.count("augmentations")
    assert 2 <= kept < PASSAGES
    report = json.loads(ok(run(generate_args(setting, "killed"), env)))
    assert report["already_present"] == kept and report["generated"] == PASSAGES - kept
    assert queries(store) == whole  # the same rows as the uninterrupted run

    # a third run generates nothing and commits nothing
    version = store.table("augmentations").version
    report = json.loads(ok(run(generate_args(setting, "killed"), env)))
    assert report["generated"] == 0 and report["already_present"] == PASSAGES
    assert store.table("augmentations").version == version


def test_two_drivers_on_overlapping_passages_keep_one_row_per_key(setting: dict[str, Any]
                                                                  ) -> None:
    imported(setting, "two")
    drivers = [subprocess.Popen([str(AUGPLAN), *generate_args(setting, "two", limit)],
                                env=setting["env"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for limit in (PASSAGES - 2, PASSAGES)]
    for d in drivers:
        _out, errors = d.communicate(timeout=900)
        assert d.returncode == 0, errors
    got = queries(store_at(setting, "two"))  # asserts no uid twice
    assert len(got) == PASSAGES


def test_a_cluster_address_with_nothing_there_is_one_clear_error(setting: dict[str, Any]
                                                                 ) -> None:
    imported(setting, "none")
    store = store_at(setting, "none")
    runs = store.count("runs")
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        args = generate_args(setting, "none")
        args[args.index("--cluster") + 1] = address
        message = user_error(run(args, setting["env"], timeout=300))
        assert f"--cluster {address}: no Ray cluster reachable" in message
    assert store.count("runs") == runs and store.count("augmentations") == 0


def test_cluster_values() -> None:
    assert parse_cluster("local") is None and parse_cluster(None) is None
    assert parse_cluster("auto") == "auto"
    assert parse_cluster("ray://10.0.0.1:10001") == "ray://10.0.0.1:10001"
    assert parse_cluster("127.0.0.1:6379") == "127.0.0.1:6379"
    for bad in ("nowhere", "host:port", ":6379"):
        with pytest.raises(AugplanError, match="--cluster"):
            parse_cluster(bad)


def test_a_pilot_grid_on_the_cluster_resumes_after_a_killed_driver(setting: dict[str, Any]
                                                                   ) -> None:
    """Every (augmenter, scale, seed) point is a task on the cluster, stored as it finishes:
    a driver killed once some points landed keeps them, and the rerun measures the rest."""
    imported(setting, "grid")
    store = store_at(setting, "grid")
    args = ["pilot", "--corpus", "c", "--retriever", "static-minilm", "--augmenters",
            "smollm2-135m", "--scales", "2,3", "--seeds", "0,1", "--no-human", "--json",
            "--cluster", setting["address"], "--store",
            f"s3://{setting['bucket']['bucket']}/grid"]
    kill_when(args, setting["env"], lambda: store.count("pilots") >= 1, timeout=900)
    kept = store.count("pilots")
    assert 1 <= kept < 5  # zero-shot and 2 scales x 2 seeds
    report = json.loads(ok(run(args, setting["env"])))
    assert report["computed"] == 5 - kept and report["reused"] == kept
    ids = [p["point_id"] for p in store.pilots(corpus="c")]
    assert len(ids) == len(set(ids)) == 5
    again = json.loads(ok(run(args, setting["env"])))
    assert again["computed"] == 0 and again["reused"] == 5


@pytest.mark.anyio
async def test_the_tui_runs_a_cluster_job_like_a_local_one(setting: dict[str, Any],
                                                          models_dir: Path) -> None:
    """`augplan tui --cluster`: the Run pane starts a job that decodes on the cluster, shows
    its progress and result like a local job's, and says where it ran."""
    from textual.widgets import DataTable, Input, Select

    from tests.tui.test_tui import SIZE, cells, errors, send_keys, settle, text_of
    from tui.app import AugplanApp

    imported(setting, "tui")
    app = AugplanApp(f"s3://{setting['bucket']['bucket']}/tui", models_dir,
                     storage_options=setting["bucket"]["options"], cluster=setting["address"],
                     initial="run")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one("#run-corpus", Select).value = "c"
        app.query_one("#run-augmenter", Select).value = "smollm2-135m"
        app.query_one("#run-limit", Input).value = "2"
        send_keys(app, "s")
        await pilot.pause()
        await settle(pilot, timeout=600)
        assert not errors(app)
        done = app.query_one("#run-pane").finished[-1]
        assert done.status == "finished" and "2 generated" in done.text, done.text
        app.query_one("#run-pane").action_refresh()
        await settle(pilot)
        table = app.query_one("#jobs", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await settle(pilot)
        jobs = cells(app, "#jobs")
        assert [r[:3] for r in jobs] == [[done.run_id, "finished", "2/2"]]
        assert f"on the cluster {setting['address']}" in text_of(app, "#job-detail")
    assert store_at(setting, "tui").count("augmentations") == 2


def test_the_autopilot_measures_its_points_on_the_cluster(ray_address: str, models_dir: Path,
                                                          data_dir: Path, tmp_path: Path
                                                          ) -> None:
    """`augplan autopilot --cluster`: every batch of pilot points (and the final run) is
    measured on the cluster; the choice, the dev and test scores are reported as on one
    machine, and a rerun computes nothing."""
    from engine import profiles, splits
    from engine.autopilot import AutopilotRequest, run_autopilot
    from engine.datasets import locate
    from store import corpus as corpus_io
    from tests.helpers import PROFILES

    store = Store(tmp_path / "store")
    store.import_corpus("scifact", corpus_io.detect(locate("scifact", data_dir)))
    splits.carve(store, "scifact", source="train", n=100, seed=0)
    (tmp_path / "profiles.toml").write_text(PROFILES)
    profiles.import_profiles(store, tmp_path / "profiles.toml")
    request = AutopilotRequest(corpus="scifact", retriever="static-minilm",
                               augmenters=("smollm2-135m",), budget_hours=0.05, pilot_share=0.5,
                               first_scale=24, seeds=(0, 1), eval_mode="nano", nano_k=5,
                               max_points=1)
    events: list[str] = []
    report = run_autopilot(store, request, models_dir=models_dir, on_event=events.append,
                           cluster=ray_address)
    measured = [e for e in events if ": measured on " in e]
    assert len(measured) >= 1 + 2 * 2 + 1  # zero-shot, 2 scales x 2 seeds, the final on test
    assert report.dev_score is not None and report.test_score is not None
    assert report.plan["scale"] is not None
    again: list[str] = []
    rerun = run_autopilot(store, request, models_dir=models_dir, on_event=again.append,
                          cluster=ray_address)
    assert not [e for e in again if ": measured on " in e]  # everything from the store
    assert (rerun.dev_score, rerun.test_score, rerun.plan) == (report.dev_score,
                                                               report.test_score, report.plan)
