"""The store on real LanceDB: keys, corpus import (all-or-nothing), augmentations, export, search.

No models here: synthetic-query rows are built by hand with the store's own schema.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import AugplanError, Selection, Store, schemas
from store import corpus as corpus_io
from store.export import export_pairs
from store.keys import augmentation_key, canonical_json, passage_hash, sha256_text

DIM = 384
TABLES = ("corpora", "passages", "queries", "qrels", "augmentations", "runs")

PASSAGES = [
    {"_id": "p1", "title": "Honeybees", "text": "Bees dance to show where the flowers are."},
    {"_id": "p2", "title": "", "text": "Lithium iron phosphate cells last many cycles."},
    {"_id": "p3", "title": "Exercise", "text": "Aerobic exercise improves insulin sensitivity."},
]
QUERIES = [{"_id": "q1", "text": "how do bees communicate"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\tp1\t1\n"


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def make_beir(
    root: Path,
    passages: list[dict[str, Any]] | None = None,
    *,
    corpus_text: str | bytes | None = None,
    qrels: str = QRELS,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    body = corpus_text if corpus_text is not None else _jsonl(passages or PASSAGES)
    if isinstance(body, bytes):
        (root / "corpus.jsonl").write_bytes(body)
    else:
        (root / "corpus.jsonl").write_text(body, encoding="utf-8")
    (root / "queries.jsonl").write_text(_jsonl(QUERIES), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return root


def import_dir(store: Store, name: str, root: Path, **kw: Any):
    return store.import_corpus(name, corpus_io.detect(root), **kw)


def snapshot(store: Store) -> dict[str, Any]:
    """Every table's version and row count, and the corpora rows."""
    state: dict[str, Any] = {t: (store.table(t).version, store.count(t)) for t in TABLES}
    state["corpora_rows"] = sorted(store.corpora(), key=lambda r: r["name"])
    return state


def aug_row(corpus: str, key: str, passage_id: str, query: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uid": f"{corpus}/{key}",
        "key": key,
        "corpus": corpus,
        "passage_id": passage_id,
        "passage_hash": "h-" + passage_id,
        "query": query,
        "raw": " " + query,
        "augmenter": "smollm2-135m",
        "model_sha256": "0" * 64,
        "strategy": "inpars",
        "prompt_hash": "p" * 16,
        "params": canonical_json({"temperature": 0.0}),
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
        "idx": 0,
        "prompt_tokens": 100,
        "gen_tokens": 10,
        "seconds": 0.5,
        "run_id": "run-1",
        "created_at": "2026-01-01T00:00:00+00:00",
        "status": "ok" if query else "empty",
        "reason": "",
        "embedder": None,
        "vector": None,
    }
    row.update(over)
    return row


def aug_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schemas.augmentations(DIM))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def tiny(store: Store, tmp_path: Path) -> Store:
    """A store holding the three-passage corpus 'tiny' and four hand-made synthetic queries."""
    import_dir(store, "tiny", make_beir(tmp_path / "tiny"))
    rows = [
        aug_row("tiny", "k3", "p3", "does aerobic exercise help insulin", augmenter="gemma3-270m"),
        aug_row("tiny", "k1", "p1", "how do honeybees find flowers"),
        aug_row("tiny", "k2", "p2", "lithium phosphate battery cycle life", gen_tokens=7),
        aug_row("tiny", "k4", "p2", ""),  # an empty completion: never exported
    ]
    assert store.add_augmentations(aug_table(rows)) == 4
    return store


# --------------------------------------------------------------------------------- keys


def test_sha256_text_is_unambiguous() -> None:
    assert sha256_text("ab", "c") == sha256_text("ab", "c")
    assert sha256_text("ab", "c") != sha256_text("a", "bc")
    assert sha256_text("abc") != sha256_text("ab", "c")
    assert len(sha256_text("x")) == 64


def test_passage_hash_is_content_only() -> None:
    h = passage_hash("Title", "Some text.")
    assert h == passage_hash("Title", "Some text.")
    assert h != passage_hash("Title", "Some text!")
    assert h != passage_hash("Title ", "Some text.")
    assert h != passage_hash("", "Title Some text.")


def test_augmentation_key_changes_with_each_input() -> None:
    base = {
        "passage_hash": "a" * 64,
        "model_sha256": "b" * 64,
        "prompt_hash": "c" * 16,
        "params": {"temperature": 0.0, "top_k": 1, "max_tokens": 48},
        "seed": 0,
        "index": 0,
    }
    key = augmentation_key(**base)
    assert len(key) == 40
    assert key == augmentation_key(**base)
    # Parameter order does not matter (canonical JSON) ...
    reordered = dict(base, params={"max_tokens": 48, "top_k": 1, "temperature": 0.0})
    assert augmentation_key(**reordered) == key
    # ... but every input value does.
    variants = [
        dict(base, passage_hash="a" * 63 + "b"),
        dict(base, model_sha256="b" * 63 + "c"),
        dict(base, prompt_hash="c" * 15 + "d"),
        dict(base, params={**base["params"], "temperature": 0.8}),
        dict(base, params={**base["params"], "top_p": 0.95}),
        dict(base, seed=1),
        dict(base, index=1),
    ]
    keys = {augmentation_key(**v) for v in variants}
    assert key not in keys
    assert len(keys) == len(variants)


def test_canonical_json() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert canonical_json({"t": "é"}) == '{"t":"é"}'


# ------------------------------------------------------------------------------- import


def test_import_scifact(store: Store, data_dir: Path) -> None:
    files = corpus_io.detect(data_dir / "scifact")
    summary, written = store.import_corpus("scifact", files)
    assert written is True
    assert (summary.n_passages, summary.n_queries) == (5183, 1109)
    assert summary.qrels == {"test": 339, "train": 919}
    assert store.count("passages") == 5183
    assert store.count("queries") == 1109
    assert store.count("qrels") == 339 + 919
    assert store.qrels("scifact", "train").num_rows == 919
    info = store.corpus_info("scifact")
    assert (info["kind"], info["n_passages"], info["n_queries"]) == ("beir", 5183, 1109)
    assert json.loads(info["qrels"]) == {"test": 339, "train": 919}
    assert info["fingerprint"] == summary.fingerprint
    assert json.loads(info["dropped_qrels"]) == {"count": 0, "first": []}

    first = store.passages("scifact", limit=5)
    assert first.column("ordinal").to_pylist() == [0, 1, 2, 3, 4]
    with (files.corpus).open(encoding="utf-8") as fh:
        line0 = json.loads(fh.readline())
    row0 = first.slice(0, 1).to_pylist()[0]
    assert row0["passage_id"] == str(line0["_id"])
    assert row0["text"] == line0["text"]
    assert row0["passage_hash"] == passage_hash(line0.get("title") or "", line0["text"])

    # Re-importing the same files writes nothing at all.
    before = snapshot(store)
    summary2, written2 = store.import_corpus("scifact", files)
    assert written2 is False
    assert summary2 == summary
    assert snapshot(store) == before


def test_same_name_different_content_needs_replace(store: Store, tmp_path: Path) -> None:
    import_dir(store, "other", make_beir(tmp_path / "other"))
    import_dir(store, "tiny", make_beir(tmp_path / "v1"))
    changed = PASSAGES + [{"_id": "p4", "title": "New", "text": "A fourth passage."}]
    v2 = make_beir(tmp_path / "v2", changed)
    before = snapshot(store)
    with pytest.raises(AugplanError) as info:
        import_dir(store, "tiny", v2)
    assert "already exists with different content" in info.value.message
    assert "--replace" in str(info.value)
    assert snapshot(store) == before

    _summary, written = import_dir(store, "tiny", v2, replace=True)
    assert written is True
    assert store.passages("tiny").num_rows == 4
    assert store.queries("tiny").num_rows == 1
    assert store.qrels("tiny").num_rows == 1
    assert store.corpus_info("tiny")["n_passages"] == 4
    assert len([c for c in store.corpora() if c["name"] == "tiny"]) == 1
    # The other corpus is untouched.
    assert store.passages("other").num_rows == 3
    assert store.corpus_info("other") == before["corpora_rows"][0]


BAD_JSON_LINE3 = (
    _jsonl(PASSAGES[:2]) + '{"_id": "p3", "text": "unterminated\n' + _jsonl(PASSAGES[2:])
)


@pytest.mark.parametrize(
    ("case", "corpus_text", "qrels", "where", "expected"),
    [
        ("bad-json", BAD_JSON_LINE3, QRELS, "corpus.jsonl:3", "invalid JSON"),
        ("unknown-qrels-id", None, QRELS + "q1\tp99\t1\n", "qrels/test.tsv:3",
         "unknown corpus id 'p99'"),  # unknown-*: errors with strict=True only
        ("unknown-qrels-query", None, QRELS + "q7\tp2\t1\n", "qrels/test.tsv:3",
         "unknown query id 'q7'"),
        ("bad-score", None, QRELS + "q1\tp99\tmany\n", "qrels/test.tsv:3",
         "score 'many' is not an integer"),
        ("non-utf8", _jsonl(PASSAGES).encode() + b'{"_id": "p9", "text": "caf\xe9"}\n', QRELS,
         "corpus.jsonl:4", "not valid UTF-8"),
    ],
)
def test_malformed_corpus_changes_nothing(
    store: Store, tmp_path: Path, case: str, corpus_text: Any, qrels: str, where: str,
    expected: str,
) -> None:
    import_dir(store, "keep", make_beir(tmp_path / "keep"))
    store.add_augmentations(aug_table([aug_row("keep", "k1", "p1", "bees")]))
    before = snapshot(store)
    bad = make_beir(tmp_path / case, corpus_text=corpus_text, qrels=qrels)
    for name, replace in ((case, False), ("keep", True)):
        with pytest.raises(AugplanError) as info:
            import_dir(store, name, bad, replace=replace, strict=case.startswith("unknown"))
        assert f"{bad / where}: {expected}" in info.value.message
        assert snapshot(store) == before
    assert [r["name"] for r in store.corpora()] == ["keep"]


class _Boom(Exception):
    pass


def _fail_on_batch(n: int):
    seen = [0]

    def on_batch(_rows: int) -> None:
        seen[0] += 1
        if seen[0] == n:
            raise _Boom

    return on_batch


UNKNOWN_QRELS = QRELS + "q1\tp98\t1\nq1\tp2\t0\nq1\tp99\t2\nq5\tp3\t1\n"


def test_import_drops_qrels_rows_naming_unknown_ids(store: Store, tmp_path: Path) -> None:
    root = make_beir(tmp_path / "mini", qrels=UNKNOWN_QRELS)
    summary, written = import_dir(store, "mini", root)
    assert written is True
    assert summary.qrels == {"test": 2}
    dropped = corpus_io.DroppedQrels(
        count=3, first=("qrels/test.tsv:3", "qrels/test.tsv:5", "qrels/test.tsv:6")
    )
    assert summary.dropped_qrels == dropped
    rows = store.qrels("mini").sort_by("score").to_pylist()
    assert [(r["query_id"], r["passage_id"], r["score"]) for r in rows] == [
        ("q1", "p2", 0), ("q1", "p1", 1)
    ]
    info = store.corpus_info("mini")
    assert json.loads(info["dropped_qrels"]) == {
        "count": 3, "first": ["qrels/test.tsv:3", "qrels/test.tsv:5", "qrels/test.tsv:6"]
    }
    assert json.loads(info["qrels"]) == {"test": 2}
    assert store.dropped_qrels("mini") == dropped
    # The fingerprint is of the files: the same files are unchanged, dropped rows and all.
    before = snapshot(store)
    again, written = import_dir(store, "mini", root)
    assert (written, again) == (False, summary)
    assert snapshot(store) == before
    # strict refuses the same files and leaves the store as it was.
    with pytest.raises(AugplanError) as info_err:
        import_dir(store, "mini", root, strict=True)
    tsv = root / "qrels" / "test.tsv"
    assert info_err.value.message.splitlines() == [
        "corpus invalid: 3 problems",
        f"  {tsv}:3: unknown corpus id 'p98' (not in corpus.jsonl)",
        f"  {tsv}:5: unknown corpus id 'p99' (not in corpus.jsonl)",
        f"  {tsv}:6: unknown query id 'q5' (not in queries.jsonl)",
    ]
    assert snapshot(store) == before


def test_dropped_rows_with_small_batches(store: Store, tmp_path: Path) -> None:
    """The ids that decide what is dropped are gathered over every passage batch."""
    many = [{"_id": f"d{i}", "title": "", "text": f"passage number {i}"} for i in range(20)]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(
        f"q1\td{i}\t1\n" for i in range(0, 24, 3))  # d21 is not a passage
    summary, _ = import_dir(store, "many", make_beir(tmp_path / "many", many, qrels=qrels),
                            batch_size=3)
    assert summary.dropped_qrels == corpus_io.DroppedQrels(1, ("qrels/test.tsv:9",))
    got = sorted(store.qrels("many").column("passage_id").to_pylist())
    assert got == sorted(f"d{i}" for i in range(0, 20, 3))


def test_corpus_of_an_older_store_has_no_dropped_qrels(tmp_path: Path) -> None:
    """A store written before dropped qrels were recorded gains the column (empty)."""
    import lancedb

    old = pa.schema([f for f in schemas.CORPORA if f.name != "dropped_qrels"])
    row = {"name": "old", "kind": "beir", "source": "/x", "fingerprint": "f" * 64,
           "n_passages": 3, "n_queries": 1, "qrels": '{"test": 1}', "imported_at": "then"}
    lancedb.connect(str(tmp_path / "s")).create_table(
        "corpora", pa.Table.from_pylist([row], schema=old))
    store = Store(tmp_path / "s", dim=DIM)
    assert store.corpus_info("old")["dropped_qrels"] is None
    assert store.dropped_qrels("old") == corpus_io.DroppedQrels()


def test_failure_while_writing_leaves_every_table_as_it_was(store: Store,
                                                           tmp_path: Path) -> None:
    """A failure after some batches were written (not a validation error) is undone."""
    import_dir(store, "keep", make_beir(tmp_path / "keep"))
    many = [{"_id": f"d{i}", "title": "", "text": f"passage number {i}"} for i in range(40)]
    new = make_beir(tmp_path / "many", many, qrels="query-id\tcorpus-id\tscore\nq1\td7\t1\n")
    before = snapshot(store)
    kept_texts = store.passages("keep").column("text").to_pylist()

    with pytest.raises(_Boom):  # a new name: nothing may stay
        import_dir(store, "many", new, batch_size=7, on_batch=_fail_on_batch(3))
    assert store.count("passages") == before["passages"][1]
    assert store.corpus_info("many", missing_ok=True) is None

    with pytest.raises(_Boom):  # replacing: the deleted old rows come back
        import_dir(store, "keep", new, replace=True, batch_size=7, on_batch=_fail_on_batch(4))
    assert {t: store.count(t) for t in TABLES} == {t: before[t][1] for t in TABLES}
    assert store.passages("keep").column("text").to_pylist() == kept_texts
    assert sorted(store.corpora(), key=lambda r: r["name"]) == before["corpora_rows"]


def test_a_failed_import_keeps_what_other_writers_committed_meanwhile(
        store: Store, tmp_path: Path) -> None:
    """The undo removes the failed import's own rows; it never restores an older version of a
    table, which would erase the commits another writer made in between."""
    import_dir(store, "keep", make_beir(tmp_path / "keep"))
    many = [{"_id": f"d{i}", "title": "", "text": f"passage number {i}"} for i in range(40)]
    new = make_beir(tmp_path / "many", many, qrels="query-id\tcorpus-id\tscore\nq1\td7\t1\n")
    other = Store(store.uri, dim=DIM)  # a second writer on the same store
    seen = [0]

    def meanwhile(_rows: int) -> None:
        seen[0] += 1
        if seen[0] == 1:
            import_dir(other, "other", make_beir(tmp_path / "other"))
            other.add_augmentations(aug_table([aug_row("other", "k1", "p1", "a query")]))
        if seen[0] == 3:
            raise _Boom

    for name, replace in (("many", False), ("keep", True)):
        seen[0] = 0
        with pytest.raises(_Boom):
            import_dir(store, name, new, replace=replace, batch_size=7, on_batch=meanwhile)
        assert store.passages("other").num_rows == len(PASSAGES)  # the other writer's rows
        assert store.count("augmentations") == 1
        assert store.passages("keep").num_rows == len(PASSAGES)  # the old corpus, whole
        assert store.corpus_info("many", missing_ok=True) is None
        assert store.count("passages") == 2 * len(PASSAGES)  # nothing of the failed import
        other.table("corpora").delete("name = 'other'")  # the next round imports it again
        other._drop_corpus_rows("other")
        other.table("augmentations").delete("true")


def test_an_import_after_a_killed_one_leaves_no_leftover_rows(store: Store,
                                                               tmp_path: Path) -> None:
    """A process killed while importing leaves rows but no ``corpora`` row (the corpus does
    not exist); the next import of that name removes them first."""
    files = corpus_io.detect(make_beir(tmp_path / "c"))
    summary = corpus_io.validate(files)
    store._write_corpus("tiny", files, summary, 8192, None)  # as a killed import leaves it
    assert store.corpus_info("tiny", missing_ok=True) is None
    import_dir(store, "tiny", tmp_path / "c")
    assert store.passages("tiny").num_rows == len(PASSAGES)
    assert store.count("passages") == len(PASSAGES)


def test_generated_rows_have_a_primary_key_and_older_stores_gain_it(tmp_path: Path) -> None:
    """Tables written by several writers are keyed (non-null, LanceDB's primary key), so that
    concurrent merge-inserts keep one row per key; a store written before has its tables
    migrated when opened, rows kept."""
    import lancedb

    def keyed(s: Store, table: str) -> bool:
        field = s.table(table).schema.field(schemas.PRIMARY_KEYS[table])
        return not field.nullable and any(k.startswith(b"lance-schema:unenforced-primary-key")
                                          for k in (field.metadata or {}))

    fresh = Store(tmp_path / "fresh", dim=DIM)
    assert all(keyed(fresh, t) for t in schemas.PRIMARY_KEYS)
    old_schema = pa.schema([f.with_nullable(True) for f in schemas.augmentations(DIM)])
    rows = aug_table([aug_row("c", "k1", "p1", "old query")]).cast(old_schema)
    lancedb.connect(str(tmp_path / "old")).create_table("augmentations", rows,
                                                         on_bad_vectors="null")
    old = Store(tmp_path / "old", dim=DIM)
    assert keyed(old, "augmentations") and old.count("augmentations") == 1
    assert old.add_augmentations(aug_table([aug_row("c", "k1", "p1", "again"),
                                            aug_row("c", "k2", "p2", "new")])) == 1
    assert Store(tmp_path / "old", dim=DIM).count("augmentations") == 2  # migrated once


def test_a_table_another_writer_creates_meanwhile_is_opened(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Two writers reach a missing table at once: the second finds it absent, the first then
    creates it and sets its primary key (a schema the second's ``create_table`` no longer
    matches); the second opens the table the first made. The interleaving is forced by
    answering the second writer's first ``open_table`` as LanceDB did before the table
    existed."""
    first, second = Store(tmp_path / "s", dim=DIM), Store(tmp_path / "s", dim=DIM)
    real, calls = second._db.open_table, []

    def before_it_existed(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        if len(calls) == 1:
            first.table(name)  # the other writer wins the race
            raise ValueError(f"Table '{name}' was not found")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(second._db, "open_table", before_it_existed)
    assert second.add_augmentations(aug_table([aug_row("c", "k1", "p1", "a query")])) == 1
    assert calls == ["augmentations", "augmentations"]
    assert first.count("augmentations") == 1


@pytest.mark.parametrize("name", ["", "a b", "it's", "x/y", 'q"'])
def test_bad_corpus_name(store: Store, tmp_path: Path, name: str) -> None:
    with pytest.raises(AugplanError, match="--name"):
        import_dir(store, name, make_beir(tmp_path / "c"))
    assert store.corpora() == []


def test_unknown_corpus_lists_known(store: Store, tmp_path: Path) -> None:
    import_dir(store, "tiny", make_beir(tmp_path / "c"))
    with pytest.raises(AugplanError) as info:
        store.passages("nope")
    assert "'nope'" in info.value.message
    assert "known: tiny" in info.value.message


# ------------------------------------------------------------------------ augmentations


def test_add_augmentations_dedups_on_uid(store: Store) -> None:
    batch = [
        aug_row("c", "k1", "p1", "first"),
        aug_row("c", "k1", "p1", "second copy of the same uid"),
        aug_row("c", "k2", "p2", "other"),
    ]
    assert store.add_augmentations(aug_table(batch)) == 2
    assert store.count("augmentations") == 2
    got = {r["uid"]: r["query"] for r in store.augmentations().to_pylist()}
    assert got == {"c/k1": "first", "c/k2": "other"}

    # An existing uid is never inserted (nor overwritten) again.
    assert store.add_augmentations(aug_table([aug_row("c", "k1", "p1", "replacement")])) == 0
    assert store.augmentations(Selection(corpus="c", keys=("k1",)), ["query"]).column("query").to_pylist() == ["first"]
    # The same content key under another corpus is another row.
    assert store.add_augmentations(aug_table([aug_row("d", "k1", "p1", "first")])) == 1
    assert store.count("augmentations") == 3
    assert store.existing(["k1"]).num_rows == 2
    assert store.existing([]).num_rows == 0
    assert store.add_augmentations(aug_table([])) == 0


def test_set_vectors_updates_only_matched_rows(store: Store) -> None:
    store.add_augmentations(aug_table([aug_row("c", "k1", "p1", "a"),
                                       aug_row("c", "k2", "p2", "b")]))
    row = store.augmentations(Selection(corpus="c", keys=("k1",)))
    vec = [0.0] * DIM
    vec[3] = 1.0
    vec_col = pa.FixedSizeListArray.from_arrays(pa.array(vec, pa.float32()), DIM)
    row = row.set_column(row.schema.get_field_index("vector"), "vector", vec_col)
    row = row.set_column(row.schema.get_field_index("embedder"), "embedder",
                         pa.array(["minilm-l6"], pa.string()))
    store.set_vectors(row)
    got = {r["uid"]: r for r in store.augmentations().to_pylist()}
    assert store.count("augmentations") == 2
    assert got["c/k1"]["vector"] == vec
    assert got["c/k1"]["embedder"] == "minilm-l6"
    assert got["c/k1"]["query"] == "a"
    assert got["c/k2"]["vector"] is None


# ------------------------------------------------------------------------------- export


EXPECTED_PAIRS = [  # passage order, empty completion left out
    ("k1", "p1", "how do honeybees find flowers"),
    ("k2", "p2", "lithium phosphate battery cycle life"),
    ("k3", "p3", "does aerobic exercise help insulin"),
]


def test_export_jsonl(tiny: Store, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    assert export_pairs(tiny, "tiny", "jsonl", out) == 3
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["query_id"], r["passage_id"], r["query"]) for r in rows] == EXPECTED_PAIRS
    by_id = {p["_id"]: p for p in PASSAGES}
    for r in rows:
        assert r["passage"] == by_id[r["passage_id"]]["text"]
        assert r["title"] == by_id[r["passage_id"]]["title"]
    assert rows[2]["augmenter"] == "gemma3-270m"
    assert not list(tmp_path.glob(".augplan-export-*"))


def test_export_parquet_with_where(tiny: Store, tmp_path: Path) -> None:
    out = tmp_path / "pairs.parquet"
    assert export_pairs(tiny, "tiny", "parquet", out,
                        selection=Selection(where="augmenter = 'smollm2-135m'")) == 2
    t = pq.read_table(out)
    got = list(zip(t.column("query_id").to_pylist(), t.column("passage_id").to_pylist(),
                   t.column("query").to_pylist(), strict=True))
    assert got == EXPECTED_PAIRS[:2]
    assert {"query_id", "query", "passage_id", "title", "passage"} <= set(t.column_names)


def test_export_hf_dataset_for_the_trainer(tiny: Store, tmp_path: Path) -> None:
    """``--format hf``: a datasets.Dataset on disk with (query, passage) in the order
    sentence-transformers' trainer takes as (anchor, positive); passages carry their title."""
    from datasets import load_from_disk

    out = tmp_path / "hf-out"
    assert export_pairs(tiny, "tiny", "hf", out) == 3
    ds = load_from_disk(str(out))
    assert ds.column_names == ["query", "passage"]
    by_id = {p["_id"]: p for p in PASSAGES}
    want = [(q, f"{by_id[pid]['title']} {by_id[pid]['text']}".strip())
            for _k, pid, q in EXPECTED_PAIRS]
    assert list(zip(ds["query"], ds["passage"], strict=True)) == want
    assert not list(tmp_path.glob(".augplan-export-*"))
    with pytest.raises(AugplanError, match="not empty"):
        export_pairs(tiny, "tiny", "hf", out)


def test_export_beir_loads_back(tiny: Store, tmp_path: Path) -> None:
    out = tmp_path / "beir-out"
    assert export_pairs(tiny, "tiny", "beir", out) == 3
    files = corpus_io.detect(out)
    assert files.kind == "beir"
    summary = corpus_io.validate(files)
    assert (summary.n_passages, summary.n_queries, summary.qrels) == (3, 3, {"train": 3})
    corpus_rows = [json.loads(x) for x in (out / "corpus.jsonl").read_text().splitlines()]
    assert [(r["_id"], r["title"], r["text"]) for r in corpus_rows] == [
        (p["_id"], p["title"], p["text"]) for p in PASSAGES
    ]
    queries = [json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines()]
    assert [(q["_id"], q["text"]) for q in queries] == [(k, q) for k, _p, q in EXPECTED_PAIRS]
    qrels = (out / "qrels" / "train.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    assert qrels[1:] == [f"{k}\t{p}\t1" for k, p, _q in EXPECTED_PAIRS]
    # ... and imports as a corpus of its own.
    _s, written = tiny.import_corpus("roundtrip", files)
    assert written and tiny.qrels("roundtrip").num_rows == 3
    # A second export refuses to overwrite the non-empty folder.
    with pytest.raises(AugplanError, match="not empty"):
        export_pairs(tiny, "tiny", "beir", out)


def test_export_errors(tiny: Store, tmp_path: Path) -> None:
    with pytest.raises(AugplanError, match="no such corpus"):
        export_pairs(tiny, "nope", "jsonl", tmp_path / "x.jsonl")
    with pytest.raises(AugplanError, match="does not exist"):
        export_pairs(tiny, "tiny", "jsonl", tmp_path / "missing" / "x.jsonl")
    with pytest.raises(AugplanError, match="--format"):
        export_pairs(tiny, "tiny", "csv", tmp_path / "x.csv")
    with pytest.raises(AugplanError, match="no accepted synthetic queries"):
        export_pairs(tiny, "tiny", "jsonl", tmp_path / "x.jsonl",
                     selection=Selection(augmenter="nobody"))
    with pytest.raises(AugplanError, match="--where"):
        export_pairs(tiny, "tiny", "jsonl", tmp_path / "x.jsonl",
                     selection=Selection(where="no_such_column = 1"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "tiny"]


# ------------------------------------------------------------------------------- search


def test_fts_finds_hand_inserted_queries(tiny: Store) -> None:
    hits = tiny.search(mode="fts", text="honeybees", columns=["query", "passage_id"])
    assert hits.column("passage_id").to_pylist() == ["p1"]
    assert hits.column("query").to_pylist() == ["how do honeybees find flowers"]
    assert tiny.search(mode="fts", text="volcano").num_rows == 0

    # A row added after the index exists is found too.
    tiny.add_augmentations(aug_table([aug_row("tiny", "k5", "p3", "volcano eruption forecast")]))
    hits = tiny.search(mode="fts", text="volcano", columns=["query"])
    assert hits.column("query").to_pylist() == ["volcano eruption forecast"]

    # A filter narrows the hits; a bad filter is a user error.
    both = tiny.search(mode="fts", text="insulin", selection=Selection(augmenter="gemma3-270m"))
    assert both.num_rows == 1
    none = tiny.search(mode="fts", text="insulin", selection=Selection(augmenter="smollm2-135m"))
    assert none.num_rows == 0
    with pytest.raises(AugplanError, match="search failed"):
        tiny.search(mode="fts", text="insulin", selection=Selection(where="no_such_column = 1"))
    with pytest.raises(AugplanError, match="--mode"):
        tiny.search(mode="regex", text="insulin")


# -------------------------------------------------------------------------- stats, runs


def test_stats(store: Store, tiny: Store) -> None:
    assert Store(store.path.parent / "empty").stats().height == 0
    vec = [1.0] + [0.0] * (DIM - 1)
    tiny.add_augmentations(aug_table([
        aug_row("other", "k1", "p1", "bees", vector=vec, embedder="minilm-l6"),
    ]))
    df = tiny.stats()
    assert df.columns == ["corpus", "augmenter", "strategy", "queries", "ok", "embedded",
                          "gen_tokens", "gen_seconds"]
    rows = {(r["corpus"], r["augmenter"]): r for r in df.iter_rows(named=True)}
    assert set(rows) == {("other", "smollm2-135m"), ("tiny", "gemma3-270m"),
                         ("tiny", "smollm2-135m")}
    smol = rows[("tiny", "smollm2-135m")]
    assert (smol["queries"], smol["ok"], smol["embedded"]) == (3, 2, 0)
    assert smol["gen_tokens"] == 10 + 7 + 10
    assert math.isclose(smol["gen_seconds"], 1.5)
    assert (rows[("other", "smollm2-135m")]["embedded"]) == 1
    assert df["queries"].sum() == 5
    assert isinstance(df, pl.DataFrame)


def test_runs_are_recorded(store: Store) -> None:
    run_id = store.start_run({"kind": "generate", "corpus": "c", "augmenter": "a", "target": 7})
    store.update_run(run_id, done=3, generated=3, status="finished")
    runs = store.runs()
    assert len(runs) == 1
    r = runs[0]
    assert (r["run_id"], r["target"], r["done"], r["generated"], r["status"]) == (
        run_id, 7, 3, 3, "finished")
    assert json.loads(r["manifest"])["target"] == 7
