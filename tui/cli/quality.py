"""``augplan filter`` and ``augplan diversity``: the quality stage from the command line
(every command calls :mod:`engine.quality`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tui.cli._common import (
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    open_store,
    out,
    print_table,
    stage_progress,
)

_SCORES = (
    ("n", "queries", "{:d}"),
    ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("self_bleu", "self-BLEU (0-100, lower = more diverse)", "{:.1f}"),
    ("vendi", "Vendi score (effective number of queries)", "{:.1f}"),
    ("mean_pairwise_distance", "mean pairwise cosine distance", "{:.3f}"),
    ("per_passage_distance", "mean distance within a passage", "{:.3f}"),
    ("copy_rate", "copied from the passage", "{:.1%}"),
)


def _fmt(value: Any, pattern: str) -> str:
    if value is None:
        return "-"
    return pattern.format(value)


def _scores_table(scores: dict[str, Any], title: str, kept: dict[str, Any] | None = None) -> Table:
    table = Table(title=title)
    table.add_column("score")
    table.add_column("all non-empty" if kept is not None else "value", justify="right")
    if kept is not None:
        table.add_column("kept (ok)", justify="right")
    for key, label, pattern in _SCORES:
        cells = [_fmt(scores.get(key), pattern)]
        if kept is not None:
            cells.append(_fmt(kept.get(key), pattern))
        table.add_row(label, *cells)
    return table


def filter_cmd(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus name in the store.")],
    run: Annotated[str | None, typer.Option("--run", help="Only the rows of this run.")]
    = None,
    where: Annotated[str | None, typer.Option(
        "--where", help="Your own SQL filter, e.g. \"augmenter = 'smollm2-135m'\".")] = None,
    round_trip_k: Annotated[int, typer.Option(
        "--round-trip-k", help="The source passage must rank in the top k of the corpus.")]
    = 20,
    no_round_trip: Annotated[bool, typer.Option(
        "--no-round-trip", help="Skip the round-trip check (no passage encoding).")]
    = False,
    semantic_threshold: Annotated[float, typer.Option(
        "--semantic-threshold", help="Cosine at or above which queries are duplicates.")]
    = 0.95,
    lexical_threshold: Annotated[float, typer.Option(
        "--lexical-threshold", help="Jaccard (character 5-grams) for lexical duplicates.")]
    = 0.8,
    scope: Annotated[str, typer.Option(
        "--scope", help="Duplicates across 'all' queries or only within a 'passage'.")]
    = "all",
    min_words: Annotated[int, typer.Option("--min-words")] = 3,
    max_words: Annotated[int, typer.Option("--max-words")] = 40,
    float32: Annotated[bool, typer.Option(
        "--float32", help="Encode passages in float32 (default: bfloat16 autocast where it "
        "measured faster on this machine; see calibration.json).")]
    = False,
    recheck: Annotated[bool, typer.Option(
        "--recheck", help="Measure rows filtered or marked duplicate before again.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
    = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Embed, filter and deduplicate synthetic queries (rows are marked, never deleted)."""
    from engine.quality import FilterOptions, QualityOptions, process

    options = QualityOptions(
        filters=FilterOptions(min_words=min_words, max_words=max_words,
                              round_trip=not no_round_trip, round_trip_k=round_trip_k,
                              precision="float32" if float32 else "auto"),
        semantic_threshold=semantic_threshold, lexical_threshold=lexical_threshold,
        scope=scope, where=where, recheck=recheck,
    )
    with stage_progress(quiet=as_json) as on_progress:
        report = process(open_store(store_path, storage), corpus, run_id=run, models_dir=models_dir,
                         options=options, on_progress=on_progress)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    print_quality(report)


def print_quality(report: Any) -> None:
    """The quality stage's report: rows per status and reason (and how many this pass
    marked), passages encoded, diversity."""
    out.print(f"{escape(report.corpus)}"
              f"{' run ' + escape(report.run_id) if report.run_id else ''}: "
              f"{report.selected} queries, {report.embedded} newly embedded")
    table = Table(title="quality of the selection")
    table.add_column("status / reason")
    table.add_column("rows", justify="right")
    table.add_column("this pass", justify="right")
    this_pass: dict[str, dict[str, int]] = {
        "filtered": dict(report.filters.filtered) if report.filters else {},
        "duplicate": {f"{m}_duplicate": n for m, n in (report.dedup or {}).items()
                      if m in ("exact", "semantic", "lexical")},
    }
    for st in ("ok", "empty", "filtered", "duplicate"):
        marked = sum(this_pass.get(st, {}).values())
        table.add_row(f"[bold]{st}", str(report.status.get(st, 0)),
                      str(marked) if st in this_pass else "")
        for name, n in report.reasons.get(st, {}).items():
            table.add_row(f"  {escape(name)}", str(n), str(this_pass.get(st, {}).get(name, 0))
                          if st in this_pass else "")
    print_table(table)
    if report.filters and report.filters.passages_encoded:
        out.print(f"{report.filters.passages_encoded} passages encoded (cached for later "
                  f"runs)")
    if report.diversity:
        d = report.diversity
        out.print(f"diversity of all non-empty queries: distinct-2 "
                  f"{_fmt(d.get('distinct_2'), '{:.3f}')}, self-BLEU "
                  f"{_fmt(d.get('self_bleu'), '{:.1f}')}, Vendi "
                  f"{_fmt(d.get('vendi'), '{:.1f}')}, copied "
                  f"{_fmt(d.get('copy_rate'), '{:.1%}')}"
                  + (" (stored with the run)" if report.run_id else ""))


def diversity_cmd(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus name in the store.")],
    where: Annotated[str | None, typer.Option(
        "--where", help="Your own SQL filter, e.g. \"strategy = 'inpars'\".")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only the rows of this run.")]
    = None,
    sample: Annotated[int, typer.Option(
        "--sample", help="Queries sampled for self-BLEU.")] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")]
    = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Diversity scores of stored queries: all non-empty ones and the kept (ok) ones."""
    from engine.quality import diversity_for, selection
    from store.errors import AugplanError

    if sample < 2:
        raise AugplanError(f"--sample {sample}: must be at least 2")
    store = open_store(store_path, storage)
    store.corpus_info(corpus)
    sel = selection(corpus, run, where)
    scores = diversity_for(store, sel, sample=sample, seed=seed)
    kept = diversity_for(store, sel, statuses=("ok",), sample=sample, seed=seed)
    if as_json:
        out.print_json(json.dumps({**scores, "kept": kept}))
        return
    if scores["n"] == 0:
        out.print(f"no non-empty queries match {escape(sel.describe())}")
        return
    print_table(_scores_table(scores, title=f"diversity: {escape(sel.describe())}", kept=kept))
    out.print(f"[dim]self-BLEU on a seeded sample of {scores['self_bleu_sample']} queries; "
              f"per-passage distance over {scores['passages_with_2plus']} passages with 2+ "
              f"queries[/dim]")
