"""``augplan plan``, ``augplan plan backtest`` and ``augplan run``: recommend an augmenter and a
scale under a budget from pilot points and cost profiles, check the planner on held-out scales,
and run a plan at full scale.

``register(app)`` adds the commands to the main typer app (see ``tui.cli_profiles``).
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table


def _num(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


def register(app: typer.Typer) -> None:
    """Add the ``plan`` group (with ``backtest``) and ``run`` to ``app``."""
    from tui.cli import ModelsOpt, StoreOpt, err, out

    plan_app = typer.Typer(
        help="Recommend augmenter, strategy and scale under a budget; `plan backtest` checks "
        "the planner on held-out pilot scales.",
        invoke_without_command=True,
    )
    app.add_typer(plan_app, name="plan")

    CorpusOpt = Annotated[str | None, typer.Option(
        "--corpus", help="Plan from this corpus' pilots and the store's profiles.")]
    PilotsOpt = Annotated[Path | None, typer.Option(
        "--pilots", help="Plan from a CSV (augmenter,scale,metric[,seed,retriever,strategy,"
        "eval_set,kind]) instead of the store.")]
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
    FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]

    def options(risk: str, confidence: float, bootstrap: int, saturation: float,
                max_extrapolation: float, seed: int) -> Any:
        from planner import PlanError, PlanOptions
        from store.errors import AugplanError

        opts = PlanOptions(risk=risk, confidence=confidence, bootstrap=bootstrap,
                           saturation_fraction=saturation, max_extrapolation=max_extrapolation,
                           seed=seed)
        try:
            opts.validate()
        except PlanError as exc:
            raise AugplanError(str(exc)) from None
        return opts

    @plan_app.callback()
    def plan_cmd(
        ctx: typer.Context,
        budget_gpu_hours: Annotated[float | None, typer.Option(
            "--budget-gpu-hours", help="Budget in GPU-hours (hours of the profiles' device).")]
        = None,
        corpus: CorpusOpt = None,
        pilots: PilotsOpt = None,
        profiles: Annotated[Path | None, typer.Option(
            "--profiles", help="Cost profiles TOML (default with --corpus: the store's).")]
        = None,
        retriever: RetrieverOpt = None,
        augmenters: Annotated[str | None, typer.Option(
            "--augmenters", help="Candidate augmenters, comma-separated (default: all "
            "measured).")] = None,
        strategy: StrategyOpt = None,
        eval_set: Annotated[str | None, typer.Option(
            "--eval", help="Optimise for this eval set only (e.g. scifact:test).")] = None,
        weights: Annotated[str | None, typer.Option(
            "--weights", help="Weighted mix of eval sets: NAME=w,... or in=0.7,ood=0.3.")]
        = None,
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
        seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
        fmt: FormatOpt = "table",
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="Also write the plan as JSON (input of `augplan run`).")]
        = None,
        plot: Annotated[Path | None, typer.Option(
            "--plot", help="Write the curves, intervals, budget frontier and choice as PNG.")]
        = None,
        terminal_plot: Annotated[bool, typer.Option(
            "--terminal-plot", help="Draw the curves in the terminal.")] = False,
        store_path: StoreOpt = None,
    ) -> None:
        """Recommend (augmenter, strategy, scale) under a GPU-hour budget, with intervals,
        the saturation scale, alternatives at matched cost, warnings and the next pilot."""
        if ctx.invoked_subcommand is not None:
            return
        from store.errors import AugplanError

        if budget_gpu_hours is None:
            if corpus is None and pilots is None:
                out.print(ctx.get_help())
                raise typer.Exit(0)
            raise AugplanError("--budget-gpu-hours is required")
        if fmt not in ("table", "json"):
            raise AugplanError(f"--format {fmt!r}: use table or json")
        result, cost, meta = make_plan(
            budget_gpu_hours, corpus=corpus, pilots=pilots, profiles=profiles,
            retriever=retriever, strategy=strategy, eval_set=eval_set, weights=weights,
            device=device, price=price, filter_per_hour=filter_per_hour, metric=metric,
            eval_mode=eval_mode, opts=options(risk, confidence, bootstrap, saturation,
                                              max_extrapolation, seed),
            store_path=store_path,
            augmenters=[a.strip() for a in augmenters.split(",") if a.strip()]
            if augmenters else None)
        doc = plan_document(result, meta)
        if output is not None:
            write_json(output, doc)
        if plot is not None:
            from tui.plots import plot_png

            plot_png(result, cost, plot, metric_name=meta["metric"])
        if fmt == "json":
            out.print_json(json.dumps(doc))
        else:
            print_plan(result, meta)
            if output is not None:
                out.print(f"[dim]plan written to {output}[/dim]")
            if plot is not None:
                out.print(f"[dim]plot written to {plot}[/dim]")
        if terminal_plot:
            import sys

            from tui.plots import plot_terminal

            width = min(max(out.width, 60), 120)
            typer.echo(plot_terminal(result, cost, metric_name=meta["metric"], width=width,
                                     color=sys.stdout.isatty()))

    def make_plan(budget: float, *, corpus, pilots, profiles, retriever, strategy, eval_set,
                  weights, device, price, filter_per_hour, metric, eval_mode, opts,
                  store_path, augmenters=None) -> tuple[Any, Any, dict[str, Any]]:
        from engine import planning
        from store import Store

        made = planning.make_plan(
            budget, store=Store(store_path) if pilots is None else None, corpus=corpus,
            pilots=pilots, profiles=profiles, retriever=retriever, strategy=strategy,
            eval_set=eval_set, weights=weights, device=device, price=price,
            filter_per_hour=filter_per_hour, metric=metric, eval_mode=eval_mode, options=opts,
            augmenters=augmenters)
        return made.plan, made.cost, made.meta

    def plan_document(result: Any, meta: dict[str, Any]) -> dict[str, Any]:
        from engine.planning import plan_document as doc_of

        return doc_of(result, meta)

    def print_plan(result: Any, meta: dict[str, Any]) -> None:
        sets = sorted({c.eval_set for c in result.curves})
        t = Table(title="pilot curves" + (f" on {sets[0]}" if len(sets) == 1 and sets[0]
                                          else ""), box=box.SIMPLE_HEAD, pad_edge=False)
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
                      "-" if sat == float("inf") else f"{sat:,.0f}")
        out.print(t)
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
            out.print(a)
        out.print(f"[bold]recommendation[/bold] ({meta['retriever'] or 'retriever'}, "
                  f"objective {', '.join(f'{k} {v:g}' for k, v in result.objective.items())}):")
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
        fit_max_scale: Annotated[int, typer.Option(
            "--fit-max-scale", help="Fit on scales up to this; predict the larger ones.")]
        = 1000,
        corpus: CorpusOpt = None,
        pilots: PilotsOpt = None,
        retriever: RetrieverOpt = None,
        strategy: StrategyOpt = None,
        metric: MetricOpt = "ndcg@10",
        eval_mode: ModeOpt = None,
        bootstrap: BootOpt = 1000,
        confidence: ConfOpt = 0.9,
        seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
        fmt: FormatOpt = "table",
        store_path: StoreOpt = None,
    ) -> None:
        """Fit each curve on the pilot scales <= --fit-max-scale, predict the larger measured
        scales, and print the errors and whether the intervals cover the measurements."""
        from planner import PlanError, backtest
        from store.errors import AugplanError

        if fmt not in ("table", "json"):
            raise AugplanError(f"--format {fmt!r}: use table or json")
        from engine import planning
        from store import Store

        points, _ = planning.load_points(
            Store(store_path) if pilots is None else None, corpus=corpus, pilots=pilots,
            retriever=retriever, strategy=strategy, metric=metric, eval_mode=eval_mode)
        try:
            rows = backtest(points, fit_max_scale,
                            options(risk="neutral", confidence=confidence, bootstrap=bootstrap,
                                    saturation=0.95, max_extrapolation=4.0, seed=seed))
        except PlanError as exc:
            raise AugplanError(str(exc)) from None
        mae = sum(abs(r.error) for r in rows) / len(rows)
        coverage = sum(r.covered for r in rows) / len(rows)
        if fmt == "json":
            out.print_json(json.dumps({"fit_max_scale": fit_max_scale, "rows": [
                r.to_dict() for r in rows], "mean_abs_error": mae, "coverage": coverage,
                "confidence": confidence}))
            return
        t = Table(title=f"backtest: fit on n <= {fit_max_scale:,}, predict larger scales",
                  box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("augmenter", "eval set", "family", "n", "measured", "predicted", "error",
                    f"{confidence:.0%} interval", "covered"):
            t.add_column(col)
        for r in rows:
            t.add_row(r.augmenter, r.eval_set or "-", r.family, f"{r.scale:,}",
                      f"{r.measured:.4f}", f"{r.predicted:.4f}", f"{r.error:+.4f}",
                      f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", "yes" if r.covered else "no")
        out.print(t)
        out.print(f"mean absolute error {mae:.4f}; interval coverage {coverage:.0%} "
                  f"({sum(r.covered for r in rows)}/{len(rows)})")

    @app.command("run")
    def run_cmd(
        plan_file: Annotated[Path | None, typer.Option(
            "--plan", help="A plan JSON written by `augplan plan -o`.")] = None,
        recommended: Annotated[bool, typer.Option(
            "--recommended", help="Plan now from the store (--corpus, --budget-gpu-hours) and "
            "run the recommendation.")] = False,
        corpus: Annotated[str | None, typer.Option("--corpus", help="With --recommended.")]
        = None,
        budget_gpu_hours: Annotated[float | None, typer.Option(
            "--budget-gpu-hours", help="With --recommended.")] = None,
        retriever: RetrieverOpt = None,
        out_path: Annotated[Path | None, typer.Option(
            "--out", help="Training set to write (.jsonl or .parquet); default "
            "./augplan-train-<corpus>-<augmenter>-<n>.jsonl.")] = None,
        backend: Annotated[str, typer.Option("--backend", help="Generation backend.")]
        = "llama.cpp",
        store_path: StoreOpt = None,
        models_dir: ModelsOpt = None,
    ) -> None:
        """Execute a plan at full scale: generate the missing queries through the resumable,
        cached engine (killed runs resume; nothing is generated twice), filter them, then
        export the training pairs."""
        from engine import planning
        from store import Store
        from store.errors import AugplanError

        if (plan_file is None) == (not recommended):
            raise AugplanError("give --plan PLAN.json or --recommended, one of the two")
        if recommended:
            if corpus is None or budget_gpu_hours is None:
                raise AugplanError("--recommended needs --corpus and --budget-gpu-hours")
            result, _, meta = make_plan(
                budget_gpu_hours, corpus=corpus, pilots=None, profiles=None,
                retriever=retriever, strategy=None, eval_set=None, weights=None, device=None,
                price=None, filter_per_hour=None, metric="ndcg@10", eval_mode=None,
                opts=options("neutral", 0.9, 1000, 0.95, 4.0, 0), store_path=store_path)
            doc = plan_document(result, meta)
            out.print(result.explanation, highlight=False)
        else:
            doc = planning.load_plan(plan_file)
        if doc["scale"] == 0:
            out.print("the plan keeps the zero-shot retriever: nothing to generate")
            return
        target = out_path or Path(f"augplan-train-{doc['corpus']}-{doc['augmenter']}-"
                                  f"{doc['scale']}.jsonl")
        out.print(f"running the plan: {doc['augmenter']} "
                  f"({doc.get('strategy') or 'inpars'}), {doc['scale']:,} accepted queries "
                  f"of {doc['corpus']}")
        summary = planning.execute_plan(
            Store(store_path), doc, target, models_dir=models_dir, backend=backend,
            on_event=lambda m: err.print(f"  [dim]{m}", highlight=False))
        out.print(f"{summary['generated']} queries generated (the rest came from the cache); "
                  f"{summary['exported']} training pairs written to {summary['path']}")


def write_json(path: Path, doc: dict[str, Any]) -> None:
    from store.errors import AugplanError

    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AugplanError(f"cannot write {path}: {exc.strerror or exc}") from None
