"""Generation on a Ray cluster: blocks of prompts decoded by a pool of generator actors.

The driver (``engine.generate``) plans the missing content keys exactly as on one machine and
cuts them into blocks (one wave each: rows sharing a prompt variant, never splitting a
passage's rows). :func:`decode_blocks` runs them through Ray Data: a ``map_batches`` over an
actor pool (:class:`GeneratorActor`), where each actor checks the model's sha256, loads it
once, and decodes one block per call with ``AUGPLAN_THREADS`` CPU threads (or one GPU when the
cluster has GPUs). Results stream back to the driver as blocks finish, and the driver commits
each to the store at once, so a killed driver or a lost worker loses at most the blocks in
flight; the same command again plans only what is missing.

Ray is imported only here and only when a cluster is asked for; an actor receives plain
values (the backend's name and settings), never a ``Store``.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.errors import AugplanError

#: ``--cluster`` values besides a Ray address (``ray://HOST:PORT`` or ``HOST:PORT``)
LOCAL, AUTO = "local", "auto"


def parse_cluster(value: str | None) -> str | None:
    """The Ray address of ``--cluster`` (None: run in this process)."""
    if value is None or value.strip() in ("", LOCAL):
        return None
    value = value.strip()
    if value == AUTO or value.startswith("ray://"):
        return value
    host, sep, port = value.rpartition(":")
    if sep and host and port.isdigit():
        return value
    raise AugplanError(f"--cluster {value!r}: use local, auto, ray://HOST:PORT or HOST:PORT")


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (once per process); exit 2 when there is none."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's sockets on the loopback address when the cluster is on this machine
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # the driver's core worker logs to stderr only what is fatal; errors of the actors come
    # back as Python exceptions, and every log stays in the cluster's session folder
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
    except ImportError as exc:
        raise AugplanError("--cluster needs Ray: pip install 'augplan[cluster]'") from exc
    if ray.is_initialized():
        _quiet_data()
        return
    if address != AUTO and not address.startswith("ray://"):
        _probe(address)  # Ray itself would wait for minutes on an address with nothing there
    try:
        with warnings.catch_warnings():
            # Ray starts its helper processes with fork + exec; lancedb's fork warning is
            # about a child that keeps running Python, which these do not.
            warnings.filterwarnings("ignore", message="lancedb fork support")
            ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                     configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise AugplanError(f"--cluster {address}: no Ray cluster reachable there ({first})",
                           hint="start one with `ray start --head`, or use --cluster local"
                           ) from exc
    _quiet_data()


def _quiet_data() -> None:
    """Ray Data without its own progress bars and log lines: augplan shows its progress."""
    import logging

    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.print_on_execution_start = False
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail at once when nothing listens at a cluster's HOST:PORT."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise AugplanError(f"--cluster {address}: no Ray cluster reachable there ({exc})",
                           hint="start one with `ray start --head`, or use --cluster local"
                           ) from exc


@dataclass(frozen=True)
class ActorSpec:
    """What a generator actor needs to open the backend (plain values: it is shipped)."""

    backend: str
    augmenter: str
    models_dir: str | None
    settings: dict[str, Any]  # the backend's keyword settings (n_parallel, base_url...)
    threads: int


class GeneratorActor:
    """One model loaded once per actor; ``__call__`` decodes blocks (a Ray Data batch of
    JSON payloads) and returns each block's completions with the worker that made them."""

    def __init__(self, spec: dict[str, Any]) -> None:
        os.environ["AUGPLAN_THREADS"] = str(spec["threads"])
        from engine.backends.factory import make_backend

        models_dir = Path(spec["models_dir"]) if spec["models_dir"] else None
        # make_backend checks the model file's sha256 against the catalogue before loading
        self.backend = make_backend(spec["backend"], spec["augmenter"], models_dir=models_dir,
                                    **spec["settings"])
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        results = []
        for payload in batch["payload"]:
            block = json.loads(payload)
            outs = self.backend.complete_many(block["prompts"], prefix=block["prefix"],
                                              seeds=block["seeds"], stop=block["stop"],
                                              **block["params"])
            results.append(json.dumps({"outs": outs, "worker": self.worker}))
        return {"block": batch["block"], "result": results}


def pool_size(threads: int, actors: int | None) -> tuple[int, int, int]:
    """(actors, CPUs per actor, GPUs per actor) for the connected cluster: ``actors`` if given,
    else one per GPU, else as many as the cluster's CPUs hold at ``threads`` each."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if actors is not None and actors < 1:
        raise AugplanError("--actors must be at least 1")
    if gpus:
        return actors or gpus, 1, 1
    return actors or max(1, cpus // threads), threads, 0


def decode_blocks(address: str, spec: ActorSpec, blocks: list[dict[str, Any]], *,
                  actors: int | None = None,
                  on_start: Callable[[int], None] | None = None
                  ) -> Iterator[tuple[int, list[dict[str, Any]], str]]:
    """Decode ``blocks`` (each: prompts, prefix, seeds, stop, params) on the cluster; yields
    (block index, completions, worker) as blocks finish, in any order."""
    connect(address)
    import ray.data

    n_actors, cpus, gpus = pool_size(spec.threads, actors)
    if on_start:
        on_start(n_actors)
    items = [{"block": i, "payload": json.dumps(b)} for i, b in enumerate(blocks)]
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        GeneratorActor, compute=ray.data.ActorPoolStrategy(size=min(n_actors, len(items))),
        num_cpus=cpus, num_gpus=gpus, batch_size=1,
        fn_constructor_kwargs={"spec": {**spec.__dict__, "threads": cpus or spec.threads}})
    for row in ds.iter_rows():
        result = json.loads(row["result"])
        yield int(row["block"]), result["outs"], result["worker"]


__all__ = ["AUTO", "LOCAL", "ActorSpec", "GeneratorActor", "connect", "decode_blocks",
           "parse_cluster", "pool_size"]
