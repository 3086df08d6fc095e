"""``augplan autopilot``: pilots chosen by the plan inside a share of the budget, the plan run,
and the chosen retriever reported on dev and (once) on test."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from engine.retrievers import DEFAULT_RETRIEVER
from tui.cli._common import (
    ClusterOpt,
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    err,
    open_store,
    out,
    print_table,
    split_names,
)


def autopilot(
    corpus: Annotated[str, typer.Option("--corpus", help="Corpus in the store (with a dev "
                                        "split: `augplan corpus split`).")],
    augmenters: Annotated[str, typer.Option(
        "--augmenters", help="Candidate augmenters, comma-separated.")],
    budget_gpu_hours: Annotated[float, typer.Option(
        "--budget-gpu-hours", help="Total budget in hours of the profiles' device, pilots "
        "included.")],
    retriever: Annotated[str, typer.Option(
        "--retriever", help="Retriever to train: minilm-l6 (strong), static-minilm (weak, "
        "trains in seconds), a SentenceTransformer folder.")] = DEFAULT_RETRIEVER,
    pilot_share: Annotated[float, typer.Option(
        "--pilot-share", help="Share of the budget the pilots may spend, in (0, 1).")] = 0.25,
    device: Annotated[str | None, typer.Option(
        "--device", help="Use the cost profiles of this device only.")] = None,
    first_scale: Annotated[int | None, typer.Option(
        "--first-scale", help="Smallest pilot scale (the first points: it and twice it; "
        "default: the largest of 200, 100 and two training batches whose generation, "
        "training and evaluation the pilot share buys, for the cheapest candidates when it "
        "cannot buy all).")] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Training seeds of each pilot "
                                       "point.")] = "0,1",
    eval_mode: Annotated[str, typer.Option(
        "--eval-mode", help="Pilot evaluation: nano (fast) or full; the final model is "
        "always evaluated in full.")] = "nano",
    stability: Annotated[float, typer.Option(
        "--stability", help="Stop when the choice is right in this share of refits.")] = 0.9,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", help="A choice within this nDCG@10 of the best counts as right.")]
    = 0.003,
    max_points: Annotated[int, typer.Option(
        "--max-points", help="Pilot points the loop may add, at most.")] = 8,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    cluster: ClusterOpt = "local",
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Spend a share of the budget on pilots the plan asks for (on the dev split), stop when
    the choice is stable, run the plan with the rest, and report the chosen retriever's dev
    and test nDCG@10. Everything is cached: a rerun computes nothing."""
    from engine.autopilot import AutopilotRequest, run_autopilot
    from engine.cluster import parse_cluster
    from tui.cli._common import parse_ints

    request = AutopilotRequest(
        corpus=corpus, retriever=retriever, augmenters=tuple(split_names(augmenters) or ()),
        budget_hours=budget_gpu_hours, pilot_share=pilot_share, device=device,
        first_scale=first_scale, seeds=parse_ints(seeds, "--seeds"), eval_mode=eval_mode,
        stability=stability, tolerance=tolerance, max_points=max_points)
    say = (lambda m: None) if as_json else (lambda m: err.print(m, highlight=False))
    report = run_autopilot(open_store(store_path, storage), request, models_dir=models_dir,
                           on_event=say, cluster=parse_cluster(cluster))
    if as_json:
        out.print_json(json.dumps({
            "steps": report.steps, "points": report.points, "pilot_hours": report.pilot_hours,
            "advance_hours": report.advance_hours, "final_hours": report.final_hours,
            "plan": report.plan, "stopped": report.stopped, "warnings": report.warnings,
            "every_candidate_hours": report.every_candidate_hours,
            "dev_set": report.dev_set, "dev_ndcg_at_10": report.dev_score,
            "test_set": report.test_set, "test_ndcg_at_10": report.test_score}))
        return
    _print_report(report, f"autopilot on {corpus} ({retriever})", budget_gpu_hours,
                  eval_mode)


def _print_report(report: Any, title: str, budget: float, eval_mode: str) -> None:
    """The loop's steps as a table, then the points, the hours, the choice and the scores."""
    t = Table(title=title, box=box.SIMPLE_HEAD,
              pad_edge=False)
    for col in ("step", "choice", "predicted", "stable", "pilot h", "next point"):
        t.add_column(col)
    for i, s in enumerate(report.steps, 1):
        t.add_row(str(i), s["choice"], f"{s['predicted']:.4f}",
                  "-" if s["stability"] is None else f"{s['stability']:.0%}",
                  f"{s['pilot_hours']:.3g}", s["next"] or "-")
    print_table(t)
    p = report.plan
    out.print(f"stopped: {report.stopped}", highlight=False, soft_wrap=True)
    for w in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    out.print(f"points measured: {', '.join(f'{a} n={n}' for a, n in report.points)}",
              highlight=False, soft_wrap=True)
    advance = (f" (of which {report.advance_hours:.3g} h generated queries the final run "
               "uses)" if report.advance_hours else "")
    out.print(f"budget: pilots {report.pilot_hours:.3g} h{advance}, final run "
              f"{report.final_hours:.3g} h of {budget:g} h", highlight=False, soft_wrap=True)
    choice = f"{p['augmenter']} at {p['scale']:,} queries" if p["scale"] else "zero-shot"
    out.print(f"choice: {choice}: predicted dev nDCG@10 {p['predicted']:.4f} "
              f"[{p['ci'][0]:.4f}, {p['ci'][1]:.4f}], measured {report.dev_score:.4f} on "
              f"{report.dev_set} ({eval_mode} evaluation, as the pilots)", highlight=False,
              soft_wrap=True)
    out.print(f"test nDCG@10 {report.test_score:.4f} on {report.test_set} (full evaluation, "
              "read once, after the choice)", highlight=False, soft_wrap=True)
