"""Pilot points as the planner reads them, and the next point the planner asks for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.pilot.config import PilotRequest, TrainConfig
from store import Store
from store.errors import AugplanError
from store.keys import canonical_json

CSV_COLUMNS = ("augmenter", "scale", "seed", "metric", "retriever", "strategy", "eval_set",
               "kind", "metric_name", "corpus", "eval_mode", "per_passage")


def next_point_request(store: Store, corpus: str, retriever: str, augmenter: str,
                       scale: int, strategy: str | None = None,
                       per_passage: int | None = None) -> PilotRequest:
    """The request that measures ``augmenter`` at ``scale`` exactly as the corpus's existing
    synthetic pilots of ``retriever`` were measured (their training settings, evaluation mode,
    eval sets, seeds and passage order), so the new point joins their curve. The most common
    configuration wins when the pilots mix several; ``per_passage`` (queries per passage)
    prefers the pilots measured at it and sets it."""
    from collections import Counter

    rows = store.pilots(corpus=corpus, retriever=retriever, kind="synthetic")
    if strategy:
        rows = [r for r in rows if r["strategy"] == strategy]
    if per_passage:
        rows = [r for r in rows if _per_passage(r) == per_passage] or rows
    if not rows:
        raise AugplanError(f"no synthetic pilot points of {retriever!r} on corpus {corpus!r} "
                           "to take the configuration from: run `augplan pilot` first")

    def shape(row: dict[str, Any]) -> str:
        c = json.loads(row["config"])
        return canonical_json({k: c.get(k) for k in ("strategy", "per_passage", "sample_seed",
                                                     "train", "eval")})

    common, _ = Counter(shape(r) for r in rows).most_common(1)[0]
    same = [r for r in rows if shape(r) == common]
    c = json.loads(common)
    t, ev = c["train"], c["eval"]
    mode = ev["mode"]
    train_cfg = TrainConfig(
        learning_rate=t["learning_rate"], batch_size=t["batch_size"], epochs=t["epochs"],
        warmup_ratio=t["warmup_ratio"], max_seq_length=t["max_seq_length"], loss=t["loss"],
        mini_batch_size=t.get("mini_batch_size", TrainConfig.mini_batch_size),
        precision=t["precision"])
    return PilotRequest(
        corpus=corpus, retriever=retriever, augmenters=(augmenter,), strategy=c["strategy"],
        scales=(int(scale),), seeds=tuple(sorted({int(r["seed"]) for r in same})),
        evals=tuple(sorted({r["eval_set"] for r in same})),
        eval_mode="full" if mode == "full" else "nano",
        nano_k=int(mode[4:]) if mode.startswith("nano") else PilotRequest.nano_k,
        ignore_identical_ids=bool(ev["ignore_identical_ids"]), human=False,
        sample_seed=int(c["sample_seed"]), per_passage=int(per_passage or c["per_passage"]),
        train=train_cfg)


def _per_passage(row: dict[str, Any]) -> int:
    """The queries per passage a stored pilot point was measured at."""
    return int(json.loads(row.get("config") or "{}").get("per_passage", 1))


def _point_k(row: dict[str, Any]) -> int:
    """A point's queries per passage as the planner reads it (references are at 1)."""
    return _per_passage(row) if row["kind"] == "synthetic" else 1


def export_rows(points: Sequence[dict[str, Any]], metric: str = "ndcg@10") -> list[dict[str,
                                                                                        Any]]:
    """Pilot points as the planner's CSV rows. The zero-shot point is repeated as scale 0 of
    every augmenter measured with the same retriever and eval set."""
    column = {"ndcg@10": "ndcg_at_10", "recall@100": "recall_at_100", "mrr@10": "mrr_at_10"}
    if metric not in column:
        raise AugplanError(f"--metric {metric!r}: use one of {', '.join(column)}")
    out = []
    augmenters: dict[tuple[str, str, str], set[tuple[str, str, int]]] = {}
    for p in points:
        if p["kind"] != "zero-shot":
            augmenters.setdefault((p["corpus"], p["retriever"], p["eval_set"]), set()).add(
                (p["augmenter"], p["strategy"], _point_k(p)))
    for p in points:
        base = {"metric": p[column[metric]], "retriever": p["retriever"],
                "eval_set": p["eval_set"], "kind": p["kind"], "metric_name": metric,
                "corpus": p["corpus"], "eval_mode": p["eval_mode"], "seed": p["seed"]}
        if p["kind"] == "zero-shot":
            for aug, strat, k in sorted(augmenters.get(
                    (p["corpus"], p["retriever"], p["eval_set"]), set())) or [("", "", 1)]:
                out.append({"augmenter": aug, "scale": 0, "strategy": strat, "per_passage": k,
                            **base})
        else:
            out.append({"augmenter": p["augmenter"], "scale": p["scale"],
                        "strategy": p["strategy"], "per_passage": _point_k(p), **base})
    return [{c: r[c] for c in CSV_COLUMNS} for r in out]


