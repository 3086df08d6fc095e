"""Corpora: find them, recognise their layout, validate them in full, then stream them.

Three inputs are understood:

* a BEIR folder: ``corpus.jsonl`` (``_id``, optional ``title``, ``text``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels/*.tsv`` (header ``query-id<TAB>corpus-id<TAB>score``; the
  split name is the file stem);
* a plain ``.jsonl`` file of passages (``_id`` or ``id``, optional ``title``, ``text``);
* a ``.parquet`` file of passages with the same columns.

Everything streams: JSON lines are read as bytes in large chunks and parsed one at a time, parquet
files batch by batch. Validation is a complete first pass that stores nothing and keeps only the
sets of ids it needs for duplicate and qrels checks; it reports every problem it finds (up to
``MAX_PROBLEMS`` of them) in one :class:`AugplanError`. The ``iter_*`` functions are the second
pass and yield Arrow record batches.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.errors import AugplanError
from store.keys import passage_hash

__all__ = [
    "BEIR_DATASETS",
    "BEIR_URL",
    "MAX_PROBLEMS",
    "PASSAGE_SCHEMA",
    "QREL_SCHEMA",
    "QUERY_SCHEMA",
    "CorpusFiles",
    "CorpusSummary",
    "default_data_dir",
    "detect",
    "download_beir",
    "iter_passages",
    "iter_qrels",
    "iter_queries",
    "locate",
    "validate",
]

PASSAGE_SCHEMA = pa.schema(
    [
        ("passage_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("passage_hash", pa.string()),
        ("ordinal", pa.int64()),
    ]
)
QUERY_SCHEMA = pa.schema([("query_id", pa.string()), ("text", pa.string())])
QREL_SCHEMA = pa.schema(
    [
        ("split", pa.string()),
        ("query_id", pa.string()),
        ("passage_id", pa.string()),
        ("score", pa.int32()),
    ]
)

#: Base URL of the public BEIR zips; ``$AUGPLAN_BEIR_URL`` overrides it.
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"
#: BEIR datasets that can be downloaded from ``BEIR_URL`` as ``{name}.zip``.
BEIR_DATASETS = frozenset(
    {
        "msmarco",
        "trec-covid",
        "nfcorpus",
        "nq",
        "hotpotqa",
        "fiqa",
        "arguana",
        "webis-touche2020",
        "cqadupstack",
        "quora",
        "dbpedia-entity",
        "scidocs",
        "fever",
        "climate-fever",
        "scifact",
    }
)
#: Problems listed in one validation error; the rest are only counted.
MAX_PROBLEMS = 20

_CHUNK = 1 << 20  # bytes read at a time
_MAX_LINE = 64 << 20  # a longer JSON line is reported, not parsed
_QREL_BATCH = 65536
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class CorpusFiles:
    """Where a corpus's files are. ``kind`` is ``"beir"``, ``"jsonl"`` or ``"parquet"``."""

    kind: str
    root: Path
    corpus: Path
    queries: Path | None = None
    qrels: dict[str, Path] = field(default_factory=dict)  # split -> file


@dataclass(frozen=True)
class CorpusSummary:
    """What validation counted. ``fingerprint`` is a sha256 over the files' sha256."""

    n_passages: int
    n_queries: int
    qrels: dict[str, int]  # split -> rows
    fingerprint: str


# --------------------------------------------------------------------------- locating


def default_data_dir() -> Path:
    """Where named datasets live and are downloaded to: ``$AUGPLAN_DATA_DIR`` or ~/.augplan/data."""
    env = os.environ.get("AUGPLAN_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".augplan" / "data"


def _beir_url(name: str) -> str:
    base = os.environ.get("AUGPLAN_BEIR_URL") or BEIR_URL
    return f"{base.rstrip('/')}/{name}.zip"


def locate(
    path_or_name: str, data_dir: str | Path | None = None, *, download: bool = False
) -> Path:
    """Find a corpus by path or dataset name.

    An existing path wins; then ``data_dir/NAME``; then ``$AUGPLAN_DATA_DIR/NAME`` (or
    ``~/.augplan/data/NAME`` when that variable is unset); then, for a public BEIR dataset and
    ``download=True``, the dataset is downloaded into that last folder.
    """
    if not path_or_name.strip():
        raise AugplanError("no dataset given", hint="pass a dataset name or a path")
    given = Path(path_or_name).expanduser()
    if given.exists():
        return given.resolve()
    looked = [given]
    candidates: list[Path] = []
    home = default_data_dir()
    if not given.is_absolute():
        if data_dir is not None:
            candidates.append(Path(data_dir).expanduser() / path_or_name)
        candidates.append(home / path_or_name)
    for cand in candidates:
        if cand.exists():
            return cand.resolve()
        looked.append(cand)
    name = path_or_name.strip("/")
    if name in BEIR_DATASETS and download:
        return download_beir(name, home)
    where = ", ".join(str(p) for p in looked)
    if name in BEIR_DATASETS:
        hint = f"pass --data DIR (a folder holding {name}/), or --download to fetch it from BEIR"
    else:
        hint = (
            "pass --data DIR (a folder holding it), or a path to a BEIR folder, .jsonl or "
            ".parquet file; --download works for public BEIR datasets: "
            + ", ".join(sorted(BEIR_DATASETS))
        )
    raise AugplanError(f"dataset '{path_or_name}' not found; looked in: {where}", hint=hint)


def download_beir(name: str, dest_dir: Path) -> Path:
    """Download the public BEIR zip of ``name`` and unzip it into ``dest_dir/name``."""
    if name not in BEIR_DATASETS:
        raise AugplanError(f"'{name}' is not a public BEIR dataset")
    url = _beir_url(name)
    target = dest_dir / name
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.part", dir=dest_dir)
    except OSError as exc:
        raise AugplanError(f"cannot write to data folder {dest_dir}: {exc}") from exc
    tmp_zip = Path(tmp_name)
    unpack: Path | None = None
    try:
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp,
            ):
                shutil.copyfileobj(resp, out, _CHUNK)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise AugplanError(
                f"could not download {name} from {url}: {reason}",
                hint=(
                    "check the network connection, or fetch the zip elsewhere, unzip it into a "
                    "folder and pass --data DIR"
                ),
            ) from exc
        try:
            unpack = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest_dir))
            with zipfile.ZipFile(tmp_zip) as zf:
                zf.extractall(unpack)
            inner = unpack / name
            source = inner if inner.is_dir() else unpack
            if not target.exists():  # else another process finished first
                source.rename(target)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AugplanError(
                f"download of {name} from {url} could not be unpacked: {exc}"
            ) from exc
        return target.resolve()
    finally:
        tmp_zip.unlink(missing_ok=True)
        if unpack is not None:
            shutil.rmtree(unpack, ignore_errors=True)


# --------------------------------------------------------------------------- detecting


def detect(path: Path) -> CorpusFiles:
    """Recognise a BEIR folder, a ``.jsonl`` or a ``.parquet`` file."""
    path = Path(path)
    if path.is_dir():
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


# --------------------------------------------------------------------------- reading


def _read_lines(path: Path, hasher: Any | None = None) -> Iterator[tuple[int, bytes | None]]:
    """Yield (1-based line number, line bytes without the newline) in big chunks.

    A line longer than ``_MAX_LINE`` is yielded as ``None``. ``hasher`` sees every byte.
    """
    lineno = 0
    pending: list[bytes] = []
    pending_len = 0
    skipping = False
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if hasher is not None:
                hasher.update(chunk)
            parts = chunk.split(b"\n")
            last = parts.pop()
            if parts:
                first = parts[0]
                if pending:
                    pending.append(first)
                    first = b"".join(pending)
                    pending, pending_len = [], 0
                lineno += 1
                if skipping:
                    skipping = False
                    yield lineno, None
                else:
                    if lineno == 1 and first.startswith(b"\xef\xbb\xbf"):
                        first = first[3:]
                    yield lineno, first
                for part in parts[1:]:
                    lineno += 1
                    yield lineno, part
            if last:
                pending.append(last)
                pending_len += len(last)
                if pending_len > _MAX_LINE:
                    skipping = True
                    pending, pending_len = [], 0
    if skipping:
        yield lineno + 1, None
    elif pending:
        line = b"".join(pending)
        if lineno == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield lineno + 1, line


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _decode_object(line: bytes) -> dict[str, Any] | str:
    """The JSON object on ``line``, or a description of what is wrong with it."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at byte offset {exc.start})"
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return f"not a JSON object (got {_json_type(obj)})"
    return obj


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _record_id(obj: dict[str, Any]) -> str | None | tuple[str]:
    """The record's id as text; None when absent; a 1-tuple holding a problem when unusable."""
    key = "_id" if "_id" in obj else "id" if "id" in obj else None
    if key is None:
        return None
    value = obj[key]
    if isinstance(value, str):
        if not value:
            return (f"empty `{key}`",)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return (f"`{key}` must be a string (got {_json_type(value)})",)


def _record_text(obj: dict[str, Any]) -> str | tuple[str]:
    if "text" not in obj or obj["text"] is None:
        return ("missing `text`",)
    text = obj["text"]
    if not isinstance(text, str):
        return (f"`text` is not a string (got {_json_type(text)})",)
    if not text.strip():
        return ("empty `text` (blank or whitespace only)",)
    return text


def _record_title(obj: dict[str, Any]) -> str | tuple[str]:
    title = obj.get("title")
    if title is None:
        return ""
    if not isinstance(title, str):
        return (f"`title` is not a string (got {_json_type(title)})",)
    return title


def _parse_record(line: bytes, with_title: bool) -> tuple[str | None, str, str, list[str]]:
    """(id or None, title, text, problems) for one JSON line."""
    obj = _decode_object(line)
    if isinstance(obj, str):
        return None, "", "", [obj]
    problems: list[str] = []
    rid = _record_id(obj)
    if rid is None:
        problems.append("missing `_id` (or `id`)")
    elif isinstance(rid, tuple):
        problems.append(rid[0])
        rid = None
    text = _record_text(obj)
    if isinstance(text, tuple):
        problems.append(text[0])
        text = ""
    title = ""
    if with_title:
        t = _record_title(obj)
        if isinstance(t, tuple):
            problems.append(t[0])
        else:
            title = t
    return rid, title, text, problems


def _parse_qrel(line: bytes) -> tuple[str, str, int] | str | None:
    """(query id, corpus id, score), a problem, or None for a blank line."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at byte offset {exc.start})"
    s = s.rstrip("\r\n")
    if not s.strip():
        return None
    cols = s.split("\t")
    if len(cols) != 3:
        return f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}"
    qid, cid, score_s = (c.strip() for c in cols)
    try:
        score = int(score_s)
    except ValueError:
        return f"score {score_s!r} is not an integer"
    if not _INT32_MIN <= score <= _INT32_MAX:
        return f"score {score} is out of range"
    if not qid or not cid:
        return "empty query-id or corpus-id"
    return qid, cid, score


def _is_qrels_header(line: bytes) -> bool:
    cols = line.decode("utf-8", "replace").rstrip("\r\n").split("\t")
    return len(cols) == 3 and cols[2].strip().lower() == "score"


# --------------------------------------------------------------------------- validating


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


def _jsonl_first_seen(path: Path) -> Callable[[set[str]], dict[str, int | str]]:
    def first_seen(ids: set[str]) -> dict[str, int | str]:
        found: dict[str, int | str] = {}
        for lineno, line in _read_lines(path):
            if line is None or not line.strip():
                continue
            obj = _decode_object(line)
            if isinstance(obj, str):
                continue
            rid = _record_id(obj)
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
    for lineno, line in _read_lines(path, hasher):
        if line is None:
            problems.add(path, lineno, f"line longer than {_MAX_LINE >> 20} MiB")
            continue
        if not line.strip():
            continue
        rid, _title, _text, errs = _parse_record(line, with_title)
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


def _is_stringish(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_stringish(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t)


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


def _parquet_columns(path: Path) -> tuple[pq.ParquetFile, str, str | None, str, list[str]]:
    """(file, id column, title column or None, text column, problems with the schema)."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise AugplanError(f"{path}: not a readable parquet file ({exc})") from exc
    schema = pf.schema_arrow
    names = set(schema.names)
    errs: list[str] = []
    id_col = "_id" if "_id" in names else "id" if "id" in names else ""
    if not id_col:
        errs.append("no `_id` (or `id`) column")
    else:
        t = schema.field(id_col).type
        if not (_is_stringish(t) or pa.types.is_integer(t)):
            errs.append(f"column `{id_col}` has type {t}, expected string")
    if "text" not in names:
        errs.append("no `text` column")
    elif not _is_stringish(schema.field("text").type):
        errs.append(f"column `text` has type {schema.field('text').type}, expected string")
    title_col: str | None = None
    if "title" in names:
        t = schema.field("title").type
        if _is_stringish(t) or pa.types.is_null(t):
            title_col = "title"
        else:
            errs.append(f"column `title` has type {t}, expected string")
    return pf, id_col, title_col, "text", errs


def _id_list(arr: pa.Array) -> list[str | None]:
    if pa.types.is_integer(arr.type):
        arr = arr.cast(pa.string())
    return arr.to_pylist()


def _parquet_batches(
    pf: pq.ParquetFile, columns: list[str], batch_size: int, path: Path
) -> Iterator[pa.RecordBatch]:
    try:
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise AugplanError(f"{path}: cannot read parquet data ({exc})") from exc


def _validate_parquet(path: Path, problems: _Problems, ids: set[str]) -> tuple[int, str]:
    pf, id_col, title_col, text_col, errs = _parquet_columns(path)
    sha = _file_sha256(path)
    if errs:
        for err in errs:
            problems.add(path, None, err)
        return 0, sha
    cols = [id_col, text_col] + ([title_col] if title_col else [])
    dups = _DupTracker()
    n = 0
    row = 0
    for batch in _parquet_batches(pf, cols, 65536, path):
        rids = _id_list(batch.column(id_col))
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
        for b in _parquet_batches(pf, [id_col], 65536, path):
            for rid in _id_list(b.column(id_col)):
                if rid in wanted and rid not in found:
                    found[rid] = f"row {r}"
                r += 1
            if len(found) == len(wanted):
                break
        return found

    dups.resolve(first_seen)
    return n, sha


def _validate_qrels(
    split: str,
    path: Path,
    problems: _Problems,
    query_ids: set[str] | None,
    passage_ids: set[str],
) -> tuple[int, str]:
    hasher = hashlib.sha256()
    n = 0
    for lineno, line in _read_lines(path, hasher):
        if line is None:
            problems.add(path, lineno, f"line longer than {_MAX_LINE >> 20} MiB")
            continue
        if lineno == 1 and _is_qrels_header(line):
            continue
        parsed = _parse_qrel(line)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            problems.add(path, lineno, parsed)
            continue
        qid, cid, _score = parsed
        ok = True
        if query_ids is not None and qid not in query_ids:
            problems.add(path, lineno, f"unknown query id {qid!r} (not in queries.jsonl)")
            ok = False
        if cid not in passage_ids:
            problems.add(path, lineno, f"unknown corpus id {cid!r} (not in corpus.jsonl)")
            ok = False
        n += ok
    return n, hasher.hexdigest()


def validate(files: CorpusFiles) -> CorpusSummary:
    """Read every file once and check it; raise one AugplanError listing what is wrong.

    Stores nothing. Keeps only the sets of passage and query ids in memory.
    """
    problems = _Problems()
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
            qrel_rows[split], sha = _validate_qrels(split, path, problems, query_ids, passage_ids)
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
    )


# --------------------------------------------------------------------------- streaming


def _passage_batch(
    ids: list[str], titles: list[str], texts: list[str], start: int
) -> pa.RecordBatch:
    hashes = [passage_hash(t, x) for t, x in zip(titles, texts, strict=True)]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.array(titles, pa.string()),
            pa.array(texts, pa.string()),
            pa.array(hashes, pa.string()),
            pa.array(range(start, start + len(ids)), pa.int64()),
        ],
        schema=PASSAGE_SCHEMA,
    )


def _unvalidated(where: str, message: str) -> AugplanError:
    return AugplanError(f"{where}: {message}", hint="validate the corpus before streaming it")


def _iter_jsonl_records(path: Path, with_title: bool) -> Iterator[tuple[str, str, str]]:
    for lineno, line in _read_lines(path):
        if line is None:
            raise _unvalidated(f"{path}:{lineno}", "line too long")
        if not line.strip():
            continue
        rid, title, text, errs = _parse_record(line, with_title)
        if errs or rid is None:
            raise _unvalidated(f"{path}:{lineno}", errs[0] if errs else "missing `_id`")
        yield rid, title, text


def iter_passages(files: CorpusFiles, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream the passages as PASSAGE_SCHEMA batches, in file order (``ordinal`` from 0)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if files.kind == "parquet":
        yield from _iter_parquet_passages(files.corpus, batch_size)
        return
    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    start = 0
    for rid, title, text in _iter_jsonl_records(files.corpus, True):
        ids.append(rid)
        titles.append(title)
        texts.append(text)
        if len(ids) >= batch_size:
            yield _passage_batch(ids, titles, texts, start)
            start += len(ids)
            ids, titles, texts = [], [], []
    if ids:
        yield _passage_batch(ids, titles, texts, start)


def _iter_parquet_passages(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    pf, id_col, title_col, text_col, errs = _parquet_columns(path)
    if errs:
        raise _unvalidated(str(path), errs[0])
    cols = [id_col, text_col] + ([title_col] if title_col else [])
    start = 0
    for batch in _parquet_batches(pf, cols, batch_size, path):
        ids = _id_list(batch.column(id_col))
        texts = batch.column(text_col).to_pylist()
        if title_col:
            titles = [t or "" for t in batch.column(title_col).to_pylist()]
        else:
            titles = [""] * len(ids)
        for i, (rid, text) in enumerate(zip(ids, texts, strict=True)):
            if not rid or text is None or not text.strip():
                raise _unvalidated(f"{path}: row {start + i}", "missing id or text")
        yield _passage_batch(ids, titles, texts, start)  # type: ignore[arg-type]
        start += len(ids)


def iter_queries(files: CorpusFiles, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream the queries as QUERY_SCHEMA batches; nothing when the corpus has no queries."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if files.queries is None:
        return
    ids: list[str] = []
    texts: list[str] = []
    for rid, _title, text in _iter_jsonl_records(files.queries, False):
        ids.append(rid)
        texts.append(text)
        if len(ids) >= batch_size:
            yield _query_batch(ids, texts)
            ids, texts = [], []
    if ids:
        yield _query_batch(ids, texts)


def _query_batch(ids: list[str], texts: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.string()), pa.array(texts, pa.string())], schema=QUERY_SCHEMA
    )


def iter_qrels(files: CorpusFiles, batch_size: int = _QREL_BATCH) -> Iterator[pa.RecordBatch]:
    """Stream every qrels split as QREL_SCHEMA batches (splits in name order)."""
    for split, path in sorted(files.qrels.items()):
        qids: list[str] = []
        cids: list[str] = []
        scores: list[int] = []
        for lineno, line in _read_lines(path):
            if line is None:
                raise _unvalidated(f"{path}:{lineno}", "line too long")
            if lineno == 1 and _is_qrels_header(line):
                continue
            parsed = _parse_qrel(line)
            if parsed is None:
                continue
            if isinstance(parsed, str):
                raise _unvalidated(f"{path}:{lineno}", parsed)
            qids.append(parsed[0])
            cids.append(parsed[1])
            scores.append(parsed[2])
            if len(qids) >= batch_size:
                yield _qrel_batch(split, qids, cids, scores)
                qids, cids, scores = [], [], []
        if qids:
            yield _qrel_batch(split, qids, cids, scores)


def _qrel_batch(split: str, qids: list[str], cids: list[str], scores: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([split] * len(qids), pa.string()),
            pa.array(qids, pa.string()),
            pa.array(cids, pa.string()),
            pa.array(scores, pa.int32()),
        ],
        schema=QREL_SCHEMA,
    )
