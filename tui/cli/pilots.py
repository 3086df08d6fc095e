"""``augplan pilot`` and ``augplan pilots``: fine-tune and evaluate retrievers at several
augmentation scales, show the points, export them for the planner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from engine.prompts import DEFAULT_STRATEGY
from engine.retrievers import DEFAULT_RETRIEVER
from tui.cli._common import (
    ClusterOpt,
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    check_format,
    err,
    open_store,
    out,
    parse_ints,
    print_table,
    split_names,
)

pilots_app = typer.Typer(help="Pilot points in the store: show, export.", no_args_is_help=True)


def points_table(points: list[dict], title: str) -> Table:
    """The points as a table; columns whose value is the same on every row (eval set,
    strategy, evaluation mode) move to the caption so the table fits a narrow terminal."""
    from rich import box

    optional = {"eval_set": "eval set", "strategy": "strategy", "eval_mode": "mode"}
    varying = [k for k in optional if len({p[k] for p in points if p["kind"] != "zero-shot"}
                                           | ({p[k] for p in points} if k != "strategy"
                                              else set())) > 1]
    same = [f"{optional[k]} {next(p[k] for p in points if p[k])}" for k in optional
            if k not in varying and any(p[k] for p in points)]
    table = Table(title=title, caption=", ".join([*same, "train/eval in seconds"]),
                  box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    cols = ["retriever", *(optional[k] for k in varying), "augmenter", "n", "seed",
            "nDCG@10", "R@100", "MRR@10", "train", "eval"]
    # numbers are never cut: the text columns give way first on a narrow terminal
    widths = {"n": max((len(str(p["scale"])) for p in points), default=1),
              "seed": 4, "mode": max((len(p["eval_mode"] or "") for p in points), default=4),
              "nDCG@10": 6, "R@100": 6, "MRR@10": 6, "train": 4, "eval": 4}
    for col in cols:
        table.add_column(col, no_wrap=True, min_width=widths.get(col),
                         justify="right" if col not in ("retriever", "augmenter", "eval set",
                                                        "strategy", "mode") else "left")
    for p in sorted(points, key=lambda p: (p["retriever"], p["eval_set"], p["kind"] != "zero-shot",
                                           p["augmenter"], p["scale"], p["seed"])):
        table.add_row(p["retriever"], *(p[k] or "-" for k in varying),
                      p["augmenter"] or "(zero-shot)", str(p["scale"]), str(p["seed"]),
                      f"{p['ndcg_at_10']:.4f}", f"{p['recall_at_100']:.4f}",
                      f"{p['mrr_at_10']:.4f}", f"{p['train_seconds']:.0f}",
                      f"{p['eval_seconds']:.0f}")
    return table


def pilot(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus in the store.")],
    retriever: Annotated[str, typer.Option(
        "--retriever", help="minilm-l6 (strong), static-minilm (weak), a "
        "SentenceTransformer folder, or hub:ID (online).")] = DEFAULT_RETRIEVER,
    augmenters: Annotated[str, typer.Option(
        "--augmenters", help="Comma-separated catalogue augmenters.")] = "smollm2-135m",
    strategy: Annotated[str, typer.Option("--strategy", help="Prompt strategy.")]
    = DEFAULT_STRATEGY,
    scales: Annotated[str, typer.Option(
        "--scales", help="Training pairs per point, comma-separated.")] = "250,500,1000,2000",
    seeds: Annotated[str, typer.Option("--seeds", help="Training seeds.")] = "0,1",
    eval_sets: Annotated[list[str] | None, typer.Option(
        "--eval", help="NAME:SPLIT to evaluate on (repeat for out-of-domain sets); "
        "default: the corpus' dev split when it has one, else its test split.")] = None,
    eval_mode: Annotated[str, typer.Option(
        "--eval-mode", help="full (every passage) or nano (relevant + top-k BM25 "
        "passages per query).")] = "full",
    nano_k: Annotated[int, typer.Option("--nano-k", help="BM25 passages per query.")] = 10,
    ignore_identical_ids: Annotated[bool, typer.Option(
        "--ignore-identical-ids", help="Drop a passage whose id equals the query id "
        "(ArguAna-style).")] = False,
    no_human: Annotated[bool, typer.Option(
        "--no-human", help="Skip the reference point trained on the corpus' train "
        "pairs.")] = False,
    per_passage: Annotated[int, typer.Option("--per-passage")] = 1,
    round_trip: Annotated[bool, typer.Option(
        "--round-trip", help="Also apply the round-trip filter to the queries (encodes "
        "the whole corpus once).")] = False,
    sample_seed: Annotated[int, typer.Option(
        "--sample-seed", help="Seed of the passage order the pairs are taken in.")] = 0,
    lr: Annotated[float | None, typer.Option(
        "--lr", help="Learning rate (default: the retriever's).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    epochs: Annotated[int, typer.Option("--epochs")] = 1,
    warmup_ratio: Annotated[float, typer.Option("--warmup-ratio")] = 0.1,
    max_seq_length: Annotated[int | None, typer.Option("--max-seq-length")] = None,
    loss: Annotated[str, typer.Option("--loss", help="mnrl or cached-mnrl.")] = "mnrl",
    precision: Annotated[str, typer.Option(
        "--precision", help="auto (bf16 where the CPU/GPU supports it), bf16 or "
        "fp32.")] = "auto",
    backend: Annotated[str, typer.Option(
        "--backend", help="Generation backend for missing queries.")] = "llama.cpp",
    keep_models: Annotated[Path | None, typer.Option(
        "--keep-models", help="Keep the trained models in this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    cluster: ClusterOpt = "local",
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Fine-tune a fresh retriever per (augmenter, scale, seed) and evaluate it; points
    already in the store are not recomputed. With --cluster, every point is a task there."""
    from engine.cluster import parse_cluster
    from engine.pilot import PilotRequest, TrainConfig, run_pilot

    request = PilotRequest(
        corpus=corpus, retriever=retriever,
        augmenters=tuple(split_names(augmenters) or ()),
        strategy=strategy, scales=parse_ints(scales, "--scales"), seeds=parse_ints(seeds, "--seeds"),
        evals=tuple(eval_sets or ()), eval_mode=eval_mode, nano_k=nano_k,
        ignore_identical_ids=ignore_identical_ids, human=not no_human,
        per_passage=per_passage, round_trip=round_trip, sample_seed=sample_seed, backend=backend,
        train=TrainConfig(learning_rate=lr, batch_size=batch_size, epochs=epochs,
                          warmup_ratio=warmup_ratio, max_seq_length=max_seq_length,
                          loss=loss, precision=precision),
        keep_models=str(keep_models) if keep_models else None,
    )
    address = parse_cluster(cluster)
    store = open_store(store_path, storage)
    say = (lambda m: None) if as_json else (lambda m: err.print(m, highlight=False))
    report = run_pilot(store, request, models_dir=models_dir, on_event=say, cluster=address)
    if as_json:
        return _print_json(report)
    print_table(points_table(report.points, f"pilot on {corpus}"))
    _evaluated_on(store, report.points)
    out.print(f"{report.computed} points computed, {report.reused} reused from the store, "
              f"{report.trained} models trained, {report.generated} queries generated")

def _print_json(report: Any) -> None:
    out.print_json(json.dumps({
        "computed": report.computed, "reused": report.reused, "trained": report.trained,
        "generated": report.generated,
        "points": [{k: v for k, v in p.items() if k != "config"} for p in report.points]}))


def _evaluated_on(store: Any, points: list[dict]) -> None:
    """Which splits the points were evaluated on, and what a carved split holds."""
    from engine.splits import split_note

    evaluated = sorted({p["eval_set"] for p in points})
    out.print("evaluated on " + "; ".join(split_note(store, e) for e in evaluated),
              highlight=False, soft_wrap=True)


@pilots_app.command("show")
def pilots_show(
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    retriever: Annotated[str | None, typer.Option("--retriever")] = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Print the pilot points of the store."""
    points = open_store(store_path, storage).pilots(corpus=corpus, retriever=retriever)
    if not points:
        out.print("no pilot points" + (f" for corpus {corpus!r}" if corpus else ""))
        return
    print_table(points_table(points, "pilot points"))

@pilots_app.command("export")
def pilots_export(
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    retriever: Annotated[str | None, typer.Option("--retriever")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    metric: Annotated[str, typer.Option(
        "--metric", help="ndcg@10, recall@100 or mrr@10.")] = "ndcg@10",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output).")] = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Write the points as the planner's CSV (augmenter, scale, seed, metric, retriever,
    strategy, eval_set, ...); zero-shot points appear as scale 0 of each augmenter."""
    from engine.pilot import CSV_COLUMNS, export_rows

    check_format(fmt, ("csv", "json"))
    rows = export_rows(open_store(store_path, storage).pilots(corpus=corpus, retriever=retriever),
                       metric)
    if fmt == "json":
        text = json.dumps(rows, indent=1) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    if output is None:
        typer.echo(text, nl=False)
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
        err.print(f"wrote {len(rows)} rows to {output}")
