"""Planner quality bars and speed.

1. Synthetic curves of each family with noise sd 0.005 and 4-6 points: how often the fitted
   asymptote (power, exp; the peak value for decline) lands within 0.01 of the truth, and how
   often the 90% bootstrap intervals cover the true asymptote and the true M(n) at a measured
   and at an extrapolated scale - once fitting the true family, once with automatic selection.
2. Speed: planning from 100 pilot rows without bootstrap and with 1,000 resamples.

    python bench/planner.py [--trials 200] [--out bench/results/planner.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import (
    FAMILIES,
    AugmenterCost,
    CostModel,
    PilotPoint,
    PlanOptions,
    fit_curve,
    plan,
    resolve_weights,
)

TRUTH = {
    "power": (0.60, 0.08, 300.0, 1.5),
    "exp": (0.60, 0.08, 600.0),
    "decline": (0.64, 0.03, 300.0, 0.012),
    "loglin": (0.50, 0.01),
}
DESIGNS = {
    "6 scales x 1 seed": ([0, 250, 500, 1000, 2000, 4000], 1),
    "5 scales x 1 seed": ([0, 250, 500, 1000, 2000], 1),
    "4 scales x 1 seed": ([0, 500, 2000, 4000], 1),
    "5 scales x 2 seeds": ([0, 250, 500, 1000, 2000], 2),
}


def true_asymptote(family: str) -> float | None:
    theta = np.array(TRUTH[family])
    if family in ("power", "exp"):
        return float(theta[0])
    if family == "decline":
        grid = np.linspace(0, 20000, 200001)
        return float(FAMILIES[family].f(grid, theta).max())
    return None


def quality(trials: int, noise: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for design, (scales, seeds) in DESIGNS.items():
        n = np.repeat(np.array(scales, float), seeds)
        probe_in = float(scales[-2])
        probe_out = float(scales[-1]) * 2
        for family, truth_theta in TRUTH.items():
            theta = np.array(truth_theta)
            asym = true_asymptote(family)
            for mode in ("true family", "auto"):
                hits = cover_a = cover_in = cover_out = 0
                errs, chosen = [], {}
                for t in range(trials):
                    y = FAMILIES[family].f(n, theta) + rng.normal(0, noise, n.size)
                    fams = [family] if mode == "true family" else list(FAMILIES)
                    fit = fit_curve(n, y, families=fams, bootstrap=1000, seed=t)
                    chosen[fit.best.family] = chosen.get(fit.best.family, 0) + 1
                    for probe, key in ((probe_in, "in"), (probe_out, "out")):
                        truth = float(FAMILIES[family].f(np.array([probe]), theta)[0])
                        lo, hi = fit.interval([probe])
                        inside = bool(lo[0] <= truth <= hi[0])
                        if key == "in":
                            cover_in += inside
                            errs.append(abs(float(fit.predict([probe])[0]) - truth))
                        else:
                            cover_out += inside
                    if asym is not None:
                        a = fit.asymptote()
                        hits += abs(a - asym) <= 0.01
                        lo_a, hi_a = fit.asymptote_interval()
                        cover_a += lo_a <= asym <= hi_a
                row = {
                    "design": design, "family": family, "mode": mode, "trials": trials,
                    "selected": chosen,
                    f"M(n) 90% coverage at n={probe_in:.0f}": cover_in / trials,
                    f"M(n) 90% coverage at n={probe_out:.0f} (extrapolated)":
                        cover_out / trials,
                    f"mean abs error at n={probe_in:.0f}": float(np.mean(errs)),
                }
                if asym is not None:
                    row["asymptote within 0.01"] = hits / trials
                    row["asymptote 90% coverage"] = cover_a / trials
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def speed(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    points = []
    augs = [f"aug{i}" for i in range(5)]
    for ev in ("c:test", "o:test"):
        for i, aug in enumerate(augs):
            for s in (0, 250, 500, 1000, 2000):
                for sd in (0, 1):
                    m = 0.4 + (0.04 + 0.005 * i) * (1 - math.exp(-s / (500 + 100 * i)))
                    points.append(PilotPoint(aug, s, m + rng.normal(0, 0.004), sd, "r", "inpars",
                                             ev))
    cost = CostModel({a: AugmenterCost(a, 20000.0 / (i + 1)) for i, a in enumerate(augs)},
                     100_000.0)
    weights = resolve_weights([p.eval_set for p in points], "in=0.7,ood=0.3", corpus="c")
    out = {"pilot_rows": len(points), "curves": 10}
    for label, boot in (("no bootstrap", 0), ("bootstrap 1000", 1000)):
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            plan(points, cost, 0.5, weights=weights, options=PlanOptions(bootstrap=boot))
            best = min(best, time.perf_counter() - t0)
        out[f"seconds, {label} (best of 3)"] = round(best, 3)
        print(f"plan from {len(points)} rows, {label}: {best:.3f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    result = {"machine": platform.processor() or platform.machine(),
              "noise_sd": args.noise, "speed": speed(args.seed),
              "quality": quality(args.trials, args.noise, args.seed)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
