"""What the planner optimises: the options of a plan (risk, interval level, bootstrap, limits)
and the objective's weights per eval set."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from planner.errors import PlanError


@dataclass(frozen=True)
class PlanOptions:
    risk: str = "neutral"  # neutral: maximise the prediction; averse: its lower bound
    confidence: float = 0.9
    bootstrap: int = 1000
    saturation_fraction: float = 0.95
    max_extrapolation: float = 4.0  # never beyond this times the largest pilot scale
    criterion: str = "auto"
    grid: int = 160
    seed: int = 0
    joint: bool = True  # also fit the augmenters of one eval set jointly (AICc decides)
    tolerance: float = 0.003  # a choice within this of the best option counts as right
    # spend the budget: of the chosen configuration's affordable scales predicted within
    # ``tolerance`` of its best, take the largest (ties are not saved money but untested data)
    spend: bool = False

    def validate(self) -> None:
        if self.risk not in ("neutral", "averse"):
            raise PlanError(f"risk {self.risk!r}: use neutral or averse", "risk")
        if not 0.5 <= self.confidence < 1:
            raise PlanError("confidence must be in [0.5, 1)", "confidence")
        if self.bootstrap < 0:
            raise PlanError("bootstrap must not be negative", "bootstrap")
        if self.risk == "averse" and self.bootstrap < 50:
            raise PlanError("risk averse needs a bootstrap (at least 50 resamples)", "bootstrap")
        if not 0 < self.saturation_fraction < 1:
            raise PlanError("saturation fraction must be in (0, 1)", "saturation_fraction")
        if self.max_extrapolation < 1:
            raise PlanError("max extrapolation must be at least 1", "max_extrapolation")


def resolve_weights(eval_sets: Sequence[str], spec: str | None, *, corpus: str | None = None,
                    only: str | None = None) -> dict[str, float]:
    """Objective weights per eval set: all on the single eval set ``only``, or from ``spec``.

    ``spec`` is ``NAME=w,...``; the names ``in`` (eval sets of the corpus itself, named
    ``CORPUS:split``) and ``ood`` (all others) share their weight equally. Without either, the
    in-domain sets are used when known, else every set equally. Weights are normalised.
    """
    sets = sorted(set(eval_sets))
    if not sets:
        raise PlanError("no eval sets in the pilots", "pilots")
    if only is not None and spec is not None:
        raise PlanError("give a single eval set or weights, not both")
    if only is not None:
        if only not in sets:
            raise PlanError(f"eval set {only!r}: no pilot points on it (have: {', '.join(sets)})",
                            "eval_set")
        return {only: 1.0}

    def in_domain(s: str) -> bool:
        return corpus is not None and s.split(":", 1)[0] == corpus

    if spec is None:
        chosen = [s for s in sets if in_domain(s)] or sets
        return {s: 1.0 / len(chosen) for s in chosen}
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = math.nan
        if not sep or not math.isfinite(w) or w < 0:
            raise PlanError(f"weights {part!r}: write NAME=WEIGHT with a weight >= 0", "weights")
        if name in ("in", "ood"):
            group = [s for s in sets if in_domain(s) == (name == "in")]
            if not group:
                raise PlanError(f"weights {name}: no {'in' if name == 'in' else 'out-of'}"
                                f"-domain eval set among {', '.join(sets)}"
                                + ("" if corpus else " (name the corpus)"), "weights")
            for s in group:
                weights[s] = weights.get(s, 0.0) + w / len(group)
        elif name in sets:
            weights[name] = weights.get(name, 0.0) + w
        else:
            raise PlanError(f"weights {name!r}: no pilot points on it "
                            f"(have: {', '.join(sets)})", "weights")
    total = sum(weights.values())
    if total <= 0:
        raise PlanError("weights: at least one weight must be positive", "weights")
    return {k: v / total for k, v in weights.items() if v > 0}


__all__ = ["PlanOptions", "resolve_weights"]
