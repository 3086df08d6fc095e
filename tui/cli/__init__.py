"""The ``augplan`` command line: one module per command group, each calling public functions
of engine/store/planner (no pipelines here); this module assembles the app and runs it.

- ``models``: the model catalogue; ``corpus``: corpora in the store;
- ``generate``: generate, embed and the runs group; ``cache``: query, export, stats;
- ``quality``: filter and diversity; ``pilots``: pilot and the pilots group;
- ``plan``: plan (with backtest) and run; ``profiles``: bench and the profiles group;
- ``ui``: the Textual app; ``demo``: the main job end to end;
- ``_common``: the consoles, shared options and printing helpers.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from store.errors import AugplanError
from tui.cli import (
    autopilot,
    cache,
    corpus,
    demo,
    generate,
    models,
    pilots,
    plan,
    profiles,
    quality,
    ui,
)
from tui.cli._common import err

app = typer.Typer(
    name="augplan",
    help="Cost-aware planner and engine for LLM data augmentation of retrieval models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models.app, name="models")
app.add_typer(corpus.app, name="corpus")
app.add_typer(generate.runs_app, name="runs")
app.add_typer(pilots.pilots_app, name="pilots")
app.add_typer(plan.plan_app, name="plan")
app.add_typer(profiles.profiles_app, name="profiles")
for command, name in (
    (generate.generate, "generate"),
    (generate.embed, "embed"),
    (cache.query, "query"),
    (cache.export, "export"),
    (cache.stats, "stats"),
    (demo.demo, "demo"),
    (quality.filter_cmd, "filter"),
    (quality.diversity_cmd, "diversity"),
    (pilots.pilot, "pilot"),
    (plan.run_cmd, "run"),
    (autopilot.autopilot, "autopilot"),
    (profiles.bench, "bench"),
    (ui.tui_cmd, "tui"),
):
    app.command(name)(command)


def main() -> None:
    """The ``augplan`` script: run the app; a user error prints one message and exits 2."""
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


__all__ = ["app", "main"]
