"""Pilot points on a Ray cluster: each missing (augmenter, scale, seed) point is one task
(training and evaluation of a fresh retriever), and the driver stores each point as soon as
its task returns, so a killed grid keeps every finished point and its rerun measures only the
rest. Workers receive the pairs and the eval sets (put once into Ray's object store) and never
touch the store."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from engine.pilot.train import train_point


def measure_point(retriever: str, models_dir: str | None, train_cfg: dict[str, Any],
                  pairs: list[tuple[str, str]], seed: int, keep_models: str | None,
                  config_hash: str, evalsets: dict[str, Any],
                  settings: dict[str, dict[str, Any]], threads: int) -> tuple[float, dict[str, tuple[dict[str, float], float]], str]:
    """On a worker: train (when there are pairs) and evaluate on each eval set; returns
    (training seconds, (metrics, seconds) per eval set, the worker). ``settings``: the
    evaluator's settings per eval set."""
    os.environ["AUGPLAN_THREADS"] = str(threads)
    import ray

    from engine import retrievers
    from engine.evaluate import Evaluator

    model = retrievers.load(retriever, Path(models_dir) if models_dir else None)
    train_seconds = train_point(model, pairs, train_cfg, seed, keep_models, config_hash)
    results = {name: Evaluator(ray.get(ref), **settings[name]).evaluate(model)
               for name, ref in evalsets.items()}
    return train_seconds, results, f"{socket.gethostname()}:{os.getpid()}"


def measure_on_cluster(run: Any, points: list[Any]) -> None:
    """Measure ``points`` (``engine.pilot.run.Point``) of a pilot run as tasks on the connected
    cluster, storing each as it finishes (``run.finish``)."""
    if not points:
        return
    import ray

    request = run.request
    threads = int(os.environ["AUGPLAN_THREADS"]) if os.environ.get("AUGPLAN_THREADS") else 1
    refs = {ev.evalset.name: ray.put(ev.evalset) for ev in run.evaluators}
    settings = {ev.evalset.name: {"mode": ev.mode, "nano_k": request.nano_k,
                                  "ignore_identical_ids": request.ignore_identical_ids,
                                  "precision": request.train.precision}
                for ev in run.evaluators}
    task = ray.remote(num_cpus=threads, max_retries=1)(measure_point)
    pending = {}
    for p in points:
        needed = {name: ref for name, ref in refs.items() if p.ids[name] not in p.stored}
        ref = task.remote(request.retriever, str(run.models_dir) if run.models_dir else None,
                          run.train_cfg, p.pairs, p.seed, request.keep_models, p.config_hash,
                          needed, settings, threads)
        pending[ref] = p
    run.say(f"{len(points)} points sent to the cluster")
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        p = pending.pop(done[0])
        train_seconds, results, worker = ray.get(done[0])
        run.say(f"{p.label}: measured on {worker}")
        run.finish(p, train_seconds, results)


__all__ = ["measure_on_cluster", "measure_point"]
