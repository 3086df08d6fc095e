"""Helpers shared by test modules: the installed ``augplan`` script run as a user runs it, and
the planner cost profiles several tests plan with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUGPLAN = Path(sys.executable).parent / "augplan"


def run(args: list[str], env: dict[str, str], *, timeout: float = 900):
    return subprocess.run([str(AUGPLAN), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, check=False)


def make_env(store: Path, models_dir: Path, data_dir: Path | None = None, **extra: str):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(AUGPLAN_STORE=str(store), AUGPLAN_MODELS_DIR=str(models_dir), NO_COLOR="1")
    if data_dir is not None:
        env["AUGPLAN_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def user_error(proc: subprocess.CompletedProcess) -> str:
    """The error text of a command that must fail as a user error (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "augplan: error:" in proc.stderr
    return proc.stderr


#: cost profiles of two augmenters and training on one device (the planner's TOML)
PROFILES = """
[augmenters.smollm2-135m]
queries_per_hour = 75000
device = "NVIDIA H200"
params = 134515008

[augmenters."qwen2.5-0.5b"]
queries_per_hour = 30000
device = "NVIDIA H200"

[training]
pairs_per_hour = 900000
device = "NVIDIA H200"
"""
