"""bench/outcome_doc.py's summary: the regret, its standard error from the seeds, and the budgets
the autopilot reported (the one that pilots every candidate, the one a refusal names), read
from the report's fields."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(corpus: str, auto: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    return {"corpus": corpus, "retriever": "static-minilm", "budget_hours": 0.5,
            "best": "smallest", "arms": {"autopilot": auto, "smallest": best}}


def test_summary_reads_the_reported_budgets_and_the_regret_noise() -> None:
    outcome = _bench("outcome_doc")
    best = {"augmenter": "smollm2-135m", "n": 1500, "test": [0.4655, 0.4715], "regret": 0.0}
    partial = _cell("scifact", {
        "augmenter": "gemma3-270m", "n": 1600, "test": [0.466, 0.474], "regret": 0.0021,
        "warnings": [("the pilot share buys informative pilots of a, b only; not piloted, "
                     "so not chosen: c (wording that may change)")],
        "every_candidate_hours": 0.83}, best)
    refused = _cell("nfcorpus", {"refused": "cannot buy", "hint": "any wording",
                                 "need_hours": 0.36, "augmenter": None, "n": 0}, best)
    behind = _cell("scifact", {"augmenter": "gemma3-270m", "n": 800, "test": [0.423, 0.461],
                               "regret": 0.0266, "warnings": [],
                               "every_candidate_hours": None}, best)
    assert outcome.noise(partial) == pytest.approx(0.005)  # 0.004 and 0.003 in quadrature
    assert outcome.noise(refused) is None
    # more seeds: the sample standard deviation over their square root, not the half-range
    assert outcome.std_error({"test": [0.44, 0.45, 0.46, 0.47]}) == pytest.approx(
        0.012910 / 2, abs=1e-6)
    assert outcome.std_error({"test": [0.44]}) == 0.0
    rows = [line for line in outcome.summary_lines([partial, refused, behind])
            if line.startswith(("| scifact", "| nfcorpus"))]
    assert rows[0] == ("| scifact / static-minilm, 0.5 h | gemma3-270m n=1,600 | smallest: "
                       "smollm2-135m n=1,500 | +0.0021 | 0.0050 | yes | 0.83 h |")
    assert "refused (pilots need 0.36 h)" in rows[1]
    assert rows[2].endswith("| +0.0266 | 0.0192 | no | this budget |")
    text = "\n".join(outcome.summary_lines([partial, refused, behind]))
    assert "In 2 of the 2 cells where the autopilot ran" in text


def test_seed_lists_take_ranges() -> None:
    from store.errors import AugplanError

    outcome = _bench("outcome")
    assert outcome.seed_list("0,1") == (0, 1)
    assert outcome.seed_list("0-3,7") == (0, 1, 2, 3, 7)
    with pytest.raises(AugplanError, match="seeds 'a-b'"):
        outcome.seed_list("a-b")


def test_why_names_the_pilots_cost_when_the_budget_was_spent() -> None:
    """The autopilot chose the best arm's augmenter and spent the budget, but at fewer queries:
    the reason given is what its pilots cost, not the dev curve."""
    doc = _bench("outcome_doc")
    best = {"augmenter": "smollm2-135m", "n": 540, "test": [0.212, 0.213], "regret": 0.0}
    auto = {"augmenter": "smollm2-135m", "n": 455, "test": [0.207, 0.208], "regret": 0.0051,
            "hours": 0.199, "pilot_hours": 0.078, "points": [("smollm2-135m", 128)],
            "predicted_dev": 0.24, "dev": 0.196}
    cell = {**_cell("nfcorpus", auto, best), "budget_hours": 0.2, "pilot_share": 0.5}
    assert doc.why(cell) == [("the best arm is the autopilot's augmenter at 540 queries, with "
                              "the whole budget: the autopilot's pilots took 0.078 h of it, so "
                              "its final run bought 455")]
    cell["arms"]["autopilot"] = {**auto, "hours": 0.1}  # half the budget left unspent
    assert "did not show the gain" in doc.why(cell)[0]


def test_noise_names_the_seeds_and_hours_that_would_resolve_the_goal() -> None:
    """Where the regret's standard error is over 0.003, the page says how many seeds per arm
    would put 0.003 two standard errors from zero, from the cell's own seed-to-seed spread."""
    doc = _bench("outcome_doc")
    best = {"augmenter": "smollm2-135m", "n": 1300, "test": [0.648, 0.666], "regret": 0.0,
            "seconds": 300.0}
    auto = {"augmenter": "gemma3-270m", "n": 512, "test": [0.656, 0.646], "regret": 0.006,
            "seconds": 150.0}
    cell = _cell("scifact", auto, best)
    seeds, sd = doc.seeds_to_resolve(cell)
    # variances 0.000162 and 0.00005 pooled: sd 0.01030; 2 sd^2 / 0.0015^2 = 94.2
    assert sd == pytest.approx(0.010296, abs=1e-6) and seeds == 95
    text = doc.resolution(cell)
    assert "about 95 seeds per arm" in text and "about 12 h of this machine" in text  # 95*450 s
    del cell["arms"]["autopilot"]["seconds"]  # a cell measured before seconds were recorded
    assert "seeds per arm" in doc.resolution(cell) and " h of this machine" not in \
        doc.resolution(cell)
    fine = _cell("scifact", {**auto, "test": [0.6500, 0.6502]}, {**best, "test": [0.66, 0.6604]})
    assert doc.resolution(fine) is None  # standard error under 0.003: nothing to resolve
    refused = _cell("nfcorpus", {"refused": "cannot buy", "need_hours": 0.68, "need_share": 0.34,
                                 "augmenter": None, "n": 0}, best)
    assert doc.seeds_to_resolve(refused) is None
    row = next(line for line in doc.summary_lines([refused]) if line.startswith("| nfcorpus"))
    assert "refused (pilots need 0.68 h or share 0.34)" in row


def test_cells_of_one_budget_and_two_shares_are_told_apart() -> None:
    """Two pilot shares at one corpus, retriever and budget are two cells: both stay in the
    JSON and the page names their shares; a lone cell's name carries no share."""
    outcome, doc = _bench("outcome"), _bench("outcome_doc")
    best = {"augmenter": "smollm2-135m", "n": 730, "test": [0.32], "regret": 0.0}
    low = {**_cell("nfcorpus", {"refused": "x", "augmenter": None, "n": 0}, best),
           "retriever": "minilm-l6", "pilot_share": 0.25}
    high = {**low, "pilot_share": 0.4}
    other = {**_cell("scifact", best, best), "pilot_share": 0.25}
    cells = outcome.merge([low, other], [high])
    assert [(c["corpus"], c["pilot_share"]) for c in cells] == [
        ("scifact", 0.25), ("nfcorpus", 0.25), ("nfcorpus", 0.4)]
    assert [doc.label(c, cells) for c in cells] == [
        "scifact / static-minilm, 0.5 h", "nfcorpus / minilm-l6, 0.5 h, share 0.25",
        "nfcorpus / minilm-l6, 0.5 h, share 0.4"]
    assert outcome.merge(cells, [{**high}]) == cells  # a rerun of one share replaces it only


def test_the_page_draws_twins_apart_and_leaves_no_stale_plot(tmp_path: Path) -> None:
    """write_doc names a twin cell's plot by its share and removes plots no cell draws (the
    one the cell had before it got a twin)."""
    doc = _bench("outcome_doc")
    arm = {"augmenter": "smollm2-135m", "n": 730, "hours": 0.49, "test": [0.32, 0.33],
           "mean": 0.325, "regret": 0.0}
    cell = {"corpus": "nfcorpus", "retriever": "minilm-l6", "budget_hours": 0.5,
            "pilot_share": 0.25, "augmenters": ["smollm2-135m"], "test_set": "nfcorpus:test",
            "seconds": 10.0, "best": "smallest", "verdict": "v", "command": "python a",
            "arms": {"autopilot": {"refused": "cannot buy", "augmenter": None, "n": 0},
                     "smallest": arm}}
    img = tmp_path / "img"
    img.mkdir()
    (img / "outcome-nfcorpus-minilm-l6-0.5h.png").write_bytes(b"old")
    (img / "other.png").write_bytes(b"not ours")
    doc.write_doc([cell, {**cell, "pilot_share": 0.34, "command": "python b"}],
                  tmp_path / "outcome.md", img, "python b")
    assert sorted(p.name for p in img.iterdir()) == [
        "other.png", "outcome-nfcorpus-minilm-l6-0.5h-share0.25.png",
        "outcome-nfcorpus-minilm-l6-0.5h-share0.34.png"]
    text = (tmp_path / "outcome.md").read_text()
    assert "## nfcorpus / minilm-l6, 0.5 h, share 0.34" in text
    assert "(img/outcome-nfcorpus-minilm-l6-0.5h-share0.25.png)" in text
