"""The store in object storage (LanceDB on an S3-compatible server on 127.0.0.1): every
command works on it, several writers keep one row per key, and a wrong location is one clear
error before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from store import AugplanError, Store, schemas
from store import corpus as corpus_io
from store.keys import sha256_text
from tests.helpers import make_env, ok, run, user_error

DIM = 8
PASSAGES = [
    {"_id": "p1", "title": "Honeybees", "text": "Bees dance to show where the flowers are."},
    {"_id": "p2", "title": "", "text": "Lithium iron phosphate cells last many cycles."},
]
QUERIES = [{"_id": "q1", "text": "why do bees dance"}]


def beir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PASSAGES))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\n")
    return root


def rows(corpus: str, keys: list[str]) -> pa.Table:
    schema = schemas.augmentations(DIM)
    out = [{f.name: None for f in schema} | {
        "uid": f"{corpus}/{k}", "key": k, "corpus": corpus, "passage_id": "p1",
        "passage_hash": sha256_text("x"), "query": f"query {k}", "status": "ok"} for k in keys]
    return pa.Table.from_pylist(out, schema=schema)


def objects(s3: dict[str, Any]) -> list[str]:
    listing = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    return [o["Key"] for o in listing.get("Contents", [])]


def import_error(uri: str, options: dict[str, str], tmp_path: Path) -> str:
    """The error text of `augplan corpus import` into ``uri`` with ``options`` as flags (a user
    error: exit 2, no traceback)."""
    flags = [x for k, v in options.items() for x in ("--storage-option", f"{k}={v}")]
    env = make_env(tmp_path / "unused", tmp_path / "models", AUGPLAN_HOME=str(tmp_path / "h"))
    return user_error(run(["corpus", "import", str(beir(tmp_path / "c")), "--name", "tiny",
                           "--store", uri, *flags], env, timeout=120))


def test_a_store_in_object_storage_works_like_a_folder(s3_bucket: dict[str, Any],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGPLAN_HOME", str(tmp_path / "home"))
    uri = f"s3://{s3_bucket['bucket']}/team/store"
    store = Store(uri, dim=DIM, storage_options=s3_bucket["options"])
    assert store.remote and store.uri == uri
    # plans and logs go beside a local folder that stands for the remote store
    assert store.path.is_dir() and (tmp_path / "home" / "remote") in store.path.parents
    summary, written = store.import_corpus("tiny", corpus_io.detect(beir(tmp_path / "c")))
    assert written and summary.n_passages == 2
    assert store.add_augmentations(rows("tiny", ["k1", "k2"])) == 2
    assert store.add_augmentations(rows("tiny", ["k2", "k3"])) == 1  # counted by the merge
    again = Store(uri, dim=DIM, storage_options=s3_bucket["options"])  # another process
    assert again.count("augmentations") == 3
    assert again.passages("tiny").column("passage_id").to_pylist() == ["p1", "p2"]
    assert all(k.startswith("team/store/") for k in objects(s3_bucket))
    assert any(k.startswith("team/store/augmentations.lance/") for k in objects(s3_bucket))
    assert not list(Path.cwd().glob("s3*"))  # nothing written to a folder named like the URI


def test_every_command_reads_flags_or_aws_variables(s3_bucket: dict[str, Any],
                                                     tmp_path: Path) -> None:
    uri = f"s3://{s3_bucket['bucket']}/store"
    flags = [x for k, v in s3_bucket["options"].items() for x in ("--storage-option", f"{k}={v}")]
    env = make_env(tmp_path / "unused", tmp_path / "models", AUGPLAN_HOME=str(tmp_path / "h"))
    env.pop("AUGPLAN_STORE")
    ok(run(["corpus", "import", str(beir(tmp_path / "c")), "--name", "tiny", "--store", uri,
            *flags], env))
    env_s3 = {**env, **s3_bucket["env"], "AUGPLAN_STORE": uri}
    listed = ok(run(["corpus", "list"], env_s3))
    assert "tiny" in listed
    assert "corpus tiny: 2 passages" in ok(run(["stats"], env_s3))
    assert not (tmp_path / "unused").exists()


def test_concurrent_writers_keep_one_row_per_key(s3_bucket: dict[str, Any],
                                                  tmp_path: Path) -> None:
    """Three processes merge-insert overlapping keys into one table in object storage at the
    same time: one row per key, and the inserted counts they report add up to the keys."""
    uri = f"s3://{s3_bucket['bucket']}/store"
    Store(uri, dim=DIM, storage_options=s3_bucket["options"]).table("augmentations")
    script = textwrap.dedent(f"""
        import json, random, sys
        sys.path[:0] = {[str(Path(__file__).resolve().parents[2])]!r}
        from tests.store.test_object_store import rows
        from store import Store
        store = Store({uri!r}, dim={DIM}, storage_options={s3_bucket['options']!r})
        keys = [f"k{{i}}" for i in range(60)]
        random.Random(int(sys.argv[1])).shuffle(keys)
        print(sum(store.add_augmentations(rows("c", keys[i:i + 6])) for i in range(0, 60, 6)))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(3)]
    inserted = []
    for p in procs:
        out, errors = p.communicate(timeout=600)
        assert p.returncode == 0, errors
        inserted.append(int(out.strip().splitlines()[-1]))
    table = Store(uri, dim=DIM, storage_options=s3_bucket["options"]).augmentations()
    uids = table.column("uid").to_pylist()
    assert len(uids) == len(set(uids)) == 60
    assert sum(inserted) == 60


@pytest.mark.parametrize(("where", "expected"), [
    ("unreachable", "cannot reach the endpoint"),
    ("missing-bucket", "the bucket does not exist"),
])
def test_a_wrong_location_is_one_clear_error_and_writes_nothing(
        s3_bucket: dict[str, Any], tmp_path: Path, where: str, expected: str) -> None:
    options = dict(s3_bucket["options"])
    bucket = s3_bucket["bucket"]
    if where == "unreachable":
        options["endpoint"] = "http://127.0.0.1:1"
    else:
        bucket = "no-such-bucket"
    uri = f"s3://{bucket}/store"
    with pytest.raises(AugplanError, match=expected):
        Store(uri, dim=DIM, storage_options=options)
    message = import_error(uri, options, tmp_path)
    assert expected in message and uri in message
    assert len(message.strip().splitlines()) <= 2  # the error, and a hint
    assert objects(s3_bucket) == []
    assert [b["Name"] for b in s3_bucket["client"].list_buckets()["Buckets"]].count(
        "no-such-bucket") == 0


def test_storage_options_are_checked(tmp_path: Path) -> None:
    env = make_env(tmp_path / "store", tmp_path / "models")
    assert "expected KEY=VALUE" in user_error(run(
        ["stats", "--store", "s3://b/x", "--storage-option", "endpoint"], env))
    assert "object storage" in user_error(run(
        ["stats", "--storage-option", "region=x"], env))


@pytest.mark.parametrize(("key", "expected"), [
    ("aws_access_key_id", "the access key was refused"),
    ("aws_secret_access_key", "the secret key was refused"),
])
def test_wrong_credentials_are_one_clear_error_and_write_nothing(
        seaweedfs_bucket: dict[str, Any], tmp_path: Path, key: str, expected: str) -> None:
    """SeaweedFS with one identity: a wrong key is refused before anything is written."""
    uri = f"s3://{seaweedfs_bucket['bucket']}/store"
    assert Store(uri, dim=DIM, storage_options=seaweedfs_bucket["options"]).remote  # the key
    options = {**seaweedfs_bucket["options"], key: "wrong"}
    with pytest.raises(AugplanError, match=expected):
        Store(uri, dim=DIM, storage_options=options)
    message = import_error(uri, options, tmp_path)
    assert expected in message and len(message.strip().splitlines()) <= 2
    assert objects(seaweedfs_bucket) == []
