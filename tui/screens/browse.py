"""Browse pane: search the cache of synthetic queries (vector, full-text or hybrid, through
``engine.search.search_queries``) with filters; a detail pane with the passage and every query
generated for it; diversity scores of the selection (``engine.quality.diversity_for``); export
of the selection's training pairs (``store.export.export_pairs``, jsonl)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Select, Static

from tui.screens.common import ALL, WorkFailed, context, error_text, options

STATUSES = ("ok", "filtered", "duplicate", "empty")
LIMIT = 50


@dataclass
class Filters:
    corpus: str = ALL
    augmenter: str = ALL
    strategy: str = ALL
    status: str = ALL
    run: str = ALL

    def selection(self) -> Any:
        """The selection as the store's typed ``Selection`` (empty fields select all)."""
        from store import Selection

        return Selection(corpus=self.corpus or None, augmenter=self.augmenter or None,
                         strategy=self.strategy or None, status=self.status or None,
                         run=self.run or None)


class FacetsLoaded(Message):
    def __init__(self, facets: dict[str, list[str]]) -> None:
        super().__init__()
        self.facets = facets


class ResultsLoaded(Message):
    def __init__(
        self, rows: list[dict[str, Any]], diversity: dict[str, Any] | None, label: str
    ) -> None:
        super().__init__()
        self.rows = rows
        self.diversity = diversity
        self.label = label


class DetailLoaded(Message):
    def __init__(self, passage: dict[str, Any], queries: list[dict[str, Any]]) -> None:
        super().__init__()
        self.passage = passage
        self.queries = queries


def diversity_line(d: dict[str, Any] | None) -> str:
    if not d or not d.get("n"):
        return "diversity: (no queries in the selection)"
    names = (
        ("distinct_1", "distinct-1"),
        ("distinct_2", "distinct-2"),
        ("self_bleu", "self-BLEU"),
        ("vendi", "Vendi"),
        ("mean_pairwise_distance", "mean distance"),
        ("copy_rate", "copy rate"),
    )
    parts = [f"{label} {d[k]:.3f}" for k, label in names if isinstance(d.get(k), int | float)]
    return f"diversity of {d['n']} queries: " + ", ".join(parts)


class BrowsePane(Vertical):
    """Search and inspect the cached synthetic queries."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        Binding("e", "export", "Export jsonl"),
        Binding("f", "refresh", "Refresh filters"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []
        self.diversity: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Input(
                compact=True,
                placeholder="search the synthetic queries (Enter; empty: list)",
                id="browse-text",
            )
            yield Select(
                compact=True,
                options=options(["hybrid", "vector", "fts"]),
                allow_blank=False,
                value="hybrid",
                id="browse-mode",
            )
        with Horizontal(classes="form-row"):
            yield Select(
                compact=True,
                options=[("(corpora)", ALL)],
                allow_blank=False,
                id="browse-corpus",
            )
            yield Select(
                compact=True,
                options=[("(augmenters)", ALL)],
                allow_blank=False,
                id="browse-augmenter",
            )
            yield Select(
                compact=True,
                options=[("(strategies)", ALL)],
                allow_blank=False,
                id="browse-strategy",
            )
            yield Select(
                compact=True,
                options=options(list(STATUSES), "(statuses)"),
                allow_blank=False,
                id="browse-status",
            )
            yield Select(
                compact=True, options=[("(runs)", ALL)], allow_blank=False, id="browse-run"
            )
        with Horizontal(id="browse-main"):
            table: DataTable[str] = DataTable(
                id="browse-results", cursor_type="row", zebra_stripes=True
            )
            table.add_columns("score", "query", "status", "augmenter", "passage")
            yield table
            with VerticalScroll(id="browse-detail"):
                yield Static(
                    "select a row to see its passage and every query generated for it",
                    id="browse-passage",
                )
        with Horizontal(classes="form-row", id="browse-bottom"):
            yield Static("", id="browse-diversity")
            yield Input(compact=True, placeholder="export file (.jsonl)", id="browse-export-path")
            yield Button(compact=True, label="Export", id="browse-export")

    def on_mount(self) -> None:
        self.action_refresh()

    # ----------------------------------------------------------------- facets
    def action_refresh(self) -> None:
        self._load_facets()

    @work(thread=True, exclusive=True, group="browse-facets", exit_on_error=False)
    def _load_facets(self) -> None:
        try:
            store = context(self).open_store()
            facets = {"corpus": store.corpus_names(), **store.facets()}
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("browse", error_text(exc)))
            return
        self.post_message(FacetsLoaded(facets))

    def on_facets_loaded(self, message: FacetsLoaded) -> None:
        for col, sel_id, label in (
            ("corpus", "#browse-corpus", "(corpora)"),
            ("augmenter", "#browse-augmenter", "(augmenters)"),
            ("strategy", "#browse-strategy", "(strategies)"),
            ("run_id", "#browse-run", "(runs)"),
        ):
            select = self.query_one(sel_id, Select)
            keep = select.value
            with self.prevent(Select.Changed):
                select.set_options(options(message.facets[col], label))
                if keep in message.facets[col]:
                    select.value = keep

    def filters(self) -> Filters:
        def val(sel: str) -> str:
            v = self.query_one(sel, Select).value
            return v if isinstance(v, str) else ALL

        return Filters(
            val("#browse-corpus"),
            val("#browse-augmenter"),
            val("#browse-strategy"),
            val("#browse-status"),
            val("#browse-run"),
        )

    # ----------------------------------------------------------------- search
    def action_focus_search(self) -> None:
        self.query_one("#browse-text", Input).focus()

    @on(Input.Submitted, "#browse-text")
    def _submitted(self) -> None:
        self.search()

    @on(
        Select.Changed,
        "#browse-corpus, #browse-augmenter, #browse-strategy, #browse-status, #browse-run",
    )
    def _filter_changed(self) -> None:
        if self.rows or self.query_one("#browse-text", Input).value.strip():
            self.search()

    def search(self, text: str | None = None) -> None:
        if text is not None:
            self.query_one("#browse-text", Input).value = text
        text = self.query_one("#browse-text", Input).value
        mode = str(self.query_one("#browse-mode", Select).value)
        self._search(text, mode, self.filters())

    @work(thread=True, exclusive=True, group="browse-search", exit_on_error=False)
    def _search(self, text: str, mode: str, filters: Filters) -> None:
        from engine.quality import diversity_for
        from engine.search import list_queries, search_queries

        ctx = context(self)
        try:
            store = ctx.open_store()
            if text.strip():
                df = search_queries(
                    store,
                    text,
                    mode=mode,
                    selection=filters.selection(),
                    limit=LIMIT,
                    models_dir=ctx.models_dir,
                )
                rows = df.to_dicts()
                label = f"{len(rows)} matches ({mode})"
            else:
                rows = list_queries(store, filters.selection(), limit=LIMIT).to_dicts()
                label = f"{len(rows)} queries (first {LIMIT})"
            diversity = diversity_for(store, filters.selection())
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("search", error_text(exc)))
            return
        self.post_message(ResultsLoaded(rows, diversity, label))

    def on_results_loaded(self, message: ResultsLoaded) -> None:
        self.rows = message.rows
        self.diversity = message.diversity
        table = self.query_one("#browse-results", DataTable)
        table.clear()
        for i, r in enumerate(message.rows):
            passage = f"{r.get('title') or ''}. {r.get('text') or ''}".strip(". ")
            score = "-" if r.get("score") is None else f"{r['score']:.3f}"
            query = r["query"] or "(empty)"
            query = query if len(query) <= 44 else query[:43] + "…"
            table.add_row(
                score, Text(query), r["status"], r["augmenter"], Text(passage[:40]), key=str(i)
            )
        self.query_one("#browse-diversity", Static).update(
            f"{message.label}; {diversity_line(message.diversity)}"
        )
        if not message.rows:
            self.query_one("#browse-passage", Static).update("no matches")

    # ----------------------------------------------------------------- detail
    @on(DataTable.RowHighlighted, "#browse-results")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        i = int(event.row_key.value)
        if i < len(self.rows):
            self._detail(self.rows[i])

    @work(thread=True, exclusive=True, group="browse-detail", exit_on_error=False)
    def _detail(self, row: dict[str, Any]) -> None:
        from engine.search import passage_queries

        try:
            store = context(self).open_store()
            queries = passage_queries(store, row["corpus"], row["passage_id"])
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("detail", error_text(exc)))
            return
        self.post_message(DetailLoaded(row, queries))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        p = message.passage
        text = Text()
        text.append(f"{p['corpus']}/{p['passage_id']}\n", style="dim")
        if p.get("title"):
            text.append(f"{p['title']}\n", style="bold")
        text.append(f"{p.get('text') or ''}\n\n")
        text.append(f"{len(message.queries)} queries generated for this passage:\n", style="bold")
        for q in message.queries:
            style = "green" if q["status"] == "ok" else "yellow"
            text.append(
                f"- {q['query'] or '(empty)'}", style="bold" if q["query"] == p["query"] else ""
            )
            text.append(f"  [{q['status']}", style=style)
            text.append(f"{': ' + q['reason'] if q['reason'] else ''}]", style=style)
            text.append(f"  {q['augmenter']} · {q['strategy']}\n", style="dim")
        self.query_one("#browse-passage", Static).update(text)

    # ----------------------------------------------------------------- export
    @on(Button.Pressed, "#browse-export")
    @on(Input.Submitted, "#browse-export-path")
    def action_export(self) -> None:
        filters = self.filters()
        if not filters.corpus:
            self.app.notify("export: choose a corpus in the filters first", severity="error")
            return
        name = self.query_one("#browse-export-path", Input).value.strip()
        ctx = context(self)
        path = (ctx.store_path.parent / f"export-{filters.corpus}.jsonl") if not name else None
        self._export(filters, name, path)

    @work(thread=True, exclusive=True, group="browse-export", exit_on_error=False)
    def _export(self, filters: Filters, name: str, default: Any) -> None:
        from pathlib import Path

        from store.export import export_pairs

        target = Path(name).expanduser() if name else default
        try:
            n = export_pairs(
                context(self).open_store(), filters.corpus, "jsonl", target,
                selection=filters.selection(),
            )
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("export", error_text(exc)))
            return
        self.app.call_from_thread(
            self.app.notify,
            f"{n} training pairs (accepted queries of the selection) written to {target}",
            title="export",
        )
