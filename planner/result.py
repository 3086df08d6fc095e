"""What a plan is: the recommended option, its alternatives at matched cost, the warnings and
the next pilot to run (plain data, JSON-able)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from planner.pilots import Curve


def _num(v: float | None) -> float | None:
    """A number for JSON: 6 decimals; None for a missing or non-finite value."""
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


@dataclass
class Option:
    """One (augmenter, strategy, n) with its prediction and cost."""

    augmenter: str
    strategy: str
    scale: int
    predicted_metric: float
    ci_low: float
    ci_high: float
    cost_gpu_hours: float
    cost_money: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class Plan:
    augmenter: str
    strategy: str
    scale: int
    predicted_metric: float
    ci_low: float
    ci_high: float
    cost_gpu_hours: float
    cost_money: float | None
    budget_gpu_hours: float
    saturation_scale: float | None
    saturation_ci: tuple[float, float] | None
    marginal_gain_per_gpu_hour: float | None
    zero_shot: float | None
    augmentation_helps: bool
    objective: dict[str, float]
    risk: str
    confidence: float
    alternatives: list[Option] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_pilot: dict[str, Any] | None = None
    explanation: str = ""
    curves: list[Curve] = field(default_factory=list, repr=False)
    cost_breakdown: dict[str, float] = field(default_factory=dict)
    # the largest scale the pilots speak for (the extrapolation limit times the largest pilot):
    # a saturation scale beyond it is reported as not determined
    saturation_limit: float | None = None
    # the smallest pilot scale above zero of the choice: a saturation scale under it is reported
    # as reached by then, where exactly not determined (nothing was measured in between)
    saturation_floor: float | None = None
    # share of bootstrap draws in which the choice is within the tolerance of the best option
    stability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        num = _num
        return {
            "augmenter": self.augmenter, "strategy": self.strategy, "scale": self.scale,
            "predicted_metric": num(self.predicted_metric), "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high), "confidence": self.confidence,
            "cost_gpu_hours": num(self.cost_gpu_hours), "cost_money": num(self.cost_money),
            "cost_breakdown": {k: num(v) for k, v in self.cost_breakdown.items()},
            "budget_gpu_hours": self.budget_gpu_hours,
            "saturation_scale": num(self.saturation_scale),
            "saturation_ci": ([num(v) for v in self.saturation_ci]
                              if self.saturation_ci else None),
            "saturation_limit": num(self.saturation_limit),
            "saturation_floor": num(self.saturation_floor),
            "stability": num(self.stability),
            "marginal_gain_per_gpu_hour": num(self.marginal_gain_per_gpu_hour),
            "zero_shot": num(self.zero_shot), "augmentation_helps": self.augmentation_helps,
            "objective": self.objective, "risk": self.risk,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "warnings": list(self.warnings), "next_pilot": self.next_pilot,
            "explanation": self.explanation,
            "curves": [{
                "augmenter": c.augmenter, "strategy": c.strategy, "eval_set": c.eval_set,
                "family": c.fit.best.family,
                "params": dict(zip(c.fit.family.params, c.fit.best.theta, strict=True)),
                "criterion": c.fit.criterion, "joint": c.joint or None,
                "asymptote": num(c.fit.asymptote()),
                "saturation_scale": num(c.fit.saturation_scale()),
                "pilot_scales": c.scales,
            } for c in self.curves],
        }
