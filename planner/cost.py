"""Cost model: device-hours (GPU-hours on a GPU) to generate, filter and train on n queries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from planner.errors import PlanError


@dataclass(frozen=True)
class AugmenterCost:
    """Generation throughput of one augmenter on the target device.

    ``acceptance`` is the share of generated queries that pass the filters (so n accepted pairs
    need n / acceptance generated ones); ``cached`` accepted queries already exist and cost
    nothing to reuse. ``prompt_share`` is the part of a query's time (at one query per passage)
    spent on its passage's prompt, which the K queries of a passage pay once where the backend
    shares that prompt (0: every query pays its own).
    """

    name: str
    queries_per_hour: float
    device: str = ""
    params: int | None = None
    acceptance: float = 1.0
    cached: int = 0
    prompt_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.queries_per_hour > 0:
            raise PlanError(f"augmenter {self.name!r}: queries_per_hour must be positive",
                            "queries_per_hour")
        if not 0 < self.acceptance <= 1:
            raise PlanError(f"augmenter {self.name!r}: acceptance must be in (0, 1]", "acceptance")
        if self.cached < 0:
            raise PlanError(f"augmenter {self.name!r}: cached must not be negative", "cached")
        if not 0 <= self.prompt_share < 1:
            raise PlanError(f"augmenter {self.name!r}: prompt_share must be in [0, 1)",
                            "prompt_share")

    def hours_per_query(self, per_passage: int = 1) -> float:
        """Generation hours of one query when each passage gets ``per_passage`` of them."""
        share = self.prompt_share
        return (share / per_passage + 1.0 - share) / self.queries_per_hour


@dataclass(frozen=True)
class CostModel:
    """Hours of the target device for n accepted pairs of an augmenter.

    hours(n) = generated / queries_per_hour + generated / embed_per_hour + n / pairs_per_hour,
    with generated = max(n - cached, 0) / acceptance. ``embed_per_hour`` (filtering and
    embedding) is optional; ``price_per_hour`` turns hours into money. ``per_passage`` queries
    of each passage share its prompt (see ``AugmenterCost.prompt_share``).
    """

    augmenters: dict[str, AugmenterCost]
    training_pairs_per_hour: float
    embed_per_hour: float | None = None
    price_per_hour: float | None = None
    device: str = ""
    notes: list[str] = field(default_factory=list)
    per_passage: int = 1

    def __post_init__(self) -> None:
        if self.per_passage < 1:
            raise PlanError("per_passage must be at least 1", "per_passage")
        if not self.training_pairs_per_hour > 0:
            raise PlanError("training pairs_per_hour must be positive", "pairs_per_hour")
        if self.embed_per_hour is not None and not self.embed_per_hour > 0:
            raise PlanError("embed_per_hour must be positive", "embed_per_hour")
        if self.price_per_hour is not None and self.price_per_hour < 0:
            raise PlanError("price per hour must not be negative", "price_per_hour")

    def augmenter(self, name: str) -> AugmenterCost:
        try:
            return self.augmenters[name]
        except KeyError:
            known = ", ".join(sorted(self.augmenters)) or "none"
            raise PlanError(f"no cost profile for augmenter {name!r} (profiles: {known})",
                            "augmenter") from None

    def with_cached(self, cached: dict[str, int] | None = None) -> CostModel:
        """The same model with these accepted queries in hand per augmenter (0 for one not
        named; ``None``: none anywhere), e.g. to price a policy as if it generated its own."""
        cached = cached or {}
        return replace(self, augmenters={k: replace(v, cached=int(cached.get(k, 0)))
                                         for k, v in self.augmenters.items()})

    def _rate(self, a: AugmenterCost) -> float:
        """Hours per generated query (generation plus filtering/embedding)."""
        per = a.hours_per_query(self.per_passage)
        if self.embed_per_hour is not None:
            per += 1.0 / self.embed_per_hour
        return per

    def generated(self, name: str, n: float) -> float:
        """Queries to generate for n accepted pairs (cached ones are free)."""
        a = self.augmenter(name)
        return max(n - a.cached, 0.0) / a.acceptance

    def breakdown(self, name: str, n: float) -> dict[str, float]:
        """Hours by stage for n accepted pairs."""
        a = self.augmenter(name)
        gen = self.generated(name, n)
        out = {"generation": gen * a.hours_per_query(self.per_passage),
               "training": n / self.training_pairs_per_hour}
        out["filtering"] = gen / self.embed_per_hour if self.embed_per_hour else 0.0
        out["total"] = out["generation"] + out["filtering"] + out["training"]
        return out

    def hours(self, name: str, n: float) -> float:
        return self.breakdown(name, n)["total"]

    def money(self, hours: float) -> float | None:
        return None if self.price_per_hour is None else hours * self.price_per_hour

    def max_scale(self, name: str, budget_hours: float) -> float:
        """Largest n whose hours fit the budget (hours are piecewise linear in n)."""
        a = self.augmenter(name)
        if budget_hours <= 0:
            return 0.0
        train = 1.0 / self.training_pairs_per_hour
        free = a.cached * train  # hours to train on the cached pairs alone
        if budget_hours <= free:
            return budget_hours / train
        per = train + self._rate(a) / a.acceptance
        return a.cached + (budget_hours - free) / per

    def per_query_ratio(self, name: str, other: str) -> float:
        """How many times the generation cost per query of ``name`` is that of ``other``."""
        a, b = self.augmenter(name), self.augmenter(other)
        return (self._rate(a) / a.acceptance) / (self._rate(b) / b.acceptance)


def nice_scale(n: float) -> int:
    """n rounded down to two significant digits (1,234 -> 1,200), at least 1."""
    if n < 1:
        return 0
    mag = 10 ** max(math.floor(math.log10(n)) - 1, 0)
    return int(n // mag * mag)


__all__ = ["AugmenterCost", "CostModel", "PlanError", "nice_scale"]
