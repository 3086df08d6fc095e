"""Tables and plots of a pilot grid (docs/findings.md is written from them).

Reads the pilot points of a corpus from the store, and for each retriever prints a markdown table
of nDCG@10 per (augmenter, scale) - mean over seeds, seed spread - with the zero-shot and
human-pairs references, draws the curves as PNG, and backtests the planner (fit on n <= 1,000,
predict the larger scales).

    python bench/findings.py --corpus scifact --out docs/img [--store PATH] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.planning import points_from_store, to_points
from planner import PlanOptions, backtest
from store import Store


def _by_retriever(store: Store, corpus: str, mode: str | None) -> dict[str, list]:
    out = {}
    retrievers = sorted({p["retriever"] for p in store.pilots(corpus=corpus)})
    for r in retrievers:
        rows = points_from_store(store, corpus, retriever=r, eval_mode=mode)
        out[r] = (to_points(rows), rows[0]["eval_mode"] if rows else "")
    return out


def table(points: list, retriever: str, mode: str) -> tuple[str, dict]:
    zero = [p.metric for p in points if p.kind == "zero-shot"]
    human = [p.metric for p in points if p.kind == "human"]
    zs = float(np.mean(zero)) if zero else float("nan")
    augs = sorted({p.augmenter for p in points if p.kind == "synthetic"})
    scales = sorted({p.scale for p in points if p.kind == "synthetic"})
    lines = [f"**{retriever}** ({mode} evaluation): zero-shot {zs:.4f}"
             + (f"; trained on the human train pairs {np.mean(human):.4f} "
                f"(seeds: {', '.join(f'{h:.4f}' for h in human)})" if human else ""), "",
             "| augmenter | " + " | ".join(f"n={s:,}" for s in scales) + " |",
             "|---|" + "---|" * len(scales)]
    summary = {"zero_shot": zs, "human": human, "augmenters": {}}
    for a in augs:
        cells, stats = [], {}
        for s in scales:
            v = [p.metric for p in points if p.augmenter == a and p.scale == s
                 and p.kind == "synthetic"]
            if not v:
                cells.append("-")
                continue
            m = float(np.mean(v))
            stats[s] = {"mean": m, "values": v}
            spread = f" ±{(max(v) - min(v)) / 2:.4f}" if len(v) > 1 else ""
            cells.append(f"{m:.4f}{spread} ({m - zs:+.4f})")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
        summary["augmenters"][a] = stats
    lines.append("")
    lines.append("Cells: mean over seeds ± half the seed range (gain over zero-shot).")
    return "\n".join(lines), summary


def plot(points: list, retriever: str, mode: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    zero = [p.metric for p in points if p.kind == "zero-shot"]
    human = [p.metric for p in points if p.kind == "human"]
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    augs = sorted({p.augmenter for p in points if p.kind == "synthetic"})
    for i, a in enumerate(augs):
        pts = [p for p in points if p.augmenter == a and p.kind == "synthetic"]
        scales = sorted({p.scale for p in pts})
        means = [np.mean([p.metric for p in pts if p.scale == s]) for s in scales]
        ax.plot(scales, means, "-o", color=colors[i % 4], label=a, lw=2)
        ax.scatter([p.scale for p in pts], [p.metric for p in pts], color=colors[i % 4], s=12,
                   alpha=0.5)
    if zero:
        ax.axhline(np.mean(zero), color="grey", ls="--", lw=1.2,
                   label=f"zero-shot {np.mean(zero):.3f}")
    if human:
        ax.axhline(np.mean(human), color="black", ls=":", lw=1.2,
                   label=f"human train pairs {np.mean(human):.3f}")
    ax.set_xscale("log")
    ticks = sorted({p.scale for p in points if p.kind == "synthetic"})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("synthetic training pairs n (log scale)")
    ax.set_ylabel("nDCG@10, SciFact test")
    ax.set_title(f"{retriever} ({mode} evaluation): dots = seeds, line = mean", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def costs(store: Store, corpus: str) -> dict:
    """What the grid cost on this machine, from the store: generation rate of each augmenter's
    runs, and per retriever the training rate and evaluation seconds of its pilot points."""
    import polars as pl

    runs = pl.DataFrame(store.runs(corpus=corpus))
    out: dict = {"generation": {}, "pilots": {}}
    if runs.height:
        g = (runs.filter(pl.col("seconds") > 0)
             .with_columns((pl.col("generated") / pl.col("seconds")).alias("qps"))
             .group_by("augmenter")
             .agg(pl.col("generated").sum(), pl.col("qps").min().alias("qps_min"),
                  pl.col("qps").max().alias("qps_max")))
        out["generation"] = {r["augmenter"]: r for r in g.to_dicts()}
    p = pl.DataFrame(store.pilots(corpus=corpus, kind="synthetic"))
    if p.height:
        t = (p.filter(pl.col("train_seconds") > 0)
             .with_columns((pl.col("scale") / pl.col("train_seconds")).alias("pps"))
             .group_by("retriever", "eval_mode")
             .agg(pl.col("pps").min().alias("pairs_per_s_min"),
                  pl.col("pps").max().alias("pairs_per_s_max"),
                  pl.col("eval_seconds").min().alias("eval_s_min"),
                  pl.col("eval_seconds").max().alias("eval_s_max")))
        out["pilots"] = {f"{r['retriever']} ({r['eval_mode']})": r for r in t.to_dicts()}
    for a, r in sorted(out["generation"].items()):
        print(f"generation {a}: {r['generated']:,} queries, {r['qps_min']:.2f}-{r['qps_max']:.2f} "
              "queries/s per run")
    for k, r in sorted(out["pilots"].items()):
        print(f"pilots {k}: training {r['pairs_per_s_min']:.1f}-{r['pairs_per_s_max']:.1f} "
              f"pairs/s, evaluation {r['eval_s_min']:.1f}-{r['eval_s_max']:.1f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="scifact")
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--eval-mode", default=None)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--fit-max-scale", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    store = Store(args.store)
    result = {}
    for retriever, (points, mode) in _by_retriever(store, args.corpus, args.eval_mode).items():
        text, summary = table(points, retriever, mode)
        print(text + "\n")
        png = args.out / f"pilots-{args.corpus}-{retriever}.png"
        plot(points, retriever, mode, png)
        print(f"plot: {png}\n")
        try:
            rows = backtest(points, args.fit_max_scale, PlanOptions(bootstrap=1000))
        except ValueError as exc:
            print(f"backtest: {exc}\n")
            rows = []
        if rows:
            print("| augmenter | family | n | measured | predicted | error | 90% interval | "
                  "covered |\n|---|---|---|---|---|---|---|---|")
            for r in rows:
                print(f"| {r.augmenter} | {r.family} | {r.scale:,} | {r.measured:.4f} | "
                      f"{r.predicted:.4f} | {r.error:+.4f} | [{r.ci_low:.4f}, {r.ci_high:.4f}] "
                      f"| {'yes' if r.covered else 'no'} |")
            print()
        summary["backtest"] = [r.to_dict() for r in rows]
        summary["eval_mode"] = mode
        result[retriever] = summary
    result["costs"] = costs(store, args.corpus)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
