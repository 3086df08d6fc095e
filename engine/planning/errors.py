"""The one place where the planner's errors become user errors.

The planner names the input an error is about (``PlanError.field``) in plain words; here the
message gets the command-line flag of that input, and the error becomes an
:class:`~store.errors.AugplanError` (exit code 2, no traceback).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from planner import PlanError
from store.errors import AugplanError

#: the flag of each planner input that a user sets on the command line
FLAGS = {
    "risk": "--risk",
    "confidence": "--confidence",
    "bootstrap": "--bootstrap",
    "saturation_fraction": "--saturation",
    "max_extrapolation": "--max-extrapolation",
    "budget_gpu_hours": "--budget-gpu-hours",
    "pilots": "--pilots / --corpus",
    "fit_max_scale": "--fit-max-scale",
    "eval_set": "--eval",
    "weights": "--weights",
    "augmenter": "--augmenters",
    "queries_per_hour": "--profiles",
    "acceptance": "--profiles",
    "cached": "--profiles",
    "prompt_share": "--profiles",
    "per_passage": "--per-passage",
    "pairs_per_hour": "--profiles",
    "embed_per_hour": "--filter-per-hour",
    "price_per_hour": "--price-per-hour",
}


def user_error(exc: PlanError) -> AugplanError:
    """The planner's error as the user's: its message and the flag to change."""
    flag = FLAGS.get(exc.field or "")
    return AugplanError(f"{exc} ({flag})" if flag else str(exc))


@contextlib.contextmanager
def planner_errors() -> Iterator[None]:
    """Run planner code; a PlanError leaves as an AugplanError naming the flag."""
    try:
        yield
    except PlanError as exc:
        raise user_error(exc) from None
