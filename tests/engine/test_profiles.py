"""Cost profiles: measuring an augmenter (SmolLM2, llama.cpp, 4 SciFact passages), the default
corpus of a benchmark (the store's), the store's profiles table, the planner's TOML format both
ways, and the CLI commands."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine import catalogue, profiles
from engine.profiles import AugmenterProfile, TrainingProfile
from store import AugplanError, Store
from store import corpus as corpus_io

SMOL = "smollm2-135m"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, data_dir: Path):
    """(store, profile) after one measurement of SmolLM2 on 4 passages."""
    store = Store(tmp_path_factory.mktemp("profiles") / "store")
    profile = profiles.measure_augmenter(SMOL, passages=4, store=store, models_dir=models_dir,
                                         data_dir=data_dir)
    return store, profile


def _aug(**kw) -> AugmenterProfile:
    base = AugmenterProfile(
        augmenter="qwen2.5-0.5b", strategy="inpars", backend="llama.cpp", device="Test CPU",
        threads=2, prompt_tokens_per_s=315.5, gen_tokens_per_s=60.25, queries_per_s=0.5,
        queries_per_hour=1800.0, peak_rss_mb=730.0, peak_gpu_mb=None, passages=32,
        measured_at="2026-11-27T08:00:00+00:00", params={"max_tokens": 48, "form": "completion"},
        model_params=494_032_768,
    )
    return dataclasses.replace(base, **kw)


def _import_jsonl(store: Store, root: Path, name: str, n: int) -> None:
    """Write an ``n``-passage jsonl corpus under ``root`` and import it into ``store``."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.jsonl"
    rows = [{"_id": f"{name}-{i}", "title": f"Note {i}",
             "text": f"Passage {i} of {name}: sea otters use stones to open shellfish."}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store.import_corpus(name, corpus_io.detect(path))


# ------------------------------------------------------------------------------ measuring


def test_measure_augmenter_fields(measured) -> None:
    _, p = measured
    assert (p.augmenter, p.strategy, p.backend, p.passages) == (SMOL, "inpars", "llama.cpp", 4)
    assert p.device and p.device == profiles.cpu_name() and p.threads > 0
    for name in ("prompt_tokens_per_s", "gen_tokens_per_s", "queries_per_s",
                 "queries_per_hour", "peak_rss_mb"):
        assert getattr(p, name) > 0, name
    assert p.queries_per_hour == pytest.approx(p.queries_per_s * 3600, rel=1e-3)
    assert p.peak_gpu_mb is None and p.peak_memory_mb == p.peak_rss_mb
    assert p.model_params == catalogue.get_entry(SMOL).params
    s = p.params
    assert s["prompt_tokens"] > 4 * 100 and s["gen_tokens"] > 0 and s["max_tokens"] == 48
    assert s["model_sha256"] == catalogue.get_entry(SMOL).sha256
    assert s["corpus"] == "scifact"  # the store holds no corpus: SciFact from the data folder
    # the batched backend decodes a passage's prompt once for all its queries: the profile
    # says how much of a query's time that prompt is
    assert s["shares_passage_prompt"] is True
    # (two timed passes on a shared machine: the prompt pass alone may come out as slow as
    # the full one, which the share caps below 1)
    ratio = s["prompt_seconds"] / s["generate_seconds"]
    assert p.prompt_share == pytest.approx(min(ratio, 0.99))
    assert 0 < p.prompt_share < 1
    assert p.measured_at.endswith("+00:00")


def test_prompt_share_only_where_the_backend_shares_the_prompt() -> None:
    timed = {"prompt_seconds": 3.0, "generate_seconds": 4.0}
    assert _aug(params={**timed, "shares_passage_prompt": True}).prompt_share == 0.75
    assert _aug(params={**timed, "shares_passage_prompt": False}).prompt_share == 0.0
    assert _aug(params={**timed, "n_parallel": 4}).prompt_share == 0.75  # batched llama.cpp
    assert _aug(params={**timed, "batch_size": 8}, backend="transformers").prompt_share == 0.0
    assert _aug(params={"shares_passage_prompt": True}).prompt_share == 0.0  # not timed


def test_bench_corpus_rule(tmp_path: Path) -> None:
    """The store's corpus, the one with the most passages of several (ties by name); else
    SciFact."""
    store = Store(tmp_path / "store")
    assert profiles.bench_corpus(None) == profiles.bench_corpus(store) == "scifact"
    _import_jsonl(store, tmp_path / "c", "zeta", 3)
    assert profiles.bench_corpus(store) == "zeta"
    _import_jsonl(store, tmp_path / "c", "alpha", 2)
    assert profiles.bench_corpus(store) == "zeta"  # the most passages
    _import_jsonl(store, tmp_path / "c", "beta", 3)
    assert profiles.bench_corpus(store) == "beta"  # a tie: by name


def test_measure_defaults_to_the_store_corpus(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``corpus``, a store holding only another corpus is measured on that one, and
    SciFact is never looked for on disk."""
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("AUGPLAN_DATA_DIR", str(empty))
    store = Store(tmp_path / "store")
    _import_jsonl(store, tmp_path / "corpus", "otters", 10)
    p = profiles.measure_augmenter(SMOL, passages=2, store=store, models_dir=models_dir)
    assert p.params["corpus"] == "otters" and p.passages == 2
    assert p.queries_per_s > 0
    assert profiles.stored_profiles(store) == [p]


def test_store_round_trip(measured) -> None:
    store, p = measured
    assert profiles.stored_profiles(store) == [p]
    assert profiles.stored_profiles(store, kind="augmenter", name=SMOL, device=p.device) == [p]
    assert profiles.stored_profiles(store, device="no such device") == []
    assert profiles.save_profile(store, p) is False  # the same profile is kept once
    assert len(store.profiles()) == 1
    row = store.profiles()[0]
    assert row["kind"] == "augmenter" and row["source"] == "measured"


def test_toml_export_import_round_trip(measured, tmp_path: Path) -> None:
    store, p = measured
    train = TrainingProfile("minilm-l6", p.device, 3.5, 12600.0, 32, 256,
                            "2026-11-27T08:00:00+00:00")
    profiles.save_profile(store, train)
    path = tmp_path / "profiles.toml"
    assert profiles.export_profiles(store, path) == 2
    text = path.read_text()
    assert f"[augmenters.{SMOL}]" in text and "[training.minilm-l6]" in text
    for key in ("queries_per_hour", "device", "params", "strategy", "backend",
                "prompt_tokens_per_s", "gen_tokens_per_s", "peak_memory_mb", "measured_at"):
        assert f"\n{key} = " in text, key

    fresh = Store(tmp_path / "fresh")
    got = profiles.import_profiles(fresh, path)
    assert got.augmenters == [p] and got.training == [train]
    assert got.augmenters[0].source == str(path)
    assert sorted(profiles.stored_profiles(fresh), key=lambda x: x.kind) == [p, train]
    profiles.import_profiles(fresh, path)  # importing again adds nothing
    assert len(fresh.profiles()) == 2
    assert profiles.export_profiles(fresh, tmp_path / "again.toml", device=p.device) == 2
    assert profiles.read_profiles(tmp_path / "again.toml").augmenters == [p]
    with pytest.raises(AugplanError, match="no profiles in the store for device 'GPU X'"):
        profiles.export_profiles(fresh, tmp_path / "none.toml", device="GPU X")


def test_export_keeps_the_latest_profile_per_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    old, new = _aug(queries_per_hour=100.0), _aug(queries_per_hour=200.0,
                                                  measured_at="2026-11-28T08:00:00+00:00")
    profiles.save_profile(store, new)
    profiles.save_profile(store, old)
    profiles.export_profiles(store, tmp_path / "p.toml")
    assert profiles.read_profiles(tmp_path / "p.toml").augmenters == [new]


# ------------------------------------------------------------------------------ TOML


def test_planner_format_minimal_and_single_training_table(tmp_path: Path) -> None:
    path = tmp_path / "planner.toml"
    path.write_text(
        '[augmenters."qwen2.5-1.5b"]\nqueries_per_hour = 900\ndevice = "H100"\nparams = 1.5\n'
        'peak_memory_mb = 4000\nmeasured_at = 2026-11-01T10:00:00Z\n\n'
        "[training]\npairs_per_hour = 50000.0\n"
    )
    got = profiles.read_profiles(path)
    (a,) = got.augmenters
    assert a.augmenter == "qwen2.5-1.5b" and a.queries_per_hour == 900.0
    assert a.model_params == 1_500_000_000 and a.queries_per_s == pytest.approx(0.25)
    assert a.peak_rss_mb == 4000.0 and a.measured_at.startswith("2026-11-01T10:00:00")
    (t,) = got.training
    assert t.retriever == "default" and t.pairs_per_hour == 50000.0
    assert t.pairs_per_s == pytest.approx(50000 / 3600)


def test_device_is_optional(tmp_path: Path) -> None:
    """A profiles file need not say where it was measured; the plan says so."""
    from engine.planning import cost_model

    path = tmp_path / "p.toml"
    path.write_text("[augmenters.x]\nqueries_per_hour = 10\n\n[training]\npairs_per_hour = 5\n")
    got = profiles.read_profiles(path)
    assert [p.device for p in got] == ["", ""]
    inputs = cost_model(list(got), "default")
    assert inputs.devices == [] and inputs.sources["x"] == f"device not given ({path})"
    assert inputs.model.hours("x", 10) == pytest.approx(1 + 2)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[augmenters.x\nqueries_per_hour = 1", r"bad\.toml: not valid TOML"),
        ('[augmenters.x]\ndevice = "cpu"\n',
         r"bad\.toml: \[augmenters\.x\] missing field 'queries_per_hour'"),
        ('[augmenters.x]\nqueries_per_hour = "fast"\ndevice = "cpu"\n',
         r"bad\.toml: \[augmenters\.x\] field 'queries_per_hour' must be int or float"),
        ('[augmenters.x]\nqueries_per_hour = -1\ndevice = "cpu"\n',
         r"field 'queries_per_hour' must be >= 0"),
        ('[augmenters.x]\nqueries_per_hour = 0\ndevice = "cpu"\n',
         r"field 'queries_per_hour' must be > 0"),
        ('[augmenters.x]\nqueries_per_hour = 1\ndevice = "cpu"\nspeed = 2\n',
         r"\[augmenters\.x\] unknown field\(s\) speed"),
        ("[training.r]\nbatch_size = 32\n", r"\[training\.r\] missing field 'pairs_per_hour'"),
        ("[training]\npairs_per_hour = true\n", r"\[training\] field 'pairs_per_hour' must be"),
        ("[retrievers.r]\nx = 1\n", r"bad\.toml: unknown top-level table\(s\) retrievers"),
        ("", r"bad\.toml: no \[augmenters\.NAME\] or \[training\] tables"),
    ],
)
def test_malformed_toml_names_file_and_field(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    store = Store(tmp_path / "s")
    with pytest.raises(AugplanError, match=pattern):
        profiles.import_profiles(store, path)
    assert store.profiles() == []  # nothing half-written


def test_missing_file_and_reference_profiles(tmp_path: Path) -> None:
    with pytest.raises(AugplanError, match="absent.toml: no such file"):
        profiles.read_profiles(tmp_path / "absent.toml")
    names = profiles.reference_profiles()
    assert names
    for name in names:
        ref = profiles.load_reference(name)
        assert len(ref) > 0
        assert all(p.source == f"reference:{name}" for p in ref)
        assert all(p.queries_per_hour > 0 and p.device for p in ref.augmenters)
    assert len(profiles.read_profiles(names[0])) == len(profiles.load_reference(names[0]))
    with pytest.raises(AugplanError, match="no reference profile 'nope'"):
        profiles.load_reference("nope")


def test_dumps_omits_unknowns() -> None:
    text = profiles.dumps_profiles([_aug(model_params=None, params={"x": None, "y": 1})],
                                   header="two\nlines")
    assert text.startswith("# two\n# lines\n\n")
    assert "\nparams = " not in text and "peak_gpu_mb" not in text and "x = " not in text
    gpu = _aug(peak_gpu_mb=1234.5)
    assert gpu.peak_memory_mb == 1234.5
    back = profiles.parse_profiles(profiles.dumps_profiles([gpu]), "mem.toml").augmenters[0]
    assert back == gpu
    assert dataclasses.replace(back, source="x") == gpu  # the source does not count


# ------------------------------------------------------------------------------ CLI


def test_cli_profiles_commands(tmp_path: Path) -> None:
    from tui.cli import app

    store = str(tmp_path / "store")
    src = tmp_path / "in.toml"
    src.write_text(profiles.dumps_profiles([_aug()]))
    runner = CliRunner()
    res = runner.invoke(app, ["profiles", "import", str(src), "--store", store])
    assert res.exit_code == 0, res.output
    assert "1 augmenter and 0 training profile(s) imported" in res.output
    res = runner.invoke(app, ["profiles", "list", "--store", store])
    assert res.exit_code == 0 and "qwen2.5-0.5b" in res.output and "1,800" in res.output
    dest = tmp_path / "out.toml"
    res = runner.invoke(app, ["profiles", "export", str(dest), "--device", "Test CPU",
                              "--store", store])
    assert res.exit_code == 0, res.output
    assert profiles.read_profiles(dest).augmenters == [_aug()]
    res = runner.invoke(app, ["profiles", "import", str(tmp_path / "no.toml"), "--store", store])
    assert isinstance(res.exception, AugplanError)
    res = runner.invoke(app, ["bench", "--help"])
    assert res.exit_code == 0 and "--augmenter" in res.output
