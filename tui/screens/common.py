"""Pieces shared by the TUI panes: typed worker messages and error text.

Workers never raise into Textual (that would end the app): they post ``WorkFailed`` and the
app turns it into an error notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from store.errors import AugplanError

if TYPE_CHECKING:
    from store import Store

ALL = ""  # the value of an "(all)" choice in a Select


def error_text(exc: BaseException) -> str:
    """What a user reads for an error: the project's message, or the exception's type."""
    if isinstance(exc, AugplanError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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

    store_path: Path
    models_dir: Path | None

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
