"""The command line as a user meets it: the installed ``augplan`` script run as a subprocess.

A user error exits 2 with a one-paragraph message (file:line where there is one) and never a
Python traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from engine import catalogue
from store import Store, schemas
from tests.helpers import make_env, ok, run, user_error

SMOL = "smollm2-135m"
N = 5


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, data_dir: Path):
    """(env, report): a store with SciFact imported and 5 passages generated and embedded."""
    env = make_env(tmp_path_factory.mktemp("cli") / "store", models_dir, data_dir, COLUMNS="200")
    ok(run(["corpus", "import", "scifact"], env))
    report = json.loads(ok(run(["generate", "--corpus", "scifact", "--augmenter", SMOL,
                                "--limit", str(N), "--json"], env)))
    return env, report


# ---------------------------------------------------------------------------------- help


def test_help(tmp_path: Path, models_dir: Path) -> None:
    env = make_env(tmp_path / "s", models_dir, COLUMNS="200")
    text = ok(run(["--help"], env))
    for command in ("models", "corpus", "generate", "embed", "query", "export", "stats", "runs",
                    "demo", "pilot", "pilots", "bench", "profiles", "filter", "diversity",
                    "plan", "run"):
        assert command in text
    plan_help = ok(run(["plan", "--help"], env))
    assert "--budget-gpu-hours" in plan_help and "backtest" in plan_help
    gen_help = ok(run(["generate", "--help"], env))
    assert "--augmenter" in gen_help and "--no-embed" in gen_help
    no_args = run([], env)
    assert "Usage" in no_args.stdout + no_args.stderr
    assert not (tmp_path / "s").exists()  # help touches no store


# -------------------------------------------------------------------------------- models


def test_models_list(tmp_path: Path, models_dir: Path) -> None:
    text = ok(run(["models", "list"], make_env(tmp_path / "s", models_dir, COLUMNS="200")))
    names = list(catalogue.catalogue())
    assert len(names) == 5
    for name in names:
        assert name in text
    smol_line = next(line for line in text.splitlines() if f" {SMOL} " in line)
    assert "yes" in smol_line


def test_models_verify(tmp_path: Path, models_dir: Path) -> None:
    text = ok(run(["models", "verify", SMOL], make_env(tmp_path / "s", models_dir)))
    assert f"{SMOL}: sha256 OK" in text


def test_models_verify_in_an_empty_models_dir(tmp_path: Path) -> None:
    (tmp_path / "empty-models").mkdir()
    env = make_env(tmp_path / "s", tmp_path / "empty-models", HF_HUB_OFFLINE="1")
    message = user_error(run(["models", "verify"], env))
    assert "augplan models pull" in message
    message = user_error(run(["models", "verify", SMOL], env))
    assert f"augplan models pull {SMOL}" in message
    message = user_error(run(["models", "verify", "gpt-17"], env))
    assert "unknown model 'gpt-17'" in message
    assert not any((tmp_path / "empty-models").iterdir())


# -------------------------------------------------------------------------------- corpus


GOOD = [
    '{"_id": "d1", "title": "T", "text": "one"}',
    '{"_id": "d2", "text": "two"}',
    '{"_id": "d3", "text": "three"}',
]
QUERIES = '{"_id": "q1", "text": "a question"}\n'
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\n"


def _beir(root: Path, corpus: bytes, qrels: str = QRELS) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(corpus)
    (root / "queries.jsonl").write_text(QUERIES)
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def _lines(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


MALFORMED = {
    "bad-json": (_lines(*GOOD[:2], '{"_id": "d3", "text": '), QRELS, "corpus.jsonl:3",
                 "invalid JSON"),
    "non-utf8": (_lines(*GOOD) + b'{"_id": "d4", "text": "caf\xe9"}\n', QRELS, "corpus.jsonl:4",
                 "not valid UTF-8"),
    "duplicate-id": (_lines(*GOOD, '{"_id": "d2", "text": "again"}'), QRELS, "corpus.jsonl:4",
                     "duplicate id 'd2' (first at line 2)"),
    "empty-text": (_lines(GOOD[0], '{"_id": "d2", "text": "   "}', GOOD[2]), QRELS,
                   "corpus.jsonl:2", "empty `text`"),
    "unknown-qrels-id": (_lines(*GOOD), QRELS + "q1\tnope\t1\n", "qrels/test.tsv:3",
                         "unknown corpus id 'nope'"),  # with --strict only (see below)
    "bad-qrels-score": (_lines(*GOOD), QRELS + "q1\tnope\tmany\n", "qrels/test.tsv:3",
                        "score 'many' is not an integer"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_corpus_import_malformed(tmp_path: Path, models_dir: Path, case: str) -> None:
    corpus, qrels, where, expected = MALFORMED[case]
    # A deep folder: the file:line must survive a narrow (non-terminal) stderr unbroken.
    root = _beir(tmp_path / "some" / "rather" / "deeply" / "nested" / "dataset" / case, corpus,
                 qrels)
    env = make_env(tmp_path / "store", models_dir)
    strict = ["--strict"] if case == "unknown-qrels-id" else []
    message = user_error(run(["corpus", "import", str(root), *strict], env))
    assert f"{root / where}: {expected}" in message
    assert "nothing was stored" in message
    assert Store(tmp_path / "store").corpora() == []


def test_error_text_is_not_markup(tmp_path: Path, models_dir: Path) -> None:
    """Ids quoted in a message are printed as they are, whatever brackets they hold."""
    path = tmp_path / "odd.jsonl"
    path.write_bytes(_lines('{"_id": "[/x]", "text": "a"}', '{"_id": "[/x]", "text": "b"}',
                            '{"_id": "[bold]y", "text": ""}'))
    env = make_env(tmp_path / "store", models_dir)
    message = user_error(run(["corpus", "import", str(path)], env))
    assert f"{path}:2: duplicate id '[/x]' (first at line 1)" in message
    assert f"{path}:3: empty `text`" in message


def test_corpus_import_list_and_reimport(tmp_path: Path, models_dir: Path) -> None:
    root = _beir(tmp_path / "mini", _lines(*GOOD))
    env = make_env(tmp_path / "store", models_dir, COLUMNS="200")
    text = ok(run(["corpus", "import", str(root)], env))
    assert "corpus 'mini' imported: 3 passages, 1 queries, qrels: test 1" in text
    text = ok(run(["corpus", "import", str(root)], env))
    assert "unchanged" in text
    assert "mini" in ok(run(["corpus", "list"], env))
    # Other content under the same name needs --replace.
    other = _beir(tmp_path / "other", _lines(*GOOD[:2]))
    message = user_error(run(["corpus", "import", str(other), "--name", "mini"], env))
    assert "--replace" in message
    text = ok(run(["corpus", "import", str(other), "--name", "mini", "--replace"], env))
    assert "2 passages" in text
    message = user_error(run(["corpus", "import", str(tmp_path / "nowhere")], env))
    assert "not found" in message


def test_corpus_import_drops_qrels_rows_naming_unknown_ids(tmp_path: Path) -> None:
    """Rows naming a corpus or query id the corpus lacks are dropped and reported by file:line;
    --strict refuses the corpus instead; ``corpus list`` counts what each import dropped."""
    qrels = QRELS + "q1\tnope\t1\nq1\td2\t1\nq1\tgone\t0\n"
    root = _beir(tmp_path / "lossy", _lines(*GOOD), qrels)
    env = make_env(tmp_path / "store", tmp_path / "models", COLUMNS="200")
    message = user_error(run(["corpus", "import", str(root), "--strict"], env))
    assert f"{root / 'qrels/test.tsv'}:3: unknown corpus id 'nope'" in message
    assert f"{root / 'qrels/test.tsv'}:5: unknown corpus id 'gone'" in message
    assert Store(tmp_path / "store").corpora() == []

    text = ok(run(["corpus", "import", str(root)], env))
    assert "corpus 'lossy' imported: 3 passages, 1 queries, qrels: test 2" in text
    assert ("dropped 2 qrels rows naming a query or corpus id the corpus lacks: "
            "qrels/test.tsv:3, qrels/test.tsv:5") in text
    assert Store(tmp_path / "store").qrels("lossy").num_rows == 2
    text = ok(run(["corpus", "import", str(root)], env))
    assert "unchanged" in text and "dropped 2 qrels rows" in text

    ok(run(["corpus", "import", str(_beir(tmp_path / "clean", _lines(*GOOD)))], env))
    text = ok(run(["corpus", "list"], env))
    assert "dropped qrels" in text
    assert _cells(text, "lossy")[5] == "2" and _cells(text, "clean")[5] == "0"
    assert "lossy: dropped 2 qrels rows: qrels/test.tsv:3, qrels/test.tsv:5" in text


def test_corpus_list_on_an_older_store(tmp_path: Path) -> None:
    """A corpus imported before dropped rows were recorded lists 0 dropped qrels."""
    import lancedb

    old = pa.schema([f for f in schemas.CORPORA if f.name != "dropped_qrels"])
    row = {"name": "old", "kind": "beir", "source": "/x", "fingerprint": "f" * 64,
           "n_passages": 3, "n_queries": 1, "qrels": '{"test": 1}', "imported_at": "then"}
    lancedb.connect(str(tmp_path / "store")).create_table(
        "corpora", pa.Table.from_pylist([row], schema=old))
    env = make_env(tmp_path / "store", tmp_path / "models", COLUMNS="200")
    text = ok(run(["corpus", "list"], env))
    assert _cells(text, "old")[5] == "0"
    assert "old: dropped" not in text


def _cells(table: str, name: str) -> list[str]:
    """The cells of the row of ``name`` in a printed table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{table}")


# ------------------------------------------------------------------- unknown corpus names


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--corpus", "nope", "--augmenter", SMOL, "--limit", "1"],
        ["query", "anything", "--corpus", "nope"],
        ["export", "OUT", "--corpus", "nope"],
        ["embed", "--corpus", "nope"],
    ],
    ids=["generate", "query", "export", "embed"],
)
def test_unknown_corpus(tmp_path: Path, models_dir: Path, args: list[str]) -> None:
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    proc = run(args, make_env(tmp_path / "store", models_dir))
    assert "no such corpus" in user_error(proc)
    assert not (tmp_path / "out.jsonl").exists()


# --------------------------------------------------------------- generate, stats, export


def test_generate_report(small) -> None:
    _env, report = small
    assert (report["target"], report["generated"], report["already_present"]) == (N, N, 0)
    assert report["embedded"] >= 1
    assert report["gen_tokens"] > 0


def test_generate_again_is_cached(small) -> None:
    env, _ = small
    text = ok(run(["generate", "--corpus", "scifact", "--augmenter", SMOL, "--limit", str(N)],
                  env))
    assert f"{N} queries requested, 0 generated, {N} already in the store" in text
    assert "0 embedded" in text


def test_stats(small) -> None:
    env, report = small
    text = ok(run(["stats"], env))
    assert "corpus scifact: 5183 passages, 1109 queries" in text
    row = next(line for line in text.splitlines() if SMOL in line)
    cells = [c.strip() for c in row.replace("┃", "│").split("│") if c.strip()]
    assert cells[:4] == ["scifact", SMOL, "inpars", str(N)]
    assert cells[5] == str(report["embedded"])


def test_runs_list(small) -> None:
    env, report = small
    text = ok(run(["runs", "list"], env))
    line = next(line for line in text.splitlines() if report["run_id"] in line)
    assert "finished" in line and f"{N}/{N}" in line


def test_export_jsonl(small, tmp_path: Path) -> None:
    env, report = small
    out = tmp_path / "pairs.jsonl"
    text = ok(run(["export", str(out), "--corpus", "scifact", "--format", "jsonl"], env))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert f"{len(rows)} training pairs written" in text
    assert 1 <= len(rows) <= N
    assert len(rows) == report["embedded"]  # every non-empty query is embedded and exported
    for r in rows:
        assert r["query"].strip()
        assert r["passage"].strip()
        assert r["augmenter"] == SMOL
    message = user_error(run(["export", str(tmp_path / "no" / "x.jsonl"), "--corpus", "scifact"],
                             env))
    assert "does not exist" in message
    message = user_error(run(["export", str(tmp_path / "x.csv"), "--corpus", "scifact",
                              "--format", "csv"], env))
    assert "--format" in message


def test_query(small) -> None:
    env, _ = small
    store = Store(Path(env["AUGPLAN_STORE"]))
    probe = max(store.augmentations(columns=["query"]).column("query").to_pylist(), key=len)
    hits = [json.loads(line) for line in
            ok(run(["query", probe, "--mode", "fts", "--json", "--limit", "3"], env)).splitlines()]
    assert 1 <= len(hits) <= 3
    assert probe in [h["query"] for h in hits]
    assert all(h["text"] for h in hits)
    text = ok(run(["query", probe, "--corpus", "scifact", "--limit", "2"], env))  # hybrid
    assert probe[:40] in text.replace("\n", " ")
    assert "score" in text
    message = user_error(run(["query", probe, "--mode", "fts", "--where", "no_such = 1"], env))
    assert "no_such" in message
    message = user_error(run(["query", probe, "--mode", "nearest"], env))
    assert "--mode" in message


def test_query_output_is_not_markup(tmp_path: Path, models_dir: Path) -> None:
    """A stored query or passage holding brackets is shown as it is."""
    root = _beir(tmp_path / "mini", _lines('{"_id": "d1", "text": "see [/ref] and [b]x"}',
                                           *GOOD[1:]))
    env = make_env(tmp_path / "store", models_dir, COLUMNS="200")
    ok(run(["corpus", "import", str(root)], env))
    store = Store(tmp_path / "store")
    row = {name: None for name in schemas.augmentations(store.dim).names}
    row.update(uid="mini/k1", key="k1", corpus="mini", passage_id="d1", query="zebra [/i] [b]fish",
               status="ok", augmenter=SMOL, strategy="inpars")
    assert store.add_augmentations(pa.Table.from_pylist([row])) == 1
    text = ok(run(["query", "zebra", "--mode", "fts"], env))
    assert "zebra [/i] [b]fish" in text
    assert "see [/ref] and [b]x" in text
