"""Profile data: an augmenter's and a retriever's measured throughput, their store rows and ids,
and keeping them in the store's ``profiles`` table."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store import Store

__all__ = [
    "AugmenterProfile",
    "Profile",
    "ProfileSet",
    "TrainingProfile",
    "now_utc",
    "profile_dict",
    "save_profile",
    "stored_profiles",
]


def now_utc() -> str:
    """The current time in UTC, ISO 8601 to the second (a profile's ``measured_at``)."""
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

    @property
    def prompt_share(self) -> float:
        """The part of a query's time spent on its passage's prompt, where the backend measured
        decodes the prompt once for every query of a passage (the batched llama.cpp backend:
        ``params`` say so, or name its slots), else 0. From the profile's two passes: prompt
        evaluation alone, then full generation."""
        p = self.params
        shares = p.get("shares_passage_prompt", p.get("n_parallel") is not None
                       and self.backend == "llama.cpp")
        prompt, total = p.get("prompt_seconds"), p.get("generate_seconds")
        if not shares or not prompt or not total or total <= 0:
            return 0.0
        return min(max(float(prompt) / float(total), 0.0), 0.99)

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

    def __iter__(self) -> Iterator[Profile]:
        yield from self.augmenters
        yield from self.training

    def __len__(self) -> int:
        return len(self.augmenters) + len(self.training)


def profile_dict(profile: Profile) -> dict[str, Any]:
    """A profile as a plain dict (for JSON output), with its kind."""
    d = asdict(profile)
    d["kind"] = profile.kind
    return d


# ------------------------------------------------------------------------------- rows and ids


def _empty_row() -> dict[str, Any]:
    from store.schemas import PROFILES

    return dict.fromkeys(PROFILES.names)


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _profile_id(profile: Profile) -> str:
    """The row id: a hash of every field but ``source`` (the same profile twice is one row)."""
    content = {f.name: getattr(profile, f.name) for f in fields(profile) if f.name != "source"}
    content["kind"] = profile.kind
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


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
