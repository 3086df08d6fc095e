"""Profiles as TOML files in the planner's format: writing, parsing (validated in full),
reading, importing into and exporting from the store, and the shipped reference profiles
(``engine/profiles/*.toml``, package data)."""

from __future__ import annotations

import datetime as _dt
import math
import os
import tomllib
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.profiles.data import (
    AugmenterProfile,
    Profile,
    ProfileSet,
    TrainingProfile,
    now_utc,
    save_profile,
    stored_profiles,
)
from engine.prompts import DEFAULT_STRATEGY
from store.errors import AugplanError

if TYPE_CHECKING:
    from store import Store

__all__ = [
    "dumps_profiles",
    "export_profiles",
    "import_profiles",
    "load_reference",
    "parse_profiles",
    "read_profiles",
    "reference_profiles",
]

_BILLION = 1_000_000_000

#: the package that holds the reference profiles as data files
_REFERENCE_PACKAGE = "engine.profiles"


# ------------------------------------------------------------------------------- writing


def dumps_profiles(
    augmenters: Iterable[AugmenterProfile] = (),
    training: Iterable[TrainingProfile] = (),
    *,
    header: str | None = None,
) -> str:
    """TOML text of profiles in the planner's format (the last profile of a name wins)."""
    import tomli_w

    doc: dict[str, Any] = {}
    aug = {p.augmenter: p.to_toml() for p in augmenters}
    train = {p.retriever: p.to_toml() for p in training}
    if aug:
        doc["augmenters"] = aug
    if train:
        doc["training"] = train
    text = tomli_w.dumps(doc)
    lines = [f"# {line}".rstrip() for line in (header or "").splitlines()]
    return ("\n".join(lines) + "\n\n" if lines else "") + text


def export_profiles(store: Store, path: str | Path, *, device: str | None = None) -> int:
    """Write the latest profile of each augmenter and retriever (of ``device``, if given) to a
    TOML file; returns how many profiles were written."""
    profiles = stored_profiles(store, device=device)
    if not profiles:
        where = f" for device {device!r}" if device else ""
        raise AugplanError(
            f"no profiles in the store{where}",
            hint="measure one with `augplan bench --augmenter NAME` or import a file",
        )
    latest: dict[tuple[str, str], Profile] = {}
    for p in profiles:  # oldest first: later ones replace earlier ones
        latest[(p.kind, p.name)] = p
    aug = [p for p in latest.values() if isinstance(p, AugmenterProfile)]
    train = [p for p in latest.values() if isinstance(p, TrainingProfile)]
    devices = sorted({p.device for p in latest.values()})
    text = dumps_profiles(
        aug, train, header=f"augplan cost profiles, exported {now_utc()}\ndevices: "
        + "; ".join(devices),
    )
    _write_atomic(Path(path), text)
    return len(aug) + len(train)


def _write_atomic(target: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``target``, then rename it over ``target``."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AugplanError(f"cannot write {target}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------- reading


def import_profiles(store: Store, path: str | Path) -> ProfileSet:
    """Read a TOML file (or a reference profile by name), validate all of it, then store it.

    Nothing is stored when any field is wrong. Profiles already in the store are kept once.
    """
    profiles = read_profiles(path)
    added: list[str] = []
    try:
        for p in profiles:
            if save_profile(store, p):
                added.append(p.to_row()["profile_id"])
    except BaseException:  # undo: remove what this import added, nothing else
        store.delete_profiles(added)
        raise
    return profiles


def _reference_root() -> Traversable:
    return resources.files(_REFERENCE_PACKAGE)


def reference_profiles() -> list[str]:
    """Names of the reference profiles shipped with augplan (``engine/profiles/*.toml``)."""
    root = _reference_root()
    if not root.is_dir():
        return []
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def load_reference(name: str) -> ProfileSet:
    """A shipped reference profile by name."""
    res = _reference_root() / f"{name}.toml"
    if not res.is_file():
        known = ", ".join(reference_profiles()) or "none"
        raise AugplanError(f"no reference profile {name!r} (known: {known})")
    return parse_profiles(res.read_text(encoding="utf-8"), f"profiles/{name}.toml",
                          source=f"reference:{name}")


def read_profiles(path: str | Path) -> ProfileSet:
    """Profiles of a TOML file; a name that is no file but a reference profile loads that."""
    p = Path(path).expanduser()
    if not p.exists() and str(path) in reference_profiles():
        return load_reference(str(path))
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(reference_profiles())
        raise AugplanError(f"{p}: no such file", hint=f"reference profiles: {known}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AugplanError(f"{p}: cannot read it: {exc}") from None
    return parse_profiles(text, str(p), source=str(p))


# ------------------------------------------------------------------------------- parsing

_Spec = dict[str, tuple[type | tuple[type, ...], bool]]

_AUG_FIELDS: _Spec = {
    # field: (types, required)
    "queries_per_hour": ((int, float), True),
    "device": (str, False),  # optional: a profile from a file may not say where it was measured
    "params": ((int, float), False),
    "strategy": (str, False),
    "backend": (str, False),
    "prompt_tokens_per_s": ((int, float), False),
    "gen_tokens_per_s": ((int, float), False),
    "peak_memory_mb": ((int, float), False),
    "measured_at": ((str, _dt.datetime, _dt.date), False),
    "queries_per_s": ((int, float), False),
    "threads": (int, False),
    "passages": (int, False),
    "peak_rss_mb": ((int, float), False),
    "peak_gpu_mb": ((int, float), False),
    "settings": (dict, False),
}
_TRAIN_FIELDS: _Spec = {
    "pairs_per_hour": ((int, float), True),
    "device": (str, False),
    "pairs_per_s": ((int, float), False),
    "batch_size": (int, False),
    "max_seq_length": (int, False),
    "measured_at": ((str, _dt.datetime, _dt.date), False),
    "retriever": (str, False),
}


def parse_profiles(text: str, file: str, *, source: str | None = None) -> ProfileSet:
    """Profiles of TOML text; errors name ``file`` and the table and field."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AugplanError(f"{file}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"augmenters", "training"})
    if unknown:
        raise AugplanError(
            f"{file}: unknown top-level table(s) {', '.join(unknown)}",
            hint="use [augmenters.NAME] and [training.RETRIEVER] (or one [training] table)",
        )
    if not doc:
        raise AugplanError(f"{file}: no [augmenters.NAME] or [training] tables")
    src = source or file
    return ProfileSet(
        augmenters=_parse_augmenters(doc.get("augmenters", {}), file, src),
        training=_parse_training(doc.get("training", {}), file, src),
    )


def _parse_augmenters(augmenters: Any, file: str, src: str) -> list[AugmenterProfile]:
    """The ``[augmenters.NAME]`` tables."""
    if not isinstance(augmenters, dict):
        raise AugplanError(f"{file}: augmenters must be a table of [augmenters.NAME] tables")
    result = []
    for name, raw in augmenters.items():
        t = _check_table(file, f"augmenters.{name}", raw, _AUG_FIELDS)
        qph = float(t["queries_per_hour"])
        peak_rss = t.get("peak_rss_mb")
        peak_gpu = t.get("peak_gpu_mb")
        if peak_rss is None and peak_gpu is None:
            peak_rss = t.get("peak_memory_mb", 0.0)
        result.append(
            AugmenterProfile(
                augmenter=name,
                strategy=t.get("strategy", DEFAULT_STRATEGY),
                backend=t.get("backend", "llama.cpp"),
                device=t.get("device", ""),
                threads=int(t.get("threads", 0)),
                prompt_tokens_per_s=float(t.get("prompt_tokens_per_s", 0.0)),
                gen_tokens_per_s=float(t.get("gen_tokens_per_s", 0.0)),
                queries_per_s=float(t.get("queries_per_s", qph / 3600.0)),
                queries_per_hour=qph,
                peak_rss_mb=float(peak_rss or 0.0),
                peak_gpu_mb=None if peak_gpu is None else float(peak_gpu),
                passages=int(t.get("passages", 0)),
                measured_at=str(t.get("measured_at", "")),
                params=dict(t.get("settings", {})),
                model_params=_model_params(t.get("params")),
                source=src,
            )
        )
    return result


def _parse_training(training: Any, file: str, src: str) -> list[TrainingProfile]:
    """The ``[training.RETRIEVER]`` tables, or one ``[training]`` table."""
    if not isinstance(training, dict):
        raise AugplanError(f"{file}: training must be a table")
    single = "pairs_per_hour" in training or not all(
        isinstance(v, dict) for v in training.values()
    )
    if single:  # one [training] table; its retriever is named by a `retriever` field
        training = {str(training.get("retriever", "default")): training}
    result = []
    for name, raw in training.items():
        where = "training" if single else f"training.{name}"
        t = _check_table(file, where, raw, _TRAIN_FIELDS)
        pph = float(t["pairs_per_hour"])
        result.append(
            TrainingProfile(
                retriever=name,
                device=t.get("device", ""),
                pairs_per_s=float(t.get("pairs_per_s", pph / 3600.0)),
                pairs_per_hour=pph,
                batch_size=int(t.get("batch_size", 0)),
                max_seq_length=int(t.get("max_seq_length", 0)),
                measured_at=str(t.get("measured_at", "")),
                source=src,
            )
        )
    return result


def _check_table(file: str, where: str, raw: Any, spec: _Spec) -> dict[str, Any]:
    """The fields of one table, checked against ``spec`` (dates as ISO text)."""
    if not isinstance(raw, dict):
        raise AugplanError(f"{file}: [{where}] must be a table, got {raw!r}")
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise AugplanError(
            f"{file}: [{where}] unknown field(s) {', '.join(unknown)}",
            hint=f"known fields: {', '.join(spec)}",
        )
    out: dict[str, Any] = {}
    for key, (types, required) in spec.items():
        if key not in raw:
            if required:
                raise AugplanError(f"{file}: [{where}] missing field {key!r}")
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = types.__name__ if isinstance(types, type) else " or ".join(
                t.__name__ for t in types)
            raise AugplanError(f"{file}: [{where}] field {key!r} must be {names}, got {value!r}")
        if isinstance(value, int | float) and (value < 0 or math.isnan(value)):
            raise AugplanError(f"{file}: [{where}] field {key!r} must be >= 0, got {value!r}")
        if isinstance(value, _dt.date):
            value = value.isoformat()
        out[key] = value
    for key in ("queries_per_hour", "pairs_per_hour"):
        if key in out and out[key] <= 0:
            raise AugplanError(f"{file}: [{where}] field {key!r} must be > 0, got {out[key]!r}")
    return out


def _model_params(value: float | None) -> int | None:
    """A parameter count; values under 10,000 are read as billions."""
    if value is None:
        return None
    return round(value * _BILLION) if value < 10_000 else int(value)
