"""Run pane: generation jobs (the store's runs table, as ``augplan runs list`` shows it), live
progress of the job this app runs, and start / cancel / resume.

Generation, embedding and the quality pass run in a child process (``tui.jobs``, at a lower
CPU priority); a thread worker relays its progress as typed ``JobProgress`` messages and the
pane only renders them.
"""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from tui.jobs import JobProcess, JobStats, log_path
from tui.screens.common import WorkFailed, context, error_text, options

JOB_COLUMNS = ("run", "status", "done/target", "generated", "augmenter", "strategy", "corpus")


class JobProgress(Message):
    """Posted by the generation worker after each committed batch and each later stage."""

    def __init__(self, stats: JobStats) -> None:
        super().__init__()
        self.stats = stats


class JobFinished(Message):
    def __init__(self, run_id: str, status: str, text: str, counts: dict[str, int]) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status
        self.text = text
        self.counts = counts


class JobsLoaded(Message):
    def __init__(self, rows: list[dict[str, Any]], corpora: list[str]) -> None:
        super().__init__()
        self.rows = rows
        self.corpora = corpora


class RunPane(Vertical):
    """Jobs list with live progress; start a generation, cancel or resume a run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start job"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("f", "refresh", "Refresh"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stop = threading.Event()
        self._rows: list[dict[str, Any]] = []
        self.current: JobStats | None = None
        self.finished: list[JobFinished] = []  # this session's finished jobs, newest last

    def compose(self) -> ComposeResult:
        from engine import catalogue, prompts

        augmenters = [n for n, e in catalogue.catalogue().items() if e.kind == "augmenter"]
        with Horizontal(id="run-form", classes="form-row"):
            yield Select(
                compact=True,
                options=[("(no corpus)", "")],
                allow_blank=False,
                id="run-corpus",
                prompt="corpus",
            )
            yield Select(
                compact=True,
                options=options(augmenters),
                allow_blank=False,
                id="run-augmenter",
                value=augmenters[0],
            )
            yield Select(
                compact=True,
                options=options(prompts.available()),
                allow_blank=False,
                id="run-strategy",
                value=prompts.DEFAULT_STRATEGY,
            )
            yield Input(
                compact=True, value="10", placeholder="passages", id="run-limit", type="integer"
            )
            yield Button(compact=True, label="Start", id="run-start", variant="primary")
        yield Static("no job running in this window", id="job-live")
        yield ProgressBar(id="job-bar", show_eta=False)
        yield Label(
            "jobs (store runs table; s start, c cancel, r resume the selected run)",
            classes="section",
        )
        table: DataTable[str] = DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        table.add_columns(*JOB_COLUMNS)
        yield table
        yield Static("", id="job-detail")

    def on_mount(self) -> None:
        self.query_one("#job-bar").display = False
        self.action_refresh()
        self.set_interval(5.0, self.action_refresh)

    # ---------------------------------------------------------------- loading
    def action_refresh(self) -> None:
        self._load_jobs()

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def _load_jobs(self) -> None:
        from engine.generate import run_state

        try:
            store = context(self).open_store()
            rows = [{**r, "state": run_state(r)} for r in store.runs()]
            corpora = [c["name"] for c in store.corpora()]
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the UI
            self.post_message(WorkFailed("jobs", error_text(exc)))
            return
        self.post_message(JobsLoaded(rows, corpora))

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        corpus = self.query_one("#run-corpus", Select)
        if message.corpora and corpus.value not in message.corpora:
            corpus.set_options(options(message.corpora))
            corpus.value = message.corpora[0]
        table = self.query_one("#jobs", DataTable)
        selected = self.selected_run()
        self._rows = message.rows
        table.clear()
        for r in message.rows:
            table.add_row(
                r["run_id"],
                r["state"],
                f"{r['done']}/{r['target']}",
                str(r["generated"]),
                r["augmenter"],
                r["strategy"],
                r["corpus"],
                key=r["run_id"],
            )
        if not message.rows:
            self.query_one("#job-detail", Static).update(
                "no jobs yet: choose a corpus, an augmenter, a strategy and a passage limit, "
                "then press s (or Start)"
            )
        ids = [r["run_id"] for r in message.rows]
        if selected in ids:
            table.move_cursor(row=ids.index(selected))

    def selected_run(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not self._rows or table.cursor_row is None or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]["run_id"]

    @on(DataTable.RowHighlighted, "#jobs")
    def _show_detail(self, event: DataTable.RowHighlighted) -> None:
        run = next((r for r in self._rows if r["run_id"] == event.row_key.value), None)
        if run is None:
            return
        manifest = json.loads(run["manifest"] or "{}")
        limit = manifest.get("limit")
        rate = f", {run['generated'] / run['seconds']:.2f} q/s" if run["seconds"] else ""
        where = f" · on the cluster {manifest['cluster']}" if manifest.get("cluster") else ""
        self.query_one("#job-detail", Static).update(
            f"[b]{run['run_id']}[/b] {run['state']}{where} {run['message'] or ''}\n"
            f"{run['corpus']} · {run['augmenter']} · {run['strategy']} · limit {limit} · "
            f"{manifest.get('per_passage', 1)} per passage · {run['generated']} generated, "
            f"{run['gen_tokens']} tokens{rate}"
        )

    # ---------------------------------------------------------------- actions
    def job_running(self) -> bool:
        return any(w.group == "generate" and not w.is_finished for w in self.workers)

    @on(Button.Pressed, "#run-start")
    def action_start(self) -> None:
        from engine.generate import GenerateRequest

        corpus = self.query_one("#run-corpus", Select).value
        limit_text = self.query_one("#run-limit", Input).value.strip()
        if not corpus:
            self.app.notify(
                "no corpus in the store: import one with `augplan corpus import`", severity="error"
            )
            return
        try:
            limit = int(limit_text) if limit_text else None
            if limit is not None and limit < 1:
                raise ValueError
        except ValueError:
            self.app.notify(
                f"passage limit {limit_text!r}: give a whole number >= 1", severity="error"
            )
            return
        request = GenerateRequest(
            corpus=str(corpus),
            augmenter=str(self.query_one("#run-augmenter", Select).value),
            strategy=str(self.query_one("#run-strategy", Select).value),
            limit=limit,
        )
        self._launch(request, None)

    def action_resume(self) -> None:
        from engine.generate import GenerateRequest

        run_id = self.selected_run()
        run = next((r for r in self._rows if r["run_id"] == run_id), None)
        if run is None:
            self.app.notify("select a run in the jobs list first", severity="warning")
            return
        if run["state"] in ("running", "cancelling"):
            self.app.notify(f"run {run_id} is still running", severity="error")
            return
        try:
            request = GenerateRequest.from_manifest(json.loads(run["manifest"]))
        except (ValueError, TypeError) as exc:
            self.app.notify(f"run {run_id}: unreadable manifest ({exc})", severity="error")
            return
        self._launch(request, run_id)

    def _launch(self, request: Any, run_id: str | None) -> None:
        if self.job_running():
            self.app.notify(
                "a generation job is already running in this window", severity="warning"
            )
            return
        self._stop.clear()
        self.current = JobStats(run_id=run_id or "")
        bar = self.query_one("#job-bar", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.query_one("#job-live", Static).update(self.current.line())
        self._generate(request, run_id)

    def action_cancel(self) -> None:
        if self.job_running():  # this window's job: stop after the current batch
            self._stop.set()
            self.query_one("#job-live", Static).update("cancelling after the current batch...")
            return
        run_id = self.selected_run()
        if run_id is None:
            self.app.notify("no running job to cancel", severity="warning")
            return
        self._cancel(run_id)  # a run of another process: through the store

    @work(thread=True, group="cancel", exit_on_error=False)
    def _cancel(self, run_id: str) -> None:
        from engine.generate import cancel

        try:
            state = cancel(context(self).open_store(), run_id)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("cancel", error_text(exc)))
            return
        self.app.call_from_thread(self.app.notify, f"run {run_id}: {state}")
        self._load_jobs()

    # ---------------------------------------------------------------- the worker
    @work(thread=True, group="generate", exit_on_error=False)
    def _generate(self, request: Any, run_id: str | None) -> None:
        """Relay a generation job running in its own process (tui.jobs.generate_job)."""
        from textual.worker import get_current_worker

        ctx = context(self)
        worker = get_current_worker()
        job = JobProcess(
            "tui.jobs:generate_job",
            {
                "store_path": ctx.store_uri,
            "storage_options": ctx.storage_options,
                "models_dir": str(ctx.models_dir) if ctx.models_dir else None,
                "manifest": request.manifest(),
                "run_id": run_id,
                "cluster": ctx.cluster,
            },
            log=log_path(ctx.store_path),
        )
        run = run_id or ""
        try:
            result = job.run(
                lambda _kind, stats: self.post_message(JobProgress(JobStats(**stats))),
                should_stop=self._stop.is_set,
                cancelled=lambda: worker.is_cancelled,
            )
        except Exception as exc:  # noqa: BLE001 - a failed job is a notification, not a crash
            if self.current is not None:
                run = self.current.run_id or run
            self.post_message(WorkFailed("generation", error_text(exc)))
            self.post_message(JobFinished(run, "failed", error_text(exc), {}))
            return
        self.post_message(
            JobFinished(result["run_id"], result["status"], result["text"], result["counts"])
        )

    def on_job_progress(self, message: JobProgress) -> None:
        self.current = message.stats
        s = message.stats
        self.query_one("#job-bar", ProgressBar).update(total=s.total, progress=s.done)
        self.query_one("#job-live", Static).update(s.line())
        if s.phase == "generate" and s.run_id and s.run_id not in {r["run_id"] for r in self._rows}:
            self._load_jobs()

    def on_job_finished(self, message: JobFinished) -> None:
        self.finished.append(message)
        self.query_one("#job-bar").display = False
        c = message.counts
        self.query_one("#job-live", Static).update(
            f"{message.text}; accepted {c.get('ok', 0)}, filtered {c.get('filtered', 0)}, "
            f"duplicate {c.get('duplicate', 0)}, empty {c.get('empty', 0)}"
        )
        if message.status != "failed":
            self.app.notify(message.text, title="generation")
        self._load_jobs()
