"""What every command module of the command line shares: the two consoles, the store and
models options, and small printing and parsing helpers. Private to ``tui.cli``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from store.errors import AugplanError

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="AUGPLAN_STORE",
                 help="Store: a folder, or object storage such as s3://bucket/prefix (LanceDB). "
                 "Default: $AUGPLAN_HOME/store or ~/.augplan/store."),
]
StorageOpt = Annotated[
    list[str] | None,
    typer.Option("--storage-option", metavar="KEY=VALUE",
                 help="An option of an object-storage store, repeatable (endpoint=URL, "
                 "region=..., allow_http=true, aws_access_key_id=...); the AWS_* variables "
                 "are read too."),
]
ModelsOpt = Annotated[
    Path | None,
    typer.Option("--models-dir", envvar="AUGPLAN_MODELS_DIR",
                 help="Models folder. Default: ~/.augplan/models."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ClusterOpt = Annotated[str, typer.Option(
    "--cluster", envvar="AUGPLAN_CLUSTER",
    help="Where to decode: local (this process), auto (the Ray cluster this machine belongs "
    "to), ray://HOST:PORT or HOST:PORT (a Ray cluster's address).")]
ActorsOpt = Annotated[int | None, typer.Option(
    "--actors", help="Generator actors on the cluster (default: one per GPU, else the "
    "cluster's CPUs / AUGPLAN_THREADS).")]


def parse_storage_options(items: list[str] | None) -> dict[str, str]:
    """``--storage-option KEY=VALUE`` flags as a dict (exit 2 on one without ``=``)."""
    options: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AugplanError(f"--storage-option {item!r}: expected KEY=VALUE, "
                               "e.g. endpoint=http://127.0.0.1:9000")
        options[key.strip()] = value.strip()
    return options


def open_store(path: str | None, storage: list[str] | None = None) -> Any:
    """The store at ``path``, a folder or a URI (default: $AUGPLAN_STORE,
    $AUGPLAN_HOME/store, ~/.augplan/store), with ``--storage-option`` flags."""
    from store import Store, default_location, is_remote

    options = parse_storage_options(storage)
    if options and not is_remote(path or default_location()):
        raise AugplanError("--storage-option is for a store in object storage "
                           "(--store s3://bucket/prefix)")
    return Store(path, storage_options=options)


def print_table(table: Table) -> None:
    """Print a table; into a file or a pipe at its natural width, so no column is squeezed
    to an ellipsis by the 80 columns a console assumes when it is not a terminal."""
    if out.is_terminal:
        out.print(table)
        return
    natural = Measurement.get(out, out.options.update_width(10_000), table).maximum
    saved = out.width
    out.width = max(saved, natural)
    try:
        out.print(table)
    finally:
        out.width = saved


def print_frame(df: Any, title: str | None = None) -> None:
    """A polars DataFrame as a table (floats with 4 significant digits)."""
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(col, overflow="fold")
    for row in df.iter_rows():
        table.add_row(*["" if v is None else (f"{v:,.4g}" if isinstance(v, float) else str(v))
                        for v in row])
    print_table(table)


def fmt(value: Any, digits: int = 1) -> str:
    """A cell: '-' for None, floats with thousands separators and ``digits`` decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated integers of an option ("250,500,1000")."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise AugplanError(f"{option} {text!r}: expected comma-separated integers, "
                           "e.g. 250,500,1000") from None
    if not values:
        raise AugplanError(f"{option} is empty")
    return values


def split_names(text: str | None) -> list[str] | None:
    """Comma-separated names of an option ("a,b"), or None when not given."""
    if text is None:
        return None
    return [a.strip() for a in text.split(",") if a.strip()]


def check_format(fmt_: str, allowed: tuple[str, ...], option: str = "--format") -> None:
    if fmt_ not in allowed:
        raise AugplanError(f"{option} {fmt_!r}: use {' or '.join(allowed)}")


def say(message: str) -> None:
    """A progress line on standard error (dim, user data never read as markup)."""
    err.print(f"[dim]{_escape(message)}[/dim]", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextlib.contextmanager
def stage_progress(*, quiet: bool = False, transient: bool = True,
                   progress: Any = None) -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars on standard error, one per stage of a long step; yields the
    ``on_progress(stage, done, total)`` hook. With ``progress`` (a running rich Progress) the
    bars join it instead."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}

    def hook(bar: Any) -> Callable[[str, int, int], None]:
        def on_stage(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, speed="")
            bar.update(tasks[stage], completed=done, total=max(total, 1))
        return on_stage

    if progress is not None:
        yield hook(progress)
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=quiet, transient=transient) as bar:
        yield hook(bar)
