"""The outcome page: each cell's verdict, the reasons behind it, the summary (regret against
its standard error over the seeds) and a plot per cell; ``bench/outcome.py`` measures the
cells and calls ``write_doc``."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

GRID = [(c, r) for c in ("scifact", "nfcorpus") for r in ("static-minilm", "minilm-l6")]


def scored(arms: dict[str, dict[str, Any]]) -> list[str]:
    """The arms that ran (a refused autopilot has no score)."""
    return [k for k, a in arms.items() if "refused" not in a]


def verdict(arms: dict[str, dict[str, Any]], best: str) -> str:
    """The issue's goal for a cell: the autopilot within 0.003 of the best arm, and ahead of
    the worst fixed recipe by more than the seed spread where the arms differ by that much."""
    auto = arms["autopilot"]
    fixed = {k: v for k, v in arms.items() if k != "autopilot"}
    worst = min(fixed, key=lambda k: fixed[k]["mean"])
    spread = max(arms[k]["half_range"] for k in scored(arms))
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
    elif top["augmenter"] == auto["augmenter"] and top["n"] > auto["n"] \
            and auto["hours"] >= 0.9 * cell["budget_hours"]:
        out.append(f"the best arm is the autopilot's augmenter at {top['n']:,} queries, with "
                   f"the whole budget: the autopilot's pilots took {auto['pilot_hours']:.3f} h "
                   f"of it, so its final run bought {auto['n']:,}")
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


def seeds_to_resolve(cell: dict[str, Any], goal: float = 0.003) -> tuple[int, float] | None:
    """Seeds per arm whose final trainings would put the goal two standard errors from zero
    (the regret's standard error at goal / 2), and the per-seed standard deviation it assumes:
    pooled over the cell's arms that trained with more than one seed (two arms of one
    augmenter and n count once). None when the autopilot refused or no arm has two seeds."""
    arms = cell["arms"]
    if "refused" in arms["autopilot"]:
        return None
    trained = {(a["augmenter"], a["n"]): a["test"] for k, a in arms.items() if k in scored(arms)}
    spread = [statistics.variance(t) for t in trained.values() if len(t) > 1]
    if not spread:
        return None
    sd = math.sqrt(statistics.fmean(spread))
    return max(2, math.ceil(2 * sd ** 2 / (goal / 2) ** 2)), sd


def resolution(cell: dict[str, Any]) -> str | None:
    """Where the regret's standard error is over 0.003: what resolving it would take, in seeds
    and, where the cell recorded its final trainings' seconds, in hours of this machine."""
    n, need = noise(cell), seeds_to_resolve(cell)
    if n is None or n <= 0.003 or need is None:
        return None
    seeds, sd = need
    arms = cell["arms"]
    pair = [arms["autopilot"], arms[cell["best"]]]
    out = (f"the regret's standard error ({n:.4f}) is over the goal's 0.003: the arms' final "
           f"trainings differ by {sd:.4f} from seed to seed (standard deviation, pooled over "
           f"the arms), so telling a regret of 0.003 from none at two standard errors takes "
           f"about {seeds:,} seeds per arm")
    if all(a.get("seconds") for a in pair):
        hours = seeds * sum(a["seconds"] for a in pair) / 3600
        out += (f", about {hours:,.0f} h of this machine for the autopilot's and the best "
                "arm's final trainings alone")
    return out


def cell_key(c: dict[str, Any]) -> tuple[str, str, float]:
    """What a cell measures apart from its pilot share: corpus, retriever and budget."""
    return c["corpus"], c["retriever"], float(c["budget_hours"])


def has_twin(cell: dict[str, Any], cells: list[dict[str, Any]]) -> bool:
    """Whether another cell of the page has this one's corpus, retriever and budget at another
    pilot share (so only the share tells them apart)."""
    return any(cell_key(c) == cell_key(cell) and c.get("pilot_share") != cell.get("pilot_share")
               for c in cells)


def label(cell: dict[str, Any], cells: list[dict[str, Any]]) -> str:
    """A cell's name: corpus, retriever and budget, and its pilot share where it has a twin."""
    name = f"{cell['corpus']} / {cell['retriever']}, {cell['budget_hours']:g} h"
    return name + (f", share {cell['pilot_share']:g}" if has_twin(cell, cells) else "")


def summary_lines(cells: list[dict[str, Any]]) -> list[str]:
    """One row per cell: the autopilot's choice, the best arm, the regret against the goal and
    against its standard error, and the budget whose pilot share pilots every candidate."""
    lines = ["## Summary", "",
             ("| cell | autopilot | best arm | regret | its standard error | within 0.003 "
              "| pilots every candidate from |"), "|---|---|---|---|---|---|---|"]
    for cell in cells:
        arms, best = cell["arms"], cell["best"]
        auto = arms["autopilot"]
        name = label(cell, cells)
        top = f"{best}: {arms[best]['augmenter'] or '-'} n={arms[best]['n']:,}"
        every = auto.get("every_candidate_hours")
        partial = any("not piloted" in w for w in auto.get("warnings", []))
        if "refused" in auto:
            need, share = auto.get("need_hours"), auto.get("need_share")
            lines.append(f"| {name} | refused (pilots need {f'{need:g}' if need else '?'} h"
                         f"{f' or share {share:g}' if share else ''}) | {top} | - | - | - | - |")
            continue
        n = noise(cell)
        lines.append(f"| {name} | {auto['augmenter'] or '-'} n={auto['n']:,} | {top} | "
                     f"{auto['regret']:+.4f} | {n:.4f} | "
                     f"{'yes' if auto['regret'] <= 0.003 else 'no'} | "
                     f"{f'{every:g} h' if every else 'not recorded' if partial else 'this budget'}"
                     " |")
    ran = [c for c in cells if noise(c) is not None]
    unresolved = [c for c in ran if noise(c) > 0.003]
    needs = [(label(c, cells), seeds_to_resolve(c)) for c in unresolved]
    lines += ["", (f"In {len(unresolved)} of the {len(ran)} cells where the autopilot ran, the "
                   "standard error of its regret (from the seeds of each arm's final "
                   "training) is larger than the goal's 0.003: there, a regret under 0.003 and "
                   "one over it are not told apart by this benchmark, and the autopilot's "
                   "pilots (two seeds each, on a dev split of a few hundred queries) face noise "
                   "of the same kind"
                   + (" (seeds per arm that would resolve it: "
                      + "; ".join(f"{name}: about {need[0]:,}" for name, need in needs if need)
                      + ")" if any(need for _, need in needs) else "")
                   + ". Where the pilot share buys pilots of some candidates "
                   "only, the last column names the budget whose share would pilot them all "
                   "(from the autopilot's own prices on this machine)."), ""]
    return lines


def plot(cell: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = scored(cell["arms"])
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
                 f"device-hours per arm, pilot share {cell['pilot_share']:g}")
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
                  + "; ".join(label(c, cells) for c in kept) + ".", ""]
    missing = sorted(set(GRID) - {(c["corpus"], c["retriever"]) for c in cells})
    if missing:
        lines += ["Not measured yet: " + ", ".join(f"{c} / {r}" for c, r in missing)
                  + " (the full grid is `python bench/outcome.py` with its defaults).", ""]
    lines += summary_lines(cells)
    for cell in cells:
        name = (f"outcome-{cell['corpus']}-{cell['retriever']}-{cell['budget_hours']:g}h"
                + (f"-share{cell['pilot_share']:g}" if has_twin(cell, cells) else "") + ".png")
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
        lines += [f"## {label(cell, cells)}", "",
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
        noisy = resolution(cell)
        lines += ["", summary, *(f"Warning: {w}." for w in auto.get("warnings", [])),
                  "", f"**Verdict:** {cell['verdict']}.", "",
                  *(f"Why: {w}." for w in reasons), *([""] if reasons else []),
                  *([f"Noise: {noisy}.", ""] if noisy else []),
                  f"![{cell['corpus']} {cell['retriever']}](img/{name})", ""]
    doc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    drawn = {line.rpartition("](img/")[2].rstrip(")") for line in lines if "](img/" in line}
    for stale in img.glob("outcome-*.png"):  # a cell renamed (a twin's share) leaves none behind
        if stale.name not in drawn:
            stale.unlink()
