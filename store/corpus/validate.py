"""The first pass over a corpus: read every file once, check every record, store nothing.

Validation keeps only the sets of ids it needs for the duplicate and qrels checks and reports
every problem it finds (up to ``MAX_PROBLEMS`` of them, each as ``file:line: what``) in one
:class:`AugplanError`. Qrels rows naming a query or corpus id the corpus lacks are problems
with ``strict=True``; otherwise they are counted as dropped (the first ``MAX_DROPPED_SHOWN``
by ``file:line``) and the streaming pass leaves them out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from store.corpus import _records as rec
from store.corpus.layout import CorpusFiles
from store.errors import AugplanError

#: Problems listed in one validation error; the rest are only counted.
MAX_PROBLEMS = 20
#: Dropped qrels rows named by ``file:line``; the rest are only counted.
MAX_DROPPED_SHOWN = 5


@dataclass(frozen=True)
class DroppedQrels:
    """Qrels rows left out because they name a query or corpus id the corpus lacks: how many,
    and where the first ones are (``qrels/test.tsv:12``, relative to the corpus folder)."""

    count: int = 0
    first: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"count": self.count, "first": list(self.first)})

    @classmethod
    def from_json(cls, text: str | None) -> DroppedQrels:
        """Read back what :meth:`to_json` wrote; nothing (an older store) reads as none."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(count=int(data.get("count", 0)), first=tuple(data.get("first", ())))


@dataclass(frozen=True)
class CorpusSummary:
    """What validation counted. ``fingerprint`` is a sha256 over the files' sha256;
    ``qrels`` counts the rows kept, ``dropped_qrels`` the rows left out."""

    n_passages: int
    n_queries: int
    qrels: dict[str, int]  # split -> rows
    fingerprint: str
    dropped_qrels: DroppedQrels = field(default_factory=DroppedQrels)


# --------------------------------------------------------------------------- problems


@dataclass
class _Problem:
    path: Path
    where: int | str | None  # line number, "row N", or None for the whole file
    message: str

    def render(self) -> str:
        if isinstance(self.where, int):
            return f"{self.path}:{self.where}: {self.message}"
        if self.where:
            return f"{self.path}: {self.where}: {self.message}"
        return f"{self.path}: {self.message}"


class _Problems:
    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.limit = limit
        self.items: list[_Problem] = []
        self.count = 0

    def add(self, path: Path, where: int | str | None, message: str) -> _Problem | None:
        self.count += 1
        if len(self.items) < self.limit:
            p = _Problem(path, where, message)
            self.items.append(p)
            return p
        return None

    def raise_if_any(self) -> None:
        if not self.count:
            return
        n = self.count
        head = f"corpus invalid: {n} problem{'' if n == 1 else 's'}"
        if n > len(self.items):
            head += f" (first {len(self.items)} shown)"
        body = "\n".join(f"  {p.render()}" for p in self.items)
        raise AugplanError(f"{head}\n{body}", hint="fix these and run again; nothing was stored")


class _Dropped:
    """Counts dropped qrels rows and names the first few, relative to the corpus folder."""

    def __init__(self, root: Path, limit: int = MAX_DROPPED_SHOWN) -> None:
        self.root = root
        self.limit = limit
        self.count = 0
        self.first: list[str] = []

    def add(self, path: Path, lineno: int) -> None:
        self.count += 1
        if len(self.first) < self.limit:
            try:
                name = path.relative_to(self.root).as_posix()
            except ValueError:
                name = str(path)
            self.first.append(f"{name}:{lineno}")

    def result(self) -> DroppedQrels:
        return DroppedQrels(count=self.count, first=tuple(self.first))


class _DupTracker:
    """Records duplicate ids; the first occurrence is looked up afterwards by a rescan."""

    def __init__(self) -> None:
        self.pending: dict[str, list[_Problem]] = {}

    def add(self, rid: str, problem: _Problem | None) -> None:
        if problem is not None:
            self.pending.setdefault(rid, []).append(problem)

    def resolve(self, first_seen: Callable[[set[str]], dict[str, int | str]]) -> None:
        if not self.pending:
            return
        found = first_seen(set(self.pending))
        for rid, problems in self.pending.items():
            where = found.get(rid)
            first = f"line {where}" if isinstance(where, int) else where or "an earlier record"
            for p in problems:
                p.message = f"duplicate id {rid!r} (first at {first})"
        self.pending.clear()


# --------------------------------------------------------------------------- files


def _jsonl_first_seen(path: Path) -> Callable[[set[str]], dict[str, int | str]]:
    def first_seen(ids: set[str]) -> dict[str, int | str]:
        found: dict[str, int | str] = {}
        for lineno, line in rec.read_lines(path):
            if line is None or not line.strip():
                continue
            obj = rec.decode_object(line)
            if isinstance(obj, str):
                continue
            rid = rec.record_id(obj)
            if isinstance(rid, str) and rid in ids and rid not in found:
                found[rid] = lineno
                if len(found) == len(ids):
                    break
        return found

    return first_seen


def _validate_jsonl(
    path: Path,
    problems: _Problems,
    ids: set[str],
    with_title: bool,
) -> tuple[int, str]:
    """Check a JSON-lines file of passages or queries; returns (records, file sha256)."""
    hasher = hashlib.sha256()
    dups = _DupTracker()
    n = 0
    for lineno, line in rec.read_lines(path, hasher):
        if line is None:
            problems.add(path, lineno, rec.too_long())
            continue
        if not line.strip():
            continue
        rid, _title, _text, errs = rec.parse_record(line, with_title)
        for err in errs:
            problems.add(path, lineno, err)
        if rid is not None:
            if rid in ids:
                dups.add(rid, problems.add(path, lineno, f"duplicate id {rid!r}"))
            else:
                ids.add(rid)
        if not errs:
            n += 1
    dups.resolve(_jsonl_first_seen(path))
    return n, hasher.hexdigest()


def _validate_parquet(path: Path, problems: _Problems, ids: set[str]) -> tuple[int, str]:
    pf, id_col, title_col, text_col, errs = rec.parquet_columns(path)
    sha = rec.file_sha256(path)
    if errs:
        for err in errs:
            problems.add(path, None, err)
        return 0, sha
    cols = [id_col, text_col] + ([title_col] if title_col else [])
    dups = _DupTracker()
    n = 0
    row = 0
    for batch in rec.parquet_batches(pf, cols, 65536, path):
        rids = rec.id_list(batch.column(id_col))
        texts = batch.column(text_col).to_pylist()
        for rid, text in zip(rids, texts, strict=True):
            bad = False
            if rid is None or rid == "":
                problems.add(path, f"row {row}", f"missing `{id_col}`")
                bad = True
            elif rid in ids:
                dups.add(rid, problems.add(path, f"row {row}", f"duplicate id {rid!r}"))
                bad = True
            else:
                ids.add(rid)
            if text is None:
                problems.add(path, f"row {row}", "missing `text`")
                bad = True
            elif not text.strip():
                problems.add(path, f"row {row}", "empty `text` (blank or whitespace only)")
                bad = True
            n += 0 if bad else 1
            row += 1

    def first_seen(wanted: set[str]) -> dict[str, int | str]:
        found: dict[str, int | str] = {}
        r = 0
        for b in rec.parquet_batches(pf, [id_col], 65536, path):
            for rid in rec.id_list(b.column(id_col)):
                if rid in wanted and rid not in found:
                    found[rid] = f"row {r}"
                r += 1
            if len(found) == len(wanted):
                break
        return found

    dups.resolve(first_seen)
    return n, sha


def _validate_qrels(
    path: Path,
    problems: _Problems,
    dropped: _Dropped,
    ids: tuple[set[str] | None, set[str]],
    strict: bool,
) -> tuple[int, str]:
    """Check a qrels file against the (query ids, passage ids); returns (rows kept, sha256)."""
    query_ids, passage_ids = ids
    hasher = hashlib.sha256()
    n = 0
    for lineno, parsed in rec.qrel_rows(path, hasher):
        if isinstance(parsed, str):
            problems.add(path, lineno, parsed)
            continue
        qid, cid, _score = parsed
        reasons = rec.unknown_ids(qid, cid, query_ids, passage_ids)
        if not reasons:
            n += 1
        elif strict:
            for reason in reasons:
                problems.add(path, lineno, reason)
        else:
            dropped.add(path, lineno)
    return n, hasher.hexdigest()


# --------------------------------------------------------------------------- the pass


def validate(files: CorpusFiles, *, strict: bool = False) -> CorpusSummary:
    """Read every file once and check it; raise one AugplanError listing what is wrong.

    A qrels row naming a query or corpus id the corpus lacks is a problem with ``strict``;
    otherwise it is counted in ``dropped_qrels`` (and :func:`~store.corpus.iter_qrels`, given
    the corpus' ids, leaves it out). Stores nothing. Keeps only the sets of passage and query
    ids in memory.
    """
    problems = _Problems()
    dropped = _Dropped(files.root)
    digests: list[tuple[str, str]] = []
    passage_ids: set[str] = set()
    try:
        if files.kind == "parquet":
            n_passages, sha = _validate_parquet(files.corpus, problems, passage_ids)
        elif files.kind in ("beir", "jsonl"):
            n_passages, sha = _validate_jsonl(files.corpus, problems, passage_ids, True)
        else:
            raise AugplanError(f"{files.corpus}: unknown corpus kind {files.kind!r}")
        digests.append(("corpus", sha))
        if n_passages == 0 and not problems.count:
            problems.add(files.corpus, None, "no passages")

        n_queries = 0
        query_ids: set[str] | None = None
        if files.queries is not None:
            query_ids = set()
            n_queries, sha = _validate_jsonl(files.queries, problems, query_ids, False)
            digests.append(("queries", sha))
        elif files.qrels:
            problems.add(
                files.root, None, "qrels given but no queries.jsonl to check their query ids"
            )

        qrel_rows: dict[str, int] = {}
        for split, path in sorted(files.qrels.items()):
            qrel_rows[split], sha = _validate_qrels(
                path, problems, dropped, (query_ids, passage_ids), strict
            )
            digests.append((f"qrels/{split}", sha))
    except OSError as exc:
        raise AugplanError(f"cannot read {exc.filename or files.root}: {exc.strerror}") from exc

    problems.raise_if_any()
    fp = hashlib.sha256()
    for role, sha in digests:
        fp.update(f"{role}\t{sha}\n".encode())
    return CorpusSummary(
        n_passages=n_passages,
        n_queries=n_queries,
        qrels=qrel_rows,
        fingerprint=fp.hexdigest(),
        dropped_qrels=dropped.result(),
    )
