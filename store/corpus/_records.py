"""Record parsing shared by the validating and the streaming pass (private).

Lines are read as bytes in large chunks; a JSON line becomes (id, title, text) or a list of
problems; a qrels line becomes (query id, corpus id, score) or a problem; a parquet file is
opened and its id/title/text columns are found. Both passes parse with these same functions, so
what validation accepts is exactly what streaming yields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.errors import AugplanError

_CHUNK = 1 << 20  # bytes read at a time
_MAX_LINE = 64 << 20  # a longer JSON line is reported, not parsed
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


# --------------------------------------------------------------------------- lines


def read_lines(path: Path, hasher: Any | None = None) -> Iterator[tuple[int, bytes | None]]:
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


def too_long() -> str:
    """The problem reported for a line longer than ``_MAX_LINE``."""
    return f"line longer than {_MAX_LINE >> 20} MiB"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- JSON records


def decode_object(line: bytes) -> dict[str, Any] | str:
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


def record_id(obj: dict[str, Any]) -> str | None | tuple[str]:
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


def parse_record(line: bytes, with_title: bool) -> tuple[str | None, str, str, list[str]]:
    """(id or None, title, text, problems) for one JSON line."""
    obj = decode_object(line)
    if isinstance(obj, str):
        return None, "", "", [obj]
    problems: list[str] = []
    rid = record_id(obj)
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


# --------------------------------------------------------------------------- qrels


def parse_qrel(line: bytes) -> tuple[str, str, int] | str | None:
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


def qrel_rows(path: Path, hasher: Any | None = None
              ) -> Iterator[tuple[int, tuple[str, str, int] | str]]:
    """(line number, (query id, corpus id, score) or a problem) of every qrels row of a file;
    the header and blank lines are skipped. ``hasher`` sees every byte."""
    for lineno, line in read_lines(path, hasher):
        if line is None:
            yield lineno, too_long()
            continue
        if lineno == 1 and is_qrels_header(line):
            continue
        parsed = parse_qrel(line)
        if parsed is not None:
            yield lineno, parsed


def is_qrels_header(line: bytes) -> bool:
    cols = line.decode("utf-8", "replace").rstrip("\r\n").split("\t")
    return len(cols) == 3 and cols[2].strip().lower() == "score"


def unknown_ids(
    qid: str, cid: str, query_ids: Container[str] | None, passage_ids: Container[str] | None
) -> list[str]:
    """Why a qrels row names something the corpus lacks (empty when it does not).

    ``None`` for a set means "not checked". Validation reports these reasons (``strict``) or
    counts the row as dropped; streaming leaves such rows out.
    """
    reasons: list[str] = []
    if query_ids is not None and qid not in query_ids:
        reasons.append(f"unknown query id {qid!r} (not in queries.jsonl)")
    if passage_ids is not None and cid not in passage_ids:
        reasons.append(f"unknown corpus id {cid!r} (not in corpus.jsonl)")
    return reasons


# --------------------------------------------------------------------------- parquet


def _is_stringish(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_stringish(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t)


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


def parquet_columns(path: Path) -> tuple[pq.ParquetFile, str, str | None, str, list[str]]:
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


def id_list(arr: pa.Array) -> list[str | None]:
    if pa.types.is_integer(arr.type):
        arr = arr.cast(pa.string())
    return arr.to_pylist()


def parquet_batches(
    pf: pq.ParquetFile, columns: list[str], batch_size: int, path: Path
) -> Iterator[pa.RecordBatch]:
    try:
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise AugplanError(f"{path}: cannot read parquet data ({exc})") from exc
