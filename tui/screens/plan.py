"""Plan pane: choose corpus, retriever, candidate augmenters and strategy, enter a budget, and
see the pilot points, the fitted curves (plotext), the recommendation with its explanation,
alternatives and warnings. ``m`` runs the suggested next pilot, ``x`` runs the recommendation.

Planning goes through ``engine.planning.make_plan`` (as ``augplan plan`` does); the last plan is
saved as ``plan-<corpus>.json`` next to the store (as ``augplan demo`` does) and shown again
when the app reopens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Log,
    Select,
    SelectionList,
    Static,
)

from tui.screens.common import (
    ALL,
    TaskEvent,
    WorkFailed,
    context,
    error_text,
    options,
    run_job,
)

if TYPE_CHECKING:
    from engine.planning import PlanChoices

NO_PILOTS = (
    "No pilot points for corpus {corpus!r} in the store yet.\n"
    "Measure some first, e.g. `augplan pilot --corpus {corpus} --retriever "
    "static-minilm --augmenters smollm2-135m --scales 50,100,150`, then press p."
)


@dataclass
class PlanInputs:
    corpus: str
    retriever: str | None
    augmenters: tuple[str, ...]  # the candidates; () = every augmenter with pilots
    strategy: str | None
    budget: float
    device: str | None
    price: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "retriever": self.retriever,
            "augmenters": list(self.augmenters),
            "strategy": self.strategy,
            "budget": self.budget,
            "device": self.device,
            "price": self.price,
        }


class ChoicesLoaded(Message):
    def __init__(
        self, corpora: list[str], choices: PlanChoices | None, saved: dict[str, Any] | None
    ) -> None:
        super().__init__()
        self.corpora = corpora
        self.choices = choices
        self.saved = saved


class PlanReady(Message):
    def __init__(self, doc: dict[str, Any], plot: str, saved_to: str) -> None:
        super().__init__()
        self.doc = doc
        self.plot = plot
        self.saved_to = saved_to


def compute_plan(store: Any, inputs: PlanInputs) -> Any:
    """A MadePlan for the inputs (engine.planning.make_plan on the candidate augmenters)."""
    from engine import planning
    from planner import PlanOptions

    return planning.make_plan(
        inputs.budget,
        store=store,
        corpus=inputs.corpus,
        retriever=inputs.retriever,
        strategy=inputs.strategy,
        device=inputs.device,
        price=inputs.price,
        options=PlanOptions(seed=0),
        augmenters=list(inputs.augmenters) or None,
    )


def form_row(label: str, widget: Widget) -> Iterator[Widget]:
    """A form row: a fixed-width label and the widget."""
    row = Horizontal(Label(label, classes="field-label"), widget, classes="field")
    yield row


class PlanPane(VerticalScroll):
    """Budget in, recommendation out."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "plan", "Plan"),
        Binding("m", "more_pilots", "Next pilot"),
        Binding("x", "run_plan", "Run plan"),
        Binding("a", "autopilot", "Autopilot"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.doc: dict[str, Any] | None = None
        self._choices: PlanChoices | None = None
        self._restoring: dict[str, Any] | None = None
        # settings of the autopilot beyond the form (engine.autopilot.AutopilotRequest fields)
        self.autopilot_settings: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="plan-top"):
            with Vertical(id="plan-form"):
                yield from form_row(
                    "corpus",
                    Select(
                        [("(no corpus)", "")], allow_blank=False, id="plan-corpus", compact=True
                    ),
                )
                yield from form_row(
                    "retriever",
                    Select([("(any)", ALL)], allow_blank=False, id="plan-retriever", compact=True),
                )
                yield from form_row(
                    "strategy",
                    Select(
                        [("(compare all)", ALL)],
                        allow_blank=False,
                        id="plan-strategy",
                        compact=True,
                    ),
                )
                yield Label("candidate augmenters")
                yield SelectionList[str](id="plan-augmenters", compact=True)
                yield from form_row(
                    "GPU-hours", Input(value="0.05", id="plan-budget", type="number", compact=True)
                )
                yield from form_row(
                    "device", Input(placeholder="(any)", id="plan-device", compact=True)
                )
                yield from form_row(
                    "price/hour",
                    Input(placeholder="(optional)", id="plan-price", type="number", compact=True),
                )
                with Horizontal(classes="buttons"):
                    yield Button("Plan", id="plan-go", variant="primary", compact=True)
                    yield Button("Pilot", id="plan-pilot", compact=True)
                    yield Button("Run", id="plan-run", compact=True)
            with Vertical(id="plan-pilots-box"):
                yield Label("pilot points (mean over seeds)", classes="section")
                table: DataTable[str] = DataTable(id="plan-pilots", cursor_type="row")
                # what matters first: at 80 columns the last ones scroll out of view
                table.add_columns("augmenter", "n", "nDCG@10", "seeds", "retriever", "eval set")
                yield table
        yield Static("", id="plan-message")
        yield Static("", id="plan-plot")
        yield Label("recommendation", classes="section")
        yield Static("press p to plan", id="plan-explanation")
        yield Label("alternatives at matched cost", classes="section")
        alts: DataTable[str] = DataTable(id="plan-alternatives", cursor_type="row")
        alts.add_columns("augmenter", "strategy", "n", "predicted", "interval", "GPU-hours")
        yield alts
        yield Static("", id="plan-warnings")
        yield Log(id="plan-log", max_lines=200)

    def on_mount(self) -> None:
        self.query_one("#plan-log").display = False
        self._load_choices(None)

    # ------------------------------------------------------------------ choices
    @on(Select.Changed, "#plan-corpus")
    def _corpus_changed(self, event: Select.Changed) -> None:
        if event.value and (self._choices is None or self._choices.corpus != event.value):
            self._load_choices(str(event.value))

    @work(thread=True, exclusive=True, group="plan-choices", exit_on_error=False)
    def _load_choices(self, corpus: str | None) -> None:
        from engine.planning import latest_plan, plan_choices

        ctx = context(self)
        try:
            store = ctx.open_store()
            corpora = [c["name"] for c in store.corpora()]
            saved = latest_plan(ctx.store_path) if corpus is None else None
            if corpus is None:
                corpus = (
                    (saved or {}).get("corpus")
                    if (saved or {}).get("corpus") in corpora
                    else (corpora[0] if corpora else None)
                )
            choices = plan_choices(store, corpus) if corpus is not None else None
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("plan", error_text(exc)))
            return
        self.post_message(ChoicesLoaded(corpora, choices, saved))

    def on_choices_loaded(self, message: ChoicesLoaded) -> None:
        ch = message.choices
        corpus = self.query_one("#plan-corpus", Select)
        if message.corpora:
            with self.prevent(Select.Changed):
                corpus.set_options(options(message.corpora))
                if ch is not None:
                    corpus.value = ch.corpus
        self._choices = ch
        msg = self.query_one("#plan-message", Static)
        if ch is None:
            msg.update("The store has no corpus yet: import one with `augplan corpus import`.")
            return
        with self.prevent(Select.Changed):
            self.query_one("#plan-retriever", Select).set_options(
                options(ch.retrievers, "(any)" if len(ch.retrievers) != 1 else None)
            )
            self.query_one("#plan-strategy", Select).set_options(
                options(ch.strategies, "(compare all)")
            )
        augs = self.query_one("#plan-augmenters", SelectionList)
        augs.clear_options()
        augs.add_options([(a, a, True) for a in ch.augmenters])
        table = self.query_one("#plan-pilots", DataTable)
        table.clear()
        for retr, aug, ev, n, seeds, mean in ch.pilot_rows:
            table.add_row(aug, f"{n:,}", f"{mean:.4f}", str(seeds), retr, ev)
        if not ch.pilot_rows:
            msg.update(NO_PILOTS.format(corpus=ch.corpus))
            return
        msg.update("")
        if message.saved and message.saved.get("corpus") == ch.corpus:
            self._restore(message.saved)

    def _restore(self, saved: dict[str, Any]) -> None:
        """Show the saved plan at once, then recompute it (for the plot) from its inputs."""
        inputs = saved.get("inputs") or {}
        if inputs.get("retriever"):
            self._set_select("#plan-retriever", inputs["retriever"])
        if inputs.get("strategy"):
            self._set_select("#plan-strategy", inputs["strategy"])
        if inputs.get("budget") is not None:
            self.query_one("#plan-budget", Input).value = f"{inputs['budget']:g}"
        self.query_one("#plan-device", Input).value = inputs.get("device") or ""
        price = inputs.get("price")
        self.query_one("#plan-price", Input).value = "" if price is None else f"{price:g}"
        if inputs.get("augmenters"):
            augs = self.query_one("#plan-augmenters", SelectionList)
            augs.deselect_all()
            for a in inputs["augmenters"]:
                if a in (self._choices.augmenters if self._choices else []):
                    augs.select(a)
        self._show_doc(saved, plot="")
        self.action_plan()

    def _set_select(self, selector: str, value: str) -> None:
        select = self.query_one(selector, Select)
        # a value no longer offered: keep the default
        with self.prevent(Select.Changed), contextlib.suppress(Exception):
            select.value = value

    # ------------------------------------------------------------------ planning
    def read_inputs(self) -> PlanInputs | None:
        """The form as PlanInputs, or None after an error notification."""

        def num(selector: str, name: str, optional: bool) -> float | None:
            text = self.query_one(selector, Input).value.strip()
            if not text and optional:
                return None
            try:
                value = float(text)
                if not value > 0:
                    raise ValueError
            except ValueError:
                self.app.notify(f"{name} {text!r}: give a positive number", severity="error")
                raise
            return value

        corpus = self.query_one("#plan-corpus", Select).value
        if not corpus:
            self.app.notify("no corpus to plan for", severity="error")
            return None
        try:
            budget = num("#plan-budget", "budget", False)
            price = num("#plan-price", "price per hour", True)
        except ValueError:
            return None
        retriever = self.query_one("#plan-retriever", Select).value
        strategy = self.query_one("#plan-strategy", Select).value
        device = self.query_one("#plan-device", Input).value.strip() or None
        chosen = tuple(self.query_one("#plan-augmenters", SelectionList).selected)
        if self._choices and self._choices.augmenters and not chosen:
            self.app.notify("choose at least one candidate augmenter", severity="error")
            return None
        return PlanInputs(
            str(corpus),
            str(retriever) or None,
            chosen,
            str(strategy) or None,
            float(budget or 0),
            device,
            price,
        )

    @on(Button.Pressed, "#plan-go")
    @on(Input.Submitted, "#plan-budget, #plan-device, #plan-price")
    def action_plan(self) -> None:
        inputs = self.read_inputs()
        if inputs is None:
            return
        if self._choices is not None and not self._choices.pilot_rows:
            self.query_one("#plan-message", Static).update(NO_PILOTS.format(corpus=inputs.corpus))
            return
        self.query_one("#plan-message", Static).update("planning...")
        width = max(50, min(self.app.size.width - 6, 110))
        self._plan(inputs, width)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _plan(self, inputs: PlanInputs, width: int) -> None:
        from engine import planning
        from tui.plots import plot_terminal

        ctx = context(self)
        try:
            made = compute_plan(ctx.open_store(), inputs)
            doc = planning.plan_document(made.plan, made.meta)
            doc["inputs"] = inputs.to_dict()
            plot = plot_terminal(
                made.plan,
                made.cost,
                width=width,
                height=18,
                metric_name=made.meta["metric"],
                color=True,
            )
            path = planning.plan_file(ctx.store_path, inputs.corpus)
            planning.write_plan(path, doc)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("plan", error_text(exc)))
            self.post_message(TaskEvent("plan", f"plan failed: {error_text(exc)}"))
            return
        self.post_message(PlanReady(doc, plot, path.name))

    def on_plan_ready(self, message: PlanReady) -> None:
        self._show_doc(message.doc, message.plot)
        self.query_one("#plan-message", Static).update(f"plan saved as {message.saved_to}")

    def _show_doc(self, doc: dict[str, Any], plot: str) -> None:
        self.doc = doc
        self.query_one("#plan-plot", Static).update(Text.from_ansi(plot) if plot else "")
        self.query_one("#plan-explanation", Static).update(
            Text(doc.get("explanation") or "(no explanation)")
        )
        table = self.query_one("#plan-alternatives", DataTable)
        table.clear()
        for a in doc.get("alternatives") or []:
            table.add_row(
                a["augmenter"],
                a.get("strategy") or "-",
                f"{a['scale']:,}",
                f"{a['predicted_metric']:.4f}",
                f"[{a['ci_low']:.4f}, {a['ci_high']:.4f}]",
                f"{a['cost_gpu_hours']:.4g}",
            )
        warnings = doc.get("warnings") or []
        self.query_one("#plan-warnings", Static).update(
            Text("\n".join(f"warning: {w}" for w in warnings), style="yellow")
        )

    def on_task_event(self, message: TaskEvent) -> None:
        log = self.query_one("#plan-log", Log)
        log.display = True
        log.write_line(f"{message.source}: {message.text}")
        if message.source == "plan":
            self.query_one("#plan-message", Static).update(Text(message.text))

    # ------------------------------------------------------------------ actions
    @on(Button.Pressed, "#plan-pilot")
    def action_more_pilots(self) -> None:
        nxt = (self.doc or {}).get("next_pilot")
        if not nxt or not nxt.get("scale"):
            self.app.notify(
                "the plan suggests no next pilot point (plan first)", severity="warning"
            )
            return
        self._pilot(self.doc or {}, nxt)

    @work(thread=True, exclusive=True, group="pilot", exit_on_error=False)
    def _pilot(self, doc: dict[str, Any], nxt: dict[str, Any]) -> None:
        try:
            report = run_job(self, "pilot", "tui.jobs:pilot_job", doc=doc, nxt=nxt)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("pilot", error_text(exc)))
            return
        self.post_message(
            TaskEvent(
                "pilot", f"done: {report['computed']} points computed, {report['reused']} reused"
            )
        )
        self.app.call_from_thread(self._load_choices, doc["corpus"])
        self.app.call_from_thread(self.action_plan)

    @on(Button.Pressed, "#plan-run")
    def action_run_plan(self) -> None:
        if not self.doc:
            self.app.notify("no plan to run (press p first)", severity="warning")
            return
        if not self.doc.get("scale"):
            self.app.notify("the plan keeps the zero-shot retriever: nothing to generate")
            return
        self._execute(self.doc)

    @work(thread=True, exclusive=True, group="execute", exit_on_error=False)
    def _execute(self, doc: dict[str, Any]) -> None:
        from engine.planning import training_file

        ctx = context(self)
        post = lambda m: self.post_message(TaskEvent("run plan", m))
        target = training_file(ctx.store_path, doc)
        try:
            post(f"{doc['augmenter']}: {doc['scale']:,} accepted queries of {doc['corpus']}")
            summary = run_job(
                self, "run plan", "tui.jobs:execute_plan_job", doc=doc, out=str(target)
            )
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("run plan", error_text(exc)))
            return
        post(
            f"{summary['generated']} generated; {summary['exported']} training pairs "
            f"written to {Path(summary['path']).name}"
        )

    def action_autopilot(self) -> None:
        """Pilots chosen by the plan inside a quarter of the budget, then the plan run: the
        points, the current choice and its stability land in the log as they come."""
        inputs = self.read_inputs()
        if inputs is None:
            return
        if not inputs.augmenters:
            self.app.notify("choose the candidate augmenters first", severity="warning")
            return
        self._autopilot(inputs)

    @work(thread=True, exclusive=True, group="autopilot", exit_on_error=False)
    def _autopilot(self, inputs: PlanInputs) -> None:
        post = lambda m: self.post_message(TaskEvent("autopilot", m))
        try:
            report = run_job(self, "autopilot", "tui.jobs:autopilot_job",
                             inputs=inputs.to_dict(), settings=self.autopilot_settings)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("autopilot", error_text(exc)))
            return
        post(f"done: {report['choice']}; dev nDCG@10 {report['dev']:.4f}, test "
             f"{report['test']:.4f} ({report['stopped']})")
        self.app.call_from_thread(self._load_choices, inputs.corpus)
