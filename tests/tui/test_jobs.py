"""tui.jobs: the TUI's long jobs run in a spawned child process at a lower CPU priority, their
output goes to a log file, failures and crashes come back as JobFailed, and a stop request
reaches the job."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from store.errors import AugplanError
from tui.jobs import JobFailed, JobProcess, job_nice, log_path

# ---------------------------------------------------------------- job functions (child side)


def echo_job(*, n: int, emit: Any, should_stop: Any) -> dict[str, Any]:
    print("a line for the log, not the terminal")
    for i in range(n):
        emit("event", f"step {i}")
    return {"pid": os.getpid(), "nice": os.nice(0)}


def failing_job(*, emit: Any, should_stop: Any) -> None:
    raise AugplanError("corpus 'nope' is not in the store")


def crashing_job(*, emit: Any, should_stop: Any) -> None:
    os._exit(3)


def stoppable_job(*, emit: Any, should_stop: Any) -> int:
    steps = 0
    emit("event", "started")
    while not should_stop():
        time.sleep(0.02)
        steps += 1
        if steps > 2000:
            raise RuntimeError("the stop request never arrived")
    return steps


# ---------------------------------------------------------------------------------- tests


def _job(tmp_path: Path, name: str, **kwargs: Any) -> JobProcess:
    return JobProcess(f"tests.tui.test_jobs:{name}", kwargs, log=log_path(tmp_path / "store"))


def test_job_runs_in_a_niced_child_and_logs_its_output(tmp_path: Path, capfd) -> None:
    events: list[tuple[str, Any]] = []
    result = _job(tmp_path, "echo_job", n=3).run(lambda k, p: events.append((k, p)))
    assert events == [("event", "step 0"), ("event", "step 1"), ("event", "step 2")]
    assert result["pid"] != os.getpid()
    assert result["nice"] == min(os.nice(0) + job_nice(), 19)
    log = (tmp_path / "augplan-jobs.log").read_text()
    assert "tests.tui.test_jobs:echo_job" in log and "a line for the log" in log
    assert "a line for the log" not in capfd.readouterr().out


def test_job_errors_and_crashes_come_back_as_job_failed(tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="corpus 'nope' is not in the store"):
        _job(tmp_path, "failing_job").run(lambda k, p: None)
    with pytest.raises(JobFailed, match="exit code 3"):
        _job(tmp_path, "crashing_job").run(lambda k, p: None)
    with pytest.raises(JobFailed, match="ModuleNotFoundError"):
        JobProcess("tests.no_such_module:job", {}, log=tmp_path / "log").run(lambda k, p: None)


def test_stop_request_reaches_the_job_and_cancel_kills_it(tmp_path: Path) -> None:
    started: list[float] = []
    steps = _job(tmp_path, "stoppable_job").run(
        lambda k, p: started.append(time.monotonic()),
        should_stop=lambda: bool(started) and time.monotonic() - started[0] > 0.3,
    )
    assert 5 <= steps < 2000
    job = _job(tmp_path, "stoppable_job")
    with pytest.raises(JobFailed, match="cancelled"):
        job.run(lambda k, p: started.append(0.0), cancelled=lambda: len(started) > 1)
    assert not job._process.is_alive()


def test_job_priority_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUGPLAN_JOB_NICE", "7")
    assert job_nice() == 7
    monkeypatch.setenv("AUGPLAN_JOB_NICE", "high")
    with pytest.raises(AugplanError, match="AUGPLAN_JOB_NICE='high'"):
        _job(tmp_path, "echo_job", n=1)
