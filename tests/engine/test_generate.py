"""Generation, embedding and search end to end: SmolLM2-135M (llama.cpp) and MiniLM on the first
20 SciFact passages, in a real LanceDB store. One generation is shared by the whole module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import catalogue, prompts
from engine.embed import Embedder, embed_pending
from engine.generate import GenerateRequest, cancel, generate, resume
from engine.search import search_queries
from store import AugplanError, Selection, Store
from store import corpus as corpus_io
from store.keys import augmentation_key, canonical_json

SMOL = "smollm2-135m"
N = 20
REQUEST = GenerateRequest(corpus="scifact", augmenter=SMOL, limit=N)


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, models_dir: Path):
    """(store, report) after one generation of 20 queries."""
    store = Store(tmp_path_factory.mktemp("gen") / "store")
    store.import_corpus("scifact", corpus_io.detect(data_dir / "scifact"))
    report = generate(store, REQUEST, models_dir=models_dir)
    return store, report


@pytest.fixture(scope="module")
def embedder(models_dir: Path) -> Embedder:
    return Embedder(models_dir=models_dir)


@pytest.fixture(scope="module")
def embedded(gen, embedder: Embedder) -> tuple[int, int]:
    """How many queries the first and the second embed_pending call embedded."""
    store, _ = gen
    first = embed_pending(store, "scifact", embedder=embedder)
    second = embed_pending(store, "scifact", embedder=embedder)
    return first, second


def _rows(store: Store, corpus: str = "scifact") -> list[dict]:
    return store.augmentations(Selection(corpus=corpus)).to_pylist()


# ------------------------------------------------------------------------------ generation


def test_generate_records_every_row(gen) -> None:
    store, report = gen
    assert (report.target, report.generated, report.already_present, report.copied) == (N, N, 0, 0)
    assert report.gen_tokens > 0 and report.prompt_tokens > 0 and report.gen_seconds > 0

    rows = _rows(store)
    assert len(rows) == N
    assert len({r["uid"] for r in rows}) == N
    nonempty = [r for r in rows if r["query"].strip()]
    assert len(nonempty) >= N * 3 // 4, [r["raw"] for r in rows]

    template = prompts.load("inpars")
    params = REQUEST.sampling_params(template)
    entry = catalogue.get_entry(SMOL)
    passages = {p["passage_id"]: p for p in store.passages("scifact", N).to_pylist()}
    assert {r["passage_id"] for r in rows} == set(passages)
    for r in rows:
        p = passages[r["passage_id"]]
        assert r["passage_hash"] == p["passage_hash"]
        assert r["augmenter"] == SMOL
        assert r["model_sha256"] == entry.sha256
        assert r["strategy"] == "inpars"
        assert r["prompt_hash"] == template.hash
        assert json.loads(r["params"]) == params
        assert r["params"] == canonical_json(params)
        assert (r["seed"], r["idx"]) == (0, 0)
        assert r["temperature"] == 0.0
        assert r["prompt_tokens"] > 0
        assert r["gen_tokens"] > 0
        assert r["seconds"] > 0
        assert r["run_id"] == report.run_id
        assert r["key"] == augmentation_key(p["passage_hash"], entry.sha256, template.hash,
                                            params, 0, 0)
        assert r["uid"] == f"scifact/{r['key']}"
        assert r["query"] == prompts.parse_query(r["raw"])
        assert r["status"] == ("ok" if r["query"] else "empty")
        assert "\n" not in r["query"]

    run = store.run(report.run_id)
    assert (run["status"], run["target"], run["done"], run["generated"]) == ("finished", N, N, N)
    assert run["gen_tokens"] == report.gen_tokens == sum(r["gen_tokens"] for r in rows)


def test_same_request_generates_nothing(gen, models_dir: Path) -> None:
    store, first = gen
    queries = {r["key"]: r["query"] for r in _rows(store)}
    report = generate(store, REQUEST, models_dir=models_dir)
    assert (report.generated, report.already_present, report.copied) == (0, N, 0)
    assert (report.gen_tokens, report.prompt_tokens) == (0, 0)
    assert {r["key"]: r["query"] for r in _rows(store)} == queries
    run = store.run(report.run_id)
    assert (run["status"], run["done"], run["generated"]) == ("finished", N, 0)
    assert report.run_id != first.run_id


def test_a_smaller_limit_is_a_subset(gen, models_dir: Path) -> None:
    store, _ = gen
    report = generate(store, GenerateRequest(corpus="scifact", augmenter=SMOL, limit=5),
                      models_dir=models_dir)
    assert (report.target, report.generated, report.already_present) == (5, 0, 5)
    assert store.count_augmentations(Selection(corpus="scifact")) == N


def test_bad_requests(gen, models_dir: Path) -> None:
    store, _ = gen
    before = store.count("augmentations")
    bad = [
        ({"per_passage": 0}, "--per-passage"),
        ({"limit": 0}, "--limit"),
        ({"batch_size": 0}, "--batch-size"),
        ({"strategy": "nope"}, "unknown strategy"),
        ({"augmenter": "minilm-l6"}, "not an augmenter"),
        ({"augmenter": "gpt-17"}, "unknown model"),
        ({"corpus": "nope"}, "no such corpus"),
    ]
    for change, expected in bad:
        args = {"corpus": "scifact", "augmenter": SMOL, "limit": 2} | change
        with pytest.raises(AugplanError, match=expected):
            generate(store, GenerateRequest(**args), models_dir=models_dir)
    assert store.count("augmentations") == before


# ------------------------------------------------------------------------------- embedding


def test_embed_pending_once(gen, embedded) -> None:
    store, _ = gen
    first, second = embedded
    rows = _rows(store)
    nonempty = [r for r in rows if r["query"]]
    assert first == len(nonempty)
    assert second == 0
    for r in rows:
        if r["query"]:
            assert r["embedder"] == "minilm-l6"
            v = np.asarray(r["vector"], dtype=np.float32)
            assert v.shape == (384,)
            assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-3
        else:
            assert r["vector"] is None
    stats = {r["corpus"]: r for r in store.stats().iter_rows(named=True)}
    assert stats["scifact"]["embedded"] == len(nonempty)
    assert stats["scifact"]["queries"] == N


def test_embedding_matches_a_fresh_encode(gen, embedded, embedder: Embedder) -> None:
    store, _ = gen
    r = next(r for r in _rows(store) if r["query"])
    again = embedder.encode([r["query"]])[0]
    assert float(np.dot(again, np.asarray(r["vector"], dtype=np.float32))) > 0.999


# ---------------------------------------------------------------------------------- search


def _probe(store: Store) -> dict:
    """The longest stored query: distinctive enough to find itself."""
    return max((r for r in _rows(store) if r["query"]), key=lambda r: len(r["query"]))


@pytest.mark.parametrize("mode", ["vector", "fts", "hybrid"])
def test_search_modes_return_passages(gen, embedded, embedder: Embedder, mode: str) -> None:
    store, _ = gen
    probe = _probe(store)
    df = search_queries(store, probe["query"], selection=Selection(corpus="scifact"), mode=mode,
                            limit=5,
                        embedder=embedder)
    assert 1 <= df.height <= 5
    assert probe["query"] in df["query"].to_list()
    if mode == "vector":
        assert df["query"][0] == probe["query"]
        assert df["score"][0] > 0.99
    scores = df["score"].to_list()
    assert scores == sorted(scores, reverse=True)
    passages = {p["passage_id"]: p for p in store.passages("scifact", N).to_pylist()}
    for row in df.iter_rows(named=True):
        assert row["corpus"] == "scifact"
        assert row["text"] == passages[row["passage_id"]]["text"]
        assert row["title"] == passages[row["passage_id"]]["title"]


def test_search_where_filter(gen, embedded, embedder: Embedder) -> None:
    store, _ = gen
    probe = _probe(store)["query"]
    for mode in ("vector", "fts", "hybrid"):
        hit = search_queries(store, probe, mode=mode, selection=Selection(where=f"augmenter = '{SMOL}'"),
                             embedder=embedder)
        assert hit.height > 0
        assert set(hit["augmenter"].to_list()) == {SMOL}
        miss = search_queries(store, probe, mode=mode,
                              selection=Selection(where="augmenter = 'gemma3-270m'"),
                              embedder=embedder)
        assert miss.height == 0
        with pytest.raises(AugplanError, match="no_such_column"):
            search_queries(store, probe, mode=mode, selection=Selection(where="no_such_column = 1"),
                           embedder=embedder)
    with pytest.raises(AugplanError, match="no such corpus"):
        search_queries(store, probe, selection=Selection(corpus="nope"), mode="fts")
    with pytest.raises(AugplanError, match="--mode"):
        search_queries(store, probe, mode="regex")


# ----------------------------------------------------------------------- reuse across corpora


def test_second_corpus_reuses_rows(gen, embedded, data_dir: Path, models_dir: Path) -> None:
    store, _ = gen
    _summary, written = store.import_corpus("scifact-again",
                                            corpus_io.detect(data_dir / "scifact"))
    assert written
    report = generate(store, GenerateRequest(corpus="scifact-again", augmenter=SMOL, limit=N),
                      models_dir=models_dir)
    assert (report.generated, report.copied, report.already_present) == (0, N, 0)
    assert report.gen_tokens == 0
    src = {r["key"]: r for r in _rows(store)}
    dst = _rows(store, "scifact-again")
    assert len(dst) == N
    assert {r["key"] for r in dst} == set(src)
    for r in dst:
        s = src[r["key"]]
        assert r["uid"] == f"scifact-again/{r['key']}"
        assert (r["query"], r["passage_id"], r["model_sha256"]) == (
            s["query"], s["passage_id"], s["model_sha256"])
        assert r["vector"] == s["vector"]
    assert embed_pending(store, "scifact-again", embedder=object()) == 0  # type: ignore[arg-type]
    assert store.count_augmentations(Selection(corpus="scifact")) == N
    # Running it again finds everything in place.
    again = generate(store, GenerateRequest(corpus="scifact-again", augmenter=SMOL, limit=N),
                     models_dir=models_dir)
    assert (again.generated, again.copied, again.already_present) == (0, 0, N)


# ------------------------------------------------------------------------------ bad model


def test_corrupted_model_is_refused(gen, models_dir: Path, tmp_path: Path) -> None:
    store, _ = gen
    entry = catalogue.get_entry(SMOL)
    bad_dir = tmp_path / "models"
    bad_dir.mkdir()
    bad = bad_dir / entry.filename
    shutil.copyfile(models_dir / entry.filename, bad)
    with bad.open("r+b") as fh:
        fh.seek(4096)
        byte = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([byte[0] ^ 0x01]))
    assert bad.stat().st_size == entry.size_bytes

    before = store.count("augmentations")
    request = GenerateRequest(corpus="scifact", augmenter=SMOL, limit=3, seed=7)
    with pytest.raises(AugplanError) as info:
        generate(store, request, models_dir=bad_dir)
    assert "sha256" in info.value.message
    assert entry.sha256 in info.value.message
    assert store.count("augmentations") == before
    assert store.count_augmentations(Selection(seed=7)) == 0
    assert not store.runs(status="running")  # no run left looking alive


# ----------------------------------------------------------- stopping, failing, resuming


@pytest.fixture
def fresh(tmp_path: Path, data_dir: Path) -> Store:
    """A store of its own, holding SciFact and no augmentation."""
    store = Store(tmp_path / "store")
    store.import_corpus("scifact", corpus_io.detect(data_dir / "scifact"))
    return store


class _Stub:
    """A backend that answers at once; its ``fail_at``-th batched decode raises ``exc``."""

    def __init__(self, exc: BaseException | None = None, fail_at: int = 0) -> None:
        self.exc, self.fail_at, self.calls = exc, fail_at, 0

    def complete_many(self, prompts: list[str], **_kw: Any) -> list[dict[str, Any]]:
        self.calls += 1
        if self.exc is not None and self.calls == self.fail_at:
            raise self.exc
        return [{"text": f"stub query {self.calls}.{i}", "prompt_tokens": 3, "gen_tokens": 2,
                 "seconds": 0.01} for i, _ in enumerate(prompts)]


SIX = GenerateRequest(corpus="scifact", augmenter=SMOL, limit=6, batch_size=2)


def test_should_stop_cancels_between_waves_and_resume_finishes(fresh: Store,
                                                               models_dir: Path) -> None:
    polls: list[int] = []
    progress: list[tuple[int, int]] = []

    def should_stop() -> bool:  # polled before each wave: stop before the second one
        polls.append(1)
        return len(polls) > 1

    report = generate(fresh, SIX, models_dir=models_dir, should_stop=should_stop,
                      on_progress=lambda p: progress.append((p.done, p.generated)))
    assert (report.status, report.target, report.generated) == ("cancelled", 6, 2)
    assert len(polls) == 2
    assert progress == [(0, 0), (2, 2)]
    run = fresh.run(report.run_id)
    assert (run["status"], run["message"], run["done"], run["generated"]) == (
        "cancelled", "cancelled between batches", 2, 2)
    assert len(_rows(fresh)) == 2

    again = resume(fresh, report.run_id, models_dir=models_dir)
    assert (again.run_id, again.status, again.already_present, again.generated) == (
        report.run_id, "finished", 2, 4)
    run = fresh.run(report.run_id)
    assert (run["status"], run["message"], run["done"], run["generated"]) == (
        "finished", "", 6, 4)
    assert len({r["key"] for r in _rows(fresh)}) == 6


def test_runs_cancel_stops_the_run_before_its_next_wave(fresh: Store) -> None:
    def on_progress(p: Any) -> None:
        if p.generated:
            assert cancel(fresh, p.run_id) == "cancelling"

    backend = _Stub()
    report = generate(fresh, SIX, backend=backend, on_progress=on_progress)  # type: ignore[arg-type]
    assert (report.status, report.generated, backend.calls) == ("cancelled", 2, 1)
    assert fresh.run(report.run_id)["status"] == "cancelled"
    assert len(_rows(fresh)) == 2


def test_runs_cancel_during_a_wave_is_not_lost(fresh: Store) -> None:
    """``augplan runs cancel`` while a wave decodes: the checkpoint after the wave keeps the
    ``cancelling`` status, so the run stops before its next wave."""

    class CancelInWave(_Stub):
        def complete_many(self, prompts: list[str], **kw: Any) -> list[dict[str, Any]]:
            (run,) = fresh.runs()
            if self.calls == 0:
                assert cancel(fresh, run["run_id"]) == "cancelling"
            return super().complete_many(prompts, **kw)

    backend = CancelInWave()
    report = generate(fresh, SIX, backend=backend)  # type: ignore[arg-type]
    assert (report.status, report.generated, backend.calls) == ("cancelled", 2, 1)
    assert fresh.run(report.run_id)["status"] == "cancelled"


@pytest.mark.parametrize(("exc", "status", "message"), [
    (RuntimeError("the backend died"), "failed", "the backend died"),
    (KeyboardInterrupt(), "cancelled", "interrupted"),
])
def test_an_exception_mid_run_is_recorded_then_raised(
    fresh: Store, exc: BaseException, status: str, message: str
) -> None:
    with pytest.raises(type(exc)):
        generate(fresh, SIX, backend=_Stub(exc, fail_at=2))  # type: ignore[arg-type]
    (run,) = fresh.runs()
    assert (run["status"], run["message"], run["done"], run["generated"]) == (
        status, message, 2, 2)
    rows = _rows(fresh)  # the first wave, committed whole before the second one failed
    assert sorted(r["query"] for r in rows) == ["stub query 1.0", "stub query 1.1"]
    assert {r["run_id"] for r in rows} == {run["run_id"]}


def test_waves_keep_the_queries_of_a_passage_together() -> None:
    """The K rows of a passage share one decode of its prompt, so a wave never splits them;
    waves still hold one variant each and at most batch_size rows where a passage allows."""
    from engine.generate import _waves

    a, b = prompts.load("query-types").resolve().variants[:2]
    rows = [{"passage_id": f"p{i}", "variant": v, "idx": j}
            for i in range(5) for j, v in enumerate((a, a, a, b))]
    waves = _waves(rows, batch_size=7)
    assert sorted(id(r) for w in waves for r in w) == sorted(id(r) for r in rows)
    for w in waves:
        assert len({r["variant"].name for r in w}) == 1
        assert len(w) <= 7
    for i in range(5):  # each passage's rows of one variant are in one wave
        assert sum(any(r["passage_id"] == f"p{i}" and r["variant"] is a for r in w)
                   for w in waves) == 1
    assert [len(w) for w in _waves(rows[:4], batch_size=2)] == [3, 1]

