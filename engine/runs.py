"""Run records: a generation run's bookkeeping while it works, and reading or cancelling one.

While a run works, a ``RunTracker`` posts its progress, checkpoints its counts in the store after
every committed batch, polls for a stop between batches and leaves the final status. The CLI and
the TUI use ``find_run``, ``run_state`` and ``cancel`` to list and cancel runs without loading a
model. ``engine.generate`` re-exports the public names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store import Store
from store.errors import AugplanError


@dataclass
class Progress:
    """Posted after each committed batch (and once at the start)."""

    run_id: str
    total: int  # rows the request covers
    done: int  # rows present now (cached + generated so far)
    generated: int
    prompt_tokens: int
    gen_tokens: int
    gen_seconds: float  # wall time spent in the model


class Cancelled(Exception):
    """The run was cancelled (``augplan runs cancel``) between two batches."""


@dataclass
class RunCounts:
    """What a run has generated so far, as its progress, checkpoints and report show it."""

    generated: int = 0  # rows committed
    prompt_tokens: int = 0
    gen_tokens: int = 0
    evaluated_tokens: int = 0
    seconds: float = 0.0  # wall time spent in the model
    samples: list[str] = field(default_factory=list)  # the first few non-empty queries

    def add(self, out: dict[str, Any], query: str) -> None:
        """One completion's tokens and time (its row counts as generated once committed)."""
        self.prompt_tokens += out["prompt_tokens"]
        self.gen_tokens += out["gen_tokens"]
        self.evaluated_tokens += out.get("evaluated_tokens", out["prompt_tokens"])
        self.seconds += out["seconds"]
        if len(self.samples) < 5 and query:
            self.samples.append(query)


def open_run(store: Store, manifest: dict[str, Any], run_id: str | None = None) -> str:
    """A new run record, or the existing ``run_id`` marked running again (resume)."""
    if run_id is None:
        return store.start_run(manifest)
    store.update_run(run_id, status="running", message="resumed",
                     manifest=json.dumps(manifest, sort_keys=True))
    return run_id


@dataclass
class RunTracker:
    """A run's record while it works: progress posts, checkpoints, stop requests, final status."""

    store: Store
    run_id: str
    total: int  # rows the request covers
    present: int  # rows in place before the run generates any (already there, or copied)
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    counts: RunCounts = field(default_factory=RunCounts)

    @property
    def done(self) -> int:
        return self.present + self.counts.generated

    def post(self) -> None:
        if self.on_progress:
            c = self.counts
            self.on_progress(Progress(self.run_id, self.total, self.done, c.generated,
                                      c.prompt_tokens, c.gen_tokens, c.seconds))

    def stop_requested(self) -> bool:
        """``should_stop`` says so, or the run's record says ``cancelling``."""
        if self.should_stop is not None and self.should_stop():
            return True
        current = self.store.run(self.run_id)
        return current is not None and current["status"] == "cancelling"

    def checkpoint(self, status: str | None = None, message: str = "") -> None:
        """Write the counts; with ``status`` (the end of the run) the status and message too.
        A checkpoint during the run leaves the status alone, so a ``cancelling`` set by
        ``augplan runs cancel`` while a wave decodes is seen before the next wave."""
        c = self.counts
        fields = {} if status is None else {"status": status, "message": message}
        self.store.update_run(self.run_id, **fields, done=self.done, generated=c.generated,
                              prompt_tokens=c.prompt_tokens, gen_tokens=c.gen_tokens,
                              seconds=c.seconds)

    def run_to_end(self, work: Callable[[], None]) -> str:
        """Post the start, do ``work`` and leave the final record; returns the final status.

        ``Cancelled`` ends the run ``cancelled``; a KeyboardInterrupt marks it ``cancelled`` and
        any other exception ``failed``, and both propagate.
        """
        self.post()
        status, message = "finished", ""
        try:
            work()
        except Cancelled:
            status, message = "cancelled", "cancelled between batches"
        except KeyboardInterrupt:
            status, message = "cancelled", "interrupted"
            raise
        except BaseException as exc:
            status, message = "failed", str(exc)[:500]
            raise
        finally:
            self.checkpoint(status, message)
        return status


def find_run(store: Store, run_id: str) -> dict[str, Any]:
    """A run's record; an unknown id is a user error."""
    run = store.run(run_id)
    if run is None:
        raise AugplanError(f"no run {run_id!r}", hint="augplan runs list")
    return run


def run_state(run: dict[str, Any]) -> str:
    """A run's status as a user should read it: a 'running' run whose process is gone is
    'interrupted' (resumable)."""
    if run["status"] in ("running", "cancelling"):
        try:
            pid = int(json.loads(run["manifest"]).get("pid", 0))
        except (ValueError, TypeError):
            pid = 0
        if pid and not _alive(pid):
            return "interrupted"
    return run["status"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel(store: Store, run_id: str) -> str:
    """Ask a running run to stop after its current batch (or mark an interrupted one)."""
    state = run_state(find_run(store, run_id))
    if state == "running":
        store.update_run(run_id, status="cancelling")
        return "cancelling"
    if state == "interrupted":
        store.update_run(run_id, status="cancelled", message="cancelled after interruption")
        return "cancelled"
    raise AugplanError(f"run {run_id} is {state}; only running or interrupted runs can be "
                       "cancelled")


__all__ = ["Cancelled", "Progress", "RunCounts", "RunTracker", "cancel", "find_run", "open_run",
           "run_state"]
