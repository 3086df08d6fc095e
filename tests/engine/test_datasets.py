"""Datasets by name or path (engine.datasets): the order folders are searched in, the messages
when a dataset is missing, downloading a public BEIR zip (from a local URL), and importing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.datasets import BEIR_DATASETS, import_dataset, locate
from store import AugplanError, Store
from store.corpus import DroppedQrels, detect, validate


def make_beir(root: Path, qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n") -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    passages = [{"_id": "d1", "title": "Alpha", "text": "first"}, {"_id": "d2", "text": "second"},
                {"_id": "d3", "text": "third"}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "alpha?"}) + "\n")
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


# --------------------------------------------------------------------------- locating


def test_locate_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env_dir, given_dir = tmp_path / "env", tmp_path / "given"
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(env_dir))
    make_beir(env_dir / "mini")
    assert locate("mini") == (env_dir / "mini").resolve()
    make_beir(given_dir / "mini")
    assert locate("mini", given_dir) == (given_dir / "mini").resolve()
    make_beir(tmp_path / "mini")  # an existing path wins
    assert locate("mini", given_dir) == (tmp_path / "mini").resolve()
    assert locate(str(env_dir / "mini")) == (env_dir / "mini").resolve()


def test_locate_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(AugplanError) as info:
        locate("no-such-set", tmp_path / "given")
    err = info.value
    assert str(tmp_path / "given" / "no-such-set") in err.message
    assert str(tmp_path / "env" / "no-such-set") in err.message
    assert "--data DIR" in (err.hint or "")
    with pytest.raises(AugplanError) as info:
        locate("fiqa")  # known but not downloaded without asking
    assert "--download" in (info.value.hint or "")


def test_download_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(data))
    monkeypatch.setenv("AUGPLAN_BEIR_URL", "http://127.0.0.1:9")
    with pytest.raises(AugplanError) as info:
        locate("scifact", download=True)
    err = info.value
    assert "could not download scifact from http://127.0.0.1:9/scifact.zip" in err.message
    assert "--data DIR" in (err.hint or "")
    assert not (data / "scifact").exists()
    assert list(data.iterdir()) == []  # the partial download is removed


def test_download_unpacks_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    src = make_beir(tmp_path / "src" / "scifact")
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "scifact.zip", "w") as zf:
        for f in src.rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(src.parent))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(data))
    monkeypatch.setenv("AUGPLAN_BEIR_URL", served.as_uri())
    got = locate("scifact", download=True)
    assert got == (data / "scifact").resolve()
    assert validate(detect(got)).n_passages == 3
    assert sorted(p.name for p in data.iterdir()) == ["scifact"]


def test_not_found_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(AugplanError) as info:
        locate("no-such-set")
    assert info.value.message == (
        f"dataset 'no-such-set' not found; looked in: no-such-set, {tmp_path / 'env'}/no-such-set"
    )
    assert info.value.hint == (
        "pass --data DIR (a folder holding it), or a path to a BEIR folder, .jsonl or .parquet "
        "file; --download works for public BEIR datasets: " + ", ".join(sorted(BEIR_DATASETS))
    )
    with pytest.raises(AugplanError, match="no dataset given"):
        locate("  ")


# --------------------------------------------------------------------------- importing


def test_import_dataset_drops_unknown_qrels_ids(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(tmp_path / "data"))
    make_beir(tmp_path / "data" / "mini",
              qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tnope\t1\nq2\td2\t1\n")
    store = Store(tmp_path / "store")
    with pytest.raises(AugplanError) as info:
        import_dataset(store, "mini", strict=True)
    assert "qrels/test.tsv:3: unknown corpus id 'nope'" in info.value.message
    assert store.corpora() == []
    name, summary, written = import_dataset(store, "mini")
    assert (name, written, summary.qrels) == ("mini", True, {"test": 1})
    assert summary.dropped_qrels == DroppedQrels(2, ("qrels/test.tsv:3", "qrels/test.tsv:4"))
    assert store.dropped_qrels("mini") == summary.dropped_qrels
