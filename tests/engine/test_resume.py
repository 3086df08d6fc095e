"""A generation killed with SIGKILL resumes from its last committed batch and ends with exactly
the rows an uninterrupted run produces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import Selection, Store

ROOT = Path(__file__).resolve().parents[2]
AUGPLAN = Path(sys.executable).parent / "augplan"
N = 20
BATCH = 4
GENERATE = ["generate", "--corpus", "scifact", "--augmenter", "smollm2-135m", "--limit", str(N),
            "--no-embed", "--json"]


def _env(store: Path, models_dir: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AUGPLAN_STORE=str(store), AUGPLAN_MODELS_DIR=str(models_dir),
               AUGPLAN_DATA_DIR=str(data_dir), NO_COLOR="1")
    return env


def _augplan(args: list[str], env: dict[str, str], timeout: float = 900) -> dict:
    proc = subprocess.run([str(AUGPLAN), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout) if "--json" in args else {}


def _rows(store: Store) -> list[tuple[str, str, str]]:
    t = store.augmentations(Selection(corpus="scifact"), ["uid", "key", "query"])
    return list(zip(*(t.column(c).to_pylist() for c in ("uid", "key", "query")), strict=True))


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, models_dir: Path, data_dir: Path
) -> None:
    assert AUGPLAN.exists(), AUGPLAN
    env = _env(tmp_path / "killed", models_dir, data_dir)
    _augplan(["corpus", "import", "scifact"], env)
    store = Store(tmp_path / "killed")
    store.table("augmentations")  # create it now, not concurrently with the child

    # 1. Start a run that commits every BATCH rows; SIGKILL it once a batch has landed.
    proc = subprocess.Popen([str(AUGPLAN), *GENERATE, "--batch-size", str(BATCH)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 600
    landed = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            landed = store.count("augmentations")
            if landed >= BATCH:
                break
            time.sleep(0.1)
        finished_early = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=30)
    assert not finished_early, f"the run ended before it could be killed: {stderr.decode()}"
    assert proc.returncode == -signal.SIGKILL
    assert BATCH <= landed < N, landed

    partial = _rows(store)
    assert len(partial) < N
    assert len(partial) % BATCH == 0, "a batch landed partly"
    assert len({uid for uid, _k, _q in partial}) == len(partial)
    run = store.runs()[-1]
    assert run["status"] == "running"  # it never got to say otherwise

    # 2. The same command again finishes the job and generates only what is missing.
    report = _augplan(GENERATE, env)
    assert report["target"] == N
    assert report["already_present"] == len(partial)
    assert report["generated"] == N - len(partial)
    resumed = _rows(store)
    assert len(resumed) == N
    assert len({uid for uid, _k, _q in resumed}) == N
    assert set(partial) <= set(resumed)

    # 3. An uninterrupted run in another store gives the very same (key, query) pairs.
    ref_env = _env(tmp_path / "reference", models_dir, data_dir)
    _augplan(["corpus", "import", "scifact"], ref_env)
    ref_report = _augplan(GENERATE, ref_env)
    assert (ref_report["generated"], ref_report["already_present"]) == (N, 0)
    reference = _rows(Store(tmp_path / "reference"))
    assert len(reference) == N
    assert {(k, q) for _u, k, q in resumed} == {(k, q) for _u, k, q in reference}


def test_batch_size_must_be_positive(tmp_path: Path, models_dir: Path, data_dir: Path) -> None:
    env = _env(tmp_path / "s", models_dir, data_dir)
    proc = subprocess.run([str(AUGPLAN), *GENERATE, "--batch-size", "0"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--batch-size" in proc.stderr
