"""Datasets by name or path: find them on disk (or download a public BEIR set when asked) and
import them into the store."""

from __future__ import annotations

from pathlib import Path

from store import Store
from store import corpus as corpus_io
from store.corpus import CorpusSummary


def import_dataset(
    store: Store,
    path_or_name: str,
    *,
    name: str | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    replace: bool = False,
) -> tuple[str, CorpusSummary, bool]:
    """Locate a dataset (a path, or a name in the data folders), validate it and import it.
    Returns (corpus name, summary, written); re-importing the same files writes nothing."""
    located = corpus_io.locate(path_or_name, data_dir, download=download)
    files = corpus_io.detect(located)
    corpus = name or (located.name if files.kind == "beir" else located.stem)
    summary, written = store.import_corpus(corpus, files, replace=replace)
    return corpus, summary, written


__all__ = ["import_dataset"]
