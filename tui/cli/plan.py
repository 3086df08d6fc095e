"""``augplan plan``, ``augplan plan backtest`` and ``augplan run``: recommend an augmenter and a
scale under a budget from pilot points and cost profiles, check the planner on held-out scales,
and run a plan at full scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from engine.prompts import DEFAULT_STRATEGY
from store.errors import AugplanError
from tui.cli._common import (
    ActorsOpt,
    ClusterOpt,
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    check_format,
    err,
    open_store,
    out,
    print_table,
    split_names,
)

plan_app = typer.Typer(
    help="Recommend augmenter, strategy and scale under a budget; `plan backtest` checks "
    "the planner on held-out pilot scales.",
    invoke_without_command=True,
)

BudgetOpt = Annotated[float | None, typer.Option(
    "--budget-gpu-hours", help="Budget in GPU-hours (hours of the profiles' device).")]
CorpusOpt = Annotated[str | None, typer.Option(
    "--corpus", help="Plan from this corpus' pilots and the store's profiles.")]
PilotsOpt = Annotated[Path | None, typer.Option(
    "--pilots", help="Plan from a CSV (columns augmenter, scale, metric; optional seed, "
    "retriever, strategy, eval_set, kind) instead of the store.")]
RetrieverOpt = Annotated[str | None, typer.Option(
    "--retriever", help="Retriever to plan for (needed when the pilots hold several).")]
StrategyOpt = Annotated[str | None, typer.Option(
    "--strategy", help="Only this prompt strategy (default: compare all measured).")]
MetricOpt = Annotated[str, typer.Option(
    "--metric", help="Store route: ndcg@10, recall@100 or mrr@10.")]
ModeOpt = Annotated[str | None, typer.Option(
    "--eval-mode", help="Store route: full or nano (default: the mode with most points).")]
BootOpt = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples (0: none).")]
ConfOpt = Annotated[float, typer.Option("--confidence", help="Interval level.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Bootstrap seed.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]


@plan_app.callback()
def plan_cmd(
    ctx: typer.Context,
    budget_gpu_hours: BudgetOpt = None,
    corpus: CorpusOpt = None,
    pilots: PilotsOpt = None,
    profiles: Annotated[Path | None, typer.Option(
        "--profiles", help="Cost profiles TOML (default with --corpus: the store's).")] = None,
    retriever: RetrieverOpt = None,
    augmenters: Annotated[str | None, typer.Option(
        "--augmenters", help="Candidate augmenters, comma-separated (default: all "
        "measured).")] = None,
    strategy: StrategyOpt = None,
    eval_set: Annotated[str | None, typer.Option(
        "--eval", help="Optimise for this eval set only (default: the corpus' dev split "
        "when its pilots were measured on it, e.g. scifact:dev).")] = None,
    weights: Annotated[str | None, typer.Option(
        "--weights", help="Weighted mix of eval sets: NAME=w,... or in=0.7,ood=0.3.")] = None,
    risk: Annotated[str, typer.Option(
        "--risk", help="neutral (maximise the prediction) or averse (its lower bound).")]
    = "neutral",
    device: Annotated[str | None, typer.Option(
        "--device", help="Use the profiles of this device only.")] = None,
    price: Annotated[float | None, typer.Option(
        "--price-per-hour", help="Price of a device-hour, to report money.")] = None,
    filter_per_hour: Annotated[float | None, typer.Option(
        "--filter-per-hour", help="Filtering/embedding throughput in queries per hour "
        "(counted in the cost when given).")] = None,
    per_passage: Annotated[int | None, typer.Option(
        "--per-passage", help="Queries per passage to price (their passage's prompt is "
        "decoded once where the augmenter's backend shares it). Default: the K the pilots "
        "were measured at; when they measured several, the plan chooses K too.")] = None,
    metric: MetricOpt = "ndcg@10",
    eval_mode: ModeOpt = None,
    bootstrap: BootOpt = 1000,
    confidence: ConfOpt = 0.9,
    saturation: Annotated[float, typer.Option(
        "--saturation", help="Share of the gain to the plateau that defines the "
        "saturation scale.")] = 0.95,
    max_extrapolation: Annotated[float, typer.Option(
        "--max-extrapolation", help="Never recommend beyond this times the largest pilot "
        "scale.")] = 4.0,
    seed: SeedOpt = 0,
    fmt: FormatOpt = "table",
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Also write the plan as JSON (input of `augplan run`).")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the curves, intervals, budget frontier and choice as PNG.")]
    = None,
    terminal_plot: Annotated[bool, typer.Option(
        "--terminal-plot", help="Draw the curves in the terminal.")] = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Recommend (augmenter, strategy, scale) under a GPU-hour budget, with intervals, the
    saturation scale, alternatives at matched cost, warnings and the next pilot."""
    from engine import planning

    if ctx.invoked_subcommand is not None:
        return
    if budget_gpu_hours is None:
        if corpus is None and pilots is None:
            out.print(ctx.get_help())
            raise typer.Exit(0)
        raise AugplanError("--budget-gpu-hours is required")
    check_format(fmt, ("table", "json"))
    made = planning.make_plan(
        budget_gpu_hours, store=open_store(store_path, storage) if pilots is None else None,
        corpus=corpus, pilots=pilots, profiles=profiles, retriever=retriever,
        strategy=strategy, eval_set=eval_set, weights=weights, device=device, price=price,
        filter_per_hour=filter_per_hour, metric=metric, eval_mode=eval_mode,
        options=planning.plan_options(risk=risk, confidence=confidence, bootstrap=bootstrap,
                                      saturation_fraction=saturation,
                                      max_extrapolation=max_extrapolation, seed=seed),
        augmenters=split_names(augmenters), per_passage=per_passage)
    _show_plan(made, fmt=fmt, output=output, plot=plot, terminal_plot=terminal_plot)


def _show_plan(made: Any, *, fmt: str, output: Path | None, plot: Path | None,
               terminal_plot: bool) -> None:
    """Write the plan (JSON, PNG) where asked and print it as a table or JSON."""
    from engine import planning

    doc = planning.plan_document(made.plan, made.meta)
    if output is not None:
        planning.write_plan(output, doc)
    if plot is not None:
        from tui.plots import plot_png

        plot_png(made.plan, made.cost, plot, metric_name=made.meta["metric"])
    if fmt == "json":
        out.print_json(json.dumps(doc))
    else:
        print_plan(made.plan, made.meta)
        if output is not None:
            out.print(f"[dim]plan written to {output}[/dim]")
        if plot is not None:
            out.print(f"[dim]plot written to {plot}[/dim]")
    if terminal_plot:
        from tui.plots import plot_terminal

        width = min(max(out.width, 60), 120)
        typer.echo(plot_terminal(made.plan, made.cost, metric_name=made.meta["metric"],
                                 width=width, color=sys.stdout.isatty()))


def _curves_table(result: Any) -> Table:
    sets = sorted({c.eval_set for c in result.curves})
    t = Table(title="pilot curves" + (f" on {sets[0]}" if len(sets) == 1 and sets[0] else ""),
              box=box.SIMPLE_HEAD, pad_edge=False)
    cols = ["augmenter", *(["eval set"] if len(sets) > 1 else []), "family", "points",
            "max n", "plateau/peak [interval]", "saturation n"]
    for col in cols:
        t.add_column(col, no_wrap=col != "plateau/peak [interval]")
    for c in result.curves:
        lo, hi = c.fit.asymptote_interval()
        asym = c.fit.asymptote()
        sat = c.fit.saturation_scale()
        t.add_row(c.augmenter, *([c.eval_set] if len(sets) > 1 else []),
                  c.fit.best.family + ("*" if c.decline_note else ""), str(len(c.fit.n)),
                  f"{max(c.scales):,}",
                  "rising" if asym == float("inf") else f"{asym:.4f} [{lo:.3f}, {hi:.3f}]",
                  _saturation_cell(sat, max(c.scales) * result_limit_factor(result)))
    joint = sorted({c.joint for c in result.curves if c.joint})
    if joint:
        t.caption = "fitted jointly (" + "; ".join(joint) + ")"
    return t


def result_limit_factor(result: Any) -> float:
    """The extrapolation limit as a multiple of the chosen curve's largest pilot."""
    largest = max((max(c.scales) for c in result.curves if c.augmenter == result.augmenter),
                  default=0)
    return result.saturation_limit / largest if result.saturation_limit and largest else 4.0


def _saturation_cell(sat: float, limit: float) -> str:
    if sat == float("inf"):
        return "-"
    return f"> {limit:,.0f}" if sat > limit else f"{sat:,.0f}"


def print_plan(result: Any, meta: dict[str, Any]) -> None:
    """The fitted curves, the alternatives, the recommendation with its explanation, warnings
    and where the costs came from."""
    print_table(_curves_table(result))
    for c in result.curves:
        if c.decline_note:
            out.print(f"[dim]* {c.augmenter}: {c.decline_note}[/dim]", highlight=False)
    if result.alternatives:
        a = Table(title="alternatives at matched cost", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("augmenter", "n", "predicted", "interval", "GPU-hours"):
            a.add_column(col)
        for o in result.alternatives:
            a.add_row(o.augmenter, f"{o.scale:,}", f"{o.predicted_metric:.4f}",
                      f"[{o.ci_low:.4f}, {o.ci_high:.4f}]", f"{o.cost_gpu_hours:.4g}")
        print_table(a)
    out.print(f"[bold]recommendation[/bold] ({meta['retriever'] or 'retriever'}, "
              f"objective {', '.join(f'{k} {v:g}' for k, v in result.objective.items())}):")
    if meta.get("eval_sets"):
        out.print(f"[dim]chosen on {'; '.join(meta['eval_sets'])}[/dim]", highlight=False)
    ks = meta.get("per_passage_options") or [1]
    if len(ks) > 1:
        out.print(f"[dim]{meta['per_passage']} queries per passage, chosen among the "
                  f"{', '.join(map(str, ks))} the pilots measured (each option NAME xK is "
                  "priced with the passage's prompt paid once per K queries where the "
                  "augmenter's backend shares it)[/dim]", highlight=False)
    elif meta.get("per_passage", 1) > 1:
        out.print(f"[dim]priced at {meta['per_passage']} queries per passage (one prompt "
                  "each passage where the augmenter's backend shares it)[/dim]", highlight=False)
    out.print(result.explanation, highlight=False)
    if meta.get("human_reference") is not None:
        out.print(f"[dim]reference: trained on the corpus' human pairs "
                  f"{meta['human_reference']:.4f}[/dim]")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    out.print("[dim]costs from: " + "; ".join(f"{k}: {v}" for k, v in
                                               meta["cost_sources"].items()) + "[/dim]",
              highlight=False)


@plan_app.command("backtest")
def plan_backtest(
    fit_max_scale: Annotated[int | None, typer.Option(
        "--fit-max-scale", help="Fit on scales up to this and predict the larger ones "
        "(default: for every measured scale N, fit on n <= N/2 and predict N).")] = None,
    corpus: Annotated[list[str] | None, typer.Option(
        "--corpus", help="Backtest this corpus' pilots (repeatable; default: every corpus "
        "with pilots in the store).")] = None,
    pilots: Annotated[list[Path] | None, typer.Option(
        "--pilots", help="Backtest the points of this CSV instead of the store "
        "(repeatable).")] = None,
    retriever: Annotated[str | None, typer.Option(
        "--retriever", help="Only this retriever (default: each one).")] = None,
    strategy: StrategyOpt = None,
    metric: MetricOpt = "ndcg@10",
    eval_mode: ModeOpt = None,
    bootstrap: BootOpt = 1000,
    confidence: ConfOpt = 0.9,
    joint: Annotated[bool, typer.Option(
        "--joint/--separate", help="Fit the augmenters of an eval set jointly where AICc "
        "prefers it (default), or each curve on its own.")] = True,
    seed: SeedOpt = 0,
    fmt: FormatOpt = "table",
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Check the planner on every measured curve: fit on the small pilot scales, predict the
    larger measured ones; print each error, whether the interval covers the measurement (a
    mean over seeds, so the interval carries their noise), the median absolute error and the
    coverage."""
    from engine import planning
    from planner.backtest import summary

    check_format(fmt, ("table", "json"))
    groups = planning.backtest_groups(
        open_store(store_path, storage) if not pilots else None, corpora=corpus or (),
        pilots=pilots or (), retriever=retriever, strategy=strategy, metric=metric,
        eval_mode=eval_mode)
    options = planning.plan_options(confidence=confidence, bootstrap=bootstrap, seed=seed,
                                    joint=joint)
    rows = planning.run_backtests(groups, fit_max_scale, options)
    stats = summary([r for _, r in rows])
    rule = "n <= N/2 -> N" if fit_max_scale is None else f"n <= {fit_max_scale:,}"
    if fmt == "json":
        out.print_json(json.dumps({"fit": rule, "joint": joint, "confidence": confidence,
                                   **stats, "rows": [{"source": g.source,
                                                      "retriever": g.retriever, **r.to_dict()}
                                                     for g, r in rows]}))
        return
    t = Table(title=f"backtest: fit on {rule}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("source", "retriever", "augmenter", "family", "n", "measured", "predicted",
                "error", f"{confidence:.0%} interval", "covered"):
        t.add_column(col)
    for g, r in rows:
        t.add_row(Path(g.source).stem if g.source.endswith(".csv") else g.source, g.retriever,
                  r.augmenter, r.family, f"{r.scale:,}", f"{r.measured:.4f}",
                  f"{r.predicted:.4f}", f"{r.error:+.4f}",
                  f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", "yes" if r.covered else "no")
    print_table(t)
    covered = sum(r.covered for _, r in rows)
    out.print(f"{len(rows)} held-out points: median absolute error "
              f"{stats['median_abs_error']:.4f} (mean {stats['mean_abs_error']:.4f}); "
              f"interval coverage {stats['coverage']:.0%} ({covered}/{len(rows)})",
              highlight=False, soft_wrap=True)


def run_cmd(
    plan_file: Annotated[Path | None, typer.Option(
        "--plan", help="A plan JSON written by `augplan plan -o`.")] = None,
    recommended: Annotated[bool, typer.Option(
        "--recommended", help="Plan now from the store (--corpus, --budget-gpu-hours) and "
        "run the recommendation.")] = False,
    corpus: Annotated[str | None, typer.Option("--corpus", help="With --recommended.")] = None,
    budget_gpu_hours: Annotated[float | None, typer.Option(
        "--budget-gpu-hours", help="With --recommended.")] = None,
    retriever: RetrieverOpt = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Training set to write (.jsonl or .parquet); default "
        "./augplan-train-<corpus>-<augmenter>-<n>.jsonl.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="Generation backend.")]
    = "llama.cpp",
    cluster: ClusterOpt = "local",
    actors: ActorsOpt = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Execute a plan at full scale: generate the missing queries through the resumable,
    cached engine (killed runs resume; nothing is generated twice), filter them, then export
    the training pairs."""
    from engine import planning
    from engine.cluster import parse_cluster

    address = parse_cluster(cluster)
    if (plan_file is None) == (not recommended):
        raise AugplanError("give --plan PLAN.json or --recommended, one of the two")
    if recommended:
        if corpus is None or budget_gpu_hours is None:
            raise AugplanError("--recommended needs --corpus and --budget-gpu-hours")
        made = planning.make_plan(budget_gpu_hours, store=open_store(store_path, storage), corpus=corpus,
                                  retriever=retriever, options=planning.plan_options())
        doc = planning.plan_document(made.plan, made.meta)
        out.print(made.plan.explanation, highlight=False)
    else:
        doc = planning.load_plan(plan_file)
    if doc["scale"] == 0:
        out.print("the plan keeps the zero-shot retriever: nothing to generate")
        return
    target = out_path or Path(f"augplan-train-{doc['corpus']}-{doc['augmenter']}-"
                              f"{doc['scale']}.jsonl")
    out.print(f"running the plan: {doc['augmenter']} "
              f"({doc.get('strategy') or DEFAULT_STRATEGY}), {doc['scale']:,} accepted queries "
              f"of {doc['corpus']}")
    summary = planning.execute_plan(
        open_store(store_path, storage), doc, target, models_dir=models_dir, backend=backend,
        on_event=lambda m: err.print(f"  [dim]{m}", highlight=False), cluster=address,
        actors=actors)
    out.print(f"{summary['generated']} queries generated (the rest came from the cache); "
              f"{summary['exported']} training pairs written to {summary['path']}")
