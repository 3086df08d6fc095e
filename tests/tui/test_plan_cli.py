"""``augplan plan`` from files (CSV + TOML): JSON and table output, backtest, plots, and clear
errors for bad inputs. The store route and ``augplan run`` are tested on a real pilot in
tests/engine/test_pilot.py."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import PROFILES, make_env, ok, run, user_error


def _write_pilots(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["augmenter", "scale", "seed", "metric", "retriever", "strategy",
                    "eval_set"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, models_dir: Path):
    root = tmp_path_factory.mktemp("plan")
    rng = np.random.default_rng(0)
    rows = []
    for aug, gain, tau in (("smollm2-135m", 0.05, 600), ("qwen2.5-0.5b", 0.06, 800)):
        for s in (0, 250, 500, 1000, 2000):
            for seed in (0, 1):
                m = 0.40 + gain * (1 - math.exp(-s / tau)) + rng.normal(0, 0.003)
                rows.append([aug, s, seed, round(float(m), 4), "static-minilm", "inpars",
                             "scifact:test"])
    pilots = _write_pilots(root / "pilots.csv", rows)
    profiles = root / "profiles.toml"
    profiles.write_text(PROFILES)
    env = make_env(root / "store", models_dir, COLUMNS="160")
    return root, pilots, profiles, env


def test_plan_json_from_files(files) -> None:
    root, pilots, profiles, env = files
    doc = json.loads(ok(run(["plan", "--pilots", str(pilots), "--profiles", str(profiles),
                             "--budget-gpu-hours", "0.05", "--format", "json",
                             "--bootstrap", "300", "-o", str(root / "plan.json")], env)))
    for key in ("augmenter", "strategy", "scale", "predicted_metric", "ci_low", "ci_high",
                "cost_gpu_hours", "saturation_scale", "marginal_gain_per_gpu_hour",
                "alternatives", "warnings", "next_pilot"):
        assert key in doc, key
    assert doc["augmenter"] in ("smollm2-135m", "qwen2.5-0.5b")
    assert 0 < doc["scale"] <= 8000
    assert doc["ci_low"] <= doc["predicted_metric"] <= doc["ci_high"]
    assert doc["cost_gpu_hours"] <= 0.05
    saved = json.loads((root / "plan.json").read_text())
    assert saved["scale"] == doc["scale"] and saved["augmenter"] == doc["augmenter"]


def test_plan_prices_queries_per_passage(files) -> None:
    """--per-passage K prices K queries of a passage with its prompt paid once, where the
    profile's backend shares it (here 80% of a query's time is its prompt): the same budget
    buys more queries, and the plan carries K for `augplan run`."""
    root, pilots, _, env = files
    shared = root / "shared.toml"
    shared.write_text(PROFILES.replace(
        "params = 134515008\n", "params = 134515008\n\n[augmenters.smollm2-135m.settings]\n"
        "shares_passage_prompt = true\nprompt_seconds = 8.0\ngenerate_seconds = 10.0\n"))
    docs = {}
    for k in (1, 3):
        docs[k] = json.loads(ok(run(["plan", "--pilots", str(pilots), "--profiles", str(shared),
                                     "--augmenters", "smollm2-135m", "--budget-gpu-hours",
                                     "0.01", "--per-passage", str(k), "--format", "json",
                                     "--bootstrap", "100"], env)))
    assert docs[1]["per_passage"] == 1 and docs[3]["per_passage"] == 3
    assert docs[3]["scale"] > docs[1]["scale"]
    msg = user_error(run(["plan", "--pilots", str(pilots), "--profiles", str(shared),
                          "--budget-gpu-hours", "0.01", "--per-passage", "0"], env))
    assert "--per-passage must be at least 1" in msg


def test_plan_chooses_queries_per_passage(files) -> None:
    """Pilots measured at K = 1 and K = 3 queries per passage: each (augmenter, K) is an option
    with its own curve and price, and the plan recommends K with n. When K = 3 trains as well
    per query and costs less, it wins; when its queries are worth less, K = 1 wins. Naming K
    plans on the pilots measured at it; a bad per_passage cell names its line."""
    root, _, _, env = files
    shared = root / "shared3.toml"
    shared.write_text(PROFILES.replace(
        "params = 134515008\n", "params = 134515008\n\n[augmenters.smollm2-135m.settings]\n"
        "shares_passage_prompt = true\nprompt_seconds = 8.0\ngenerate_seconds = 10.0\n"))

    def pilots(name: str, gain3: float, zero3: bool = True) -> Path:
        """K=1 and K=3 curves; without ``zero3`` the zero-shot rows are given at K=1 only."""
        rows = []
        for k, gain in ((1, 0.06), (3, gain3)):
            for s in (0, 250, 500, 1000, 2000)[0 if zero3 or k == 1 else 1:]:
                for seed in (0, 1):
                    m = 0.40 + gain * (1 - math.exp(-s / 700)) + 0.001 * seed
                    rows.append(["smollm2-135m", s, seed, round(m, 4), "static-minilm",
                                 "inpars", "scifact:dev", k])
        path = root / name
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["augmenter", "scale", "seed", "metric", "retriever", "strategy",
                        "eval_set", "per_passage"])
            w.writerows(rows)
        return path

    base = ["--profiles", str(shared), "--budget-gpu-hours", "0.01", "--bootstrap", "100"]
    same = pilots("k-same.csv", 0.06, zero3=False)
    doc = json.loads(ok(run(["plan", "--pilots", str(same), *base, "--format", "json"], env)))
    assert doc["augmenter"] == "smollm2-135m" and doc["per_passage"] == 3
    curves = {c["augmenter"]: c for c in doc["curves"]}
    assert set(curves) == {"smollm2-135m", "smollm2-135m x3"}
    assert curves["smollm2-135m x3"]["pilot_scales"][0] == 0  # the K=1 zero-shot rows serve it
    three = json.loads(ok(run(["plan", "--pilots", str(same), *base, "--per-passage", "3",
                               "--format", "json"], env)))
    assert three["per_passage"] == 3 and three["curves"][0]["pilot_scales"][0] == 0
    one = json.loads(ok(run(["plan", "--pilots", str(same), *base, "--per-passage", "1",
                             "--format", "json"], env)))
    assert one["per_passage"] == 1 and one["scale"] < doc["scale"]
    assert {c["augmenter"] for c in one["curves"]} == {"smollm2-135m"}
    worse = json.loads(ok(run(["plan", "--pilots", str(pilots("k-worse.csv", 0.01)), *base,
                               "--format", "json"], env)))
    assert worse["per_passage"] == 1 and worse["augmenter"] == "smollm2-135m"
    table = ok(run(["plan", "--pilots", str(same), *base], env))
    assert "chosen among the 1, 3 the pilots measured" in table
    bad = root / "k-bad.csv"
    bad.write_text(same.read_text().replace(",3\n", ",0\n", 1))
    msg = user_error(run(["plan", "--pilots", str(bad), *base], env))
    assert "per_passage '0' is not a whole number >= 1" in msg and "k-bad.csv:" in msg


def test_plan_table_plot_and_terminal_plot(files) -> None:
    root, pilots, profiles, env = files
    png = root / "plan.png"
    text = ok(run(["plan", "--pilots", str(pilots), "--profiles", str(profiles),
                   "--budget-gpu-hours", "0.05", "--bootstrap", "200", "--plot", str(png),
                   "--terminal-plot", "--price-per-hour", "3.5"], env))
    assert "recommendation" in text and "pilot curves" in text
    assert "at the given price" in text
    assert "log10(n)" in text  # the terminal plot
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_backtest_from_files(files) -> None:
    _, pilots, _, env = files
    doc = json.loads(ok(run(["plan", "backtest", "--pilots", str(pilots), "--fit-max-scale",
                             "1000", "--format", "json", "--bootstrap", "200"], env)))
    assert {r["scale"] for r in doc["rows"]} == {2000}
    assert {r["augmenter"] for r in doc["rows"]} == {"smollm2-135m", "qwen2.5-0.5b"}
    assert doc["mean_abs_error"] < 0.02
    table = ok(run(["plan", "backtest", "--pilots", str(pilots), "--bootstrap", "100"], env))
    assert "median absolute error" in table and "coverage" in table


def test_bad_inputs(files) -> None:
    root, pilots, profiles, env = files
    base = ["plan", "--profiles", str(profiles), "--budget-gpu-hours", "1"]
    empty = root / "empty.csv"
    empty.write_text("")
    assert "empty file" in user_error(run([*base, "--pilots", str(empty)], env))
    cols = root / "cols.csv"
    cols.write_text("augmenter,n,metric\nx,1,0.5\n")
    assert "cols.csv:1: missing column(s) scale" in user_error(
        run([*base, "--pilots", str(cols)], env))
    neg = _write_pilots(root / "neg.csv", [["a", 100, 0, 0.5, "", "", ""],
                                           ["a", -5, 0, 0.5, "", "", ""]])
    assert "neg.csv:3: scale '-5'" in user_error(run([*base, "--pilots", str(neg)], env))
    assert "buys no configuration" in user_error(run(
        ["plan", "--pilots", str(pilots), "--profiles", str(profiles), "--budget-gpu-hours",
         "0.00001"], env))
    assert "--profiles" in user_error(run(["plan", "--pilots", str(pilots),
                                           "--budget-gpu-hours", "1"], env))
    assert "--budget-gpu-hours is required" in user_error(run(
        ["plan", "--pilots", str(pilots), "--profiles", str(profiles)], env))
    assert "--corpus" in user_error(run(["plan", "--budget-gpu-hours", "1"], env))
    assert "no pilot points" in user_error(run(
        [*base, "--pilots", str(pilots), "--eval", "nosuch:test"], env))
    assert "--retriever 'x'" in user_error(run(
        [*base, "--pilots", str(pilots), "--retriever", "x"], env))
    bad_toml = root / "bad.toml"
    bad_toml.write_text("[augmenters.a]\nqueries_per_hour = 'fast'\n")
    assert "bad.toml" in user_error(run(["plan", "--pilots", str(pilots), "--profiles",
                                         str(bad_toml), "--budget-gpu-hours", "1"], env))
    assert "no such file" in user_error(run(["run", "--plan", str(root / "none.json")], env))


def test_candidate_augmenters(files) -> None:
    _, pilots, profiles, env = files
    base = ["plan", "--pilots", str(pilots), "--profiles", str(profiles), "--budget-gpu-hours",
            "0.05", "--format", "json", "--bootstrap", "0"]
    doc = json.loads(ok(run([*base, "--augmenters", "qwen2.5-0.5b"], env)))
    assert doc["augmenter"] == "qwen2.5-0.5b" and doc["alternatives"] == []
    assert [c["augmenter"] for c in doc["curves"]] == ["qwen2.5-0.5b"]
    assert "no pilot points for gemma3-270m" in user_error(run(
        [*base, "--augmenters", "gemma3-270m"], env))
