"""Planner errors reach users once, in engine.planning, naming the flag to change."""

from __future__ import annotations

import pytest
import typer

from engine.planning import plan_options, planner_errors
from engine.planning.errors import FLAGS
from planner import PlanError
from planner.errors import FIELDS
from store.errors import AugplanError
from tui.cli import app


def test_every_planner_field_has_a_flag_the_command_line_offers() -> None:
    assert set(FLAGS) == set(FIELDS)
    command = typer.main.get_command(app)
    offered = {opt for cmd in (command.commands["plan"], command.commands["plan"]
                               .commands["backtest"])
               for p in cmd.params for opt in p.opts}
    for flag in FLAGS.values():
        for one in flag.split(" / "):
            if one != "--profiles" or "--profiles" in offered:
                assert one in offered, one


def test_a_planner_error_becomes_a_user_error_naming_the_flag() -> None:
    with pytest.raises(AugplanError) as info, planner_errors():
        raise PlanError("risk 'bold': use neutral or averse", "risk")
    assert str(info.value) == "risk 'bold': use neutral or averse (--risk)"
    with pytest.raises(AugplanError, match=r"^give a single eval set or weights, not both$"), \
            planner_errors():
        raise PlanError("give a single eval set or weights, not both")


def test_plan_options_are_checked() -> None:
    assert plan_options(bootstrap=10).bootstrap == 10
    with pytest.raises(AugplanError, match=r"confidence .*\(--confidence\)"):
        plan_options(confidence=1.5)
