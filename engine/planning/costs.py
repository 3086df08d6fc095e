"""The planner's cost model from cost profiles (measured here, imported, or from a TOML file)
and the store's acceptance rates and cached queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.planning.errors import planner_errors
from engine.prompts import DEFAULT_STRATEGY
from planner import AugmenterCost, CostModel
from store import Selection, Store
from store.errors import AugplanError


@dataclass
class CostInputs:
    """What a cost model is built from (to show the user where each number came from)."""

    model: CostModel
    sources: dict[str, str]  # augmenter / "training" -> "device (source)"
    devices: list[str]


def cost_model(profiles: Sequence[Any], retriever: str, *, device: str | None = None,
               price_per_hour: float | None = None, filter_per_hour: float | None = None,
               store: Store | None = None, corpus: str | None = None,
               strategy: str = DEFAULT_STRATEGY, per_passage: int = 1) -> CostInputs:
    """A planner cost model from engine profiles (the latest per augmenter; the training
    profile of ``retriever``, or the only one). With a store and corpus, each augmenter's
    measured acceptance rate and its accepted queries already cached are used.
    ``per_passage`` queries of a passage share its prompt where the profile's backend does."""
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
        with planner_errors():
            costs[name] = AugmenterCost(name, p.queries_per_hour, p.device, p.model_params,
                                        acceptance, cached, prompt_share=p.prompt_share)
    with planner_errors():
        model = CostModel(costs, t.pairs_per_hour, filter_per_hour, price_per_hour,
                          device=device or "", per_passage=per_passage)
    sources = {n: f"{p.device or 'device not given'} ({p.source})" for n, p in aug.items()}
    sources["training"] = f"{t.device or 'device not given'} ({t.source}, {t.retriever})"
    # a profile that does not name its device is taken to be of the others' device
    devices = sorted(({p.device for p in aug.values()} | {t.device}) - {""})
    return CostInputs(model, sources, devices)


def _acceptance(store: Store, corpus: str, augmenter: str, strategy: str) -> tuple[float, int]:
    t = store.augmentations(Selection(corpus=corpus, augmenter=augmenter, strategy=strategy),
                            ["status"])
    status = t.column("status").to_pylist() if t.num_rows else []
    checked = [s for s in status if s and s != "unchecked"]
    ok = sum(1 for s in checked if s == "ok")
    if len(checked) < 20:
        return 1.0, ok
    return max(ok / len(checked), 0.01), ok


