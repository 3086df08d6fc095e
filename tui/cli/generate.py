"""``augplan generate``, ``augplan embed`` and ``augplan runs``: generation runs of synthetic
queries (cached by content key, resumable) and the pass after them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from store.errors import AugplanError
from tui.cli._common import (
    ActorsOpt,
    ClusterOpt,
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    err,
    open_store,
    out,
    print_table,
    stage_progress,
)

runs_app = typer.Typer(help="Generation runs recorded in the store.", no_args_is_help=True)


@contextlib.contextmanager
def progress_hooks(label: str, *, quiet: bool = False) -> Iterator[dict[str, Any]]:
    """Progress bars for ``engine.pipeline.generate_and_check``: generation (ETA, tokens/s,
    queries/s) and each stage of the pass after it. Yields its ``on_progress`` and
    ``on_stage`` hooks."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[speed]}"),
    ]
    with Progress(*columns, console=err, disable=quiet, transient=False) as bar, \
            stage_progress(progress=bar) as on_stage:
        task = bar.add_task(label, total=None, speed="")

        def on_progress(p: Any) -> None:
            tps = p.gen_tokens / p.gen_seconds if p.gen_seconds else 0.0
            qps = p.generated / p.gen_seconds if p.gen_seconds else 0.0
            bar.update(task, total=p.total, completed=p.done,
                       speed=f"{tps:.0f} tok/s  {qps:.2f} q/s")

        yield {"on_progress": on_progress, "on_stage": on_stage}


def run_with_progress(store: Any, request: Any, models_dir: Path | None, *, quiet: bool = False,
                      **options: Any) -> Any:
    """``generate_and_check`` with progress bars on standard error."""
    from engine.pipeline import generate_and_check

    with progress_hooks(f"generate {request.augmenter}", quiet=quiet) as hooks:
        return generate_and_check(store, request, models_dir=models_dir, **hooks, **options)


def generate(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus name in the store.")],
    augmenter: Annotated[str, typer.Option("--augmenter", help="Catalogue augmenter name.")],
    limit: Annotated[int | None, typer.Option("--limit", help="First N passages.")] = None,
    per_passage: Annotated[int, typer.Option("--per-passage", help="Queries per passage.")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    strategy: Annotated[str | None, typer.Option(
        "--strategy", help="inpars (default), inpars-gbq, promptagator or query-types.")]
    = None,
    form: Annotated[str | None, typer.Option(
        "--form", help="completion or chat (default: the strategy's choice for this model).")]
    = None,
    examples: Annotated[Path | None, typer.Option(
        "--examples", help="promptagator: jsonl of {query, passage} pairs (up to 8 used).")]
    = None,
    examples_split: Annotated[str | None, typer.Option(
        "--examples-split", help="promptagator: take pairs from this qrels split (e.g. train).")]
    = None,
    temperature: Annotated[float | None, typer.Option(
        "--temperature", help="Default: 0 (greedy) for 1 per passage, else 0.8.")] = None,
    top_p: Annotated[float, typer.Option("--top-p")] = 0.95,
    backend: Annotated[str, typer.Option(
        "--backend", help="llama.cpp (batched), llama.cpp-sequential (the reference), "
        "transformers or http.")] = "llama.cpp",
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="http backend: an OpenAI-compatible server, e.g. "
        "http://127.0.0.1:8080")] = None,
    no_embed: Annotated[bool, typer.Option(
        "--no-embed", help="Skip embedding (and so filters, dedup and diversity).")] = False,
    no_filter: Annotated[bool, typer.Option(
        "--no-filter", help="Skip filters, dedup and diversity scores.")] = False,
    round_trip: Annotated[bool, typer.Option(
        "--round-trip", help="Also run the round-trip filter (encodes the corpus once).")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per batch and commit.")]
    = 16,
    cluster: ClusterOpt = "local",
    actors: ActorsOpt = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Generate synthetic queries; what is already in the store is never generated again."""
    from engine.cluster import parse_cluster
    from engine.generate import GenerateRequest, load_examples
    from engine.prompts import DEFAULT_STRATEGY

    address = parse_cluster(cluster)
    store = open_store(store_path, storage)
    pairs: tuple[tuple[str, str], ...] = ()
    if examples is not None or examples_split is not None:
        pairs = load_examples(store, corpus, split=examples_split, path=examples)
    request = GenerateRequest(corpus=corpus, augmenter=augmenter,
                              strategy=strategy or DEFAULT_STRATEGY, limit=limit,
                              per_passage=per_passage, seed=seed, temperature=temperature,
                              top_p=top_p, batch_size=batch_size, form=form, examples=pairs,
                              backend=backend, base_url=base_url)
    outcome = run_with_progress(store, request, models_dir, quiet=as_json, embed=not no_embed,
                                quality=not no_filter, round_trip=round_trip,
                                cluster=address, actors=actors)
    print_outcome(outcome, as_json)


def print_outcome(outcome: Any, as_json: bool) -> None:
    """A generation run and its quality pass, as text or JSON."""
    if as_json:
        out.print_json(json.dumps(outcome.to_dict(), default=str))
        return
    report, q = outcome.report, outcome.quality
    out.print(
        f"run {report.run_id} {report.status}: {report.target} queries requested, "
        f"{report.generated} generated, {report.already_present} already in the store, "
        f"{report.copied} reused from another corpus; {outcome.embedded} embedded"
    )
    if q is not None:
        out.print(f"  quality: {q.status}")
        if q.diversity:
            d = q.diversity
            out.print("  diversity: " + ", ".join(
                f"{k} {d[k]:.3f}" for k in ("distinct_1", "distinct_2", "self_bleu", "vendi",
                                            "mean_pairwise_distance")
                if isinstance(d.get(k), int | float)))
    if report.generated:
        out.print(f"  {report.queries_per_s:.2f} queries/s, {report.tokens_per_s:.0f} generated "
                  f"tokens/s, {report.prompt_tokens} prompt tokens "
                  f"({report.evaluated_tokens} evaluated), {report.gen_seconds:.1f} s "
                  f"in the model")
    if report.workers:
        out.print(f"  on the cluster: {sum(report.workers.values())} batches by "
                  f"{len(report.workers)} actors ({', '.join(sorted(report.workers))})")


def embed(
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Embed stored queries that have no vector yet (generate does this by default)."""
    from engine.embed import embed_pending

    n = embed_pending(open_store(store_path, storage), corpus, models_dir=models_dir)
    out.print(f"{n} queries embedded")


@runs_app.command("list")
def runs_list(store_path: StoreOpt = None, storage: StorageOpt = None) -> None:
    """Generation runs, oldest first (interrupted runs can be resumed)."""
    from engine.generate import run_state

    table = Table(title="runs")
    for col in ("run", "corpus", "augmenter", "strategy", "status", "done/target", "generated",
                "seconds"):
        table.add_column(col, no_wrap=col == "run")
    for r in open_store(store_path, storage).runs():
        table.add_row(r["run_id"], r["corpus"], r["augmenter"], r["strategy"], run_state(r),
                      f"{r['done']}/{r['target']}", str(r["generated"]), f"{r['seconds']:.1f}")
    print_table(table)


@runs_app.command("show")
def runs_show(run_id: str, store_path: StoreOpt = None,
              storage: StorageOpt = None) -> None:
    """A run's manifest, progress, throughput and diversity scores."""
    from engine.generate import find_run, run_state

    r = find_run(open_store(store_path, storage), run_id)
    manifest = json.loads(r["manifest"])
    manifest.pop("examples", None)
    out.print(f"[bold]run {r['run_id']}[/bold]  status: {run_state(r)}  {r['message']}")
    out.print(f"  {r['done']}/{r['target']} rows present, {r['generated']} generated, "
              f"{r['gen_tokens']} tokens in {r['seconds']:.1f} s"
              + (f" ({r['generated'] / r['seconds']:.2f} queries/s)" if r["seconds"] else ""))
    out.print(f"  created {r['created_at']}, updated {r['updated_at']}")
    out.print_json(json.dumps(manifest))
    if r.get("diversity"):
        out.print("  diversity:")
        out.print_json(r["diversity"])


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    no_embed: Annotated[bool, typer.Option("--no-embed")] = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Continue an interrupted, failed or cancelled run: only missing rows are generated."""
    from engine.generate import GenerateRequest, find_run, run_state

    store = open_store(store_path, storage)
    run = find_run(store, run_id)
    if run_state(run) == "running":
        raise AugplanError(f"run {run_id} is still running in another process")
    request = GenerateRequest.from_manifest(json.loads(run["manifest"]))
    outcome = run_with_progress(store, request, models_dir, embed=not no_embed, run_id=run_id)
    print_outcome(outcome, False)


@runs_app.command("cancel")
def runs_cancel(run_id: str, store_path: StoreOpt = None,
              storage: StorageOpt = None) -> None:
    """Stop a running run after its current batch (it stays resumable)."""
    from engine.generate import cancel

    state = cancel(open_store(store_path, storage), run_id)
    out.print(f"run {run_id}: {state}")
