"""The TUI's long jobs (generation, pilots, running a plan, benchmarks) in a child process.

A thread worker in the app starts the job with :class:`JobProcess` and relays what the job
emits as Textual messages. The job itself runs in a spawned Python process, at a lower CPU
priority (``nice``), so that neither the GIL nor the CPU are taken from the interface: a key
press is answered while llama.cpp or a training uses every core. The child writes its output
(llama.cpp and library messages) to a log file beside the store, never to the terminal.

The job functions below call the same public engine functions as the CLI; they take plain,
picklable arguments and emit ``(kind, payload)`` pairs of plain data.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from store.errors import AugplanError

#: CPU priority of job processes, added to the app's ($AUGPLAN_JOB_NICE, 0-19): the interface
#: wins when both want the CPU; other programs of the user still leave the job a fair share.
JOB_NICE = 5


def job_nice() -> int:
    value = os.environ.get("AUGPLAN_JOB_NICE", "").strip()
    if not value:
        return JOB_NICE
    if not value.isdigit() or int(value) > 19:
        raise AugplanError(f"AUGPLAN_JOB_NICE={value!r}: give a whole number from 0 to 19")
    return int(value)


#: How often the relaying thread looks at the stop flag and the child's liveness.
POLL_SECONDS = 0.1

Emit = Callable[[str, Any], None]


def error_text(exc: BaseException) -> str:
    """What a user reads for an error: the project's message, or the exception's type."""
    if isinstance(exc, AugplanError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobFailed(AugplanError):
    """The job raised (its message is the job's error text) or its process died."""


def log_path(store_path: Path) -> Path:
    """Where job processes write their output: beside the store."""
    return Path(store_path).parent / "augplan-jobs.log"


def _child(
    target: str, kwargs: dict[str, Any], out: Any, stop: Any, nice: int, log: str
) -> None:  # pragma: no cover - runs in the child process
    with contextlib.suppress(OSError):
        os.nice(nice)
    # Everything the libraries print goes to the log, not to the app's terminal.
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    print(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {target} pid {os.getpid()}", flush=True)
    try:
        module, name = target.split(":")
        fn = getattr(importlib.import_module(module), name)
        result = fn(
            **kwargs, emit=lambda kind, payload: out.put((kind, payload)), should_stop=stop.is_set
        )
        out.put(("done", result))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the app
        import traceback

        traceback.print_exc()
        out.put(("failed", error_text(exc)))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


_tracker_lock = threading.Lock()


def _ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr. Inside a running
    Textual app ``sys.stderr`` is a capture object whose ``fileno()`` is -1, and the tracker
    (started lazily by the first spawned process) would fail on it with "bad value(s) in
    fds_to_keep"."""
    from multiprocessing import resource_tracker

    with _tracker_lock:
        saved = sys.stderr
        try:
            if sys.__stderr__ is not None:
                sys.stderr = sys.__stderr__
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


class JobProcess:
    """One job function (``"module:function"``) run in a spawned process.

    ``run`` blocks (call it from a thread worker): it relays each emitted ``(kind, payload)``
    to ``on_emit``, sets the child's stop flag once ``should_stop()`` turns true (the job stops
    at its next safe point), and returns the job's result or raises :class:`JobFailed`.
    ``kill()`` ends the child at once (generation resumes from the store where it stopped).
    """

    def __init__(
        self, target: str, kwargs: dict[str, Any], *, log: Path, nice: int | None = None
    ) -> None:
        self.target = target
        self.kwargs = kwargs
        self.log = log
        _ensure_resource_tracker()
        ctx = mp.get_context("spawn")  # the app has threads: never fork it
        self._queue = ctx.Queue()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_child,
            args=(
                target,
                kwargs,
                self._queue,
                self._stop,
                job_nice() if nice is None else nice,
                str(self.log),
            ),
            daemon=True,
            name=f"augplan-{target.rsplit(':', 1)[-1]}",
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop(self) -> None:
        self._stop.set()

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    def run(
        self,
        on_emit: Emit,
        should_stop: Callable[[], bool] = lambda: False,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Any:
        self._process.start()
        try:
            while True:
                if should_stop():
                    self._stop.set()
                if cancelled():
                    self.kill()
                    raise JobFailed("the job was cancelled (the app closed)")
                try:
                    kind, payload = self._queue.get(timeout=POLL_SECONDS)
                except queue_mod.Empty:
                    if not self._process.is_alive():
                        # a last message may still be in the pipe
                        try:
                            kind, payload = self._queue.get(timeout=1.0)
                        except queue_mod.Empty:
                            raise JobFailed(
                                f"the job process ended without a result (exit code "
                                f"{self._process.exitcode}); see {self.log}"
                            ) from None
                    else:
                        continue
                if kind == "done":
                    return payload
                if kind == "failed":
                    raise JobFailed(payload)
                on_emit(kind, payload)
        finally:
            if self._process.is_alive():
                self._process.join(10)
            self.kill()


# ------------------------------------------------------------------------------ generation


@dataclass
class JobStats:
    """What the Run pane shows about a running generation job."""

    run_id: str = ""
    phase: str = "starting"
    total: int | None = None
    done: int = 0
    generated: int = 0
    gen_tokens: int = 0
    gen_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.gen_tokens / self.gen_seconds if self.gen_seconds else 0.0

    @property
    def queries_per_s(self) -> float:
        return self.generated / self.gen_seconds if self.gen_seconds else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.phase != "generate" or self.total is None or not self.queries_per_s:
            return None
        return max(self.total - self.done, 0) / self.queries_per_s

    def line(self) -> str:
        eta = self.eta_seconds
        eta_text = "-" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        total = "?" if self.total is None else str(self.total)
        c = self.counts
        return (
            f"[b]{self.run_id or 'new run'}[/b]  {self.phase} {self.done}/{total}  "
            f"ETA {eta_text}  {self.tokens_per_s:.0f} tok/s  {self.queries_per_s:.2f} q/s  "
            f"accepted {c.get('ok', 0)}  filtered {c.get('filtered', 0)}  "
            f"duplicate {c.get('duplicate', 0)}  empty {c.get('empty', 0)}"
        )


def generate_job(
    *,
    store_path: str,
    storage_options: dict[str, str] | None = None,
    models_dir: str | None,
    manifest: dict[str, Any],
    run_id: str | None,
    emit: Emit,
    should_stop: Callable[[], bool],
    cluster: str | None = None,
) -> dict[str, Any]:
    """Generate (resumable; on the Ray cluster at ``cluster`` when given), then the
    post-generation pass on the run's queries (``engine.pipeline.generate_and_check``). Emits
    ``("progress", JobStats as dict)`` after every committed batch and later stage."""
    from engine.generate import GenerateRequest
    from engine.pipeline import generate_and_check
    from engine.quality import status_counts
    from store import Selection, Store

    store = Store(store_path, storage_options=storage_options)
    stats = JobStats(run_id=run_id or "")

    def post(**changes: Any) -> None:
        for k, v in changes.items():
            setattr(stats, k, v)
        if stats.run_id:
            stats.counts = status_counts(store, Selection(run=stats.run_id))
        emit("progress", asdict(stats))

    outcome = generate_and_check(
        store,
        GenerateRequest.from_manifest(manifest),
        models_dir=Path(models_dir) if models_dir else None,
        run_id=run_id,
        cluster=cluster,
        should_stop=should_stop,
        on_progress=lambda p: post(
            run_id=p.run_id,
            phase="generate",
            total=p.total,
            done=p.done,
            generated=p.generated,
            gen_tokens=p.gen_tokens,
            gen_seconds=p.gen_seconds,
        ),
        on_stage=lambda stage, d, t: post(phase=stage, total=t, done=d),
    )
    report = outcome.report
    return {
        "run_id": report.run_id,
        "status": report.status,
        "text": f"run {report.run_id} {report.status}: {report.generated} generated, "
        f"{report.already_present} already in the store",
        "counts": status_counts(store, Selection(run=report.run_id)),
    }


# ------------------------------------------------------------------------ plan screen jobs


def pilot_job(
    *,
    store_path: str,
    storage_options: dict[str, str] | None = None,
    models_dir: str | None,
    doc: dict[str, Any],
    nxt: dict[str, Any],
    emit: Emit,
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Measure the plan's suggested next pilot point the way the corpus's pilots of this
    retriever were measured (``engine.pilot.next_point_request``). Emits ``("event", text)``."""
    from engine.pilot import next_point_request, run_pilot
    from engine.retrievers import DEFAULT_RETRIEVER
    from store import Store

    store = Store(store_path, storage_options=storage_options)
    request = next_point_request(
        store,
        doc["corpus"],
        doc.get("retriever") or DEFAULT_RETRIEVER,
        nxt["augmenter"],
        int(nxt["scale"]),
        nxt.get("strategy") or doc.get("strategy"),
        nxt.get("per_passage"),
    )
    emit("event", f"{nxt['augmenter']} at n={int(nxt['scale']):,} ({nxt.get('reason', '')})")
    report = run_pilot(
        store,
        request,
        models_dir=Path(models_dir) if models_dir else None,
        on_event=lambda m: emit("event", m),
    )
    return {"computed": report.computed, "reused": report.reused}


def autopilot_job(
    *,
    store_path: str,
    storage_options: dict[str, str] | None = None,
    models_dir: str | None,
    inputs: dict[str, Any],
    emit: Emit,
    should_stop: Callable[[], bool],
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``engine.autopilot.run_autopilot`` on the Plan pane's inputs (its candidates, retriever,
    budget and device; ``settings``: further request fields). Emits ``("event", text)``: every
    point and every choice with its stability as they land."""
    from engine.autopilot import AutopilotRequest, run_autopilot
    from engine.retrievers import DEFAULT_RETRIEVER
    from store import Store

    request = AutopilotRequest(
        corpus=inputs["corpus"], retriever=inputs.get("retriever") or DEFAULT_RETRIEVER,
        augmenters=tuple(inputs["augmenters"]), budget_hours=float(inputs["budget"]),
        device=inputs.get("device"),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in (settings or {}).items()})
    report = run_autopilot(Store(store_path, storage_options=storage_options), request,
                           models_dir=Path(models_dir) if models_dir else None,
                           on_event=lambda m: emit("event", m))
    p = report.plan
    choice = f"{p['augmenter']} n={p['scale']:,}" if p["scale"] else "zero-shot"
    return {"choice": choice, "dev": report.dev_score, "test": report.test_score,
            "stopped": report.stopped}


def execute_plan_job(
    *,
    store_path: str,
    storage_options: dict[str, str] | None = None,
    models_dir: str | None,
    doc: dict[str, Any],
    out: str,
    emit: Emit,
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Generate the plan's queries and write its training pairs to ``out``."""
    from engine.planning import execute_plan
    from store import Store

    return execute_plan(
        Store(store_path, storage_options=storage_options),
        doc,
        Path(out),
        models_dir=Path(models_dir) if models_dir else None,
        on_event=lambda m: emit("event", m),
    )


def benchmark_job(
    *,
    store_path: str,
    storage_options: dict[str, str] | None = None,
    models_dir: str | None,
    name: str,
    passages: int,
    emit: Emit,
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Measure an augmenter's cost profile on this machine (saved in the store), on the
    store's corpus (``engine.profiles.bench_corpus``)."""
    from engine.profiles import bench_corpus, measure_augmenter
    from store import Store

    store = Store(store_path, storage_options=storage_options)
    corpus = bench_corpus(store)
    emit("event", f"{name}: measuring on {passages} passages of {corpus}")
    profile = measure_augmenter(
        name,
        passages=passages,
        store=store,
        corpus=corpus,
        models_dir=Path(models_dir) if models_dir else None,
    )
    return {
        "device": profile.device,
        "queries_per_s": profile.queries_per_s,
        "gen_tokens_per_s": profile.gen_tokens_per_s,
        "prompt_tokens_per_s": profile.prompt_tokens_per_s,
    }


__all__ = [
    "JOB_NICE",
    "JobFailed",
    "JobProcess",
    "JobStats",
    "benchmark_job",
    "error_text",
    "execute_plan_job",
    "generate_job",
    "job_nice",
    "log_path",
    "pilot_job",
]
