"""Benchmark: what one pilot point costs, where the time goes, and how far nano evaluation and
bf16 can be trusted.

For each retriever, on the same n synthetic SciFact pairs (``--augmenter``, taken as a pilot
takes them, generated first if the store lacks them):

* seconds to load a fresh model, to train on n pairs, and to evaluate on scifact:test in full
  (every passage) and nano mode, split into pool, passage encoding, query encoding, search and
  metrics;
* bf16 against float32 evaluation (transformer retrievers, on the nano pool): seconds and the
  nDCG@10 difference (target: within 0.002);
* nano against full evaluation over a grid of pilot points of the static retriever (scales
  0 .. n, two seeds): Spearman and Kendall correlation of the two rankings of the points.

With ``--precision-ab``, only a side-by-side of one MiniLM point (training on the n pairs and
nano evaluation) in float32, the settings of a machine without a faster bf16, against the
precision this machine's calibration picks (``auto``), in one run: seconds of each, their ratio
and the nDCG@10 difference (goal: half the time, within 0.002). ``--pairs human`` takes the
corpus' own train pairs (SciFact has 919) instead of generating n queries.

    .venv/bin/python bench/pilot.py [--n 1000] [--augmenter smollm2-135m]
        [--retrievers static-minilm minilm-l6] [--store DIR]
    .venv/bin/python bench/pilot.py --precision-ab --pairs human [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import retrievers
from engine.datasets import locate
from engine.evaluate import Evaluator, load_eval_set
from engine.pilot import (
    PilotRequest,
    TrainConfig,
    device_name,
    human_pairs,
    select_pairs,
    train,
)
from store import Store
from store import corpus as corpus_io


def _stages(ev: Evaluator) -> dict[str, float]:
    return {k: round(v, 2) for k, v in ev.last_timings.items()}


def point_cost(name: str, pairs: list[tuple[str, str]], full: Evaluator, nano: Evaluator,
               fp32: Evaluator | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = retrievers.load(name)
    load_s = time.perf_counter() - t0
    config = TrainConfig().resolved(name)
    train_s = train(model, pairs, config, seed=0)
    m_full, full_s = full.evaluate(model)
    full_stages = _stages(full)
    m_nano, nano_s = nano.evaluate(model)
    nano_stages = _stages(nano)
    out: dict[str, Any] = {
        "retriever": name, "pairs": len(pairs), "precision": config["precision"],
        "load_s": round(load_s, 2), "train_s": round(train_s, 2),
        "pairs_per_s": round(len(pairs) / train_s, 2),
        "eval_full_s": round(full_s, 2), "eval_full_stages": full_stages,
        "eval_nano_s": round(nano_s, 2), "eval_nano_stages": nano_stages,
        "ndcg_full": round(m_full["ndcg@10"], 4), "ndcg_nano": round(m_nano["ndcg@10"], 4),
        "point_full_s": round(load_s + train_s + full_s, 2),
        "point_nano_s": round(load_s + train_s + nano_s, 2),
    }
    if fp32 is not None and config["precision"] == "bf16":
        m32, s32 = fp32.evaluate(model)
        out.update(eval_nano_fp32_s=round(s32, 2), ndcg_nano_fp32=round(m32["ndcg@10"], 4),
                   bf16_minus_fp32=round(m_nano["ndcg@10"] - m32["ndcg@10"], 5))
    return out


def agreement(pairs: list[tuple[str, str]], full: Evaluator, nano: Evaluator,
              n: int) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    name = "static-minilm"
    config = TrainConfig().resolved(name)
    grid = [(0, 0)] + [(s, seed) for s in sorted({n // 8, n // 4, n // 2, n}) for seed in (0, 1)]
    rows = []
    for scale, seed in grid:
        model = retrievers.load(name)
        if scale:
            train(model, pairs[:scale], config, seed=seed)
        m_full, _ = full.evaluate(model)
        m_nano, _ = nano.evaluate(model)
        rows.append({"scale": scale, "seed": seed, "full": round(m_full["ndcg@10"], 4),
                     "nano": round(m_nano["ndcg@10"], 4)})
        print(f"  {name} n={scale:<5d} seed={seed}: full {m_full['ndcg@10']:.4f}  "
              f"nano {m_nano['ndcg@10']:.4f}", flush=True)
    f = [r["full"] for r in rows]
    g = [r["nano"] for r in rows]
    return {"retriever": name, "points": rows,
            "spearman": round(float(spearmanr(f, g).statistic), 3),
            "kendall": round(float(kendalltau(f, g).statistic), 3)}


def precision_ab(name: str, pairs: list[tuple[str, str]], evalset: Any,
                 nano_k: int) -> dict[str, Any]:
    """One point of ``name`` (load, train on ``pairs`` with seed 0, nano evaluation) in float32
    and in the precision ``auto`` resolves to here, each after an untimed warm-up training;
    each side's evaluator builds its nano pool untimed, as a pilot builds it once."""
    from engine.device import calibrate_cpu

    sides = {}
    for label in ("fp32", "auto"):
        config = TrainConfig(precision=label).resolved(name)
        train(retrievers.load(name), pairs[:64], config, seed=1)  # warm-up, not timed
        ev = Evaluator(evalset, mode="nano", nano_k=nano_k, precision=label)
        t0 = time.perf_counter()
        model = retrievers.load(name)
        load_s = time.perf_counter() - t0
        train_s = train(model, pairs, config, seed=0)
        metrics, eval_s = ev.evaluate(model)  # the nano pool's set-up is not in eval_s
        sides[label] = {"precision": config["precision"], "load_s": round(load_s, 2),
                        "train_s": round(train_s, 2), "eval_nano_s": round(eval_s, 2),
                        "point_s": round(load_s + train_s + eval_s, 2),
                        "ndcg_nano": round(metrics["ndcg@10"], 4)}
        print(f"  {name} {label} ({config['precision']}): train {train_s:.1f} s, nano eval "
              f"{eval_s:.1f} s, point {sides[label]['point_s']} s, nDCG@10 "
              f"{metrics['ndcg@10']:.4f}", flush=True)
    return {"retriever": name, "pairs": len(pairs), "calibration": calibrate_cpu(),
            **sides, "speedup": round(sides["fp32"]["point_s"] / sides["auto"]["point_s"], 3),
            "ndcg_auto_minus_fp32": round(sides["auto"]["ndcg_nano"]
                                          - sides["fp32"]["ndcg_nano"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--augmenter", default="smollm2-135m")
    ap.add_argument("--retrievers", nargs="+", default=["static-minilm", "minilm-l6"])
    ap.add_argument("--nano-k", type=int, default=10)
    ap.add_argument("--no-agreement", action="store_true")
    ap.add_argument("--store", default=None, help="store folder (default: the augplan store)")
    ap.add_argument("--precision-ab", action="store_true",
                    help="only float32 against this machine's auto precision, one MiniLM point")
    ap.add_argument("--pairs", choices=("augmenter", "human"), default="augmenter",
                    help="the n pairs: generated by --augmenter, or the corpus' own train pairs")
    ap.add_argument("--out", default=None, help="also write the JSON result to this file")
    ap.add_argument("--data-dir", default=os.environ.get("AUGPLAN_DATA_DIR")
                    or str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()

    store = Store(args.store)
    if store.corpus_info("scifact", missing_ok=True) is None:
        store.import_corpus("scifact",
                            corpus_io.detect(locate("scifact", args.data_dir)))
    t0 = time.perf_counter()
    if args.pairs == "human":
        pairs = human_pairs(store, "scifact", "train")[:args.n]
        print(f"{len(pairs)} of SciFact's own train pairs")
    else:
        request = PilotRequest(corpus="scifact", retriever="static-minilm",
                               augmenters=(args.augmenter,), scales=(args.n,))
        pairs, _, generated = select_pairs(store, request, args.augmenter, args.n,
                                           on_event=lambda m: print("  " + m, flush=True))
        print(f"{len(pairs)} pairs ({generated} generated now, {time.perf_counter() - t0:.0f} s)")
    evalset = load_eval_set(store, "scifact:test")
    if args.precision_ab:
        ab = {"device": device_name(), "threads": os.cpu_count(), "pairs_from": args.pairs,
              **precision_ab("minilm-l6", pairs, evalset, args.nano_k)}
        print(f"\n== minilm-l6, {len(pairs)} pairs: auto ({ab['auto']['precision']}) point "
              f"{ab['auto']['point_s']} s vs float32 {ab['fp32']['point_s']} s: "
              f"{ab['speedup']:.2f}x (goal 2x); nDCG@10 auto - fp32 = "
              f"{ab['ndcg_auto_minus_fp32']:+.4f} (goal within 0.002)")
        _write(ab, args.out)
        return
    full = Evaluator(evalset, mode="full")
    nano = Evaluator(evalset, mode="nano", nano_k=args.nano_k)
    # float32 on the nano pool: a full float32 pass of MiniLM takes ~6 min on 2 cores.
    fp32 = Evaluator(evalset, mode="nano", nano_k=args.nano_k, precision="fp32")
    result: dict[str, Any] = {"device": device_name(), "threads": os.cpu_count(),
                              "n": args.n, "augmenter": args.augmenter, "points": []}
    for name in args.retrievers:
        r = point_cost(name, pairs, full, nano, fp32 if name != "static-minilm" else None)
        result["points"].append(r)
        print(f"\n== {name}, n={args.n}: load {r['load_s']} s, train {r['train_s']} s "
              f"({r['pairs_per_s']} pairs/s, {r['precision']}), eval full {r['eval_full_s']} s, "
              f"nano {r['eval_nano_s']} s -> one point {r['point_full_s']} s full, "
              f"{r['point_nano_s']} s nano")
        print(f"   full eval stages: {r['eval_full_stages']}")
        print(f"   nano eval stages: {r['eval_nano_stages']}")
        print(f"   nDCG@10 full {r['ndcg_full']}, nano {r['ndcg_nano']}")
        if "ndcg_nano_fp32" in r:
            print(f"   nano eval in float32 {r['eval_nano_fp32_s']} s, nDCG@10 "
                  f"{r['ndcg_nano_fp32']}: bf16 - fp32 = {r['bf16_minus_fp32']:+.5f} (target "
                  f"within 0.002), {r['eval_nano_fp32_s'] / r['eval_nano_s']:.2f}x the bf16 time")
    if not args.no_agreement:
        print("\nnano vs full over a grid of static-retriever points:")
        a = agreement(pairs, full, nano, args.n)
        result["agreement"] = a
        print(f"   Spearman {a['spearman']}, Kendall {a['kendall']} over {len(a['points'])} "
              "points")
    _write(result, args.out)


def _write(result: dict[str, Any], out: str | None) -> None:
    print(json.dumps(result))
    if out:
        Path(out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
