"""Typed selections: the store turns them into its own filters (values are data, never SQL),
reads long id lists in chunks, and sorts and cuts a listing inside LanceDB."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from store import AugplanError, Selection, Store, schemas
from store._sql import CHUNK, literal, selection_filter, selection_filters
from store.keys import canonical_json

DIM = 384


def row(corpus: str, key: str, passage_id: str, query: str, **over) -> dict:
    r = {"uid": f"{corpus}/{key}", "key": key, "corpus": corpus, "passage_id": passage_id,
         "passage_hash": "h-" + passage_id, "query": query, "raw": query,
         "augmenter": "smollm2-135m", "model_sha256": "0" * 64, "strategy": "inpars",
         "prompt_hash": "p", "params": canonical_json({}), "temperature": 0.0, "top_p": 1.0,
         "seed": 0, "idx": 0, "prompt_tokens": 1, "gen_tokens": 1, "seconds": 0.1,
         "run_id": "run-1", "created_at": "2026-01-01T00:00:00+00:00",
         "status": "ok" if query else "empty", "reason": "", "embedder": None, "vector": None}
    r.update(over)
    return r


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store", dim=DIM)
    rows = [row("c", f"k{i:04d}", f"p{i % 7}", f"query {i}", idx=i % 3,
                status=("ok", "filtered", "duplicate")[i % 3], run_id=f"run-{i % 2}")
            for i in range(1200)]
    rows.append(row("o'brien", "kq", "p1", "a corpus name with a quote"))
    rows.append(row("c", "kempty", "p0", ""))
    s.add_augmentations(pa.Table.from_pylist(rows, schema=schemas.augmentations(DIM)))
    return s


def test_literal_quotes_strings_and_keeps_numbers() -> None:
    assert literal("it's") == "'it''s'"
    assert literal(7) == "7" and literal(True) == "true"


def test_empty_selection_selects_everything(store: Store) -> None:
    assert selection_filters(None) == [None]
    assert store.count_augmentations() == store.count("augmentations") == 1202
    assert Selection().describe() == "all queries"


def test_fields_combine_with_and(store: Store) -> None:
    sel = Selection(corpus="c", run="run-1", status=("ok", "duplicate"))
    got = store.augmentations(sel, ["key", "status", "run_id"]).to_pylist()
    assert got and all(r["run_id"] == "run-1" and r["status"] in ("ok", "duplicate")
                       for r in got)
    assert len(got) == sum(1 for i in range(1200) if i % 2 == 1 and i % 3 in (0, 2))
    assert store.count_augmentations(sel) == len(got)
    assert store.count_augmentations(Selection(corpus="c", exclude_status="ok")) == 801
    assert store.count_augmentations(Selection(corpus="c", has_query=False)) == 1


def test_a_quote_in_a_value_is_data(store: Store) -> None:
    """A corpus name with a quote selects its rows instead of breaking the filter."""
    got = store.augmentations(Selection(corpus="o'brien"), ["query"]).to_pylist()
    assert got == [{"query": "a corpus name with a quote"}]
    assert store.count_augmentations(Selection(augmenter="x' OR '1'='1")) == 0


def test_long_id_lists_are_read_in_chunks(store: Store) -> None:
    keys = tuple(f"k{i:04d}" for i in range(1100))
    filters = selection_filters(Selection(corpus="c", keys=keys))
    assert len(filters) == -(-len(keys) // CHUNK) == 3
    assert store.augmentations(Selection(corpus="c", keys=keys), ["key"]).num_rows == 1100
    both = Selection(corpus="c", keys=keys, passage_ids=("p1", "p2"))
    assert store.count_augmentations(both) == sum(1 for i in range(1100) if i % 7 in (1, 2))
    assert store.augmentations(both, ["key"]).num_rows == store.count_augmentations(both)
    assert store.augmentations(Selection(keys=()), ["key"]).num_rows == 0


def test_users_where_passes_through_as_given(store: Store) -> None:
    sel = Selection(corpus="c", where="idx = 2 AND seed = 0")
    assert "idx = 2 AND seed = 0" in selection_filter(sel)
    assert store.count_augmentations(sel) == sum(1 for i in range(1200) if i % 3 == 2)
    with pytest.raises(AugplanError, match="--where 'no_such_column = 1'"):
        store.count_augmentations(Selection(where="no_such_column = 1"))
    with pytest.raises(AugplanError, match="--where"):
        store.augmentations(Selection(where="no_such_column = 1"))


def test_listing_is_sorted_and_cut_in_lancedb(store: Store) -> None:
    """``limit`` and ``order_by`` reach LanceDB: the first rows in that order, no more."""
    got = store.augmentations(Selection(corpus="c", status="ok"), ["passage_id", "idx", "key"],
                              limit=5, order_by=["passage_id", "key"])
    assert got.num_rows == 5
    ok = sorted((f"p{i % 7}", f"k{i:04d}") for i in range(1200) if i % 3 == 0)
    assert [(r["passage_id"], r["key"]) for r in got.to_pylist()] == ok[:5]


def test_list_queries_pushes_the_limit(store: Store, tmp_path: Path) -> None:
    from engine.search import list_queries

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"_id": "p{i}", "title": "t{i}", "text": "text {i}"}}\n'
                              for i in range(7)))
    from store.corpus import detect

    store.import_corpus("c", detect(corpus))
    df = list_queries(store, Selection(corpus="c", status="ok"), limit=4)
    assert df.height == 4
    assert df["passage_id"].to_list() == sorted(df["passage_id"].to_list())
    assert set(df.columns) >= {"query", "title", "text", "score", "status"}
    assert df["title"].to_list()[0] == "t0"
    assert list_queries(store, Selection(corpus="c", augmenter="nobody")).height == 0
