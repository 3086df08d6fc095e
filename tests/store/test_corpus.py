"""Corpus loading: detection, validation messages (strict or dropping unknown qrels ids),
streaming. Locating and downloading datasets are the engine's: tests/engine/test_datasets.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store.corpus import (
    MAX_DROPPED_SHOWN,
    PASSAGE_SCHEMA,
    QREL_SCHEMA,
    QUERY_SCHEMA,
    CorpusFiles,
    DroppedQrels,
    _records,
    detect,
    iter_passages,
    iter_qrels,
    iter_queries,
    validate,
)
from store.errors import AugplanError
from store.keys import passage_hash

PASSAGES = [
    {"_id": "d1", "title": "Alpha", "text": "first passage"},
    {"_id": "d2", "text": "second passage, no title"},
    {"_id": "d3", "title": None, "text": "third passage"},
]
QUERIES = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "second?"}]
QRELS = {
    "test": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n",
    "train": "query-id\tcorpus-id\tscore\nq1\td3\t0\n",
}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def make_beir(
    root: Path,
    corpus_text: str | bytes | None = None,
    queries_text: str | None = None,
    qrels: dict[str, str] | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    body = _jsonl(PASSAGES) if corpus_text is None else corpus_text
    if isinstance(body, bytes):
        (root / "corpus.jsonl").write_bytes(body)
    else:
        (root / "corpus.jsonl").write_text(body, encoding="utf-8")
    (root / "queries.jsonl").write_text(
        _jsonl(QUERIES) if queries_text is None else queries_text, encoding="utf-8"
    )
    (root / "qrels").mkdir(exist_ok=True)
    for split, text in (QRELS if qrels is None else qrels).items():
        (root / "qrels" / f"{split}.tsv").write_text(text, encoding="utf-8")
    return root


def problems_of(files: CorpusFiles, *, strict: bool = False) -> str:
    with pytest.raises(AugplanError) as info:
        validate(files, strict=strict)
    return info.value.message


def collect(batches) -> pa.Table:
    batches = list(batches)
    assert batches, "no batches"
    return pa.Table.from_batches(batches)


# --------------------------------------------------------------------------- valid inputs


def test_valid_beir_folder(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    files = detect(root)
    assert files.kind == "beir"
    assert files.corpus == root / "corpus.jsonl"
    assert files.queries == root / "queries.jsonl"
    assert files.qrels == {"test": root / "qrels/test.tsv", "train": root / "qrels/train.tsv"}

    summary = validate(files)
    assert summary.n_passages == 3
    assert summary.n_queries == 2
    assert summary.qrels == {"test": 2, "train": 1}
    assert len(summary.fingerprint) == 64
    assert summary.dropped_qrels == DroppedQrels()
    assert validate(files, strict=True) == summary

    passages = collect(iter_passages(files))
    assert passages.schema == PASSAGE_SCHEMA
    assert passages.column("passage_id").to_pylist() == ["d1", "d2", "d3"]
    assert passages.column("title").to_pylist() == ["Alpha", "", ""]
    assert passages.column("ordinal").to_pylist() == [0, 1, 2]
    assert passages.column("passage_hash").to_pylist() == [
        passage_hash(p.get("title") or "", p["text"]) for p in PASSAGES
    ]

    queries = collect(iter_queries(files))
    assert queries.schema == QUERY_SCHEMA
    assert queries.to_pylist() == [
        {"query_id": "q1", "text": "what is alpha"},
        {"query_id": "q2", "text": "second?"},
    ]

    qrels = collect(iter_qrels(files))
    assert qrels.schema == QREL_SCHEMA
    assert qrels.to_pylist() == [
        {"split": "test", "query_id": "q1", "passage_id": "d1", "score": 1},
        {"split": "test", "query_id": "q2", "passage_id": "d2", "score": 2},
        {"split": "train", "query_id": "q1", "passage_id": "d3", "score": 0},
    ]


def test_small_batches_keep_ordinals(tmp_path: Path) -> None:
    rows = [{"_id": f"p{i}", "text": f"passage {i}"} for i in range(10)]
    path = tmp_path / "many.jsonl"
    path.write_text(_jsonl(rows))
    files = detect(path)
    batches = list(iter_passages(files, batch_size=3))
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    ordinals = pa.Table.from_batches(batches).column("ordinal").to_pylist()
    assert ordinals == list(range(10))


def test_bom_crlf_blank_lines_and_int_ids(tmp_path: Path) -> None:
    body = (
        b"\xef\xbb\xbf" + json.dumps({"_id": 7, "text": "seven"}).encode() + b"\r\n"
        b"\r\n   \n"
        + json.dumps({"_id": "8", "text": "eight \u2028 sep"}, ensure_ascii=False).encode()
    )  # no newline at the end either
    path = tmp_path / "c.jsonl"
    path.write_bytes(body)
    files = detect(path)
    assert validate(files).n_passages == 2
    table = collect(iter_passages(files))
    assert table.column("passage_id").to_pylist() == ["7", "8"]
    assert table.column("text").to_pylist() == ["seven", "eight \u2028 sep"]
    assert table.column("ordinal").to_pylist() == [0, 1]


def test_plain_jsonl_with_id(tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_text(_jsonl([{"id": "a", "title": "T", "text": "x"}, {"id": "b", "text": "y"}]))
    files = detect(path)
    assert files.kind == "jsonl" and files.queries is None and files.qrels == {}
    summary = validate(files)
    assert (summary.n_passages, summary.n_queries, summary.qrels) == (2, 0, {})
    table = collect(iter_passages(files))
    assert table.column("passage_id").to_pylist() == ["a", "b"]
    assert table.column("title").to_pylist() == ["T", ""]
    assert list(iter_queries(files)) == []
    assert list(iter_qrels(files)) == []


def test_parquet_input(tmp_path: Path) -> None:
    path = tmp_path / "passages.parquet"
    table = pa.table(
        {
            "_id": [f"p{i}" for i in range(25)],
            "title": [None if i % 2 else f"t{i}" for i in range(25)],
            "text": [f"text {i}" for i in range(25)],
        }
    )
    pq.write_table(table, path, row_group_size=10)
    files = detect(path)
    assert files.kind == "parquet"
    assert validate(files).n_passages == 25
    out = collect(iter_passages(files, batch_size=7))
    assert out.schema == PASSAGE_SCHEMA
    assert out.num_rows == 25
    assert out.column("ordinal").to_pylist() == list(range(25))
    assert out.column("title").to_pylist()[:3] == ["t0", "", "t2"]
    assert out.column("passage_hash")[1].as_py() == passage_hash("", "text 1")


def test_parquet_integer_id_without_title(tmp_path: Path) -> None:
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["a", "b", "c"]}), path)
    files = detect(path)
    assert validate(files).n_passages == 3
    out = collect(iter_passages(files))
    assert out.column("passage_id").to_pylist() == ["1", "2", "3"]
    assert out.column("title").to_pylist() == ["", "", ""]


def test_fingerprint_is_stable_and_tracks_content(tmp_path: Path) -> None:
    a = validate(detect(make_beir(tmp_path / "a"))).fingerprint
    b = validate(detect(make_beir(tmp_path / "b"))).fingerprint
    assert a == b  # same bytes in another place
    qrels = dict(QRELS, test=QRELS["test"] + "q2\td3\t1\n")
    c = validate(detect(make_beir(tmp_path / "c", qrels=qrels))).fingerprint
    assert c != a


# --------------------------------------------------------------------------- malformed inputs


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"_id": "x", "text": ', "invalid JSON"),
        (b'["x", "text"]', "not a JSON object (got array)"),
        (b'"just a string"', "not a JSON object (got string)"),
        (b'{"_id": "x", "text": "caf\xe9"}', "not valid UTF-8"),
        (b'{"text": "no id"}', "missing `_id`"),
        (b'{"_id": "x"}', "missing `text`"),
        (b'{"_id": "x", "text": null}', "missing `text`"),
        (b'{"_id": "x", "text": 42}', "`text` is not a string"),
        (b'{"_id": "x", "text": ""}', "empty `text`"),
        (b'{"_id": "x", "text": "  \\n\\t "}', "empty `text`"),
        (b'{"_id": "x", "title": 3, "text": "ok"}', "`title` is not a string"),
        (b'{"_id": ["x"], "text": "ok"}', "`_id` must be a string"),
        (b'{"_id": "", "text": "ok"}', "empty `_id`"),
    ],
)
def test_bad_corpus_line(tmp_path: Path, line: bytes, expected: str) -> None:
    body = b'{"_id": "ok", "text": "fine"}\n' + line + b"\n"
    root = make_beir(tmp_path / "b", corpus_text=body, qrels={})
    message = problems_of(detect(root))
    assert f"{root / 'corpus.jsonl'}:2: " in message
    assert expected in message
    assert message.startswith("corpus invalid: 1 problem\n")


def test_duplicate_id_names_first_line(tmp_path: Path) -> None:
    rows = [{"_id": "a", "text": "1"}, {"_id": "b", "text": "2"}, {"_id": "a", "text": "3"}]
    path = tmp_path / "dup.jsonl"
    path.write_text(_jsonl(rows))
    message = problems_of(detect(path))
    assert f"{path}:3: duplicate id 'a' (first at line 1)" in message


def test_duplicate_query_id(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "b", queries_text=_jsonl(QUERIES + [QUERIES[0]]))
    message = problems_of(detect(root))
    assert f"{root / 'queries.jsonl'}:3: duplicate id 'q1' (first at line 1)" in message


def test_all_problems_in_one_error(tmp_path: Path) -> None:
    body = "not json\n" + _jsonl([{"_id": "d1", "text": ""}, {"_id": "d2", "text": "ok"}])
    qrels = {
        "test": "query-id\tcorpus-id\tscore\nq1\td2\n"  # wrong column count (line 2)
        "q1\td2\thigh\n"  # non-integer score (line 3)
        "q9\td2\t1\n"  # unknown query (line 4)
        "q1\td9\t1\n"  # unknown passage (line 5)
        "q1\td2\t1\n"  # fine
    }
    root = make_beir(tmp_path / "b", corpus_text=body, qrels=qrels)
    message = problems_of(detect(root), strict=True)
    lines = message.splitlines()
    assert lines[0] == "corpus invalid: 6 problems"
    c, q = root / "corpus.jsonl", root / "qrels" / "test.tsv"
    assert f"{c}:1: invalid JSON" in lines[1]
    assert f"{c}:2: empty `text`" in lines[2]
    assert f"{q}:2: expected 3 tab-separated columns" in lines[3]
    assert f"{q}:3: score 'high' is not an integer" in lines[4]
    assert f"{q}:4: unknown query id 'q9'" in lines[5]
    assert f"{q}:5: unknown corpus id 'd9'" in lines[6]
    # Without strict the unknown ids are dropped, not problems; malformed lines still are.
    lines = problems_of(detect(root)).splitlines()
    assert lines[0] == "corpus invalid: 4 problems"
    assert "unknown" not in "\n".join(lines)


def test_problem_list_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n" * 45)
    message = problems_of(detect(path))
    lines = message.splitlines()
    assert lines[0] == "corpus invalid: 45 problems (first 20 shown)"
    assert len(lines) == 21
    assert f"{path}:20: invalid JSON" in lines[20]


def test_qrels_without_queries(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "b")
    (root / "queries.jsonl").unlink()
    files = detect(root)
    assert files.queries is None
    assert "no queries.jsonl" in problems_of(files)


def test_empty_corpus(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    assert "no passages" in problems_of(detect(path))


def test_overlong_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_records, "_CHUNK", 16)
    monkeypatch.setattr(_records, "_MAX_LINE", 64)
    long_text = "x" * 200
    rows = [
        {"_id": "a", "text": "short"},
        {"_id": "b", "text": long_text},
        {"_id": "c", "text": "z"},
    ]
    path = tmp_path / "long.jsonl"
    path.write_text(_jsonl(rows))
    message = problems_of(detect(path))
    assert f"{path}:2: line longer than" in message
    assert ":1:" not in message and ":3:" not in message


def test_small_chunks_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_beir(tmp_path / "b")
    files = detect(root)
    expected = collect(iter_passages(files))
    fingerprint = validate(files).fingerprint
    monkeypatch.setattr(_records, "_CHUNK", 5)
    assert validate(files).fingerprint == fingerprint
    assert collect(iter_passages(files)).equals(expected)


def test_parquet_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    table = pa.table({"_id": ["a", "b", "a", None], "text": ["x", " ", "y", "z"]})
    pq.write_table(table, path)
    message = problems_of(detect(path))
    assert message.startswith("corpus invalid: 3 problems")
    assert f"{path}: row 1: empty `text`" in message
    assert f"{path}: row 2: duplicate id 'a' (first at row 0)" in message
    assert f"{path}: row 3: missing `_id`" in message


def test_parquet_bad_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.parquet"
    pq.write_table(pa.table({"key": ["a"], "text": [1]}), path)
    message = problems_of(detect(path))
    assert f"{path}: no `_id` (or `id`) column" in message
    assert f"{path}: column `text` has type int64" in message


def test_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("hello")
    with pytest.raises(AugplanError, match="not a readable parquet file"):
        validate(detect(path))


def test_folder_without_corpus(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(AugplanError) as info:
        detect(tmp_path / "empty")
    assert str(tmp_path / "empty") in info.value.message
    assert "missing corpus.jsonl" in info.value.message


def test_unknown_file_type(tmp_path: Path) -> None:
    path = tmp_path / "passages.csv"
    path.write_text("id,text\n")
    with pytest.raises(AugplanError) as info:
        detect(path)
    assert f"{path}: unknown file type '.csv'" in info.value.message
    assert info.value.hint and ".parquet" in info.value.hint


# --------------------------------------------------------------------------- unknown qrels ids

UNKNOWN_IDS = {
    "test": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tgone\t1\nq2\td2\t2\nq2\tlost\t1\n",
    "train": "query-id\tcorpus-id\tscore\nq9\td3\t0\nq1\td3\t0\n",
}


def test_unknown_qrels_ids_are_dropped_and_counted(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "b", qrels=UNKNOWN_IDS)
    files = detect(root)
    summary = validate(files)
    assert (summary.n_passages, summary.n_queries) == (3, 2)
    assert summary.qrels == {"test": 2, "train": 1}  # rows kept
    assert summary.dropped_qrels == DroppedQrels(
        count=3, first=("qrels/test.tsv:3", "qrels/test.tsv:5", "qrels/train.tsv:2")
    )
    # The streaming pass, given the corpus' ids, leaves out exactly those rows.
    kept = collect(iter_qrels(files, query_ids={"q1", "q2"}, passage_ids={"d1", "d2", "d3"}))
    assert [(r["split"], r["query_id"], r["passage_id"]) for r in kept.to_pylist()] == [
        ("test", "q1", "d1"),
        ("test", "q2", "d2"),
        ("train", "q1", "d3"),
    ]
    assert collect(iter_qrels(files)).num_rows == 6  # no ids given: every row
    # The fingerprint identifies the files, whatever is dropped.
    assert summary.fingerprint == validate(detect(make_beir(tmp_path / "c", qrels=UNKNOWN_IDS))
                                           ).fingerprint


def test_unknown_qrels_ids_strict(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "b", qrels=UNKNOWN_IDS)
    lines = problems_of(detect(root), strict=True).splitlines()
    test, train = root / "qrels" / "test.tsv", root / "qrels" / "train.tsv"
    assert lines == [
        "corpus invalid: 3 problems",
        f"  {test}:3: unknown corpus id 'gone' (not in corpus.jsonl)",
        f"  {test}:5: unknown corpus id 'lost' (not in corpus.jsonl)",
        f"  {train}:2: unknown query id 'q9' (not in queries.jsonl)",
    ]


def test_dropped_qrels_first_are_capped(tmp_path: Path) -> None:
    rows = "".join(f"q1\tmissing{i}\t1\n" for i in range(MAX_DROPPED_SHOWN + 3))
    root = make_beir(tmp_path / "b", qrels={"dev": "q1\td1\t1\n" + rows})  # no header
    dropped = validate(detect(root)).dropped_qrels
    assert dropped.count == MAX_DROPPED_SHOWN + 3
    assert dropped.first == tuple(f"qrels/dev.tsv:{n}" for n in range(2, MAX_DROPPED_SHOWN + 2))


def test_dropped_qrels_json() -> None:
    dropped = DroppedQrels(count=7, first=("qrels/test.tsv:12", "qrels/test.tsv:40"))
    assert json.loads(dropped.to_json()) == {
        "count": 7, "first": ["qrels/test.tsv:12", "qrels/test.tsv:40"]
    }
    assert DroppedQrels.from_json(dropped.to_json()) == dropped
    assert DroppedQrels.from_json(None) == DroppedQrels()  # a corpus of an older store
    assert DroppedQrels.from_json("") == DroppedQrels(count=0, first=())


# --------------------------------------------------------------------------- real data


def test_scifact(data_dir: Path) -> None:
    files = detect(data_dir / "scifact")
    summary = validate(files)
    assert summary.n_passages == 5183
    assert summary.n_queries == 1109
    assert summary.qrels == {"test": 339, "train": 919}
    passages = collect(iter_passages(files))
    assert passages.num_rows == 5183
    assert passages.column("ordinal").to_pylist() == list(range(5183))
    assert len(passages.column("passage_id").unique()) == 5183
    assert collect(iter_queries(files)).num_rows == 1109
    qrels = collect(iter_qrels(files))
    splits = qrels.column("split").to_pylist()
    assert (splits.count("test"), splits.count("train")) == (339, 919)
    assert set(qrels.column("score").to_pylist()) == {1}


def test_nfcorpus_processed_graded(data_dir: Path) -> None:
    files = detect(data_dir / "nfcorpus-processed")
    summary = validate(files)
    assert summary.n_passages == 3395
    assert summary.n_queries == 650
    assert summary.qrels == {"dev": 11385, "test": 12334}
    qrels = collect(iter_qrels(files))
    assert set(qrels.column("score").to_pylist()) == {1, 2}
    titles = collect(iter_passages(files)).column("title").to_pylist()
    assert set(titles) == {""}
