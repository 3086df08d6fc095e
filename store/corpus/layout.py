"""What a corpus on disk looks like: a BEIR folder, a ``.jsonl`` or a ``.parquet`` file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from store.errors import AugplanError


@dataclass(frozen=True)
class CorpusFiles:
    """Where a corpus's files are. ``kind`` is ``"beir"``, ``"jsonl"`` or ``"parquet"``."""

    kind: str
    root: Path
    corpus: Path
    queries: Path | None = None
    qrels: dict[str, Path] = field(default_factory=dict)  # split -> file


def detect(path: Path) -> CorpusFiles:
    """Recognise a BEIR folder, a ``.jsonl`` or a ``.parquet`` file."""
    path = Path(path)
    if path.is_dir():
        return _beir_folder(path)
    if not path.exists():
        raise AugplanError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return CorpusFiles(kind="jsonl", root=path.parent, corpus=path)
    if suffix in (".parquet", ".pq"):
        return CorpusFiles(kind="parquet", root=path.parent, corpus=path)
    raise AugplanError(
        f"{path}: unknown file type '{path.suffix or path.name}'",
        hint="give a BEIR folder, a .jsonl file or a .parquet file of passages",
    )


def _beir_folder(path: Path) -> CorpusFiles:
    corpus = path / "corpus.jsonl"
    if not corpus.is_file():
        raise AugplanError(
            f"{path}: missing corpus.jsonl (not a BEIR folder)",
            hint="a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/*.tsv",
        )
    queries = path / "queries.jsonl"
    qrels_dir = path / "qrels"
    qrels: dict[str, Path] = {}
    if qrels_dir.is_dir():
        qrels = {p.stem: p for p in sorted(qrels_dir.glob("*.tsv")) if p.is_file()}
    return CorpusFiles(
        kind="beir",
        root=path,
        corpus=corpus,
        queries=queries if queries.is_file() else None,
        qrels=qrels,
    )
