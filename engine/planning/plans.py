"""Plans: made from pilot points and a cost model, kept as JSON documents beside the store,
and run at full scale through the engine's resumable, cached generation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.planning.costs import cost_model
from engine.planning.errors import planner_errors
from engine.planning.points import load_points, split_label
from engine.prompts import DEFAULT_STRATEGY
from engine.retrievers import DEFAULT_RETRIEVER
from engine.splits import DEV, split_note
from planner import CostModel, PilotPoint
from store import Store
from store.errors import AugplanError


@dataclass
class MadePlan:
    plan: Any  # planner.Plan
    cost: CostModel
    meta: dict[str, Any]


def _metric_label(metric: str) -> str:
    return {"ndcg@10": "nDCG@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}.get(
        metric, metric)


def make_plan(budget: float, *, store: Store | None = None, corpus: str | None = None,
              pilots: str | Path | None = None, profiles: str | Path | None = None,
              retriever: str | None = None, strategy: str | None = None,
              eval_set: str | None = None, weights: str | None = None,
              device: str | None = None, price: float | None = None,
              filter_per_hour: float | None = None, metric: str = "ndcg@10",
              eval_mode: str | None = None, options: Any = None,
              augmenters: Sequence[str] | None = None,
              per_passage: int | None = None) -> MadePlan:
    """Plan from the store (``corpus``: its pilots and profiles) or from files (``pilots`` CSV
    and ``profiles`` TOML); planner errors become user errors.

    Queries per passage (K): the K queries of a passage are priced with their shared prompt
    (where the augmenter's backend shares it). ``per_passage`` given: priced at it, on the
    pilots measured at it (all pilots, with a warning, when none were). None: at the K the
    pilots were measured at; when they measured several, each (augmenter, K) is an option of
    its own (``option_label``), with its own curve and price, and the plan recommends K."""
    if per_passage is not None and per_passage < 1:
        raise AugplanError("--per-passage must be at least 1")
    from engine.profiles import read_profiles, stored_profiles
    from planner import plan, resolve_weights

    points, store = load_points(store, corpus=corpus, pilots=pilots, retriever=retriever,
                                strategy=strategy, metric=metric, eval_mode=eval_mode,
                                augmenters=augmenters)
    points, ks, k_warning = _per_passage_options(points, per_passage)
    retr = retriever or next((p.retriever for p in points if p.retriever), "")
    if profiles is not None:
        profile_list = list(read_profiles(profiles))
    elif store is not None:
        profile_list = stored_profiles(store)
    else:
        raise AugplanError("--pilots needs --profiles FILE.toml (the cost of each augmenter "
                           "and of training)")
    single = ks[0] if len(ks) == 1 else 1
    inputs = cost_model(profile_list, retr, device=device, price_per_hour=price,
                        filter_per_hour=filter_per_hour, store=store, corpus=corpus,
                        strategy=strategy or DEFAULT_STRATEGY, per_passage=single)
    model = _priced_options(inputs.model, points) if len(ks) > 1 else inputs.model
    label = _metric_label(metric if pilots is None else "metric")
    eval_set, split_warning = _choice_eval_set(store, corpus, points, eval_set, weights)
    with planner_errors():
        w = resolve_weights([p.eval_set for p in points], weights, corpus=corpus, only=eval_set)
        result = plan(points, model, budget, weights=w, options=options, metric_name=label)
    if len(inputs.devices) > 1:
        result.warnings.append("the profiles come from several devices ("
                               + "; ".join(inputs.devices) + "): pick one with --device")
    result.warnings.extend(msg for msg in (split_warning, k_warning) if msg)
    augmenter, chosen_k = split_label(result.augmenter)
    human = [p.metric for p in points if p.kind == "human" and p.eval_set in w]
    meta = {"corpus": corpus, "retriever": retr, "metric": label,
            "eval_sets": [split_note(store, e) if store is not None else e for e in w],
            "cost_sources": inputs.sources, "devices": inputs.devices,
            "pilot_rows": len(points),
            "human_reference": (sum(human) / len(human)) if human else None, "sample_seed": 0,
            "augmenter": augmenter, "per_passage": chosen_k if len(ks) > 1 else single,
            "per_passage_options": ks}
    return MadePlan(result, model, meta)


def _per_passage_options(points: list[PilotPoint], per_passage: int | None
                         ) -> tuple[list[PilotPoint], list[int], str]:
    """The points to plan on, the K (queries per passage) to price, and a warning. With
    ``per_passage`` given or one K measured, every point is named by its augmenter alone
    (one option per augmenter, priced at that K); with several K measured and none given,
    each (augmenter, K) stays an option of its own."""
    measured = sorted({split_label(p.augmenter)[1] for p in points if p.kind == "synthetic"})
    if per_passage is None and len(measured) > 1:
        # every option starts from the zero-shot point (a CSV may give it once, at K = 1)
        zero: dict[str, dict[str, list[PilotPoint]]] = {}  # augmenter -> label -> rows
        for p in points:
            if p.scale == 0 and p.kind == "zero-shot":
                zero.setdefault(split_label(p.augmenter)[0], {}).setdefault(
                    p.augmenter, []).append(p)
        labels = {p.augmenter for p in points if p.kind == "synthetic"}
        missing = [replace(z, augmenter=label) for label in sorted(labels)
                   if not any(p.scale == 0 and p.augmenter == label for p in points)
                   for z in next(iter(zero.get(split_label(label)[0], {}).values()), [])]
        return points + missing, measured, ""
    k = per_passage or (measured[0] if measured else 1)
    warning = ""
    if k in measured:
        points = [p for p in points
                  if split_label(p.augmenter)[1] == k or p.kind in ("human", "zero-shot")]
    elif measured:
        warning = (f"priced at {k} queries per passage, but the pilots were measured at "
                   f"{', '.join(map(str, measured))}: the prediction is theirs (queries of "
                   "fewer passages may train differently); pilot at this --per-passage to know")
    named = [replace(p, augmenter=split_label(p.augmenter)[0]) for p in points]
    return list(dict.fromkeys(named)), [k], warning  # the zero-shot rows of each K fall to one


def _priced_options(model: CostModel, points: list[PilotPoint]) -> CostModel:
    """The cost model with an entry for each ``option_label`` among ``points``: the
    augmenter's cost at that K folded into its rate (the model itself prices K = 1)."""
    entries = dict(model.augmenters)
    for p in points:
        name, k = split_label(p.augmenter)
        if k > 1 and name in entries and p.augmenter not in entries:
            a = entries[name]
            entries[p.augmenter] = replace(a, name=p.augmenter, prompt_share=0.0,
                                           queries_per_hour=1.0 / a.hours_per_query(k))
    return replace(model, augmenters=entries)


def _choice_eval_set(store: Store | None, corpus: str | None, points: Sequence[Any],
                     eval_set: str | None, weights: str | None) -> tuple[str | None, str]:
    """The eval set a plan optimises by default: the corpus' dev split when pilots were
    measured on it. Returns (eval set or None for the planner's default, a warning when the
    choice can only be made on the test split)."""
    if store is None or corpus is None or eval_set is not None or weights is not None:
        return eval_set, ""
    sets = {p.eval_set for p in points}
    dev = f"{corpus}:{DEV}"
    if dev in sets:
        return dev, ""
    if f"{corpus}:test" in sets:
        return None, (f"the pilots were evaluated on {corpus}:test, so this choice has seen the "
                      "test queries and its test score is optimistic; carve a dev split "
                      f"(`augplan corpus split {corpus} --from train --dev N`) and measure the "
                      "pilots on it")
    return None, ""


def plan_document(result: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The plan as JSON-able dict, with what ``augplan run`` needs (corpus, retriever)."""
    doc = result.to_dict()
    if doc.get("next_pilot") and doc["next_pilot"].get("augmenter"):
        name, k = split_label(doc["next_pilot"]["augmenter"])
        doc["next_pilot"].update(augmenter=name, per_passage=k)
    doc.update(augmenter=meta.get("augmenter", doc["augmenter"]), corpus=meta["corpus"], retriever=meta["retriever"], metric_name=meta["metric"],
               cost_sources=meta["cost_sources"], human_reference=meta["human_reference"],
               sample_seed=meta["sample_seed"], eval_sets=meta.get("eval_sets", []),
               per_passage=meta.get("per_passage", 1))
    return doc


def plan_file(store_path: str | Path, corpus: str) -> Path:
    """Where the last plan of a corpus is kept: beside the store (demo, TUI)."""
    return Path(store_path).parent / f"plan-{corpus}.json"


def training_file(store_path: str | Path, plan: dict[str, Any]) -> Path:
    """Where running a plan writes its training pairs by default: beside the store."""
    return (Path(store_path).parent
            / f"train-{plan['corpus']}-{plan['augmenter']}-{plan['scale']}.jsonl")


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
                 on_event: Callable[[str], None] | None = None, cluster: str | None = None,
                 actors: int | None = None) -> dict[str, Any]:
    """Generate (through the resumable, content-keyed engine) the plan's first ``scale``
    accepted queries in the pilots' seeded passage order, then export them as training pairs
    (jsonl of query, passage_id, passage; parquet by extension). Returns a summary.
    ``cluster`` (a Ray address) decodes on ``actors`` generator actors there."""
    import polars as pl

    from engine.pilot import PilotRequest, select_pairs

    n = int(plan["scale"])
    if n == 0:
        return {"scale": 0, "generated": 0, "exported": 0, "path": None}
    if out.suffix not in (".jsonl", ".parquet"):
        raise AugplanError(f"{out}: the training set is written as .jsonl or .parquet")
    request = PilotRequest(corpus=plan["corpus"], retriever=plan.get("retriever") or DEFAULT_RETRIEVER,
                           augmenters=(plan["augmenter"],),
                           strategy=plan.get("strategy") or DEFAULT_STRATEGY,
                           scales=(n,), sample_seed=int(plan.get("sample_seed", 0)),
                           per_passage=int(plan.get("per_passage", 1)), backend=backend)
    pairs, keys, generated = select_pairs(store, request, plan["augmenter"], n,
                                          models_dir=models_dir, on_event=on_event,
                                          cluster=cluster, actors=actors)
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


def plan_options(**settings: Any) -> Any:
    """``planner.PlanOptions`` from the user's settings, checked (a bad one is a user error
    naming its flag)."""
    from planner import PlanOptions

    opts = PlanOptions(**settings)
    with planner_errors():
        opts.validate()
    return opts


def write_plan(path: Path, doc: dict[str, Any]) -> None:
    """Write a plan document as JSON, atomically (a temporary name, then a rename)."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AugplanError(f"cannot write {path}: {exc.strerror or exc}") from None


def latest_plan(store_path: str | Path) -> dict[str, Any] | None:
    """The most recently written plan beside the store (``plan-<corpus>.json``), or None."""
    found = sorted(Path(store_path).parent.glob("plan-*.json"), key=lambda p: p.stat().st_mtime)
    for p in reversed(found):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(doc, dict) and doc.get("corpus"):
            return doc
    return None
