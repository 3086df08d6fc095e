"""``augplan corpus``: corpora in the store: import, list, carve a dev split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tui.cli._common import StorageOpt, StoreOpt, open_store, out, print_table

if TYPE_CHECKING:
    from store.corpus import DroppedQrels

app = typer.Typer(help="Corpora in the store: import, list, carve a dev split.",
                  no_args_is_help=True)

DataOpt = Annotated[Path | None, typer.Option("--data", help="Folder holding datasets by name.")]


@app.command("import")
def corpus_import(
    path: Annotated[str, typer.Argument(help="BEIR folder, .jsonl or .parquet file, or a dataset "
                                        "name looked up in --data / $AUGPLAN_DATA_DIR.")],
    name: Annotated[str | None, typer.Option("--name", help="Corpus name in the store.")] = None,
    data: DataOpt = None,
    download: Annotated[bool, typer.Option("--download",
                                           help="Download a known BEIR dataset if not found.")]
    = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a corpus of this name.")]
    = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse a corpus whose qrels name query or corpus ids it lacks "
        "(default: drop those rows and report them).")] = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Validate and import a corpus (streamed; nothing is written if any line is bad)."""
    from engine.datasets import import_dataset

    t0 = time.perf_counter()
    corpus, summary, written = import_dataset(open_store(store_path, storage), path, name=name,
                                              data_dir=data, download=download, replace=replace,
                                              strict=strict)
    qrels = ", ".join(f"{k} {v}" for k, v in sorted(summary.qrels.items())) or "none"
    verb = "imported" if written else "unchanged (already imported)"
    out.print(f"corpus {corpus!r} {verb}: {summary.n_passages} passages, "
              f"{summary.n_queries} queries, qrels: {qrels} ({time.perf_counter() - t0:.1f} s)")
    dropped = summary.dropped_qrels
    if dropped.count:
        out.print(f"dropped {_rows(dropped.count)} naming a query or corpus id the corpus lacks: "
                  f"{_refs(dropped)} (--strict refuses such a corpus)",
                  markup=False, highlight=False, soft_wrap=True)


def _rows(n: int) -> str:
    return f"{n} qrels row{'' if n == 1 else 's'}"


def _refs(dropped: DroppedQrels) -> str:
    """The first dropped rows as file:line, and how many more there are."""
    refs = ", ".join(dropped.first)
    more = dropped.count - len(dropped.first)
    return refs + (f" and {more} more" if more > 0 else "")


@app.command("list")
def corpus_list(store_path: StoreOpt = None, storage: StorageOpt = None) -> None:
    """Corpora in the store; qrels rows dropped on import are counted, the first few named."""
    from store.corpus import DroppedQrels

    rows = open_store(store_path, storage).corpora()
    table = Table(title="corpora")
    for col in ("name", "kind", "passages", "queries", "qrels", "dropped qrels", "imported"):
        table.add_column(col)
    notes: list[str] = []
    for r in rows:
        dropped = DroppedQrels.from_json(r.get("dropped_qrels"))
        table.add_row(r["name"], r["kind"], str(r["n_passages"]), str(r["n_queries"]), r["qrels"],
                      str(dropped.count), r["imported_at"])
        if dropped.count:
            notes.append(f"{r['name']}: dropped {_rows(dropped.count)}: {_refs(dropped)}")
    print_table(table)
    for note in notes:
        out.print(note, markup=False, highlight=False, soft_wrap=True)


@app.command("split")
def corpus_split(
    name: Annotated[str, typer.Argument(help="Corpus in the store.")],
    source: Annotated[str, typer.Option(
        "--from", help="Split to carve the queries out of: train (its remainder is what "
        "human pairs train on) or test (its remainder is what test scores are computed "
        "on).")] = "train",
    dev: Annotated[int, typer.Option("--dev", help="Queries to move into the dev split.")]
    = 300,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the deterministic choice.")] = 0,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Carve a dev split out of a corpus' train (or test) queries and their qrels. Pilots,
    plans and the autopilot then choose on dev; the test split is kept for the final report."""
    from engine.splits import carve

    done = carve(open_store(store_path, storage), name, source=source, n=dev, seed=seed)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(done.qrels.items()))
    out.print(f"corpus {name!r}: {done.queries} queries of {done.source} are now "
              f"{done.target!r} ({done.left} left in {done.source}); qrels: {counts}",
              highlight=False, soft_wrap=True)
    if done.source == "test":
        out.print(f"test scores of {name!r} are from now on computed on the {done.left} "
                  "remaining test queries", highlight=False, soft_wrap=True)
