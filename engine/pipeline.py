"""Generation as users run it: generate what is missing, then the post-generation pass
(embed the new queries, filters, dedup, diversity) on the run's rows.

One function for every front door: ``augplan generate``, ``augplan runs resume``, the demo and
the TUI's generation jobs all call :func:`generate_and_check`; they differ only in how they
show progress.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.embed import Embedder, embed_pending
from engine.generate import GenerateReport, GenerateRequest, Progress, generate
from engine.quality import QualityReport, check_run
from store import Store

#: ``(stage, done, total)`` of the post-generation pass ("embed queries", "encode passages")
StageProgress = Callable[[str, int, int], None]


@dataclass
class GenerationOutcome:
    """A generation run and what the pass after it did."""

    report: GenerateReport
    embedded: int  # queries embedded after the run
    quality: QualityReport | None  # None when the quality pass did not run

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "embedded": self.embedded,
                "quality": self.quality.to_dict() if self.quality is not None else None}


def generate_and_check(
    store: Store,
    request: GenerateRequest,
    *,
    models_dir: Path | None = None,
    embed: bool = True,
    quality: bool = True,
    round_trip: bool = False,
    embedder: Embedder | None = None,
    run_id: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_stage: StageProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    cluster: str | None = None,
    actors: int | None = None,
) -> GenerationOutcome:
    """Generate the request's missing queries (resumable, cached), then, once the run has
    finished, embed its queries and (unless ``quality=False``) filter, deduplicate and score
    them. ``embed=False`` skips the whole pass (quality needs the vectors). ``cluster`` (a Ray
    address) decodes on ``actors`` generator actors there; the pass after runs here."""
    preload = _Preload(models_dir) if embed and embedder is None and preload_embedder() else None

    def progress(p: Progress) -> None:
        if preload is not None and p.done < p.total:  # there is decoding to overlap
            preload.start()
        if on_progress is not None:
            on_progress(p)

    try:
        report = generate(store, request, models_dir=models_dir, on_progress=progress,
                          run_id=run_id, should_stop=should_stop, cluster=cluster,
                          actors=actors)
    except BaseException:
        if preload is not None:
            preload.join()  # never leave a thread importing while the process unwinds
        raise
    embedded, checked = 0, None
    if embed and report.status == "finished":
        embedder = embedder or (preload.get() if preload is not None else None)
        if quality and report.target:
            checked = check_run(store, request.corpus, report.run_id, embedder=embedder,
                                models_dir=models_dir, round_trip=round_trip,
                                on_progress=on_stage)
            embedded = checked.embedded
        else:
            embedded = embed_pending(
                store, request.corpus, embedder=embedder, models_dir=models_dir,
                on_progress=(lambda d, t: on_stage("embed queries", d, t)) if on_stage
                else None)
    elif preload is not None:
        preload.join()
    return GenerationOutcome(report, embedded, checked)


def preload_embedder() -> bool:
    """Whether the embedder loads while a run decodes (``AUGPLAN_PRELOAD_EMBEDDER``, default
    on; ``0`` loads it after the run, e.g. where one core would have to share the two)."""
    return os.environ.get("AUGPLAN_PRELOAD_EMBEDDER", "1").strip().lower() not in (
        "0", "false", "no", "off")


class _Preload:
    """The embedder loaded in a thread while the run decodes: its imports (torch,
    sentence-transformers: seconds of start-up) and its checked load run while llama.cpp, which
    releases the GIL, generates, instead of after it."""

    def __init__(self, models_dir: Path | None) -> None:
        self.models_dir = models_dir
        self.thread: threading.Thread | None = None
        self.embedder: Embedder | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._load, name="embedder-load", daemon=True)
            self.thread.start()

    def _load(self) -> None:
        try:
            self.embedder = Embedder(models_dir=self.models_dir)
        except BaseException as exc:  # noqa: BLE001 - raised where the embedder is needed
            self.error = exc

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def get(self) -> Embedder | None:
        """The loaded embedder (None if the load never started); its error, if it failed."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.embedder


__all__ = ["GenerationOutcome", "StageProgress", "generate_and_check"]
