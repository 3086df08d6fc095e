"""Key-press latency of the TUI while a generation job runs.

Starts ``augplan tui`` headless (Textual's test driver) on a fresh store with SciFact, starts a
generation job from the Run pane (SmolLM2-135M, 8 passages, with embedding and filters), and
while it runs sends tab-switching keys (1-4) as the terminal would, about ten a second. For each
key it measures the time until (a) the active tab changed (the key was handled) and (b) the new
pane was laid out on screen (its region is non-empty: the compositor has placed it).

Modes, measured one after the other in the same run:
  process     the app as shipped: the job runs in a child process at a lower CPU priority
              (tui.jobs), a thread worker only relays its progress; garbage collection tuned
              (AugplanApp.on_mount);
  default-gc  baseline 1: the same, with Python's default garbage collection;
  thread      baseline 2: default garbage collection and the same job function
              (tui.jobs.generate_job) run inside the app's thread worker, sharing the app's GIL
              and CPU priority (how the app ran its jobs before).
Also the same presses with no job running. Prints median/p90/max in ms, the ratios of the
shipped mode to each baseline, and writes a JSON file.

    .venv/bin/python bench/tui_latency.py [--passages 8] [--out bench/results/tui-latency.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TABS = ("plan", "run", "browse", "models")


async def _press(app: Any, index: int) -> tuple[float, float]:
    """Seconds to (tab active, pane laid out) for the key of tab ``index``."""
    from textual import events
    from textual.widgets import TabbedContent

    tab = TABS[index]
    tabs = app.query_one(TabbedContent)
    pane = app.query_one(f"#{tab}-pane")
    t0 = time.perf_counter()
    app._driver.send_message(events.Key(str(index + 1), str(index + 1)))
    handled = None
    while True:
        if handled is None and tabs.active == tab:
            handled = time.perf_counter() - t0
        if handled is not None and pane.region.width > 0:
            return handled, time.perf_counter() - t0
        if time.perf_counter() - t0 > 30:
            raise RuntimeError(f"key {index + 1} not answered in 30 s")
        await asyncio.sleep(0.0005)


def _gc_summary(collections: list[tuple[int, float]], tracked: int) -> dict[str, Any]:
    """Garbage collections of the app's process while it ran: count, total and longest
    seconds per generation (collections stall every thread: keys wait for them)."""
    out: dict[str, Any] = {"objects_tracked_at_end": tracked}
    for g in (0, 1, 2):
        t = [s for gen, s in collections if gen == g]
        out[f"gen{g}"] = {"n": len(t), "seconds": round(sum(t), 3),
                          "max_ms": round(max(t) * 1000, 1) if t else 0.0}
    return out


def _summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2),
            "p90_ms": round(sorted(ms)[int(0.9 * (len(ms) - 1))], 2),
            "max_ms": round(max(ms), 2)}


def _thread_mode() -> None:
    """Baseline: RunPane runs the job function in its own thread worker (no child process)."""
    from textual import work

    from tui import jobs
    from tui.screens.run import JobFinished, JobProgress, RunPane

    @work(thread=True, group="generate", exit_on_error=False)
    def _generate(self: Any, request: Any, run_id: str | None) -> None:
        ctx = self.app
        result = jobs.generate_job(
            store_path=str(ctx.store_path),
            models_dir=str(ctx.models_dir) if ctx.models_dir else None,
            manifest=request.manifest(), run_id=run_id,
            emit=lambda _k, st: self.post_message(JobProgress(jobs.JobStats(**st))),
            should_stop=self._stop.is_set)
        self.post_message(JobFinished(result["run_id"], result["status"], result["text"],
                                      result["counts"]))

    RunPane._generate = _generate  # type: ignore[method-assign]


async def measure(store_path: Path, models_dir: Path | None, passages: int,
                  idle_presses: int) -> dict[str, Any]:
    from tui.app import AugplanApp

    collections: list[tuple[int, float]] = []  # (generation, seconds) of the app's process
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            collections.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(on_gc)
    app = AugplanApp(store_path, models_dir, initial="run")
    try:
        return await _run(app, passages, idle_presses, collections)
    finally:
        gc.callbacks.remove(on_gc)


async def _run(app: Any, passages: int, idle_presses: int,
               collections: list[tuple[int, float]]) -> dict[str, Any]:
    from textual.widgets import Input, Select

    async with app.run_test(size=(100, 40)) as pilot:
        t0 = time.perf_counter()
        while (app.query_one("#run-corpus", Select).value != "scifact"
               or any(not w.is_finished for w in app.workers)):
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("the app did not load the store in 120 s")
            await pilot.pause(0.1)
        print(f"app ready in {time.perf_counter() - t0:.1f} s", flush=True)
        idle_h, idle_d = [], []
        for i in range(idle_presses):
            h, d = await _press(app, (i + 1) % 4)
            idle_h.append(h)
            idle_d.append(d)
            await asyncio.sleep(0.05)
        app.action_show_tab("run")
        app.query_one("#run-corpus", Select).value = "scifact"
        app.query_one("#run-augmenter", Select).value = "smollm2-135m"
        app.query_one("#run-limit", Input).value = str(passages)
        await pilot.pause()
        app.action_show_tab("run")
        pane = app.query_one("#run-pane")
        t_start = time.perf_counter()
        pane.action_start()
        print("job started", flush=True)
        busy_h, busy_d, phases = [], [], []
        i = 0
        while pane.job_running():
            h, d = await _press(app, i % 4)
            busy_h.append(h)
            busy_d.append(d)
            phases.append(pane.current.phase if pane.current else "starting")
            i += 1
            await asyncio.sleep(0.1)  # about ten key presses a second, like a fast user
        job_seconds = time.perf_counter() - t_start
        done = pane.finished[-1] if pane.finished else None
    return {
        "idle": {"handled": _summary(idle_h), "laid_out": _summary(idle_d)},
        "during_generation": {"handled": _summary(busy_h), "laid_out": _summary(busy_d)},
        "presses_per_phase": {p: phases.count(p) for p in dict.fromkeys(phases)},
        "job": {"passages": passages, "seconds": round(job_seconds, 1),
                "status": done.status if done else None, "text": done.text if done else None},
        "garbage_collection": _gc_summary(collections, len(gc.get_objects())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=8)
    ap.add_argument("--modes", default="process,default-gc,thread",
                    help="comma-separated: process (as shipped), default-gc, thread (baselines)")
    ap.add_argument("--idle-presses", type=int, default=40)
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("AUGPLAN_DATA_DIR",
                                                Path(__file__).resolve().parents[2] / "shared"
                                                / "data")))
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/results/tui-latency.json"))
    args = ap.parse_args()

    from engine.datasets import locate
    from store import Store
    from store import corpus as corpus_io

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"process", "default-gc", "thread"}:
        ap.error(f"--modes {args.modes!r}: use process, default-gc and/or thread")
    modes.sort(key=lambda m: m == "thread")  # last: it patches the Run pane
    from tui.app import AugplanApp
    from tui.jobs import job_nice

    result: dict[str, Any] = {"modes": {}}
    for mode in modes:
        AugplanApp.tune_gc = mode == "process"
        if mode == "thread":
            _thread_mode()  # last: it replaces the Run pane's worker for this process
        print(f"== {mode}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            store_path = Path(tmp) / "store"
            Store(store_path).import_corpus(
                "scifact", corpus_io.detect(locate("scifact", args.data)))
            r = asyncio.run(measure(store_path, args.models_dir, args.passages,
                                    args.idle_presses))
        result["modes"][mode] = r
        for label in ("idle", "during_generation"):
            x = r[label]
            print(f"{label:>18}: handled median {x['handled']['median_ms']:.1f} ms, p90 "
                  f"{x['handled']['p90_ms']:.1f}, max {x['handled']['max_ms']:.1f} ms; on screen "
                  f"median {x['laid_out']['median_ms']:.1f} ms, p90 "
                  f"{x['laid_out']['p90_ms']:.1f}, max {x['laid_out']['max_ms']:.1f} ms "
                  f"({x['handled']['n']} presses)")
        print(f"job: {r['job']['text']} in {r['job']['seconds']} s; presses per phase "
              f"{r['presses_per_phase']}", flush=True)
        g = r["garbage_collection"]
        print("garbage collection: " + "; ".join(
            f"gen{i} {g[f'gen{i}']['n']} runs, {g[f'gen{i}']['seconds']} s, longest "
            f"{g[f'gen{i}']['max_ms']} ms" for i in (0, 1, 2))
            + f"; {g['objects_tracked_at_end']:,} objects tracked", flush=True)
    shipped = result["modes"].get("process")
    for base in ("default-gc", "thread"):
        if shipped is None or base not in result["modes"]:
            continue
        p, b = shipped["during_generation"], result["modes"][base]["during_generation"]
        ratio = {kind: {stat: round(p[kind][stat] / b[kind][stat], 3)
                        for stat in ("median_ms", "p90_ms", "max_ms")}
                 for kind in ("handled", "laid_out")}
        ratio["job_seconds"] = round(shipped["job"]["seconds"]
                                     / result["modes"][base]["job"]["seconds"], 3)
        result[f"ratio_process_to_{base}"] = ratio
        print(f"during generation, process / {base}: {ratio}")
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "load_average_1m": round(os.getloadavg()[0], 2),
                         "nice": os.nice(0), "job_nice": job_nice()}
    result["method"] = ("headless Textual driver, 100x40; key events sent as from the "
                        "terminal; 'handled' = active tab changed, 'laid_out' = the new pane "
                        "has a screen region")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
