"""What the autopilot's budget buys first: the request, the first pilot scale and the
candidates it pilots (every one, or the cheapest per query), priced with their generation,
evaluations and training before they are bought; a share that buys none is refused with the
budget that would (``PilotsUnaffordable.need_hours``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.pilot import TrainConfig
from store import Store
from store.errors import AugplanError

#: first pilot scales tried, largest first, when none is given (never under two training
#: batches): generating the initial points (this scale and twice it) must fit in the share
FIRST_SCALES = (200, 100, 64)


@dataclass(frozen=True)
class AutopilotRequest:
    corpus: str
    retriever: str
    augmenters: tuple[str, ...]
    budget_hours: float
    pilot_share: float = 0.25
    device: str | None = None
    first_scale: int | None = None  # None: the largest of FIRST_SCALES the share affords
    seeds: tuple[int, ...] = (0, 1)
    eval_mode: str = "nano"
    nano_k: int = 10
    stability: float = 0.9
    tolerance: float = 0.003
    max_points: int = 8  # points added by the loop, at most
    final_seed: int = 100  # apart from the pilots' seeds: the final model is never a pilot point
    # price every query the autopilot did not generate itself, even one the store holds (an
    # equal-cost comparison of policies on a shared store); False: cached queries are free
    fresh_cache: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)


# The budgets a refusal or a warning names carry a tenth to spare: the prices move from run to
# run (a training rate recorded since, an evaluation timed anew), and a budget priced to the
# hair is refused again by the next run's price.
SPARE = 1.1


class PilotsUnaffordable(AugplanError):
    """The pilot share buys no informative pilot. ``need_hours``: the budget (at the request's
    pilot share) that buys the first points the message prices; ``need_share``: the share
    (of the request's budget) that buys them, None when it would be the whole budget."""

    def __init__(self, message: str, *, hint: str, need_hours: float,
                 need_share: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.need_hours = need_hours
        self.need_share = need_share


@dataclass(frozen=True)
class FirstPoints:
    """The first pilot scale, the candidates piloted at it and this scale's twice, warnings
    for the report, and ``every_hours``: when only some candidates are piloted, the budget
    whose pilot share would pilot every one (None when every one is)."""

    scale: int
    piloted: tuple[str, ...]
    warnings: list[str]
    every_hours: float | None = None


def training_rate(store: Store, r: AutopilotRequest) -> float | None:
    """Training pairs per hour of ``r.retriever``: its latest training profile (of the device,
    when one is named), or one that names no retriever; None when none is recorded yet (another
    retriever's rate says nothing of this one's)."""
    from engine.profiles import TrainingProfile, stored_profiles

    own = [p for p in stored_profiles(store) if isinstance(p, TrainingProfile)
           and p.retriever in (r.retriever, "default")
           and (r.device is None or p.device == r.device)]
    return own[-1].pairs_per_hour if own else None


def first_points(store: Store, r: AutopilotRequest, pilot_cap: float, *,
                 eval_hours: float = 0.0, spent: float = 0.0,
                 train_rate: float | None = None) -> FirstPoints:
    """The first pilot scale and the candidates piloted: as given (every candidate's initial
    points must fit in the pilot share), or every candidate at the largest informative scale
    the share buys (at least two training batches; FIRST_SCALES), else the cheapest candidates
    per query that it buys at such a scale. Every candidate needs a generation profile; a share
    that buys no informative pilot is refused (``PilotsUnaffordable``).

    A candidate's first points cost the generation of their queries and, once the zero-shot
    point has measured what one evaluation on dev takes (``eval_hours``; ``spent``: what the
    zero-shot point cost), an evaluation per point and seed, and their training at
    ``train_rate`` pairs per hour (the retriever's training profile). Without a training rate
    (no point of this retriever has trained on the device yet) training is left out and the
    price is a floor."""
    from engine.profiles import AugmenterProfile, stored_profiles

    rates = {p.augmenter: p.queries_per_hour for p in stored_profiles(store)
             if isinstance(p, AugmenterProfile) and (r.device is None or p.device == r.device)}
    missing = [a for a in r.augmenters if a not in rates]
    if missing:
        raise AugplanError(f"--augmenters: no cost profile for {', '.join(missing)}"
                           + (f" on device {r.device!r}" if r.device else ""),
                           hint="measure it: augplan bench --augmenter NAME")
    evals = 2 * len(r.seeds)  # two scales, every seed

    # both scales, every seed, every epoch
    train_hours = len(r.seeds) * 3 * r.train.epochs / train_rate if train_rate else 0.0

    def hours(scale: int, augs: tuple[str, ...]) -> float:  # their initial points
        return spent + sum(2 * scale / rates[a] + evals * eval_hours + scale * train_hours
                           for a in augs)

    def price(scale: int, augs: tuple[str, ...], each: str) -> str:
        cost = f"{2 * scale} queries of {each} take {hours(scale, augs):.3g} hours to generate"
        if eval_hours <= 0:
            return cost
        evaluations = (f"{evals} dev evaluations of {eval_hours * 3600:.0f} s each, timed on "
                       f"the zero-shot point, which cost {spent:.3g} h")
        if not train_rate:
            return f"{cost} and evaluate, at least ({evaluations}; training not priced yet)"
        return (f"{cost}, train and evaluate ({evaluations}; training at "
                f"{train_rate / 3600:.3g} pairs/s, the latest rate recorded for {r.retriever})")

    def refuse(what: str, scale: int, augs: tuple[str, ...], each: str,
               also: str) -> PilotsUnaffordable:
        return _refusal(r, pilot_cap, what, hours(scale, augs), price(scale, augs, each), also)

    informative = 2 * r.train.batch_size  # one batch is one step, at a warm-up rate of zero
    if r.first_scale is not None:
        if hours(r.first_scale, r.augmenters) > pilot_cap:
            raise refuse("smallest pilot", r.first_scale, r.augmenters, "each candidate",
                         ", or lower --first-scale")
        small = (f"the first pilot scale ({r.first_scale}) is under two training batches "
                 f"({informative} pairs): such points barely train and say little")
        warnings = [] if r.first_scale >= informative else [small]
        return FirstPoints(r.first_scale, r.augmenters, warnings)
    cheapest_first = tuple(sorted(r.augmenters, key=lambda a: -rates[a]))
    scales = sorted({s for s in FIRST_SCALES if s >= informative} | {informative},
                    reverse=True)
    for k in range(len(cheapest_first), 0, -1):
        for scale in scales:
            if hours(scale, cheapest_first[:k]) <= pilot_cap:
                left = cheapest_first[k:]
                if not left:
                    return FirstPoints(scale, r.augmenters, [])
                every = round_up(SPARE * hours(informative, r.augmenters) / r.pilot_share)
                partial = (f"the pilot share ({pilot_cap:.3g} h) buys informative pilots of "
                           f"{', '.join(cheapest_first[:k])} only; not piloted, so not "
                           f"chosen: {', '.join(left)} (a budget of {every:g} h at "
                           f"--pilot-share {r.pilot_share:g} pilots every candidate)")
                return FirstPoints(scale, cheapest_first[:k], [partial], every)
    raise refuse("smallest informative pilot", informative, cheapest_first[:1],
                 f"the cheapest candidate ({cheapest_first[0]})", "")


def _refusal(r: AutopilotRequest, pilot_cap: float, what: str, cost: float, priced: str,
             also: str) -> PilotsUnaffordable:
    """A share that cannot buy the first points (``cost`` hours, ``priced`` says how): the
    budget that buys them at this share, and the share of this budget that does (none when
    they cost all of it), both with a tenth to spare."""
    need = round_up(SPARE * cost / r.pilot_share)
    share = round_up(SPARE * cost / r.budget_hours)
    other = f" or --pilot-share to at least {share:g} (at {r.budget_hours:g} h)" \
        if share < 1 else ""
    return PilotsUnaffordable(
        f"a pilot share of {pilot_cap:.3g} device-hours cannot buy the {what}: {priced}",
        hint=(f"raise --budget-gpu-hours to at least {need:g} (at --pilot-share "
              f"{r.pilot_share:g}){other}{also}; with a tenth to spare, as prices move "
              "between runs"), need_hours=need, need_share=share if share < 1 else None)


def round_up(x: float, digits: int = 2) -> float:
    """``x`` rounded up to ``digits`` significant digits (a budget that buys, not one a hair
    short: 0.202 -> 0.21)."""
    if x <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return round(math.ceil(x / step - 1e-9) * step, 12)
