"""Pieces shared by the TUI panes: typed worker messages and error text.

Workers never raise into Textual (that would end the app): they post ``WorkFailed`` and the
app turns it into an error notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from tui.jobs import JobProcess, error_text, log_path

if TYPE_CHECKING:
    from store import Store

ALL = ""  # the value of an "(all)" choice in a Select


class WorkFailed(Message):
    """A worker stopped on an error (shown as an error notification)."""

    def __init__(self, source: str, text: str) -> None:
        super().__init__()
        self.source = source
        self.text = text


class TaskEvent(Message):
    """One line of progress from a worker (pilot, plan run, pull, benchmark)."""

    def __init__(self, source: str, text: str) -> None:
        super().__init__()
        self.source = source
        self.text = text


class AppContext:
    """What every pane needs from the app: where the store and models are."""

    store_path: Path  # a local folder: the store's own, or the one standing for a remote store
    store_uri: str  # where the store is (a folder or an object-storage URI)
    storage_options: dict[str, str]
    models_dir: Path | None
    cluster: str | None  # the Ray address generation jobs decode on (None: locally)

    def open_store(self) -> Store:  # pragma: no cover - implemented by the app
        raise NotImplementedError


def context(widget: Any) -> AppContext:
    """The running app as the panes see it."""
    return widget.app  # type: ignore[no-any-return]


def options(values: list[str], all_label: str | None = None) -> list[tuple[str, str]]:
    """Select options for plain strings, with an optional first "(all)" choice."""
    opts = [(all_label, ALL)] if all_label is not None else []
    return opts + [(v, v) for v in values]


def fmt_num(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec)


def run_job(widget: Any, source: str, target: str, **kwargs: Any) -> Any:
    """From a thread worker: run the job function ``target`` of ``tui.jobs`` in its own
    process (store and models of the app added to its arguments), relay its ``("event",
    text)`` lines as ``TaskEvent(source, text)`` and return its result (``JobFailed``
    raised). The job is killed if the worker is cancelled (the app closes)."""
    from textual.worker import get_current_worker

    ctx = context(widget)
    worker = get_current_worker()
    job = JobProcess(
        target,
        {
            "store_path": ctx.store_uri,
            "storage_options": ctx.storage_options,
            "models_dir": str(ctx.models_dir) if ctx.models_dir else None,
            **kwargs,
        },
        log=log_path(ctx.store_path),
    )
    return job.run(
        lambda _kind, text: widget.post_message(TaskEvent(source, str(text))),
        cancelled=lambda: worker.is_cancelled,
    )


__all__ = [
    "ALL",
    "AppContext",
    "TaskEvent",
    "WorkFailed",
    "context",
    "error_text",
    "fmt_num",
    "options",
    "run_job",
]
