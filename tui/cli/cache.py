"""``augplan query``, ``augplan export`` and ``augplan stats``: the cache of synthetic queries
as users read it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tui.cli._common import ModelsOpt, StorageOpt, StoreOpt, open_store, out, print_frame

WhereOpt = Annotated[str | None, typer.Option(
    "--where", help="Your own SQL filter on the columns, e.g. \"augmenter = 'smollm2-135m'\".")]


def query(
    text: Annotated[str, typer.Argument(help="What to search for.")],
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    mode: Annotated[str, typer.Option("--mode", help="vector, fts or hybrid.")] = "hybrid",
    where: WhereOpt = None,
    limit: Annotated[int, typer.Option("--limit")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Search the cached synthetic queries; prints each match with its passage."""
    from engine.search import search_queries
    from store import Selection

    df = search_queries(open_store(store_path, storage), text, mode=mode,
                        selection=Selection(corpus=corpus, where=where), limit=limit,
                        models_dir=models_dir)
    if as_json:
        for row in df.iter_rows(named=True):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if df.height == 0:
        out.print("no matches")
        return
    for i, row in enumerate(df.iter_rows(named=True), 1):
        passage = f"{row['title']}. {row['text']}" if row.get("title") else (row.get("text") or "")
        snippet = passage[:220] + ("..." if len(passage) > 220 else "")
        out.print(f"[bold]{i:>2}. {escape(row['query'])}[/bold]  [dim]score {row['score']:.3f} · "
                  f"{row['augmenter']} · "
                  f"{escape(row['corpus'])}/{escape(row['passage_id'])}[/dim]")
        out.print(f"    {escape(snippet)}", highlight=False)


def export(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="Output file, or folder for "
                                             "beir and hf.")],
    corpus: Annotated[str, typer.Option("--corpus")],
    fmt: Annotated[str, typer.Option(
        "--format", help="jsonl, parquet, beir (a BEIR folder) or hf (a Hugging Face "
        "datasets.Dataset saved to disk: query, passage; what sentence-transformers' trainer "
        "reads).")] = "jsonl",
    where: WhereOpt = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Write the (query, passage) training pairs of a corpus: its accepted synthetic queries."""
    from store import Selection
    from store.export import export_pairs

    n = export_pairs(open_store(store_path, storage), corpus, fmt, out_path,
                     selection=Selection(where=where))
    out.print(f"{n} training pairs written to {out_path} ({fmt})")


def stats(store_path: StoreOpt = None, storage: StorageOpt = None) -> None:
    """Synthetic queries per corpus and augmenter."""
    store = open_store(store_path, storage)
    for r in store.corpora():
        out.print(f"corpus {r['name']}: {r['n_passages']} passages, {r['n_queries']} queries")
    df = store.stats()
    if df.height == 0:
        out.print("no synthetic queries yet")
        return
    print_frame(df, title="synthetic queries")
