"""Running a pilot: every missing point of the grid (zero-shot, human pairs, synthetic pairs
at each scale and seed) trained and evaluated, each point stored as soon as it is measured."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import catalogue, prompts, retrievers
from engine.device import device_name
from engine.evaluate import Evaluator, load_eval_set
from engine.pilot.config import (
    PILOT_VERSION,
    Event,
    PilotReport,
    PilotRequest,
    TrainConfig,
    _hash,
)
from engine.pilot.pairs import human_pairs, select_pairs
from engine.pilot.train import train_point
from engine.splits import carve_fingerprint, choice_split
from store import Store, now
from store.errors import AugplanError
from store.keys import canonical_json


def eval_specs(store: Store, request: PilotRequest) -> tuple[str, ...]:
    """The eval sets of a pilot: as asked, or the corpus' dev split when it has one (else its
    test split): pilots make choices, so they stay off the test split when they can."""
    return request.evals or (f"{request.corpus}:{choice_split(store, request.corpus)}",)


def _validate(request: PilotRequest) -> None:
    retrievers.spec(request.retriever)
    request.train.validate()
    for mode in (request.eval_mode, *request.eval_modes):
        if mode not in ("full", "nano"):
            raise AugplanError(f"--eval-mode {mode!r}: use full or nano")
    if request.eval_modes and len(request.eval_modes) != len(request.evals):
        raise AugplanError(f"{len(request.eval_modes)} evaluation modes for "
                           f"{len(request.evals)} eval sets: give one mode per eval set")
    if not request.scales or any(s < 1 for s in request.scales):
        raise AugplanError("--scales must be positive integers, e.g. 250,500,1000")
    if not request.seeds:
        raise AugplanError("--seeds needs at least one seed")
    if request.per_passage < 1:
        raise AugplanError("--per-passage must be at least 1")
    for a in request.augmenters:
        entry = catalogue.get_entry(a)
        if entry.kind != "augmenter":
            raise AugplanError(f"--augmenters: {a!r} is an {entry.kind}, not an augmenter")
    prompts.load(request.strategy)


@dataclass
class Point:
    """A grid point to measure: its config and hash, its point id per eval set (and those
    already stored), and its training pairs."""

    config: dict[str, Any]
    config_hash: str
    ids: dict[str, str]
    stored: dict[str, dict[str, Any]]
    label: str
    pairs: list[tuple[str, str]]
    seed: int


class _PilotRun:
    """One pilot's evaluators, settings and report; ``point`` measures one grid point."""

    def __init__(self, store: Store, request: PilotRequest, models_dir: Path | None,
                 on_event: Event | None) -> None:
        self.store, self.request, self.models_dir = store, request, models_dir
        self.on_event = on_event
        specs = eval_specs(store, request)
        self.evaluators = [Evaluator(load_eval_set(store, spec), mode=mode,
                                     nano_k=request.nano_k,
                                     ignore_identical_ids=request.ignore_identical_ids,
                                     precision=request.train.precision)
                           for spec, mode in zip(specs, request.eval_modes
                                                 or (request.eval_mode,) * len(specs),
                                                 strict=True)]
        # a score on a split measured before a dev split was carved out of it is another point
        self.carves = {ev.evalset.name: carve_fingerprint(store, ev.evalset.corpus,
                                                          ev.evalset.split)
                       for ev in self.evaluators}
        self.train_cfg = request.train.resolved(request.retriever)
        # what keys a point's evaluation on each eval set (besides its config)
        self.eval_cfgs = {ev.evalset.name: {"mode": ev.label,
                                            "ignore_identical_ids": request.ignore_identical_ids,
                                            "precision": self.train_cfg["precision"]}
                          for ev in self.evaluators}
        self.device = device_name()
        self.report = PilotReport()

    def say(self, msg: str) -> None:
        if self.on_event:
            self.on_event(msg)

    def prepare(self, config: dict[str, Any], pairs: Sequence[tuple[str, str]] | None,
                seed: int) -> Point | None:
        """The point to measure, or None when every eval set of it is stored (reused)."""
        config = {"version": PILOT_VERSION, "retriever": self.request.retriever, **config}
        config_hash = _hash(config)
        ids = {ev.evalset.name: _hash({"config": config_hash, "eval": ev.evalset.name,
                                      **self.eval_cfgs[ev.evalset.name],
                                      **({"carve": c} if (c := self.carves[ev.evalset.name])
                                         else {})})
               for ev in self.evaluators}
        stored = {r["point_id"]: r for r in self.store.pilots(point_ids=list(ids.values()))}
        label = (f"{self.request.retriever} {config.get('augmenter') or config['kind']} "
                 f"n={config['scale']} seed={seed}")
        if len(stored) == len(ids):
            self.report.reused += len(ids)
            self.report.points += [stored[i] for i in ids.values()]
            self.say(f"{label}: in the store")
            return None
        return Point(config, config_hash, ids, stored, label, list(pairs or []), seed)

    def point(self, config: dict[str, Any], pairs: Sequence[tuple[str, str]] | None,
              seed: int) -> None:
        """Evaluate (training first, when there are pairs) unless every eval set is stored."""
        p = self.prepare(config, pairs, seed)
        if p is None:
            return
        model = retrievers.load(self.request.retriever, self.models_dir)
        if p.pairs:
            self.say(f"{p.label}: training on {len(p.pairs)} pairs")
        train_seconds = train_point(model, p.pairs, self.train_cfg, p.seed,
                                    self.request.keep_models, p.config_hash)
        results = {}
        for ev in self.evaluators:
            if p.ids[ev.evalset.name] not in p.stored:
                self.say(f"{p.label}: evaluating on {ev.evalset.name} ({ev.label})")
                results[ev.evalset.name] = ev.evaluate(model)
        del model
        self.finish(p, train_seconds, results)

    def finish(self, p: Point, train_seconds: float,
               results: dict[str, tuple[dict[str, float], float]]) -> None:
        """Store a measured point (metrics and seconds per eval set, from here or a worker)
        and its training throughput."""
        if p.pairs:
            self.report.trained += 1
            _training_profile(self.store, self.request.retriever, len(p.pairs), train_seconds,
                              self.train_cfg, self.device)
        rows = []
        for ev in self.evaluators:
            pid = p.ids[ev.evalset.name]
            if pid in p.stored:
                self.report.points.append(p.stored[pid])
                self.report.reused += 1
                continue
            metrics, eval_seconds = results[ev.evalset.name]
            rows.append(self._row(pid, p.config_hash, p.config, p.seed, ev, metrics,
                                  train_seconds, eval_seconds))
            self.say(f"{p.label}: {ev.evalset.name} nDCG@10 {metrics['ndcg@10']:.4f}")
        self.store.add_pilots(rows)
        self.report.points += rows
        self.report.computed += len(rows)

    def _row(self, pid: str, config_hash: str, config: dict[str, Any], seed: int, ev: Any,
             metrics: dict[str, float], train_seconds: float,
             eval_seconds: float) -> dict[str, Any]:
        """The stored pilot point of one evaluation."""
        return {
            "point_id": pid, "config_hash": config_hash, "corpus": self.request.corpus,
            "kind": config["kind"], "retriever": self.request.retriever,
            "augmenter": config.get("augmenter", ""), "strategy": config.get("strategy", ""),
            "scale": int(config["scale"]), "seed": int(seed),
            "eval_set": ev.evalset.name, "eval_mode": ev.label,
            "ndcg_at_10": metrics["ndcg@10"], "recall_at_100": metrics["recall@100"],
            "mrr_at_10": metrics["mrr@10"], "metrics": json.dumps(metrics, sort_keys=True),
            "n_queries": len(ev.evalset.query_ids), "train_seconds": round(train_seconds, 3),
            "eval_seconds": round(eval_seconds, 3), "device": self.device,
            "config": canonical_json({**config, "eval": self.eval_cfgs[ev.evalset.name]}),
            "created_at": now(),
        }


def run_pilot(
    store: Store,
    request: PilotRequest,
    *,
    models_dir: Path | None = None,
    on_event: Event | None = None,
    cluster: str | None = None,
) -> PilotReport:
    """Compute every missing point of the pilot grid; returns all of its points. With
    ``cluster`` (a Ray address) generation goes to its actors and every point is a task there,
    stored as it finishes (``engine.pilot.remote``)."""
    _validate(request)
    if cluster is not None:  # reached first: a wrong address writes nothing
        from engine.cluster import connect

        connect(cluster)
    info = store.corpus_info(request.corpus)
    run = _PilotRun(store, request, models_dir, on_event)
    train_cfg = run.train_cfg
    grid: list[tuple[dict[str, Any], Sequence[tuple[str, str]] | None, int]] = []

    # Zero-shot: no training, no seed.
    grid.append(({"kind": "zero-shot", "scale": 0}, None, 0))

    # The corpus' own human pairs, when it has a train split.
    if request.human and request.human_split in json.loads(info.get("qrels") or "{}"):
        pairs = human_pairs(store, request.corpus, request.human_split)
        if pairs:
            for seed in request.seeds:
                grid.append(({"kind": "human", "augmenter": "human", "scale": len(pairs),
                              "split": request.human_split, "pairs": _hash(pairs),
                              "seed": seed, "train": train_cfg}, pairs, seed))

    for augmenter in request.augmenters:
        top = max(request.scales)
        pairs, keys, generated = select_pairs(store, request, augmenter, top,
                                              models_dir=models_dir, on_event=on_event,
                                              cluster=cluster)
        run.report.generated += generated
        for scale in sorted(request.scales):
            for seed in request.seeds:
                grid.append(({"kind": "synthetic", "augmenter": augmenter,
                              "strategy": request.strategy, "scale": scale, "seed": seed,
                              "per_passage": request.per_passage,
                              "sample_seed": request.sample_seed,
                              "pairs": _hash(keys[:scale]), "train": train_cfg},
                             pairs[:scale], seed))
    if cluster is None:
        for config, pairs_, seed in grid:
            run.point(config, pairs_, seed)
    else:
        from engine.pilot.remote import measure_on_cluster

        measure_on_cluster(run, [p for c, q, s in grid if (p := run.prepare(c, q, s))])
    return run.report


def measure_training(store: Store, corpus: str, retriever: str, *, pairs: int = 128,
                     split: str = "train", train: TrainConfig | None = None,
                     models_dir: Path | None = None) -> float:
    """Time a training of ``retriever`` on the first ``pairs`` of the corpus' own ``split``
    pairs (nothing is evaluated and the model is dropped) and record it as the retriever's
    training profile on this device: what prices a training before any pilot has trained.
    Returns the pairs per second."""
    config = (train or TrainConfig()).resolved(retriever)
    got = human_pairs(store, corpus, split)[:pairs]
    if len(got) < 2 * config["batch_size"]:
        raise AugplanError(f"corpus {corpus!r}: {len(got)} {split} pairs, fewer than two "
                           f"training batches ({2 * config['batch_size']}) to time a training on")
    seconds = train_point(retrievers.load(retriever, models_dir), got, config, 0, None, "")
    _training_profile(store, retriever, len(got), seconds, config, device_name())
    return len(got) * config["epochs"] / seconds


def _training_profile(store: Store, retriever: str, n: int, seconds: float,
                      config: dict[str, Any], device: str) -> None:
    from engine.profiles import TrainingProfile

    if seconds <= 0:
        return
    rate = n * config["epochs"] / seconds
    store.add_profile(TrainingProfile(
        retriever=retriever, device=device, pairs_per_s=round(rate, 3),
        pairs_per_hour=round(rate * 3600, 1), batch_size=config["batch_size"],
        max_seq_length=config["max_seq_length"], measured_at=now()).to_row())
