"""The quality stage: filters, round-trip consistency, duplicates and diversity scores.

Text rules, duplicates and diversity run on crafted rows in a real LanceDB store (no model);
round-trip consistency and the whole stage run with the real MiniLM on the first 40 SciFact
passages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import typer
from sacrebleu.metrics import BLEU
from typer.testing import CliRunner

import engine.quality
from engine.embed import Embedder, encode, passage_matrix
from engine.quality import (
    FilterOptions,
    PassageIndex,
    QualityOptions,
    apply_filters,
    char_shingles,
    copy_measures,
    dedup,
    diversity_for,
    diversity_scores,
    jaccard,
    lexical_pairs,
    normalise,
    process,
    round_trip_ranks,
    self_bleu,
    semantic_pairs,
    text_checks,
    text_hash,
    tokens,
)
from store import AugplanError, Selection, Store
from store import corpus as corpus_io
from store.schemas import augmentations as augmentation_schema

DIM = 384
N_PASSAGES = 40

PASSAGE = ("Vitamin D deficiency is associated with impaired immune responses in elderly adults "
           "living in care homes, and supplementation restored T cell counts within twelve weeks.")
GOOD = "does vitamin d supplementation help the immune system of older people"


# ------------------------------------------------------------------------------- helpers
def row(corpus: str, key: str, passage_id: str, query: str, **over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "uid": f"{corpus}/{key}", "key": key, "corpus": corpus, "passage_id": passage_id,
        "passage_hash": "h-" + passage_id, "query": query, "raw": query,
        "augmenter": "smollm2-135m", "model_sha256": "0" * 64, "strategy": "inpars",
        "prompt_hash": "p", "params": "{}", "temperature": 0.0, "top_p": 1.0, "seed": 0,
        "idx": 0, "prompt_tokens": 10, "gen_tokens": 5, "seconds": 0.1, "run_id": "r1",
        "created_at": "2026-01-01T00:00:00+00:00", "status": "ok", "reason": "", "dup_of": "",
        "checks": "", "embedder": None, "vector": None,
    }
    r.update(over)
    return r


def add(store: Store, rows: list[dict[str, Any]]) -> None:
    assert store.add_augmentations(pa.Table.from_pylist(rows, schema=augmentation_schema(DIM))) \
        == len(rows)


def by_key(store: Store, corpus: str) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in store.augmentations(Selection(corpus=corpus)).to_pylist()}


def unit(v: np.ndarray) -> list[float]:
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


def near(v: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly ``cos`` from unit vector ``v``."""
    u = rng.standard_normal(v.size)
    u -= (u @ v) * v
    u /= np.linalg.norm(u)
    return cos * v + np.sqrt(1 - cos**2) * u


@pytest.fixture
def tiny(tmp_path: Path) -> Store:
    """A store with a three-passage corpus 'tiny' (p1, p2, p3 in file order)."""
    path = tmp_path / "tiny.jsonl"
    lines = [{"_id": "p1", "title": "Vitamin D", "text": PASSAGE},
             {"_id": "p2", "title": "Bees", "text": "Honeybees dance to show where flowers are."},
             {"_id": "p3", "title": "Cells", "text": "Lithium iron phosphate cells last long."}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    store = Store(tmp_path / "store")
    store.import_corpus("tiny", corpus_io.detect(path))
    return store


@pytest.fixture(scope="module")
def sci(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Store:
    """A store holding the first 40 SciFact passages as corpus 'sci40'."""
    root = tmp_path_factory.mktemp("sci40")
    with (data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as f:
        head = [next(f) for _ in range(N_PASSAGES)]
    (root / "sci40.jsonl").write_text("".join(head), encoding="utf-8")
    store = Store(root / "store")
    store.import_corpus("sci40", corpus_io.detect(root / "sci40.jsonl"))
    return store


@pytest.fixture(scope="module")
def embedder(models_dir: Path) -> Embedder:
    return Embedder(models_dir=models_dir)


# ------------------------------------------------------------------------ public surface
def test_public_surface_of_the_quality_package() -> None:
    """What other rooms and tests import from engine.quality (and nothing private)."""
    assert set(engine.quality.__all__) == {
        "ECHO_PATTERN", "FILTER_KEYS", "PRECISIONS", "SCOPES", "FilterOptions", "FilterReport",
        "Pairs", "PassageIndex", "QualityOptions", "QualityReport", "apply_filters",
        "assign_representatives", "char_shingles", "check_run", "copy_measures", "dedup",
        "diversity_for", "diversity_scores", "jaccard", "lexical_pairs", "load_checks",
        "minhash_signatures", "normalise", "process", "reason_counts", "round_trip_ranks",
        "selection", "self_bleu", "semantic_pairs", "semantic_pairs_within", "status_counts",
        "text_checks", "text_hash", "tokens",
    }
    assert all(hasattr(engine.quality, name) for name in engine.quality.__all__)
    assert callable(engine.quality.dedup)  # the function, not its module


# -------------------------------------------------------------------------- text rules
TEXT_CASES = [
    ("   ", "empty", "empty"),
    ("123 456 ?? 789", "filtered", "degenerate: no letters"),
    ("Document: vitamin d in care homes", "filtered", "degenerate: prompt echo"),
    ("Example 4: vitamin d in care homes", "filtered", "degenerate: prompt echo"),
    ("vitamin vitamin vitamin d levels", "filtered", "degenerate: 'vitamin' 3 times"),
    ("immune cells immune cells immune cells", "filtered", "degenerate: 2 distinct of 6"),
    ("vitamin d", "filtered", "too_short: 2 words"),
    (" ".join(f"word{i}" for i in range(45)), "filtered", "too_long: 45 words"),
    ("ab +++ ### $$$ %%% &&& 12", "filtered", "garbage:"),
    ("vitamin d deficiency is associated with impaired immune responses in elderly adults",
     "filtered", "copied: 1.00 of 4-grams"),
]


@pytest.mark.parametrize(("query", "status", "reason"), TEXT_CASES)
def test_each_text_rule_fires_on_its_case(query: str, status: str, reason: str) -> None:
    opts = FilterOptions()
    got_status, got_reason, measured = text_checks(query, PassageIndex.build(PASSAGE, 4), opts)
    assert (got_status, got_reason[: len(reason)]) == (status, reason), got_reason
    assert "words" in measured and "copy_containment" in measured


def test_a_good_query_passes_every_text_rule() -> None:
    status, reason, m = text_checks(GOOD, PassageIndex.build(PASSAGE, 4), FilterOptions())
    assert (status, reason) == ("ok", "")
    assert m["words"] == 11 and m["copied"] is False and m["copy_containment"] < 0.3
    # queries that only look like the rules' cases
    for q in ("examples of vitamin d sources", "what documents describe vitamin d",
              "vitamin d and immunity"):
        assert text_checks(q, PassageIndex.build(PASSAGE, 4), FilterOptions())[0] == "ok", q


def test_copy_measures() -> None:
    p = PassageIndex.build("a b c d e f g h", 4)
    assert copy_measures(tokens("a b c d e"), p, 4) == (1.0, 5)
    assert copy_measures(tokens("x a b c d y"), p, 4) == (pytest.approx(1 / 3), 4)
    assert copy_measures(tokens("a b"), p, 4) == (None, 2)
    # a long copied run in a longer query is caught by the run share even below containment
    opts = FilterOptions()
    status, reason, m = text_checks("z a b c d e f g h y", PassageIndex.build("a b c d e f g h",
                                                                               4), opts)
    assert m["copy_containment"] == pytest.approx(5 / 7, abs=1e-4)
    assert status == "filtered" and reason == "copied: 8 of 10 tokens in one run from passage"


def test_filters_mark_rows_and_keep_row_count(tiny: Store) -> None:
    cases = {f"k{i}": q for i, (q, _, _) in enumerate(TEXT_CASES)}
    cases["good"] = GOOD
    add(tiny, [row("tiny", k, "p1", q) for k, q in cases.items()]
          + [row("tiny", "gen-empty", "p1", "", status="empty", reason="empty completion")])
    before = tiny.count("augmentations")
    report = apply_filters(tiny, "tiny", options=FilterOptions(round_trip=False))
    assert tiny.count("augmentations") == before
    rows = by_key(tiny, "tiny")
    for i, (_, status, reason) in enumerate(TEXT_CASES):
        r = rows[f"k{i}"]
        assert (r["status"], r["reason"][: len(reason)]) == (status, reason)
        assert json.loads(r["checks"])["words"] >= 0
    assert rows["good"]["status"] == "ok" and rows["good"]["reason"] == ""
    assert json.loads(rows["good"]["checks"])["copied"] is False
    assert rows["gen-empty"]["status"] == "empty"  # not a candidate: untouched
    assert report.candidates == len(cases) and report.ok == 1 and report.empty == 1
    assert report.filtered == {"degenerate": 5, "too_short": 1, "too_long": 1, "garbage": 1,
                               "copied": 1}
    # again: nothing left to filter, nothing changes
    again = apply_filters(tiny, "tiny", options=FilterOptions(round_trip=False))
    assert again.candidates == 1 and again.ok == 1
    assert by_key(tiny, "tiny") == rows
    # looser limits with recheck give filtered rows another chance
    loose = apply_filters(tiny, "tiny", options=FilterOptions(round_trip=False, min_words=2),
                          reset=True)
    assert loose.filtered.get("too_short", 0) == 0
    assert by_key(tiny, "tiny")["k6"]["status"] == "ok"
    assert tiny.count("augmentations") == before


# -------------------------------------------------------------------------- round trip
def test_round_trip_ranks_exact() -> None:
    rng = np.random.default_rng(0)
    p = rng.integers(-3, 4, (50, 8)).astype(np.float32)  # small integers: exact products, ties
    q = rng.integers(-3, 4, (7, 8)).astype(np.float32)
    src = rng.integers(0, 50, 7)
    want = [1 + int(((p @ q[i]) > (p[src[i]] @ q[i])).sum()) for i in range(7)]
    assert round_trip_ranks(q, src, p, block=3).tolist() == want


def test_round_trip_on_scifact(sci: Store, embedder: Embedder) -> None:
    passages, matrix, encoded = passage_matrix(sci, "sci40", embedder)
    assert encoded == N_PASSAGES and matrix.shape == (N_PASSAGES, DIM)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    # cached: encoded once, ever
    _, again, encoded_again = passage_matrix(sci, "sci40", embedder)
    assert encoded_again == 0 and np.array_equal(matrix, again)
    assert sci.count("passage_vectors") == N_PASSAGES

    pids = passages.column("passage_id").to_pylist()
    add(sci, [
        row("sci40", "match", "33370", "does targeting A20 reduce survival of glioma stem cells"),
        row("sci40", "offtopic", "70490",
            "mechanisms linking obesity to insulin resistance in type 2 diabetes"),
    ])
    report = apply_filters(sci, "sci40", selection=Selection(keys=("match", "offtopic")),
                           embedder=embedder, options=FilterOptions(round_trip_k=20))
    rows = by_key(sci, "sci40")
    match, off = (json.loads(rows[k]["checks"]) for k in ("match", "offtopic"))
    assert rows["match"]["status"] == "ok" and match["round_trip_rank"] == 1
    assert rows["offtopic"]["status"] == "filtered"
    assert off["round_trip_rank"] > 20 and off["round_trip_k"] == 20
    assert rows["offtopic"]["reason"] == f"round_trip: passage ranked {off['round_trip_rank']} > 20"
    assert report.filtered == {"round_trip": 1} and report.passages_encoded == 0
    assert pids.index("33370") == 5


def test_float32_and_bfloat16_passage_vectors_agree(sci: Store, embedder: Embedder) -> None:
    texts = [p["title"] + " " + p["text"] for p in sci.passages("sci40", 4).to_pylist()]
    fp32, used32 = encode(embedder, texts, "float32")
    bf16, _ = encode(embedder, texts, "bfloat16")
    assert used32 == "float32"
    assert (fp32 * bf16).sum(axis=1).min() > 0.99


def test_passage_precision_follows_the_device_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import embed

    assert FilterOptions().precision == "auto"
    monkeypatch.setattr(embed, "bf16_faster", lambda device=None: False)
    assert embed.resolve_precision("auto") == "float32"
    monkeypatch.setattr(embed, "bf16_faster", lambda device=None: True)
    assert embed.resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(embed, "cpu_bf16_supported", lambda: False)
    assert embed.resolve_precision("bfloat16") == "float32"  # asked, but the CPU cannot
    assert embed.resolve_precision("float32") == "float32"
    with pytest.raises(AugplanError, match="fp16"):
        embed.resolve_precision("fp16")
    with pytest.raises(AugplanError, match="precision 'bf16'"):
        FilterOptions(precision="bf16").validate()


# ------------------------------------------------------------------------------- dedup
def test_normalised_text_hash() -> None:
    assert normalise("  What is  X?? ") == "what is x"
    assert text_hash("What is X?") == text_hash("what is x") == text_hash(" what IS x !")
    assert text_hash("what is x") != text_hash("what is y")


def test_dedup_marks_duplicates_and_points_to_the_earliest(tiny: Store) -> None:
    rng = np.random.default_rng(0)
    dims = np.eye(DIM)
    a = dims[0]
    para = near(a, 0.97, rng)
    rows = [
        # exact duplicates (after normalising), one on another passage; representative: p1 row
        row("tiny", "e2", "p2", "What is the role of vitamin D?", vector=unit(dims[1])),
        row("tiny", "e1", "p1", "what is the role of vitamin d", vector=unit(dims[2]),
            created_at="2026-02-01T00:00:00+00:00"),
        # semantic: paraphrase-level cosine 0.97, different words
        row("tiny", "s1", "p1", "how do bees tell each other where food is", vector=unit(a)),
        row("tiny", "s2", "p2", "honeybee waggle dance communication of food sites",
            vector=unit(para), idx=1),
        # lexical near-copy (orthogonal vectors): one word added
        row("tiny", "l1", "p1", "advantages of lithium iron phosphate batteries",
            vector=unit(dims[3])),
        row("tiny", "l2", "p3", "advantages of lithium iron phosphate batteries cells",
            vector=unit(dims[4])),
        # distinct rows stay ok; so does a vector of another embedder (not comparable)
        row("tiny", "d1", "p3", "why do cats purr", vector=unit(dims[5])),
        row("tiny", "m1", "p3", "bee dances as a language", vector=unit(a), embedder="bge-small"),
        # a filtered row keeps its status even though it duplicates an ok row
        row("tiny", "f1", "p3", "why do cats purr", vector=unit(dims[5]), status="filtered",
            reason="too_short: 2 words"),
        # same text, same passage, later sample index: points to the idx-0 row
        row("tiny", "e3", "p1", "WHAT IS THE ROLE OF VITAMIN D", vector=unit(dims[6]), idx=3,
            created_at="2026-02-01T00:00:00+00:00"),
    ]
    add(tiny, rows)
    before = tiny.count("augmentations")
    counts = dedup(tiny, "tiny")
    assert tiny.count("augmentations") == before
    got = by_key(tiny, "tiny")
    assert counts["candidates"] == 9 and counts["exact"] == 2
    assert counts["semantic"] == 1 and counts["lexical"] == 1 and counts["duplicates"] == 4
    assert counts["kept"] == 5

    def dup(key: str) -> tuple[str, str]:
        return got[key]["status"], got[key]["dup_of"]

    # e1 (passage p1, first in the file) is the representative although it was created later
    assert got["e1"]["status"] == "ok" and got["e1"]["dup_of"] == ""
    assert dup("e2") == ("duplicate", "tiny/e1") and dup("e3") == ("duplicate", "tiny/e1")
    assert got["e2"]["reason"] == "exact_duplicate"
    assert dup("s2") == ("duplicate", "tiny/s1")
    assert got["s2"]["reason"] == "semantic_duplicate: cosine 0.970"
    assert dup("l2") == ("duplicate", "tiny/l1")
    assert got["l2"]["reason"].startswith("lexical_duplicate: jaccard 0.")
    facts = json.loads(got["l2"]["checks"])["dedup"]
    assert facts["method"] == "lexical" and facts["jaccard"] >= 0.8
    assert facts["same_passage"] is False and facts["dup_of"] == "tiny/l1"
    assert got["d1"]["status"] == "ok"
    assert got["f1"]["status"] == "filtered" and got["f1"]["dup_of"] == ""
    for key in ("s1", "l1", "m1"):
        assert got[key]["status"] == "ok"

    # again: nothing new; with reset the same marks come back
    assert dedup(tiny, "tiny")["duplicates"] == 0
    assert dedup(tiny, "tiny", reset=True)["duplicates"] == 4
    assert by_key(tiny, "tiny") == got
    # scope=passage: only e3 (same passage as e1) stays a duplicate
    counts = dedup(tiny, "tiny", scope="passage", reset=True)
    got = by_key(tiny, "tiny")
    assert counts["duplicates"] == 1 and dup("e3") == ("duplicate", "tiny/e1")
    assert got["e2"]["status"] == "ok" and got["s2"]["status"] == "ok"
    assert tiny.count("augmentations") == before


def test_a_later_run_never_displaces_a_kept_row(tiny: Store) -> None:
    """Rows of an earlier generation run come first: a query generated later, even of a
    passage earlier in the file, is the duplicate, so what was accepted stays accepted as the
    store grows (within a run the file order decides)."""
    dims = np.eye(DIM)
    add(tiny, [row("tiny", "old", "p3", "why do cats purr", vector=unit(dims[0])),
               row("tiny", "old2", "p2", "why do cats purr?", vector=unit(dims[1]), idx=1)])
    assert dedup(tiny, "tiny")["exact"] == 1
    first = by_key(tiny, "tiny")
    assert first["old2"]["status"] == "ok" and first["old"]["dup_of"] == "tiny/old2"
    add(tiny, [row("tiny", "new", "p1", "Why do cats purr", vector=unit(dims[2]), run_id="r2",
                   created_at="2026-03-01T00:00:00+00:00")])
    assert dedup(tiny, "tiny")["exact"] == 1
    got = by_key(tiny, "tiny")
    assert got["new"]["dup_of"] == "tiny/old2" and got["old2"]["status"] == "ok"


def test_dedup_rejects_bad_arguments(tiny: Store) -> None:
    with pytest.raises(AugplanError, match="--scope"):
        dedup(tiny, "tiny", scope="world")
    with pytest.raises(AugplanError, match="--semantic-threshold"):
        dedup(tiny, "tiny", semantic_threshold=1.5)
    with pytest.raises(AugplanError, match="no such corpus"):
        dedup(tiny, "nope")


def test_semantic_pairs_match_all_pairs_without_comparing_them() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.standard_normal((n, DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = rng.choice(n, 60, replace=False)
    for k, s in enumerate(src[:30]):
        x[src[30 + k]] = near(x[s], rng.uniform(0.951, 0.99), rng)
    x = x.astype(np.float32)
    g = x @ x.T
    want = set(zip(*np.nonzero(np.triu(g >= 0.95, k=1)), strict=True))
    pairs = semantic_pairs(x, 0.95)
    got = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    assert len(want) == 30 and got == want
    assert (pairs.sim >= 0.95).all()


def test_lexical_pairs_match_exact_jaccard() -> None:
    base = ["advantages of lithium iron phosphate batteries", "how do bees tell where food is",
            "vitamin d and the immune system", "effects of exercise on insulin sensitivity"]
    texts = base + [base[0] + " cells", base[1].replace("food", "the food"),
                    base[3].replace("sensitivity", "sensitivty"), "unrelated words"]
    sets = [char_shingles(t) for t in texts]
    want = {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
            if jaccard(sets[i], sets[j]) >= 0.8}
    pairs = lexical_pairs(texts, 0.8)
    assert (0, 4) in want
    assert set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == want
    assert set(lexical_pairs(texts, 0.6).i.tolist()) >= {0, 1, 3}


# --------------------------------------------------------------------------- diversity
def test_identical_items_have_minimal_diversity() -> None:
    n = 12
    vec = np.tile(np.eye(DIM)[0], (n, 1))
    s = diversity_scores(["what is vitamin d"] * n, vec, ["p1"] * 6 + ["p2"] * 6,
                         copy_flags=[True] * 3 + [False] * 9)
    assert s["distinct_1"] == pytest.approx(1 / n, abs=1e-5)
    assert s["distinct_2"] == pytest.approx(1 / n, abs=1e-5)
    assert s["self_bleu"] == pytest.approx(100.0)
    assert s["vendi"] == pytest.approx(1.0, abs=1e-6)
    assert s["mean_pairwise_distance"] == pytest.approx(0.0, abs=1e-6)
    assert s["per_passage_distance"] == pytest.approx(0.0, abs=1e-6)
    assert s["copy_rate"] == pytest.approx(0.25)


def test_distinct_items_score_higher() -> None:
    n = 12
    queries = [f"alpha{i} beta{i} gamma{i} delta{i}" for i in range(n)]  # no word shared
    vec = np.eye(DIM)[:n]  # orthogonal: the most diverse a set of n can be
    s = diversity_scores(queries, vec, [f"p{i}" for i in range(n)])
    assert s["distinct_1"] == pytest.approx(1.0) and s["distinct_2"] == pytest.approx(1.0)
    assert s["self_bleu"] < 5
    assert s["vendi"] == pytest.approx(n, rel=1e-6)
    assert s["mean_pairwise_distance"] == pytest.approx(1.0)
    assert s["per_passage_distance"] is None and s["copy_rate"] is None
    # more than dim vectors: the dual computation, still between 1 and dim
    rng = np.random.default_rng(0)
    big = rng.standard_normal((1000, DIM))
    s = diversity_scores([f"q{i}" for i in range(1000)], big, None, sample=100)
    assert 1 < s["vendi"] <= DIM and s["self_bleu_sample"] == 100
    assert s["mean_pairwise_distance"] == pytest.approx(1.0, abs=0.01)


def test_self_bleu_equals_sacrebleu_sentence_scores() -> None:
    texts = ["how do bees find food", "how do bees find flowers", "what is vitamin d",
             "what is vitamin d good for", "lithium batteries last long", "bees and flowers"]
    bleu = BLEU(lowercase=True, effective_order=True)
    naive = np.mean([bleu.sentence_score(t, texts[:i] + texts[i + 1:]).score
                     for i, t in enumerate(texts)])
    assert self_bleu(texts) == pytest.approx(naive)


def test_diversity_for_a_selection(tiny: Store) -> None:
    add(tiny, [row("tiny", f"k{i}", "p1", q, idx=i, vector=unit(np.eye(DIM)[i]))
               for i, q in enumerate(["how do bees dance", "vitamin d and immunity",
                                      "why lithium cells last long"])]
          + [row("tiny", "x", "p2", "", status="empty"),
             row("tiny", "f", "p1", PASSAGE.lower(), status="filtered")])
    all_rows = diversity_for(tiny, Selection(corpus="tiny"))
    assert all_rows["n"] == 4 and all_rows["copy_rate"] == pytest.approx(0.25)
    kept = diversity_for(tiny, Selection(corpus="tiny"), statuses=("ok",))
    assert kept["n"] == 3 and kept["per_passage_distance"] == pytest.approx(1.0)
    with pytest.raises(AugplanError, match="--where"):
        diversity_for(tiny, Selection(where="no_such_column = 1"))


# ------------------------------------------------------------------------ the whole stage
def test_process_a_run_end_to_end(sci: Store, embedder: Embedder, tmp_path: Path) -> None:
    run_id = sci.start_run({"kind": "generate", "corpus": "sci40", "augmenter": "smollm2-135m"})
    queries = [
        ("33370", "does targeting A20 reduce survival of glioma stem cells"),
        ("33370", "Does targeting A20 reduce survival of glioma stem cells?"),  # exact dup
        ("120626", "how does obesity cause insulin resistance and type 2 diabetes"),
        ("70115", "bayesian measures of model complexity and fit"),  # copied title
        ("92499", "hi"),  # too short
        ("70490", "mechanisms linking obesity to insulin resistance in type 2 diabetes"),
    ]
    add(sci, [row("sci40", f"run-{i}", pid, q, run_id=run_id, idx=i)
              for i, (pid, q) in enumerate(queries)])
    before = sci.count("augmentations")
    report = process(sci, "sci40", run_id=run_id, embedder=embedder, options=QualityOptions())
    assert sci.count("augmentations") == before
    assert report.selected == len(queries) and report.embedded >= len(queries)
    assert report.status == {"ok": 2, "filtered": 3, "duplicate": 1, "empty": 0}
    assert report.filters is not None
    assert report.filters.filtered == {"copied": 1, "too_short": 1, "round_trip": 1}
    assert report.dedup is not None and report.dedup["exact"] == 1
    assert report.reasons == {"filtered": {"copied": 1, "too_short": 1, "round_trip": 1},
                              "duplicate": {"exact_duplicate": 1}}
    stored = json.loads(sci.run(run_id)["diversity"])
    assert stored["n"] == len(queries) and stored["kept"]["n"] == 2
    assert stored == json.loads(json.dumps(report.diversity))
    assert report.diversity is not None and report.diversity["embedded"] == len(queries)
    # a second pass changes nothing and writes no new rows
    again = process(sci, "sci40", run_id=run_id, embedder=embedder, options=QualityOptions())
    assert again.status == report.status and again.embedded == 0
    assert sci.count("augmentations") == before
    with pytest.raises(AugplanError, match="no such run"):
        process(sci, "sci40", run_id="nope", embedder=embedder)


def test_process_one_augmenters_queries(sci: Store, embedder: Embedder) -> None:
    """Narrowed to one augmenter (a pilot's training set), the quality pass leaves another
    augmenter's queries alone: the same query of the same passage from two augmenters is a
    duplicate only within the corpus as a whole."""
    text = "how do tumour stem cells in the brain evade treatment"
    add(sci, [row("sci40", f"two-{a}", "33370", text, augmenter=a, run_id="two")
              for a in ("smollm2-135m", "gemma3-270m")])
    options = QualityOptions(filters=FilterOptions(round_trip=False), diversity=False)
    one = process(sci, "sci40", embedder=embedder, augmenter="gemma3-270m", strategy="inpars",
                  options=options)
    assert one.selected == 1 and "gemma3-270m" in one.where
    got = by_key(sci, "sci40")
    assert got["two-gemma3-270m"]["status"] == "ok" and got["two-smollm2-135m"]["status"] == "ok"
    whole = process(sci, "sci40", embedder=embedder, options=options)
    assert whole.dedup is not None and whole.dedup["exact"] >= 1
    got = by_key(sci, "sci40")
    assert {got[f"two-{a}"]["status"] for a in ("smollm2-135m", "gemma3-270m")} == \
        {"ok", "duplicate"}


def test_cli_filter_and_diversity(tiny: Store) -> None:
    from tui.cli import quality as cli_quality

    app = typer.Typer()
    app.command("filter")(cli_quality.filter_cmd)
    app.command("diversity")(cli_quality.diversity_cmd)
    add(tiny, [row("tiny", "a", "p1", GOOD, vector=unit(np.eye(DIM)[0])),
               row("tiny", "b", "p1", "vitamin d", vector=unit(np.eye(DIM)[1])),
               row("tiny", "c", "p2", GOOD.upper(), vector=unit(np.eye(DIM)[2]))])
    runner = CliRunner()
    store = str(tiny.path)
    res = runner.invoke(app, ["filter", "--corpus", "tiny", "--no-round-trip", "--store", store],
                        env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    assert "too_short" in res.output and "exact_duplicate" in res.output
    res = runner.invoke(app, ["filter", "--corpus", "tiny", "--no-round-trip", "--json",
                              "--store", store])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["status"] == {"ok": 1, "filtered": 1, "duplicate": 1, "empty": 0}
    res = runner.invoke(app, ["diversity", "--corpus", "tiny", "--where", "status = 'ok'",
                              "--store", store], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    assert "self-BLEU" in res.output and "Vendi" in res.output
    res = runner.invoke(app, ["diversity", "--corpus", "tiny", "--json", "--store", store])
    assert json.loads(res.output)["n"] == 3
    res = runner.invoke(app, ["filter", "--corpus", "tiny", "--scope", "world", "--store",
                              store])
    assert isinstance(res.exception, AugplanError)
