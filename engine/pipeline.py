"""Generation as users run it: generate what is missing, then the post-generation pass
(embed the new queries, filters, dedup, diversity) on the run's rows.

One function for every front door: ``augplan generate``, ``augplan runs resume``, the demo and
the TUI's generation jobs all call :func:`generate_and_check`; they differ only in how they
show progress.
"""

from __future__ import annotations

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
    report = generate(store, request, models_dir=models_dir, on_progress=on_progress,
                      run_id=run_id, should_stop=should_stop, cluster=cluster, actors=actors)
    embedded, checked = 0, None
    if embed and report.status == "finished":
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
    return GenerationOutcome(report, embedded, checked)


__all__ = ["GenerationOutcome", "StageProgress", "generate_and_check"]
