"""Catalogue entries: the data classes, and reading and validating ``engine/models.toml``.

``models.toml`` is package data of ``engine`` and is read with :mod:`importlib.resources`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from store.errors import AugplanError

KINDS = ("augmenter", "embedder")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RegistrySource:
    """One wheel on the package registry and the member to read out of it.

    A ``member`` ending in "/" is a folder inside the wheel; the entry's ``files`` are taken from
    under it. Otherwise it is one file (or one slice of a file split over several wheels).
    """

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def is_folder(self) -> bool:
        return self.member.endswith("/")


@dataclass(frozen=True)
class ModelEntry:
    """One catalogue entry. ``registry`` slices are joined in order; ``hub`` is
    ``(repo_id, filename)``, with ``filename`` None for a whole-repository folder model."""

    name: str
    kind: str
    family: str
    params: int
    quantisation: str
    filename: str
    size_bytes: int
    sha256: str
    chat_template: bool
    completion_only: bool
    dim: int | None
    registry: tuple[RegistrySource, ...] | None
    hub: tuple[str, str | None] | None
    notes: str
    files: tuple[str, ...] = ()

    @property
    def is_folder(self) -> bool:
        """True when the model is a folder (the embedder), not a single .gguf file."""
        return self.kind == "embedder"


# --------------------------------------------------------------------------- loading the data


_ENTRY_KEYS = {
    "kind",
    "family",
    "params",
    "quantisation",
    "filename",
    "size_bytes",
    "sha256",
    "chat_template",
    "completion_only",
    "dim",
    "files",
    "registry",
    "hub",
    "notes",
}


def _field(where: str, raw: dict[str, Any], key: str, typ: type, *, required: bool = True) -> Any:
    if key not in raw:
        if required:
            raise AugplanError(f"{where}: missing field {key!r}")
        return None
    value = raw[key]
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise AugplanError(f"{where}: field {key!r} must be {typ.__name__}, got {value!r}")
    return value


def _parse_entry(name: str, raw: dict[str, Any]) -> ModelEntry:
    where = f"models.toml [models.{name}]"
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise AugplanError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind = _field(where, raw, "kind", str)
    if kind not in KINDS:
        raise AugplanError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sha = _field(where, raw, "sha256", str)
    if not _SHA256_RE.match(sha):
        raise AugplanError(f"{where}: sha256 must be 64 lowercase hex digits, got {sha!r}")
    filename = _field(where, raw, "filename", str)
    if not filename or Path(filename).name != filename or filename.startswith("."):
        raise AugplanError(f"{where}: filename must be a plain file or folder name: {filename!r}")
    embedder = kind == "embedder"

    dim = _field(where, raw, "dim", int, required=embedder)
    if not embedder and dim is not None:
        raise AugplanError(f"{where}: dim is only for embedders")
    files_raw = _field(where, raw, "files", list, required=embedder) or []
    files = tuple(str(f) for f in files_raw)
    if not embedder and files:
        raise AugplanError(f"{where}: files is only for folder models (embedders)")
    if embedder and not files:
        raise AugplanError(f"{where}: a folder model needs a non-empty files list")

    registry: tuple[RegistrySource, ...] | None = None
    reg_raw = _field(where, raw, "registry", list, required=False)
    if reg_raw:
        sources = []
        for i, item in enumerate(reg_raw):
            item_where = f"{where} registry[{i}]"
            if not isinstance(item, dict) or set(item) != {"package", "version", "member"}:
                raise AugplanError(f"{item_where}: needs exactly package, version and member")
            src = RegistrySource(str(item["package"]), str(item["version"]), str(item["member"]))
            if src.is_folder != embedder:
                kind_of = "a folder (member ending in /)" if embedder else "a file"
                raise AugplanError(f"{item_where}: member must be {kind_of}: {src.member!r}")
            sources.append(src)
        if embedder and len(sources) != 1:
            raise AugplanError(f"{where}: a folder model takes exactly one registry source")
        registry = tuple(sources)

    hub: tuple[str, str | None] | None = None
    hub_raw = _field(where, raw, "hub", dict, required=False)
    if hub_raw is not None:
        repo_id = hub_raw.get("repo_id")
        hub_file = hub_raw.get("filename")
        if not isinstance(repo_id, str) or set(hub_raw) - {"repo_id", "filename"}:
            raise AugplanError(f"{where}: hub needs repo_id (and filename for a single file)")
        if (hub_file is None) != embedder:
            raise AugplanError(f"{where}: hub filename is required for files, absent for folders")
        hub = (repo_id, hub_file)

    return ModelEntry(
        name=name,
        kind=kind,
        family=_field(where, raw, "family", str),
        params=_field(where, raw, "params", int),
        quantisation=_field(where, raw, "quantisation", str),
        filename=filename,
        size_bytes=_field(where, raw, "size_bytes", int),
        sha256=sha,
        chat_template=_field(where, raw, "chat_template", bool),
        completion_only=_field(where, raw, "completion_only", bool),
        dim=dim,
        registry=registry,
        hub=hub,
        notes=_field(where, raw, "notes", str, required=False) or "",
        files=files,
    )


@functools.cache
def _load() -> dict[str, ModelEntry]:
    text = resources.files("engine").joinpath("models.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AugplanError(f"models.toml is not valid TOML: {exc}") from exc
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise AugplanError("models.toml has no [models.NAME] tables")
    return {name: _parse_entry(name, raw) for name, raw in models.items()}


def catalogue() -> dict[str, ModelEntry]:
    """All catalogue entries by name, in the order of models.toml."""
    return dict(_load())


def get_entry(name: str) -> ModelEntry:
    """The entry called ``name``; an unknown name raises AugplanError listing the known ones."""
    entries = _load()
    try:
        return entries[name]
    except KeyError:
        known = ", ".join(entries)
        raise AugplanError(
            f"unknown model {name!r}; known models: {known}",
            hint="`augplan models list` shows them with sizes and notes",
        ) from None
