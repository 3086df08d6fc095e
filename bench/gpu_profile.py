"""Cost profiles of the catalogue augmenters on a CUDA GPU (transformers backend, bf16).

For every catalogue augmenter in the models folder (pulled from the registry first when it is
missing), this measures the transformers backend at each batch size on the first SciFact
passages with the InPars prompt, and writes to the output folder:

* ``profiles-<gpu-name>.toml``: one ``[augmenters.NAME]`` table per augmenter (its fastest batch
  size), in the planner's format: ``augplan profiles import FILE`` reads it;
* ``profiles-<gpu-name>.json``: every measurement, conversion and load time, and what was skipped.

GGUF files are dequantised into transformers folders (kept in ``--cache`` for later runs) by
worker processes at low priority, all at once and smallest first, while this process measures the
models already converted on the GPU; a time budget (default 330 s from the start) caps the work:
what does not fit is skipped and listed in the JSON.
Only torch, transformers, accelerate, gguf and tomli-w are needed (not the store's packages).

    python bench/gpu_profile.py [--augmenters smollm2-135m,gemma3-270m] [--passages 64]
        [--batch-sizes 32,64] [--models-dir DIR] [--data BEIR_FOLDER] [--out DIR]
        [--cache DIR] [--budget-s 330]

    # on a machine without a GPU, a quick check of the whole path:
    python bench/gpu_profile.py --device cpu --passages 4 --augmenters smollm2-135m
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import sys
import tempfile
import time
import types
from multiprocessing import TimeoutError as PoolTimeout
from multiprocessing import get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if importlib.util.find_spec("lancedb") is None:
    # The store's package needs lancedb and polars, which a bare GPU machine lacks; this script
    # only uses its error type, corpus reader and key helpers, so import those modules directly.
    _store_pkg = types.ModuleType("store")
    _store_pkg.__path__ = [str(ROOT / "store")]
    sys.modules["store"] = _store_pkg

#: Seconds a model needs at least: loading the converted folder and one measurement.
MIN_MODEL_S = 40.0

NEEDS = {"torch": "torch", "transformers": "transformers", "accelerate": "accelerate",
         "gguf": "gguf", "tomli_w": "tomli-w", "pyarrow": "pyarrow"}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def _convert(gguf_path: str, out_dir: str, dtype: str, threads: int) -> dict[str, Any]:
    """Worker process: GGUF -> transformers folder. Returns timings."""
    import torch

    from engine.backends.transformers_backend import convert_gguf

    os.nice(10)  # the measuring process keeps priority for its generate loop
    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    existed = (Path(out_dir) / "config.json").is_file()
    convert_gguf(gguf_path, out_dir, dtype=dtype)
    return {"convert_seconds": round(time.perf_counter() - t0, 2), "cached": existed}


def _measure(name: str, folder: Path, conv: dict[str, Any], info: dict[str, Any],
             args: argparse.Namespace, batch_sizes: list[int], dtype: str, data: str,
             t_start: float) -> list[Any]:
    """Load one converted model and measure it at each batch size the budget allows."""
    from engine import profiles
    from engine.backends.transformers_backend import TransformersBackend

    t0 = time.perf_counter()
    backend = TransformersBackend(folder, device=args.device, dtype=dtype,
                                  batch_size=batch_sizes[0])
    info["load_seconds"] = round(time.perf_counter() - t0, 2)
    runs: list[profiles.AugmenterProfile] = []
    try:
        for b in batch_sizes:
            left = args.budget_s - (time.perf_counter() - t_start)
            need = 15.0 if not runs else 2.5 * float(
                runs[-1].params["prompt_seconds"] + runs[-1].params["generate_seconds"])
            if left < need:
                info.setdefault("skipped_batch_sizes", []).append(b)
                _log(f"{name}: batch {b} skipped (time budget)", t_start)
                continue
            backend.batch_size = b
            p = profiles.measure_augmenter(name, backend="transformers", passages=args.passages,
                                           corpus=data, instance=backend, save=False)
            p.params["load_seconds"] = info["load_seconds"]
            p.params["convert_seconds"] = conv["convert_seconds"]
            runs.append(p)
            info["runs"].append(profiles.profile_dict(p))
            _log(f"{name}: batch {b}: {p.queries_per_hour:,.0f} queries/h, "
                 f"{p.gen_tokens_per_s:,.0f} gen tok/s, {p.prompt_tokens_per_s:,.0f} prompt "
                 f"tok/s, peak {p.peak_memory_mb:,.0f} MB", t_start)
    finally:
        backend.close()
    return runs


def _log(msg: str, t_start: float) -> None:
    print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--augmenters", default=None,
                    help="comma-separated catalogue names (default: every augmenter)")
    ap.add_argument("--passages", type=int, default=64)
    ap.add_argument("--batch-sizes", default="32,64")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--data", default=None,
                    help="SciFact BEIR folder (default: scifact under $AUGPLAN_DATA_DIR)")
    ap.add_argument("--out", default=None, help="output folder (default: $OUT, else ./out)")
    ap.add_argument("--cache", default=None,
                    help="folder for the converted models (default: a folder under the temp dir)")
    ap.add_argument("--budget-s", type=float, default=330.0,
                    help="stop starting new work after this many seconds")
    ap.add_argument("--workers", type=int, default=None, help="conversion processes")
    ap.add_argument("--no-pull", action="store_true", help="skip augmenters that are missing")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    missing = [pkg for mod, pkg in NEEDS.items() if importlib.util.find_spec(mod) is None]
    if missing:
        print(f"gpu_profile: missing Python packages: {', '.join(missing)}", file=sys.stderr)
        return 2
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_profile: no CUDA GPU is visible to torch (torch.cuda.is_available() is False);"
              " run it on a GPU machine, or pass --device cpu for a dry run", file=sys.stderr)
        return 2
    gpu = args.device.startswith("cuda")
    from engine import catalogue, profiles
    from engine.device import cpu_name
    from store.errors import AugplanError

    device_name = torch.cuda.get_device_name(0) if gpu else cpu_name()
    dtype = "bfloat16" if gpu and torch.cuda.is_bf16_supported() else (
        "float16" if gpu else "float32")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    out_dir = Path(args.out or os.environ.get("OUT") or ROOT / "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "augplan-transformers")
    data = args.data
    if data is None:
        from engine.datasets import locate

        data = str(locate("scifact"))

    names = (
        [n.strip() for n in args.augmenters.split(",") if n.strip()]
        if args.augmenters
        else [e.name for e in catalogue.catalogue().values() if e.kind == "augmenter"]
    )
    report: dict[str, Any] = {
        "device": device_name, "dtype": dtype, "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version(),
        "passages": args.passages, "batch_sizes": batch_sizes, "strategy": "inpars",
        "budget_s": args.budget_s, "augmenters": {},
    }
    _log(f"{device_name}, {dtype}; augmenters: {', '.join(names)}", t_start)

    # 1. Files: present and verified, pulled from the registry when missing.
    paths: dict[str, Path] = {}
    for name in names:
        info: dict[str, Any] = {"status": "pending", "runs": []}
        report["augmenters"][name] = info
        try:
            entry = catalogue.get_entry(name)
            info["params"] = entry.params
            if entry.kind != "augmenter":
                raise AugplanError(f"{name} is an {entry.kind}, not an augmenter")
            path = catalogue.model_path(entry, catalogue.models_dir(args.models_dir))
            if not path.is_file() and not args.no_pull:
                t0 = time.perf_counter()
                catalogue.pull(name, args.models_dir, log=lambda m: _log(m, t_start))
                info["pull_seconds"] = round(time.perf_counter() - t0, 2)
            paths[name] = catalogue.verify(name, Path(path).parent)
        except AugplanError as exc:
            info.update(status="skipped", message=str(exc))
            _log(f"{name}: skipped: {exc}", t_start)

    # 2. Conversion in worker processes, smallest model first.
    order = sorted(paths, key=lambda n: paths[n].stat().st_size)
    # Leave two cores to this process: a generate loop on a GPU is bound by its CPU side.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    spare = max(1, (cpus or 2) - 2)
    workers = args.workers or max(1, min(len(order), spare // 2 or 1))
    threads = max(1, spare // workers)
    report.update(conversion_workers=workers, conversion_threads=threads)
    futures: dict[str, AsyncResult] = {}
    pool = get_context("spawn").Pool(processes=workers) if order else None
    for name in order:
        entry = catalogue.get_entry(name)
        target = cache / f"{name}-{entry.sha256[:12]}-{dtype}"
        futures[name] = pool.apply_async(_convert, (str(paths[name]), str(target), dtype, threads))

    # 3. Measure each model as soon as its folder is ready.
    best: list[profiles.AugmenterProfile] = []
    try:
        for name in order:
            info = report["augmenters"][name]
            entry = catalogue.get_entry(name)
            target = cache / f"{name}-{entry.sha256[:12]}-{dtype}"
            left = args.budget_s - (time.perf_counter() - t_start)
            try:
                conv = futures[name].get(timeout=max(1.0, left))
            except PoolTimeout:
                info.update(status="skipped", message="time budget spent while converting")
                _log(f"{name}: skipped (time budget spent while converting)", t_start)
                continue
            except Exception as exc:  # noqa: BLE001 - a worker's failure: record, go on
                info.update(status="failed", message=f"conversion: {type(exc).__name__}: {exc}")
                _log(f"{name}: conversion failed: {exc}", t_start)
                continue
            info.update(conv)
            _log(f"{name}: converted in {conv['convert_seconds']} s"
                 f"{' (cached)' if conv['cached'] else ''}", t_start)
            if args.budget_s - (time.perf_counter() - t_start) < MIN_MODEL_S:
                info.update(status="skipped", message="time budget: too little left to measure")
                _log(f"{name}: skipped (time budget)", t_start)
                continue
            runs: list[profiles.AugmenterProfile] = []
            try:
                runs = _measure(name, target, conv, info, args, batch_sizes, dtype, data, t_start)
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory: record, go on
                info.update(status="failed", message=f"{type(exc).__name__}: {exc}"[:500])
                _log(f"{name}: failed: {type(exc).__name__}: {exc}", t_start)
            if gpu:
                torch.cuda.empty_cache()
            if runs:
                best.append(max(runs, key=lambda r: r.queries_per_hour))
                info["status"] = "ok"
                info["best_batch_size"] = best[-1].params.get("batch_size")
    finally:
        if pool is not None:
            if all(f.ready() for f in futures.values()):
                pool.close()
            else:  # conversions still running past the budget are stopped
                pool.terminate()
            pool.join()

    report["seconds"] = round(time.perf_counter() - t_start, 1)
    slug = _slug(device_name)
    toml_path = out_dir / f"profiles-{slug}.toml"
    json_path = out_dir / f"profiles-{slug}.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if best:
        header = (
            f"Measured by bench/gpu_profile.py on {device_name} ({dtype}), transformers "
            f"{transformers.__version__}, torch {torch.__version__}.\n"
            f"InPars prompt, greedy, first {args.passages} SciFact passages; each augmenter at "
            f"its fastest batch size of {', '.join(map(str, batch_sizes))}."
        )
        toml_path.write_text(profiles.dumps_profiles(best, header=header), encoding="utf-8")
        _log(f"wrote {toml_path} and {json_path} ({report['seconds']} s in all)", t_start)
    else:
        _log(f"no augmenter was measured; wrote {json_path}", t_start)
    return 0 if best else 1


if __name__ == "__main__":
    from store.errors import AugplanError

    try:
        sys.exit(main())
    except AugplanError as exc:
        print(f"gpu_profile: {exc}", file=sys.stderr)
        sys.exit(2)
