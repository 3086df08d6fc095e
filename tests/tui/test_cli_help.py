"""What a user reads before running anything: every command's --help, and tables printed
into a pipe or a file."""

from __future__ import annotations

import inspect
import re

import pytest
import typer
from typer.testing import CliRunner

from tests.helpers import make_env, ok, run
from tui.cli import app

COMMAND = typer.main.get_command(app)


def _commands(group=COMMAND, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name), cmd
        if getattr(cmd, "commands", None):
            yield from _commands(cmd, (*prefix, name))


COMMANDS = list(_commands())


def test_every_command_group_is_there() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    for expected in ("models list", "corpus import", "generate", "runs resume", "query",
                     "export", "filter", "diversity", "pilot", "pilots export", "plan",
                     "plan backtest", "run", "bench", "profiles import", "tui", "demo"):
        assert expected in names


def _first_sentence(help_text: str) -> str:
    text = " ".join(inspect.cleandoc(help_text).split())
    return re.split(r"(?<=[.;:])\s", text)[0]


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if c.help],
                         ids=lambda p: " ".join(p))
def test_help_keeps_sentences_whole(path: tuple[str, ...]) -> None:
    """A docstring wrapped by hand is rewrapped to the terminal: at 200 columns its first
    sentence is on one line, never broken where the source broke it."""
    cmd = dict(COMMANDS)[path]
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200,
                                              env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    flat = [" ".join(line.strip(" │").split()) for line in result.output.splitlines()]
    assert any(_first_sentence(cmd.help) in line for line in flat), result.output


def test_option_help_is_not_eaten_as_markup() -> None:
    """Square brackets in an option's help are text, not rich markup tags."""
    result = CliRunner().invoke(app, ["plan", "--help"], terminal_width=200,
                                              env={"COLUMNS": "200"})
    assert "optional seed, retriever, strategy, eval_set, kind" in " ".join(result.output.split())


def test_tables_in_a_pipe_keep_their_columns(tmp_path) -> None:
    """Piped into a file, ``models list`` prints whole names and headers (a console that is
    not a terminal assumes 80 columns; the table would squeeze them to "augme…")."""
    env = make_env(tmp_path / "store", tmp_path / "models")
    text = ok(run(["models", "list"], env))
    assert "…" not in text
    header = next(line for line in text.splitlines() if "name" in line and "kind" in line)
    for col in ("present", "verified", "quant", "family"):
        assert col in header
    for name in ("smollm2-135m", "qwen2.5-1.5b", "minilm-l6"):
        assert name in text
