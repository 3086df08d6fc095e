"""Pilot points for the planner: from the store's pilots table or from a CSV measured anywhere,
narrowed to one retriever, strategy and candidate augmenters; summaries for the front doors."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner import PilotPoint
from store import Store
from store.errors import AugplanError

REQUIRED_COLUMNS = ("augmenter", "scale", "metric")


OPTIONAL_COLUMNS = ("seed", "retriever", "strategy", "eval_set", "kind", "per_passage")


def option_label(augmenter: str, per_passage: int) -> str:
    """The planner's name of an augmenter run at ``per_passage`` queries per passage: the
    augmenter itself at 1, ``"NAME xK"`` above (its own curve and its own price)."""
    return augmenter if per_passage == 1 or not augmenter else f"{augmenter} x{per_passage}"


def split_label(label: str) -> tuple[str, int]:
    """(augmenter, queries per passage) of an ``option_label``."""
    name, _, k = label.rpartition(" x")
    return (name, int(k)) if name and k.isdigit() else (label, 1)


def read_pilots_csv(path: str | Path) -> list[PilotPoint]:
    """Pilot points of a CSV file (columns augmenter, scale, metric; optional seed, retriever,
    strategy, eval_set, kind). Every problem names the file, line and column."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AugplanError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AugplanError(f"{p}: cannot read it: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise AugplanError(f"{p}: empty file; expected a header with "
                           f"{', '.join(REQUIRED_COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise AugplanError(f"{p}:1: missing column(s) {', '.join(missing)} "
                           f"(have: {', '.join(header)})",
                           hint=f"required: {', '.join(REQUIRED_COLUMNS)}; optional: "
                           f"{', '.join(OPTIONAL_COLUMNS)}")
    points, problems = [], []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        try:
            scale = float(row["scale"])
            if not math.isfinite(scale) or scale < 0 or scale != int(scale):
                raise ValueError
        except ValueError:
            problems.append(f"{p}:{line}: scale {row['scale']!r} is not a whole number >= 0")
            continue
        try:
            metric = float(row["metric"])
            if not math.isfinite(metric):
                raise ValueError
        except ValueError:
            problems.append(f"{p}:{line}: metric {row['metric']!r} is not a number")
            continue
        try:
            seed = int(float(row.get("seed") or 0))
        except ValueError:
            problems.append(f"{p}:{line}: seed {row.get('seed')!r} is not an integer")
            continue
        k = (row.get("per_passage") or "1").strip()
        if not k.isdigit() or int(k) < 1:
            problems.append(f"{p}:{line}: per_passage {k!r} is not a whole number >= 1")
            continue
        if scale > 0 and not row["augmenter"]:
            problems.append(f"{p}:{line}: augmenter is empty (only scale 0, the zero-shot "
                            "point, may leave it empty)")
            continue
        kind = row.get("kind") or ("zero-shot" if scale == 0 else "synthetic")
        points.append(PilotPoint(option_label(row["augmenter"], int(k)), int(scale), metric, seed,
                                 row.get("retriever", ""), row.get("strategy", ""),
                                 row.get("eval_set", ""), kind))
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise AugplanError("\n".join(problems[:20]) + more)
    if not points:
        raise AugplanError(f"{p}: no rows below the header")
    return points


def points_from_store(store: Store, corpus: str, *, metric: str = "ndcg@10",
                      eval_mode: str | None = None,
                      retriever: str | None = None) -> list[dict[str, Any]]:
    """The corpus' pilot points as planner CSV rows (``engine.pilot.export_rows``), of one
    retriever (when given) and one evaluation mode (default: the mode with the most points)."""
    from engine.pilot import export_rows

    if corpus not in {c["name"] for c in store.corpora()}:
        raise AugplanError(f"no corpus {corpus!r} in the store",
                           hint="import it with `augplan corpus import`")
    points = store.pilots(corpus=corpus)
    if not points:
        raise AugplanError(f"no pilot points for {corpus!r} in the store",
                           hint=f"run `augplan pilot --corpus {corpus}` first, or plan from a "
                           "CSV with --pilots")
    if retriever is not None and any(p["retriever"] == retriever for p in points):
        points = [p for p in points if p["retriever"] == retriever]
    modes = sorted({p["eval_mode"] for p in points})
    if eval_mode is None:
        eval_mode = main_eval_mode(points)
    elif eval_mode not in modes:
        raise AugplanError(f"--eval-mode {eval_mode!r}: pilots of {corpus!r} were evaluated in "
                           f"{', '.join(modes)}")
    return export_rows([p for p in points if p["eval_mode"] == eval_mode], metric)


def to_points(rows: Sequence[dict[str, Any]]) -> list[PilotPoint]:
    """Planner points of CSV rows; an augmenter measured at K > 1 queries per passage is the
    option ``option_label(augmenter, K)``."""
    return [PilotPoint(option_label(r["augmenter"] or "", int(r.get("per_passage") or 1)),
                       int(r["scale"]), float(r["metric"]),
                       int(r.get("seed") or 0), r.get("retriever") or "",
                       r.get("strategy") or "", r.get("eval_set") or "",
                       r.get("kind") or ("zero-shot" if int(r["scale"]) == 0 else "synthetic"))
            for r in rows]


def select_retriever(points: list[PilotPoint], retriever: str | None) -> list[PilotPoint]:
    """The points of one retriever (the only one, or the one named)."""
    names = sorted({p.retriever for p in points})
    if retriever is None:
        if len(names) > 1:
            raise AugplanError(f"the pilots hold several retrievers ({', '.join(names)})",
                               hint="choose one with --retriever")
        return points
    chosen = [p for p in points if p.retriever == retriever]
    if not chosen:
        raise AugplanError(f"--retriever {retriever!r}: no pilot points "
                           f"(have: {', '.join(n or '(unnamed)' for n in names)})")
    return chosen


def select_augmenters(points: list[PilotPoint],
                      augmenters: Sequence[str] | None) -> list[PilotPoint]:
    """The points of the candidate augmenters (all when None), with the references."""
    if not augmenters:
        return points
    chosen = set(augmenters)
    have = sorted({split_label(p.augmenter)[0] for p in points if p.kind == "synthetic"})
    unknown = sorted(chosen - set(have))
    if unknown:
        raise AugplanError(f"--augmenters: no pilot points for {', '.join(unknown)} "
                           f"(have: {', '.join(have) or 'none'})")
    return [p for p in points
            if p.kind == "human" or not p.augmenter or split_label(p.augmenter)[0] in chosen]


def select_strategies(points: list[PilotPoint], strategy: str | None) -> list[PilotPoint]:
    if strategy is None:
        return points
    chosen = [p for p in points if p.strategy == strategy or p.scale == 0]
    if not any(p.scale > 0 for p in chosen):
        have = sorted({p.strategy for p in points if p.scale > 0})
        raise AugplanError(f"--strategy {strategy!r}: no pilot points (have: {', '.join(have)})")
    return chosen


def main_eval_mode(points: list[dict[str, Any]]) -> str | None:
    """The evaluation mode with the most pilot points (the planner's default); None if none."""
    modes = sorted({p["eval_mode"] for p in points})
    if not modes:
        return None
    return max(modes, key=lambda m: sum(p["eval_mode"] == m for p in points))


def load_points(store: Store | None, *, corpus: str | None = None,
                pilots: str | Path | None = None, retriever: str | None = None,
                strategy: str | None = None, metric: str = "ndcg@10",
                eval_mode: str | None = None,
                augmenters: Sequence[str] | None = None) -> tuple[list[PilotPoint],
                                                                  Store | None]:
    """Pilot points from a CSV file (``pilots``) or from the store's pilots of ``corpus``,
    narrowed to one retriever (and strategy, candidate augmenters, when given)."""
    if (corpus is None) == (pilots is None):
        raise AugplanError("give --corpus (plan from the store) or --pilots FILE.csv, "
                           "one of the two")
    if pilots is not None:
        points = read_pilots_csv(pilots)
        store = None
    else:
        if store is None:
            store = Store()
        points = to_points(points_from_store(store, corpus, metric=metric, eval_mode=eval_mode,
                                             retriever=retriever))
    points = select_augmenters(select_retriever(points, retriever), augmenters)
    return select_strategies(points, strategy), store


#: (retriever, augmenter, eval set, scale, seeds, mean nDCG@10) of one pilot scale
SummaryRow = tuple[str, str, str, int, int, float]


def pilot_summary(pilots: list[dict[str, Any]]) -> list[SummaryRow]:
    """(retriever, augmenter, eval set, n, seeds, mean nDCG@10) per pilot scale, of the
    evaluation mode with the most points (the one the planner uses by default)."""
    mode = main_eval_mode(pilots)
    if mode is None:
        return []
    groups: dict[tuple[str, str, str, int], list[float]] = {}
    for p in pilots:
        if p["eval_mode"] == mode:
            key = (p["retriever"], p["augmenter"] or "(zero-shot)", p["eval_set"], int(p["scale"]))
            groups.setdefault(key, []).append(float(p["ndcg_at_10"]))
    return [(*k, len(v), sum(v) / len(v)) for k, v in sorted(groups.items())]


@dataclass
class PlanChoices:
    """What a corpus offers to plan with: retrievers, augmenters and strategies of its
    pilots, devices of the stored profiles, and the pilot points in summary."""

    corpus: str
    retrievers: list[str] = field(default_factory=list)
    augmenters: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    pilot_rows: list[SummaryRow] = field(default_factory=list)


def plan_choices(store: Store, corpus: str) -> PlanChoices:
    from engine.profiles import stored_profiles

    pilots = store.pilots(corpus=corpus)
    synthetic = [p for p in pilots if p["kind"] == "synthetic"]
    return PlanChoices(
        corpus,
        retrievers=sorted({p["retriever"] for p in pilots}),
        augmenters=sorted({p["augmenter"] for p in synthetic}),
        strategies=sorted({p["strategy"] for p in synthetic}),
        devices=sorted({p.device for p in stored_profiles(store)}),
        pilot_rows=pilot_summary(pilots),
    )
