"""Cost profiles: measured throughput of an augmenter (and of retriever training) on a device.

The planner turns a budget into query counts with these numbers. A profile is measured here
(:func:`measure_augmenter`), kept in the store's ``profiles`` table, and exchanged as TOML in the
planner's format (the numbers here only show the shape)::

    [augmenters.smollm2-135m]
    queries_per_hour = 1000.0
    device = "Intel(R) Xeon(R) Processor"
    params = 134515008              # parameters: a count, or billions (0.135)
    strategy = "inpars"
    backend = "llama.cpp"
    prompt_tokens_per_s = 100.0
    gen_tokens_per_s = 10.0
    peak_memory_mb = 300.0
    measured_at = "2026-01-01T00:00:00+00:00"

    [training.minilm-l6]            # or a single [training] table
    pairs_per_hour = 1000.0

Exports add the rest of a profile (``queries_per_s``, ``threads``, ``passages``,
``peak_rss_mb``, ``peak_gpu_mb``, ``settings``) so that an export imports back unchanged.
Reference profiles ship in ``engine/profiles/*.toml`` and load by name.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import resource
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.transformers_backend import cpu_name
from engine.prompts import DEFAULT_STRATEGY
from store.errors import AugplanError

if TYPE_CHECKING:
    from engine.backends.base import Backend
    from store import Store

__all__ = [
    "AugmenterProfile",
    "ProfileSet",
    "TrainingProfile",
    "cpu_name",
    "dumps_profiles",
    "export_profiles",
    "import_profiles",
    "load_reference",
    "measure_augmenter",
    "parse_profiles",
    "peak_rss_mb",
    "profile_dict",
    "read_profiles",
    "reference_profiles",
    "save_profile",
    "stored_profiles",
]

_BILLION = 1_000_000_000


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------- profiles


@dataclass
class AugmenterProfile:
    """Throughput of one augmenter with one strategy and backend on one device.

    ``prompt_tokens_per_s`` counts every prompt token, also those of a prefix a backend keeps
    cached between calls (what a generation run pays per prompt token); ``queries_per_s`` is end
    to end (prompt evaluation plus generation, model loading excluded). ``params`` holds the
    measurement's settings (sampling, batch size, token totals, load time); ``model_params`` is
    the model's size (parameter count). ``peak_gpu_mb`` is None when no GPU was used.
    """

    augmenter: str
    strategy: str
    backend: str
    device: str
    threads: int
    prompt_tokens_per_s: float
    gen_tokens_per_s: float
    queries_per_s: float
    queries_per_hour: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    passages: int
    measured_at: str
    params: dict[str, Any] = field(default_factory=dict)
    model_params: int | None = None
    source: str = field(default="measured", compare=False)

    kind = "augmenter"

    @property
    def peak_memory_mb(self) -> float:
        """GPU memory when a GPU was used, else the process's peak resident memory."""
        return self.peak_gpu_mb if self.peak_gpu_mb is not None else self.peak_rss_mb

    @property
    def name(self) -> str:
        return self.augmenter

    def to_row(self) -> dict[str, Any]:
        row = _empty_row()
        row.update(
            kind="augmenter", name=self.augmenter, strategy=self.strategy, backend=self.backend,
            device=self.device, threads=self.threads,
            prompt_tokens_per_s=self.prompt_tokens_per_s, gen_tokens_per_s=self.gen_tokens_per_s,
            queries_per_s=self.queries_per_s, queries_per_hour=self.queries_per_hour,
            peak_rss_mb=self.peak_rss_mb, peak_gpu_mb=self.peak_gpu_mb, passages=self.passages,
            model_params=self.model_params, params=json.dumps(self.params, sort_keys=True),
            source=self.source, measured_at=self.measured_at,
        )
        row["batch_size"] = _opt_int(self.params.get("batch_size"))
        row["profile_id"] = _profile_id(self)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AugmenterProfile:
        return cls(
            augmenter=row["name"], strategy=row["strategy"] or "", backend=row["backend"] or "",
            device=row["device"] or "", threads=int(row["threads"] or 0),
            prompt_tokens_per_s=float(row["prompt_tokens_per_s"] or 0.0),
            gen_tokens_per_s=float(row["gen_tokens_per_s"] or 0.0),
            queries_per_s=float(row["queries_per_s"] or 0.0),
            queries_per_hour=float(row["queries_per_hour"] or 0.0),
            peak_rss_mb=float(row["peak_rss_mb"] or 0.0), peak_gpu_mb=row["peak_gpu_mb"],
            passages=int(row["passages"] or 0), measured_at=row["measured_at"] or "",
            params=json.loads(row["params"] or "{}"), model_params=row["model_params"],
            source=row["source"] or "",
        )

    def to_toml(self) -> dict[str, Any]:
        """The ``[augmenters.NAME]`` table (planner fields first)."""
        table: dict[str, Any] = {"queries_per_hour": self.queries_per_hour, "device": self.device}
        if self.model_params is not None:
            table["params"] = self.model_params
        table.update(
            strategy=self.strategy, backend=self.backend,
            prompt_tokens_per_s=self.prompt_tokens_per_s, gen_tokens_per_s=self.gen_tokens_per_s,
            peak_memory_mb=self.peak_memory_mb, measured_at=self.measured_at,
            queries_per_s=self.queries_per_s, threads=self.threads, passages=self.passages,
            peak_rss_mb=self.peak_rss_mb,
        )
        if self.peak_gpu_mb is not None:
            table["peak_gpu_mb"] = self.peak_gpu_mb
        if self.params:
            table["settings"] = _toml_safe(self.params)
        return table


@dataclass
class TrainingProfile:
    """Training throughput of a retriever on one device (pairs of query and passage)."""

    retriever: str
    device: str
    pairs_per_s: float
    pairs_per_hour: float
    batch_size: int
    max_seq_length: int
    measured_at: str = ""
    source: str = field(default="measured", compare=False)

    kind = "training"

    @property
    def name(self) -> str:
        return self.retriever

    def to_row(self) -> dict[str, Any]:
        row = _empty_row()
        row.update(
            kind="training", name=self.retriever, device=self.device,
            pairs_per_s=self.pairs_per_s, pairs_per_hour=self.pairs_per_hour,
            batch_size=self.batch_size, max_seq_length=self.max_seq_length, params="{}",
            source=self.source, measured_at=self.measured_at,
        )
        row["profile_id"] = _profile_id(self)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrainingProfile:
        return cls(
            retriever=row["name"], device=row["device"] or "",
            pairs_per_s=float(row["pairs_per_s"] or 0.0),
            pairs_per_hour=float(row["pairs_per_hour"] or 0.0),
            batch_size=int(row["batch_size"] or 0), max_seq_length=int(row["max_seq_length"] or 0),
            measured_at=row["measured_at"] or "", source=row["source"] or "",
        )

    def to_toml(self) -> dict[str, Any]:
        return {
            "pairs_per_hour": self.pairs_per_hour, "device": self.device,
            "pairs_per_s": self.pairs_per_s, "batch_size": self.batch_size,
            "max_seq_length": self.max_seq_length, "measured_at": self.measured_at,
        }


Profile = AugmenterProfile | TrainingProfile


@dataclass
class ProfileSet:
    """The profiles of one TOML file."""

    augmenters: list[AugmenterProfile] = field(default_factory=list)
    training: list[TrainingProfile] = field(default_factory=list)

    def __iter__(self):
        yield from self.augmenters
        yield from self.training

    def __len__(self) -> int:
        return len(self.augmenters) + len(self.training)


def _empty_row() -> dict[str, Any]:
    from store.schemas import PROFILES

    return dict.fromkeys(PROFILES.names)


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _profile_id(profile: Profile) -> str:
    content = {f.name: getattr(profile, f.name) for f in fields(profile) if f.name != "source"}
    content["kind"] = profile.kind
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[
        :24
    ]


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop None values from tables (and lists of them)."""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_toml_safe(v) for v in value if v is not None]
    return value


# ------------------------------------------------------------------------------- store


def save_profile(store: Store, profile: Profile) -> bool:
    """Keep a profile in the store; True if it was new (the same profile twice is one row)."""
    return store.add_profile(profile.to_row())


def stored_profiles(
    store: Store,
    *,
    kind: str | None = None,
    name: str | None = None,
    device: str | None = None,
) -> list[Profile]:
    """Profiles in the store, oldest first, optionally of one kind, name or device."""
    rows = store.profiles(kind=kind, name=name, device=device)
    return [
        AugmenterProfile.from_row(r) if r["kind"] == "augmenter" else TrainingProfile.from_row(r)
        for r in rows
    ]


# ------------------------------------------------------------------------------- TOML


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
        aug, train, header=f"augplan cost profiles, exported {_now()}\ndevices: "
        + "; ".join(devices),
    )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AugplanError(f"cannot write {target}: {exc.strerror or exc}") from None
    return len(aug) + len(train)


def import_profiles(store: Store, path: str | Path) -> ProfileSet:
    """Read a TOML file (or a reference profile by name), validate all of it, then store it.

    Nothing is stored when any field is wrong. Profiles already in the store are kept once.
    """
    profiles = read_profiles(path)
    with store.atomic("profiles"):
        for p in profiles:
            save_profile(store, p)
    return profiles


def reference_profiles() -> list[str]:
    """Names of the reference profiles shipped with augplan (``engine/profiles/*.toml``)."""
    root = resources.files("engine") / "profiles"
    if not root.is_dir():
        return []
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def load_reference(name: str) -> ProfileSet:
    """A shipped reference profile by name."""
    res = resources.files("engine") / "profiles" / f"{name}.toml"
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


_AUG_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # field: (types, required)
    "queries_per_hour": ((int, float), True),
    "device": (str, True),
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
_TRAIN_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "pairs_per_hour": ((int, float), True),
    "device": (str, False),
    "pairs_per_s": ((int, float), False),
    "batch_size": (int, False),
    "max_seq_length": (int, False),
    "measured_at": ((str, _dt.datetime, _dt.date), False),
    "retriever": (str, False),
}


def _check_table(
    file: str, where: str, raw: Any, spec: dict[str, tuple[type | tuple[type, ...], bool]]
) -> dict[str, Any]:
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
    result = ProfileSet()
    src = source or file
    augmenters = doc.get("augmenters", {})
    if not isinstance(augmenters, dict):
        raise AugplanError(f"{file}: augmenters must be a table of [augmenters.NAME] tables")
    for name, raw in augmenters.items():
        t = _check_table(file, f"augmenters.{name}", raw, _AUG_FIELDS)
        qph = float(t["queries_per_hour"])
        peak_rss = t.get("peak_rss_mb")
        peak_gpu = t.get("peak_gpu_mb")
        if peak_rss is None and peak_gpu is None:
            peak_rss = t.get("peak_memory_mb", 0.0)
        result.augmenters.append(
            AugmenterProfile(
                augmenter=name,
                strategy=t.get("strategy", DEFAULT_STRATEGY),
                backend=t.get("backend", "llama.cpp"),
                device=t["device"],
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
    training = doc.get("training", {})
    if not isinstance(training, dict):
        raise AugplanError(f"{file}: training must be a table")
    single = "pairs_per_hour" in training or not all(
        isinstance(v, dict) for v in training.values()
    )
    if single:  # one [training] table; its retriever is named by a `retriever` field
        training = {str(training.get("retriever", "default")): training}
    for name, raw in training.items():
        where = "training" if single else f"training.{name}"
        t = _check_table(file, where, raw, _TRAIN_FIELDS)
        pph = float(t["pairs_per_hour"])
        result.training.append(
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


# ------------------------------------------------------------------------------- measuring


def _reset_peak_rss() -> None:
    """Start a fresh peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB: VmHWM (reset by the measurement), else
    psutil's or getrusage's lifetime peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 2**20
    except ImportError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def _cuda_in_use(backend: Any) -> bool:
    device = getattr(backend, "device", None)
    return "torch" in sys.modules and getattr(device, "type", None) == "cuda"


def _passages(
    n: int, store: Store | None, corpus: str | Path | None, data_dir: str | Path | None
) -> list[tuple[str, str]]:
    """(title, text) of the first ``n`` passages: a store corpus, else a BEIR folder/dataset."""
    if store is not None and corpus is not None:
        info = store.corpus_info(str(corpus), missing_ok=True)
        if info is not None:
            t = store.passages(str(corpus), n)
            return list(zip(t.column("title").to_pylist(), t.column("text").to_pylist(),
                            strict=True))
    from store import corpus as corpus_io

    files = corpus_io.detect(corpus_io.locate(str(corpus or "scifact"), data_dir))
    for batch in corpus_io.iter_passages(files, batch_size=n):
        return [(r["title"] or "", r["text"] or "") for r in batch.to_pylist()[:n]]
    raise AugplanError(f"corpus {corpus or 'scifact'!r} has no passages")


def _run(
    backend: Backend,
    prompts: Sequence[tuple[str, str]],
    *,
    max_tokens: int,
    params: dict[str, Any],
) -> tuple[float, int, int, int, int]:
    """(seconds, prompt tokens, evaluated prompt tokens, generated tokens, empty completions)
    of one pass over ``(variant, prompt)`` pairs, one ``complete_many`` call per variant."""
    from engine.prompts import parse_query

    groups: dict[str, list[str]] = {}
    for variant, prompt in prompts:
        groups.setdefault(variant, []).append(prompt)
    outs = []
    t0 = time.perf_counter()
    for variant, texts in groups.items():
        prefix, stop = params["variants"][variant]
        outs += backend.complete_many(
            texts, prefix=prefix, max_tokens=max_tokens, temperature=params["temperature"],
            top_p=params["top_p"], top_k=params["top_k"], seeds=[params["seed"]] * len(texts),
            stop=stop,
        )
    seconds = time.perf_counter() - t0
    empty = sum(1 for o in outs if not parse_query(o["text"]))
    prompt_tokens = sum(o["prompt_tokens"] for o in outs)
    evaluated = sum(o.get("evaluated_tokens", o["prompt_tokens"]) for o in outs)
    return seconds, prompt_tokens, evaluated, sum(o["gen_tokens"] for o in outs), empty


def measure_augmenter(
    augmenter: str,
    *,
    strategy: str = DEFAULT_STRATEGY,
    backend: str = "llama.cpp",
    passages: int = 32,
    store: Store | None = None,
    corpus: str | Path | None = None,
    models_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    base_url: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    examples: Sequence[tuple[str, str]] | None = None,
    form: str | None = None,
    instance: Backend | None = None,
    save: bool = True,
) -> AugmenterProfile:
    """Measure an augmenter's throughput on ``passages`` passages and return its profile.

    Passages come from ``corpus`` in ``store`` when it is there, else from a BEIR folder or
    dataset name (default SciFact, found under ``data_dir`` / $AUGPLAN_DATA_DIR). After a
    warm-up on one batch, two timed passes: every prompt with ``max_tokens=1`` (prompt
    evaluation), then full greedy generation. Prompt tokens/s comes from the first pass,
    generated tokens/s from the difference of the two, queries/s from the second (end to end,
    model loading excluded).
    ``batch_size`` is the transformers batch, the batched llama.cpp slots or the HTTP
    concurrency. ``instance`` measures an open backend instead of opening one (``backend`` then
    only names it). The profile is saved in ``store`` when one is given (and ``save``).
    """
    from engine import catalogue, prompts
    from engine.backends.factory import make_backend

    if passages < 1:
        raise AugplanError(f"--passages must be at least 1, got {passages}")
    strat = prompts.load(strategy)
    if strat.needs_examples and not examples:
        strat.resolve(examples=examples)  # raises the strategy's own "needs examples" error
    entry = None
    try:
        entry = catalogue.get_entry(augmenter)
    except AugplanError:
        if instance is None and backend != "http":
            raise
    if entry is not None and entry.kind != "augmenter":
        raise AugplanError(f"--augmenter {augmenter!r} is an {entry.kind}, not an augmenter")
    rows = _passages(passages, store, corpus, data_dir)

    _reset_peak_rss()
    t_load = time.perf_counter()
    owned = instance is None
    if instance is None:
        kw: dict[str, Any] = {}
        if batch_size is not None and backend != "llama.cpp-sequential":
            kw[{"http": "concurrency", "llama.cpp": "n_parallel"}.get(backend, "batch_size")] = (
                batch_size)
        instance = make_backend(backend, augmenter, models_dir=models_dir, base_url=base_url,
                                device=device, **kw)
    load_seconds = time.perf_counter() - t_load
    try:
        chat = getattr(instance, "chat_template", None)
        if entry is not None and entry.completion_only:
            chat = None
        plan = strat.resolve(chat_template=chat, eos_token=getattr(instance, "eos_token", ""),
                             examples=examples, form=form)
        texts = []
        for i, (title, text) in enumerate(rows):
            variant = plan.variant_for(i, 0)
            texts.append((variant.name, variant.render(title, text)))
        params: dict[str, Any] = {
            "temperature": 0.0, "top_p": 1.0, "top_k": 1, "seed": 0,
            "max_tokens": plan.max_tokens,
            "variants": {v.name: (v.prefix, v.stop) for v in plan.variants},
        }
        gpu = _cuda_in_use(instance)
        if gpu:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        # Warm-up on one full batch: first calls pay for allocations and kernel selection.
        warm = getattr(instance, "batch_size", None) or getattr(instance, "n_parallel", None)
        _run(instance, texts[: max(1, min(len(texts), int(warm or 1)))], max_tokens=2,
             params=params)
        p_seconds, p_tokens, p_eval, _, _ = _run(instance, texts, max_tokens=1, params=params)
        g_seconds, g_prompt, _, g_tokens, empty = _run(instance, texts,
                                                       max_tokens=plan.max_tokens, params=params)
        peak_gpu = None
        if gpu:
            import torch

            peak_gpu = torch.cuda.max_memory_allocated() / 2**20
        peak_rss = peak_rss_mb()
    finally:
        if owned:
            instance.close()

    decode_tokens = g_tokens - len(texts)  # the first pass generated one token per prompt
    decode_seconds = g_seconds - p_seconds
    if decode_tokens > 0 and decode_seconds > 0:
        gen_tps = decode_tokens / decode_seconds
    else:
        gen_tps = g_tokens / g_seconds if g_seconds > 0 else 0.0
    qps = len(texts) / g_seconds if g_seconds > 0 else 0.0
    settings: dict[str, Any] = {
        "form": plan.form, "max_tokens": plan.max_tokens, "temperature": 0.0,
        "load_seconds": round(load_seconds, 3), "prompt_seconds": round(p_seconds, 3),
        "generate_seconds": round(g_seconds, 3), "prompt_tokens": int(g_prompt),
        "evaluated_prompt_tokens": int(p_eval), "gen_tokens": int(g_tokens),
        "empty": int(empty),
    }
    if entry is not None:
        settings["model_sha256"] = entry.sha256
    for attr in ("batch_size", "n_parallel", "concurrency", "dtype"):
        value = getattr(instance, attr, None)
        if value is not None:
            settings[attr] = value if isinstance(value, int | float) else str(value).split(".")[-1]
    profile = AugmenterProfile(
        augmenter=augmenter,
        strategy=plan.strategy,
        backend=getattr(instance, "name", backend) if owned else backend,
        device=getattr(instance, "device_name", None) or cpu_name(),
        threads=int(getattr(instance, "threads", 0) or _default_threads()),
        prompt_tokens_per_s=_sig(p_tokens / p_seconds) if p_seconds > 0 else 0.0,
        gen_tokens_per_s=_sig(gen_tps),
        queries_per_s=_sig(qps),
        queries_per_hour=_sig(qps * 3600.0),
        peak_rss_mb=round(peak_rss, 1),
        peak_gpu_mb=None if peak_gpu is None else round(peak_gpu, 1),
        passages=len(texts),
        measured_at=_now(),
        params=settings,
        model_params=entry.params if entry is not None else None,
    )
    if store is not None and save:
        save_profile(store, profile)
    return profile


def _sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant digits (short, stable numbers in TOML)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _default_threads() -> int:
    from engine.backends.llamacpp import default_threads

    return default_threads()


def profile_dict(profile: Profile) -> dict[str, Any]:
    """A profile as a plain dict (for JSON output), with its kind."""
    d = asdict(profile)
    d["kind"] = profile.kind
    return d
