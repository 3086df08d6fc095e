"""``augplan bench`` and ``augplan profiles``: measure cost profiles, keep them, exchange them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from engine.prompts import DEFAULT_STRATEGY
from tui.cli._common import ModelsOpt, StorageOpt, StoreOpt, err, fmt, open_store, out, print_table

profiles_app = typer.Typer(
    help="Cost profiles (throughput per augmenter and device): list, export, import.",
    no_args_is_help=True,
)


def _augmenter_table(rows: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("augmenter", "strategy", "backend", "device", "queries/h", "prompt tok/s",
                "gen tok/s", "peak MB", "passages", "measured"):
        table.add_column(col, overflow="fold", no_wrap=col in ("augmenter", "queries/h"))
    for p in rows:
        table.add_row(p.augmenter, p.strategy, p.backend, p.device,
                      fmt(p.queries_per_hour, 0), fmt(p.prompt_tokens_per_s),
                      fmt(p.gen_tokens_per_s), fmt(p.peak_memory_mb, 0), str(p.passages),
                      p.measured_at)
    return table

def bench(
    augmenter: Annotated[str, typer.Option("--augmenter", help="Catalogue augmenter name.")],
    strategy: Annotated[str, typer.Option("--strategy", help="Prompt strategy.")]
    = DEFAULT_STRATEGY,
    backend: Annotated[str, typer.Option(
        "--backend", help="llama.cpp (batched), llama.cpp-sequential, transformers or http.")]
    = "llama.cpp",
    passages: Annotated[int, typer.Option("--passages", help="Passages to measure on.")] = 32,
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="Corpus in the store, or a BEIR folder / dataset name "
        "(default: the store's corpus, else SciFact).")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="Folder holding datasets by name.")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="OpenAI-compatible server for --backend http.")] = None,
    device: Annotated[str | None, typer.Option(
        "--device", help="transformers device (cuda, cpu; default: cuda if present).")]
    = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", help="Batch (transformers), slots (llama.cpp-batched) or "
        "concurrent requests (http).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")]
    = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Measure an augmenter's throughput (prompt and generated tokens/s, queries/h, peak
    memory) and keep the profile in the store."""
    from engine.profiles import measure_augmenter, profile_dict

    store = open_store(store_path, storage)
    if not as_json:
        err.print(f"[dim]measuring {augmenter} ({backend}, {strategy}) on {passages} "
                  "passages...[/dim]")
    profile = measure_augmenter(
        augmenter, strategy=strategy, backend=backend, passages=passages, store=store,
        corpus=corpus, models_dir=models_dir, data_dir=data, base_url=base_url,
        device=device, batch_size=batch_size,
    )
    if as_json:
        out.print_json(json.dumps(profile_dict(profile)))
        return
    print_table(_augmenter_table([profile], "cost profile (saved in the store)"))
    s = profile.params
    out.print(f"  {s.get('gen_tokens', 0)} tokens generated, {s.get('prompt_tokens', 0)} "
              f"prompt tokens; {s.get('generate_seconds', 0):.1f} s generating, model "
              f"loaded in {s.get('load_seconds', 0):.1f} s; {s.get('empty', 0)} empty")

@profiles_app.command("list")
def profiles_list(
    device: Annotated[str | None, typer.Option("--device", help="Only this device.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
    = False,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Profiles in the store, oldest first, and the reference profiles shipped."""
    from engine.profiles import (
        AugmenterProfile,
        TrainingProfile,
        profile_dict,
        reference_profiles,
        stored_profiles,
    )

    rows = stored_profiles(open_store(store_path, storage), device=device)
    if as_json:
        for p in rows:
            out.print(json.dumps(profile_dict(p)), soft_wrap=True, highlight=False)
        return
    aug = [p for p in rows if isinstance(p, AugmenterProfile)]
    train = [p for p in rows if isinstance(p, TrainingProfile)]
    if aug:
        print_table(_augmenter_table(aug, "augmenter profiles"))
    if train:
        table = Table(title="training profiles")
        for col in ("retriever", "device", "pairs/h", "batch", "max seq", "measured"):
            table.add_column(col, overflow="fold")
        for p in train:
            table.add_row(p.retriever, p.device, fmt(p.pairs_per_hour, 0),
                          str(p.batch_size), str(p.max_seq_length), p.measured_at)
        print_table(table)
    if not rows:
        out.print("no profiles in the store yet (augplan bench --augmenter NAME)")
    refs = reference_profiles()
    if refs:
        out.print(f"reference profiles (augplan profiles import NAME): {', '.join(refs)}")

@profiles_app.command("export")
def profiles_export(
    file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="TOML file to write.")],
    device: Annotated[str | None, typer.Option(
        "--device", help="Only profiles of this device (as listed).")] = None,
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Write the latest profile of each augmenter and retriever as the planner's TOML."""
    from engine.profiles import export_profiles

    n = export_profiles(open_store(store_path, storage), file, device=device)
    out.print(f"{n} profile(s) written to {file}")

@profiles_app.command("import")
def profiles_import(
    file: Annotated[str, typer.Argument(
        metavar="FILE.toml", help="TOML file, or the name of a reference profile.")],
    store_path: StoreOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Read profiles from TOML (validated in full first) into the store."""
    from engine.profiles import import_profiles

    got = import_profiles(open_store(store_path, storage), file)
    out.print(f"{len(got.augmenters)} augmenter and {len(got.training)} training "
              f"profile(s) imported from {file}")

