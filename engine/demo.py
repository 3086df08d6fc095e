"""The main job end to end, as one pipeline: import SciFact, pull the smallest augmenter and
the embedder, generate one query for each of N passages (in the pilots' seeded order), embed
and check them, search the cache, a small pilot (a weak and a strong retriever at three
scales, evaluated on a dev split carved out of the train queries when the corpus has none), a
cost profile, a plan under a budget from those pilots (chosen on dev), and that plan run.

:func:`run_demo` yields one :class:`DemoStep` as each step finishes; the command line prints
them. Everything goes through the cache: a second run computes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import catalogue, planning, splits
from engine.datasets import import_dataset
from engine.embed import Embedder
from engine.generate import GenerateRequest, Progress
from engine.pipeline import StageProgress, generate_and_check
from engine.search import search_queries
from store import Selection, Store

#: what the demo searches the cache for
PROBE = "does vitamin D affect immune cells"
EMBEDDER = "minilm-l6"
#: the retriever the demo plans for: the weak one, which gains from augmentation
PLAN_RETRIEVER = "static-minilm"
#: (retriever, evaluation mode, seeds) of the demo's pilot: the static retriever trains and
#: evaluates in seconds (every passage, two seeds); MiniLM in nano mode, one seed
PILOT_RUNS = (("static-minilm", "full", (0, 1)), ("minilm-l6", "nano", (0,)))
PILOT_NANO_K = 5


@dataclass(frozen=True)
class DemoConfig:
    passages: int = 200
    augmenter: str = "smollm2-135m"
    dataset: str = "scifact"
    data_dir: Path | None = None
    download: bool = False
    pilot_scales: tuple[int, ...] = (50, 100, 150)
    pilot: bool = True
    budget_hours: float = 0.02
    models_dir: Path | None = None


@dataclass
class DemoHooks:
    """Where the long steps report: generation progress, the post-generation pass, and
    free-text events (model pulls, pilot and plan progress)."""

    on_progress: Callable[[Progress], None] | None = None
    on_stage: StageProgress | None = None
    on_event: Callable[[str], None] = lambda _m: None


@dataclass
class DemoStep:
    """One finished step: ``kind`` names it, ``data`` holds what it found.

    Kinds, in order: ``corpus``, ``models``, ``generating``, ``generated``, ``stored``,
    ``search``, ``stats``, then (with the pilot) ``pilot-skipped`` or ``pilot-start`` and
    ``pilot``, ``profile``, ``planning``, ``plan``, ``plan-kept`` or ``plan-run`` and
    ``plan-done``, and last ``done``.
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def run_demo(store: Store, config: DemoConfig, hooks: DemoHooks | None = None
             ) -> Iterator[DemoStep]:
    """The demo's steps, each yielded as it finishes."""
    hooks = hooks or DemoHooks()
    t0 = time.perf_counter()
    name, summary, written = import_dataset(store, config.dataset, data_dir=config.data_dir,
                                            download=config.download)
    yield DemoStep("corpus", {"name": name, "summary": summary, "written": written})
    for model in (config.augmenter, EMBEDDER):
        catalogue.pull(model, config.models_dir, hub=config.download, log=hooks.on_event)
    yield DemoStep("models", {"names": [config.augmenter, EMBEDDER]})
    yield from _generation(store, name, config, hooks)
    if config.pilot:
        yield from _pilot(store, name, config, hooks)
        yield from _plan(store, name, config, hooks)
    yield DemoStep("done", {"seconds": time.perf_counter() - t0, "store": store.path,
                            "corpus": name})


def _generation(store: Store, name: str, config: DemoConfig, hooks: DemoHooks
                ) -> Iterator[DemoStep]:
    from engine.pilot import passage_order

    # The pilots' seeded passage order: the pilot below then finds its queries in the cache.
    order = [pid for pid, _ in passage_order(store, name, 0)[:config.passages]]
    request = GenerateRequest(corpus=name, augmenter=config.augmenter, passages=tuple(order))
    yield DemoStep("generating", {"passages": len(order)})
    embedder = Embedder(models_dir=config.models_dir)
    outcome = generate_and_check(store, request, models_dir=config.models_dir,
                                 embedder=embedder, on_progress=hooks.on_progress,
                                 on_stage=hooks.on_stage)
    yield DemoStep("generated", {"outcome": outcome})
    sel = Selection(corpus=name, augmenter=config.augmenter)
    pairs = store.augmentations(sel, ["passage_id", "query", "status"])
    by_pid = dict(zip(pairs.column("passage_id").to_pylist(), pairs.column("query").to_pylist(),
                      strict=True))
    shown = order[:5]
    titles = store.passages(name, ids=shown, columns=["passage_id", "title"])
    title_of = dict(zip(titles.column("passage_id").to_pylist(),
                        titles.column("title").to_pylist(), strict=True))
    yield DemoStep("stored", {
        "corpus": name, "augmenter": config.augmenter, "queries": pairs.num_rows,
        "ok": sum(1 for s in pairs.column("status").to_pylist() if s == "ok"),
        "samples": [(title_of.get(pid) or "", by_pid.get(pid, "")) for pid in shown]})
    hits = search_queries(store, PROBE, mode="hybrid", selection=Selection(corpus=name),
                          limit=3, embedder=embedder)
    yield DemoStep("search", {"probe": PROBE, "corpus": name, "hits": hits.to_dicts()})
    yield DemoStep("stats", {"stats": store.stats()})


def _pilot(store: Store, name: str, config: DemoConfig, hooks: DemoHooks
           ) -> Iterator[DemoStep]:
    from engine.pilot import PilotRequest, run_pilot

    if not {"dev", "test"} & set(store.qrel_splits(name)):
        yield DemoStep("pilot-skipped", {"corpus": name})
        return
    # choices are made on dev: carve one when the corpus has none (test stays for reports)
    carved = splits.ensure_dev(store, name)
    eval_set = f"{name}:{splits.choice_split(store, name)}"
    yield DemoStep("pilot-start", {"corpus": name, "scales": config.pilot_scales,
                                   "augmenter": config.augmenter, "nano_k": PILOT_NANO_K,
                                   "eval_set": splits.split_note(store, eval_set),
                                   "carved": carved is not None})
    points = []
    for retriever, mode, seeds in PILOT_RUNS:
        request = PilotRequest(corpus=name, retriever=retriever, augmenters=(config.augmenter,),
                               scales=config.pilot_scales, seeds=seeds, eval_mode=mode,
                               nano_k=PILOT_NANO_K, human=False, evals=(eval_set,))
        points += run_pilot(store, request, models_dir=config.models_dir,
                            on_event=hooks.on_event).points
    yield DemoStep("pilot", {"corpus": name, "points": points, "eval_set": eval_set})


def _plan(store: Store, name: str, config: DemoConfig, hooks: DemoHooks
          ) -> Iterator[DemoStep]:
    from engine.pilot import device_name
    from engine.profiles import measure_augmenter, stored_profiles

    device = device_name()
    measured = not stored_profiles(store, kind="augmenter", name=config.augmenter,
                                   device=device)
    yield DemoStep("profile", {"augmenter": config.augmenter, "measuring": measured})
    if measured:
        measure_augmenter(config.augmenter, passages=8, store=store, corpus=name,
                          models_dir=config.models_dir)
    yield DemoStep("planning", {"retriever": PLAN_RETRIEVER, "budget": config.budget_hours})
    made = planning.make_plan(config.budget_hours, store=store, corpus=name,
                              retriever=PLAN_RETRIEVER, device=device,
                              options=planning.plan_options(bootstrap=1000))
    doc = planning.plan_document(made.plan, made.meta)
    path = planning.plan_file(store.path, name)
    planning.write_plan(path, doc)
    yield DemoStep("plan", {"plan": made.plan, "doc": doc, "path": path})
    if doc["scale"] == 0:
        yield DemoStep("plan-kept", {"path": path})
        return
    yield DemoStep("plan-run", {"path": path, "doc": doc})
    summary = planning.execute_plan(store, doc, planning.training_file(store.path, doc),
                                    models_dir=config.models_dir, on_event=hooks.on_event)
    yield DemoStep("plan-done", {"summary": summary})


__all__ = ["PROBE", "DemoConfig", "DemoHooks", "DemoStep", "run_demo"]
