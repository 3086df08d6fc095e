"""Models pane: the catalogue with sizes, presence and sha256 verification; pull, verify and
benchmark (``engine.profiles.measure_augmenter``) in workers, with progress in a log."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Log, ProgressBar, Static

from tui.screens.common import TaskEvent, WorkFailed, context, error_text, run_job

# what a user checks first comes first: at 80 columns the family scrolls out of view
COLUMNS = ("name", "kind", "size", "present", "verified", "params", "quant", "family")


#: Passages an augmenter is measured on by the benchmark action.
BENCH_PASSAGES = 8


class CatalogueLoaded(Message):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows


class ModelChecked(Message):
    def __init__(self, name: str, verified: bool) -> None:
        super().__init__()
        self.name = name
        self.verified = verified


class TaskDone(Message):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class ModelsPane(Vertical):
    """The model catalogue and what is on this machine."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify"),
        Binding("p", "pull", "Pull"),
        Binding("b", "benchmark", "Benchmark"),
        Binding("f", "refresh", "Refresh"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []
        self.verified: dict[str, bool] = {}

    def compose(self) -> ComposeResult:
        yield Label(
            "model catalogue (v verify sha256, p pull, b benchmark the selected model)",
            classes="section",
        )
        table: DataTable[str] = DataTable(id="models-table", cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        yield ProgressBar(id="models-bar", show_eta=False)
        yield Static("", id="models-status")
        yield Log(id="models-log", max_lines=300)

    def on_mount(self) -> None:
        self.query_one("#models-bar").display = False
        self.action_refresh()

    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="models-load", exit_on_error=False)
    def _load(self) -> None:
        from engine import catalogue

        try:
            rows = catalogue.status(context(self).models_dir)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("models", error_text(exc)))
            return
        self.post_message(CatalogueLoaded(rows))

    def on_catalogue_loaded(self, message: CatalogueLoaded) -> None:
        from engine.catalogue import human_size

        self.rows = message.rows
        table = self.query_one("#models-table", DataTable)
        row = table.cursor_row
        table.clear()
        for r in message.rows:
            verified = {None: "-", True: "yes", False: "NO"}[self.verified.get(r["name"])]
            family = r["family"].split(" (")[0].split(",")[0]
            table.add_row(
                r["name"],
                r["kind"],
                human_size(r["size_bytes"]),
                "yes" if r["present"] else "no",
                verified,
                f"{r['params'] / 1e6:.0f}M",
                r["quantisation"],
                family,
                key=r["name"],
            )
        if row is not None and row < len(message.rows):
            table.move_cursor(row=row)

    def selected(self) -> str | None:
        table = self.query_one("#models-table", DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return str(self.rows[table.cursor_row]["name"])

    def _busy(self, what: str, name: str) -> bool:
        if any(w.group == "models-task" and w.is_running for w in self.workers):
            self.app.notify("a model task is already running", severity="warning")
            return True
        bar = self.query_one("#models-bar", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.query_one("#models-status", Static).update(f"{what} {name}...")
        return False

    # ------------------------------------------------------------------ actions
    def action_verify(self) -> None:
        name = self.selected()
        if name and not self._busy("verifying", name):
            self._verify(name)

    def action_pull(self) -> None:
        name = self.selected()
        if name and not self._busy("pulling", name):
            self._pull(name)

    def action_benchmark(self) -> None:
        name = self.selected()
        if not name:
            return
        row = next(r for r in self.rows if r["name"] == name)
        if row["kind"] != "augmenter":
            self.app.notify(
                f"{name} is an {row['kind']}: only augmenters are benchmarked", severity="error"
            )
            return
        if not self._busy("benchmarking", name):
            self._benchmark(name)

    @work(thread=True, group="models-task", exit_on_error=False)
    def _verify(self, name: str) -> None:
        from engine import catalogue

        ok = False
        try:
            catalogue.verify(name, context(self).models_dir)
            ok = True
            self.post_message(TaskEvent("verify", f"{name}: sha256 OK"))
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("verify", error_text(exc)))
        self.post_message(ModelChecked(name, ok))
        self.post_message(TaskDone(name))

    @work(thread=True, group="models-task", exit_on_error=False)
    def _pull(self, name: str) -> None:
        from engine import catalogue

        try:
            dest = catalogue.pull(
                name,
                context(self).models_dir,
                log=lambda m: self.post_message(TaskEvent("pull", m)),
            )
            self.post_message(TaskEvent("pull", f"{name}: verified at {dest}"))
            self.post_message(ModelChecked(name, True))
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("pull", error_text(exc)))
        self.post_message(TaskDone(name))

    @work(thread=True, group="models-task", exit_on_error=False)
    def _benchmark(self, name: str) -> None:
        try:
            p = run_job(self, "bench", "tui.jobs:benchmark_job", name=name, passages=BENCH_PASSAGES)
            self.post_message(
                TaskEvent(
                    "bench",
                    f"{name} on {p['device']}: {p['queries_per_s']:.2f} queries/s, "
                    f"{p['gen_tokens_per_s']:.0f} generated tokens/s, "
                    f"{p['prompt_tokens_per_s']:.0f} prompt tokens/s (saved in the store)",
                )
            )
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("benchmark", error_text(exc)))
        self.post_message(TaskDone(name))

    # ------------------------------------------------------------------ results
    def on_task_event(self, message: TaskEvent) -> None:
        self.query_one("#models-log", Log).write_line(f"{message.source}: {message.text}")
        message.stop()

    def on_model_checked(self, message: ModelChecked) -> None:
        self.verified[message.name] = message.verified
        self.action_refresh()

    def on_task_done(self, message: TaskDone) -> None:
        self.query_one("#models-bar").display = False
        self.query_one("#models-status", Static).update(f"{message.name}: done")
