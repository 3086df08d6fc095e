"""``augplan corpus``: corpora in the store: import and list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tui.cli._common import StoreOpt, open_store, out, print_table

app = typer.Typer(help="Corpora in the store: import and list.", no_args_is_help=True)

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
    store_path: StoreOpt = None,
) -> None:
    """Validate and import a corpus (streamed; nothing is written if any line is bad)."""
    from engine.datasets import import_dataset

    t0 = time.perf_counter()
    corpus, summary, written = import_dataset(open_store(store_path), path, name=name,
                                              data_dir=data, download=download, replace=replace)
    qrels = ", ".join(f"{k} {v}" for k, v in sorted(summary.qrels.items())) or "none"
    verb = "imported" if written else "unchanged (already imported)"
    out.print(f"corpus {corpus!r} {verb}: {summary.n_passages} passages, "
              f"{summary.n_queries} queries, qrels: {qrels} ({time.perf_counter() - t0:.1f} s)")


@app.command("list")
def corpus_list(store_path: StoreOpt = None) -> None:
    """Corpora in the store."""
    rows = open_store(store_path).corpora()
    table = Table(title="corpora")
    for col in ("name", "kind", "passages", "queries", "qrels", "imported"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["n_passages"]), str(r["n_queries"]), r["qrels"],
                      r["imported_at"])
    print_table(table)
