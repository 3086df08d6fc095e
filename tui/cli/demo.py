"""``augplan demo``: the main job end to end (``engine.demo.run_demo``), printed step by step."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tui.cli._common import (
    ModelsOpt,
    StorageOpt,
    StoreOpt,
    err,
    open_store,
    out,
    parse_ints,
    print_frame,
)
from tui.cli.generate import progress_hooks


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
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """The main job: import SciFact, pull the smallest augmenter, generate, embed, check
    quality, a small pilot (fine-tune a weak and a strong retriever at three scales), then plan
    under a budget from the measured pilots and run the recommendation."""
    from engine.demo import DemoConfig, DemoHooks, run_demo

    config = DemoConfig(passages=passages, augmenter=augmenter, dataset=dataset, data_dir=data,
                        download=download, pilot_scales=parse_ints(pilot_scales,
                                                                   "--pilot-scales"),
                        pilot=not no_pilot, budget_hours=budget, models_dir=models_dir)
    out.rule("[bold]augplan demo")
    bars = _Bars(f"generate {augmenter}")
    hooks = DemoHooks(on_progress=bars.on_progress, on_stage=bars.on_stage,
                      on_event=lambda m: err.print(f"   [dim]{m}", highlight=False))
    try:
        for step in run_demo(open_store(store_path, storage), config, hooks):
            if step.kind == "generated":
                bars.stop()
            PRINTERS[step.kind](**step.data)
            if step.kind == "generating":
                bars.start()
    finally:
        bars.stop()


class _Bars:
    """The generation step's progress bars (on standard error), shown only while it runs."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._stack = contextlib.ExitStack()
        self._hooks: dict[str, Any] | None = None

    def start(self) -> None:
        self._hooks = self._stack.enter_context(progress_hooks(self.label))

    def stop(self) -> None:
        self._stack.close()
        self._hooks = None

    def on_progress(self, p: Any) -> None:
        if self._hooks is not None:
            self._hooks["on_progress"](p)

    def on_stage(self, stage: str, done: int, total: int) -> None:
        if self._hooks is not None:
            self._hooks["on_stage"](stage, done, total)


def _corpus(name: str, summary: Any, written: bool) -> None:
    out.print(f"1. corpus {name!r}: {summary.n_passages} passages, {summary.n_queries} queries "
              f"({'imported' if written else 'already in the store'})")


def _models(names: list[str]) -> None:
    out.print(f"2. models {' and '.join(names)} present and verified (sha256)")


def _generating(passages: int) -> None:
    out.print(f"3. generating one InPars query for each of {passages} passages (the pilots' "
              "seeded order)")


def _generated(outcome: Any) -> None:
    report = outcome.report
    out.print(f"   {report.generated} generated, {report.already_present} already cached, "
              f"{outcome.embedded} embedded")
    if report.generated:
        out.print(f"   throughput: {report.queries_per_s:.2f} queries/s, "
                  f"{report.tokens_per_s:.0f} generated tokens/s "
                  f"({report.prompt_tokens / report.gen_seconds:.0f} prompt tokens/s incl. "
                  "cached prefix)")


def _stored(corpus: str, augmenter: str, queries: int, ok: int,
            samples: list[tuple[str, str]]) -> None:
    out.print(f"4. store: {queries} synthetic queries for {corpus} by {augmenter} "
              f"({ok} non-empty)")
    for title, query in samples:
        out.print(f"   [dim]{title[:70]}[/dim]\n     -> [bold]{query}[/bold]", highlight=False)


def _search(probe: str, corpus: str, hits: list[dict[str, Any]]) -> None:
    out.print(f"5. hybrid search of the cache for {probe!r}:")
    for row in hits:
        out.print(f"   {row['query']}  [dim]-> {corpus}/{row['passage_id']}: "
                  f"{(row['title'] or '')[:60]}[/dim]", highlight=False)


def _stats(stats: Any) -> None:
    print_frame(stats, title="synthetic queries in the store")


def _pilot_skipped(corpus: str) -> None:
    out.print(f"6. pilot skipped: corpus {corpus!r} has no dev or test qrels to evaluate on")


def _pilot_start(corpus: str, scales: tuple[int, ...], augmenter: str, nano_k: int,
                 eval_set: str, carved: bool) -> None:
    if carved:
        out.print(f"6. a dev split to choose on, the test queries kept for reports: {eval_set}")
    out.print(f"6. pilot: fine-tune a fresh retriever on {', '.join(map(str, scales))} "
              f"{augmenter} pairs; evaluation on {eval_set} (static: every passage, two "
              f"seeds; MiniLM: nano, the relevant + top-{nano_k} BM25 passages per query)")


def _pilot(corpus: str, points: list[dict[str, Any]], eval_set: str) -> None:
    from tui.cli.pilots import points_table

    out.print(points_table(points, f"pilot points ({eval_set}, nDCG@10)"))


def _profile(augmenter: str, measuring: bool) -> None:
    if measuring:
        out.print(f"7. cost profile: measuring {augmenter} on this machine (8 passages)")
    else:
        out.print(f"7. cost profile of {augmenter} on this machine: from the store")


def _planning(retriever: str, budget: float) -> None:
    out.print(f"8. plan for {retriever} (the weak retriever) with a budget of {budget:g} hours "
              "of this machine, from the pilot points above:")


def _plan(plan: Any, doc: dict[str, Any], path: Path) -> None:
    for line in plan.explanation.splitlines():
        out.print(f"   {line}", highlight=False)
    for w in plan.warnings:
        out.print(f"   [yellow]warning:[/yellow] {w}", highlight=False)


def _plan_kept(path: Path) -> None:
    out.print(f"9. nothing to run: the plan keeps the zero-shot retriever ({path})")


def _plan_run(path: Path, doc: dict[str, Any]) -> None:
    out.print(f"9. running the plan ({path}): {doc['scale']:,} accepted "
              f"{doc['augmenter']} queries")


def _plan_done(summary: dict[str, Any]) -> None:
    out.print(f"   {summary['generated']} generated, the rest from the cache; "
              f"{summary['exported']} training pairs written to {summary['path']}")


def _done(seconds: float, store: Path, corpus: str) -> None:
    out.print(f"done in {seconds:.0f} s. Store: {store}. Try: "
              f"augplan query \"gene expression\" --corpus {corpus}")


#: how each step of ``engine.demo.run_demo`` is printed
PRINTERS: dict[str, Callable[..., None]] = {
    "corpus": _corpus, "models": _models, "generating": _generating, "generated": _generated,
    "stored": _stored, "search": _search, "stats": _stats, "pilot-skipped": _pilot_skipped,
    "pilot-start": _pilot_start, "pilot": _pilot, "profile": _profile, "planning": _planning,
    "plan": _plan, "plan-kept": _plan_kept, "plan-run": _plan_run, "plan-done": _plan_done,
    "done": _done,
}
