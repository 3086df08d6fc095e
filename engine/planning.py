"""Glue between the store/profiles and the planner: pilot points and cost models from the store
or from files, and executing a plan at full scale through the engine's resumable generation."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner import AugmenterCost, CostModel, PilotPoint, PlanError
from store import Store, sql_str
from store.errors import AugplanError

REQUIRED_COLUMNS = ("augmenter", "scale", "metric")
OPTIONAL_COLUMNS = ("seed", "retriever", "strategy", "eval_set", "kind")


# ------------------------------------------------------------------------------- pilot points


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
        if scale > 0 and not row["augmenter"]:
            problems.append(f"{p}:{line}: augmenter is empty (only scale 0, the zero-shot "
                            "point, may leave it empty)")
            continue
        kind = row.get("kind") or ("zero-shot" if scale == 0 else "synthetic")
        points.append(PilotPoint(row["augmenter"], int(scale), metric, seed,
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
    points = store.pilots(f"corpus = {sql_str(corpus)}")
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
    return [PilotPoint(r["augmenter"] or "", int(r["scale"]), float(r["metric"]),
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
    have = sorted({p.augmenter for p in points if p.kind == "synthetic"})
    unknown = sorted(chosen - set(have))
    if unknown:
        raise AugplanError(f"--augmenters: no pilot points for {', '.join(unknown)} "
                           f"(have: {', '.join(have) or 'none'})")
    return [p for p in points if p.kind == "human" or not p.augmenter or p.augmenter in chosen]


def select_strategies(points: list[PilotPoint], strategy: str | None) -> list[PilotPoint]:
    if strategy is None:
        return points
    chosen = [p for p in points if p.strategy == strategy or p.scale == 0]
    if not any(p.scale > 0 for p in chosen):
        have = sorted({p.strategy for p in points if p.scale > 0})
        raise AugplanError(f"--strategy {strategy!r}: no pilot points (have: {', '.join(have)})")
    return chosen


# ------------------------------------------------------------------------------- costs


@dataclass
class CostInputs:
    """What a cost model is built from (to show the user where each number came from)."""

    model: CostModel
    sources: dict[str, str]  # augmenter / "training" -> "device (source)"
    devices: list[str]


def cost_model(profiles: Sequence[Any], retriever: str, *, device: str | None = None,
               price_per_hour: float | None = None, filter_per_hour: float | None = None,
               store: Store | None = None, corpus: str | None = None,
               strategy: str = "inpars") -> CostInputs:
    """A planner cost model from engine profiles (the latest per augmenter; the training
    profile of ``retriever``, or the only one). With a store and corpus, each augmenter's
    measured acceptance rate and its accepted queries already cached are used."""
    from engine.profiles import AugmenterProfile, TrainingProfile

    chosen = [p for p in profiles if device is None or p.device == device]
    if device is not None and not chosen:
        have = sorted({p.device for p in profiles})
        raise AugplanError(f"--device {device!r}: no profiles (have: {'; '.join(have)})")
    aug: dict[str, AugmenterProfile] = {}
    train: dict[str, TrainingProfile] = {}
    for p in chosen:  # oldest first: later ones win
        if isinstance(p, AugmenterProfile):
            aug[p.augmenter] = p
        else:
            train[p.retriever] = p
    if not aug:
        raise AugplanError("no augmenter cost profiles",
                           hint="measure with `augplan bench --augmenter NAME`, or import one: "
                           "`augplan profiles import nvidia-h200-arch`")
    t = train.get(retriever) or (next(iter(train.values())) if len(train) == 1 else None)
    if t is None:
        have = ", ".join(sorted(train)) or "none"
        raise AugplanError(f"no training profile for retriever {retriever!r} (have: {have})",
                           hint="a pilot records one; or add [training] pairs_per_hour = ... "
                           "to the profiles TOML")
    costs = {}
    for name, p in aug.items():
        acceptance, cached = 1.0, 0
        if store is not None and corpus is not None:
            acceptance, cached = _acceptance(store, corpus, name, strategy)
        try:
            costs[name] = AugmenterCost(name, p.queries_per_hour, p.device, p.model_params,
                                        acceptance, cached)
        except PlanError as exc:
            raise AugplanError(str(exc)) from None
    try:
        model = CostModel(costs, t.pairs_per_hour, filter_per_hour, price_per_hour,
                          device=device or "")
    except PlanError as exc:
        raise AugplanError(str(exc)) from None
    sources = {n: f"{p.device} ({p.source})" for n, p in aug.items()}
    sources["training"] = f"{t.device} ({t.source}, {t.retriever})"
    devices = sorted({p.device for p in aug.values()} | {t.device})
    return CostInputs(model, sources, devices)


def _acceptance(store: Store, corpus: str, augmenter: str, strategy: str) -> tuple[float, int]:
    t = store.scan("augmentations",
                   f"corpus = {sql_str(corpus)} AND augmenter = {sql_str(augmenter)} AND "
                   f"strategy = {sql_str(strategy)}", ["status"])
    status = t.column("status").to_pylist() if t.num_rows else []
    checked = [s for s in status if s and s != "unchecked"]
    ok = sum(1 for s in checked if s == "ok")
    if len(checked) < 20:
        return 1.0, ok
    return max(ok / len(checked), 0.01), ok


# ------------------------------------------------------------------------------- planning


@dataclass
class MadePlan:
    plan: Any  # planner.Plan
    cost: CostModel
    meta: dict[str, Any]


def _metric_label(metric: str) -> str:
    return {"ndcg@10": "nDCG@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}.get(
        metric, metric)


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


def make_plan(budget: float, *, store: Store | None = None, corpus: str | None = None,
              pilots: str | Path | None = None, profiles: str | Path | None = None,
              retriever: str | None = None, strategy: str | None = None,
              eval_set: str | None = None, weights: str | None = None,
              device: str | None = None, price: float | None = None,
              filter_per_hour: float | None = None, metric: str = "ndcg@10",
              eval_mode: str | None = None, options: Any = None,
              augmenters: Sequence[str] | None = None) -> MadePlan:
    """Plan from the store (``corpus``: its pilots and profiles) or from files (``pilots`` CSV
    and ``profiles`` TOML); planner errors become user errors."""
    from engine.profiles import read_profiles, stored_profiles
    from planner import plan, resolve_weights

    points, store = load_points(store, corpus=corpus, pilots=pilots, retriever=retriever,
                                strategy=strategy, metric=metric, eval_mode=eval_mode,
                                augmenters=augmenters)
    retr = retriever or next((p.retriever for p in points if p.retriever), "")
    if profiles is not None:
        profile_list = list(read_profiles(profiles))
    elif store is not None:
        profile_list = stored_profiles(store)
    else:
        raise AugplanError("--pilots needs --profiles FILE.toml (the cost of each augmenter "
                           "and of training)")
    inputs = cost_model(profile_list, retr, device=device, price_per_hour=price,
                        filter_per_hour=filter_per_hour, store=store, corpus=corpus,
                        strategy=strategy or "inpars")
    label = _metric_label(metric if pilots is None else "metric")
    try:
        w = resolve_weights([p.eval_set for p in points], weights, corpus=corpus, only=eval_set)
        result = plan(points, inputs.model, budget, weights=w, options=options,
                      metric_name=label)
    except PlanError as exc:
        raise AugplanError(str(exc)) from None
    if len(inputs.devices) > 1:
        result.warnings.append("the profiles come from several devices ("
                               + "; ".join(inputs.devices) + "): pick one with --device")
    human = [p.metric for p in points if p.kind == "human" and p.eval_set in w]
    meta = {"corpus": corpus, "retriever": retr, "metric": label,
            "cost_sources": inputs.sources, "devices": inputs.devices,
            "pilot_rows": len(points),
            "human_reference": (sum(human) / len(human)) if human else None, "sample_seed": 0}
    return MadePlan(result, inputs.model, meta)


def plan_document(result: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The plan as JSON-able dict, with what ``augplan run`` needs (corpus, retriever)."""
    doc = result.to_dict()
    doc.update(corpus=meta["corpus"], retriever=meta["retriever"], metric_name=meta["metric"],
               cost_sources=meta["cost_sources"], human_reference=meta["human_reference"],
               sample_seed=meta["sample_seed"])
    return doc


# ------------------------------------------------------------------------------- running


def plan_file(store_path: str | Path, corpus: str) -> Path:
    """Where the last plan of a corpus is kept: beside the store (demo, TUI)."""
    return Path(store_path).parent / f"plan-{corpus}.json"


def training_file(store_path: str | Path, plan: dict[str, Any]) -> Path:
    """Where running a plan writes its training pairs by default: beside the store."""
    return (Path(store_path).parent
            / f"train-{plan['corpus']}-{plan['augmenter']}-{plan['scale']}.jsonl")


def main_eval_mode(points: list[dict[str, Any]]) -> str | None:
    """The evaluation mode with the most pilot points (the planner's default); None if none."""
    modes = sorted({p["eval_mode"] for p in points})
    if not modes:
        return None
    return max(modes, key=lambda m: sum(p["eval_mode"] == m for p in points))


def load_plan(path: str | Path) -> dict[str, Any]:
    p = Path(path).expanduser()
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AugplanError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AugplanError(f"{p}: not a plan JSON file: {exc}") from None
    if not isinstance(doc, dict):
        raise AugplanError(f"{p}: not a plan (expected a JSON object)")
    for key, kind in (("augmenter", str), ("scale", int), ("corpus", str)):
        if not isinstance(doc.get(key), kind):
            raise AugplanError(f"{p}: field {key!r} missing or not a {kind.__name__}",
                               hint="write one with `augplan plan --corpus NAME ... -o PLAN.json`")
    if doc["scale"] < 0:
        raise AugplanError(f"{p}: field 'scale' must not be negative")
    return doc


def execute_plan(store: Store, plan: dict[str, Any], out: Path, *,
                 models_dir: Path | None = None, backend: str = "llama.cpp",
                 on_event: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate (through the resumable, content-keyed engine) the plan's first ``scale``
    accepted queries in the pilots' seeded passage order, then export them as training pairs
    (jsonl of query, passage_id, passage; parquet by extension). Returns a summary."""
    import polars as pl

    from engine.pilot import PilotRequest, select_pairs

    n = int(plan["scale"])
    if n == 0:
        return {"scale": 0, "generated": 0, "exported": 0, "path": None}
    if out.suffix not in (".jsonl", ".parquet"):
        raise AugplanError(f"{out}: the training set is written as .jsonl or .parquet")
    request = PilotRequest(corpus=plan["corpus"], retriever=plan.get("retriever") or "minilm-l6",
                           augmenters=(plan["augmenter"],),
                           strategy=plan.get("strategy") or "inpars",
                           scales=(n,), sample_seed=int(plan.get("sample_seed", 0)),
                           backend=backend)
    pairs, keys, generated = select_pairs(store, request, plan["augmenter"], n,
                                          models_dir=models_dir, on_event=on_event)
    frame = pl.DataFrame({"query": [q for q, _ in pairs], "passage": [t for _, t in pairs],
                          "key": keys})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    if out.suffix == ".parquet":
        frame.write_parquet(tmp)
    else:
        frame.write_ndjson(tmp)
    tmp.replace(out)
    return {"scale": n, "generated": generated, "exported": len(pairs), "path": str(out)}


__all__ = ["CostInputs", "MadePlan", "cost_model", "execute_plan", "load_plan", "load_points",
           "make_plan", "plan_document", "points_from_store", "read_pilots_csv",
           "select_retriever", "select_strategies", "to_points"]
