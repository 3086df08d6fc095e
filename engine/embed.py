"""Encoding with the catalogue embedder, and its caches in the store.

* Query vectors: :func:`embed_pending` embeds every stored query once (the ``vector`` column of
  the augmentations).
* Passage vectors: :func:`passage_matrix` keeps them in the store's ``passage_vectors`` table,
  keyed by (passage content hash, embedder), so every passage is encoded once, ever, whatever
  corpus it appears in; an interrupted run keeps what it had encoded (written in chunks).
* Precision: :func:`encode` runs the embedder under bfloat16 autocast or in float32. ``auto``
  (the default) follows :func:`engine.device.bf16_faster` for the embedder's device (the CPU):
  bf16 only where this machine's cached calibration measured it faster; ``bfloat16`` asks for
  it wherever the CPU runs it natively (AVX-512 or AMX; nDCG@10 on SciFact moved by 6e-4); ``float32`` never uses it.
* Vector columns: helpers between Arrow fixed-size-list columns and numpy matrices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import catalogue
from engine.device import bf16_faster, cpu_bf16_supported, default_threads
from store import Selection, Store
from store.errors import AugplanError

DEFAULT_EMBEDDER = "minilm-l6"
#: precisions of passage encoding (names as recorded in ``passage_vectors.precision``)
ENCODE_PRECISIONS = ("auto", "bfloat16", "float32")


class Embedder:
    """A SentenceTransformer from the catalogue, loaded after its sha256 check, on the CPU."""

    device = "cpu"

    def __init__(self, name: str = DEFAULT_EMBEDDER, models_dir: Path | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        entry = catalogue.get_entry(name)
        path = catalogue.verify(name, models_dir)
        torch.set_num_threads(default_threads())
        self.name = name
        self.dim = int(entry.dim or 0)
        self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)

    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vecs.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------- precision
def resolve_precision(precision: str, device: str = "cpu") -> str:
    """The precision ``encode`` uses on ``device`` for a requested one (``auto``, ``bfloat16``,
    ``float32``): ``bfloat16`` or ``float32``."""
    if precision not in ENCODE_PRECISIONS:
        raise AugplanError(f"precision {precision!r}: use one of {', '.join(ENCODE_PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if bf16_faster(device) else "float32"
    if precision == "bfloat16" and device.startswith("cpu") and not cpu_bf16_supported():
        return "float32"
    return precision


@contextlib.contextmanager
def encoding_precision(precision: str, device: str = "cpu") -> Iterator[str]:
    """Autocast to bfloat16 where ``precision`` resolves to it; yields the precision used."""
    used = resolve_precision(precision, device)
    if used != "bfloat16":
        yield used
        return
    import torch

    with torch.autocast(device.split(":", 1)[0], dtype=torch.bfloat16):
        yield used


def encode(embedder: Embedder, texts: list[str], precision: str = "auto",
           batch_size: int = 64) -> tuple[np.ndarray, str]:
    """Unit float32 vectors of texts and the precision actually used."""
    with encoding_precision(precision, getattr(embedder, "device", "cpu")) as used:
        vecs = embedder.encode(texts, batch_size=batch_size)
    vecs = np.asarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0), used


# ------------------------------------------------------------------------------- queries
def embed_pending(
    store: Store,
    corpus: str | None = None,
    *,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
    chunk: int = 1024,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed every stored query (of a corpus) that has no vector yet; returns how many."""
    if corpus:
        store.corpus_info(corpus)  # an unknown name is an error, not "0 embedded"
    pending = store.augmentations(Selection(corpus=corpus, embedded=False, has_query=True))
    total = pending.num_rows
    if total == 0:
        return 0
    embedder = embedder or Embedder(models_dir=models_dir)
    done = 0
    for start in range(0, total, chunk):
        part = pending.slice(start, chunk)
        vecs = embedder.encode(part.column("query").to_pylist())
        part = part.set_column(part.schema.get_field_index("vector"), "vector",
                               vector_array(vecs))
        part = part.set_column(
            part.schema.get_field_index("embedder"), "embedder",
            pa.array([embedder.name] * part.num_rows, pa.string()),
        )
        store.set_vectors(part)
        done += part.num_rows
        if on_progress:
            on_progress(done, total)
    store.optimize()
    return done


# ------------------------------------------------------------------------------ passages
def passage_input(title: str | None, text: str | None) -> str:
    """The text a passage is embedded and compared as: title and text, space-separated."""
    return f"{title or ''} {text or ''}".strip()


def passage_matrix(
    store: Store,
    corpus: str,
    embedder: Embedder,
    *,
    precision: str = "auto",
    chunk: int = 512,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[pa.Table, np.ndarray, int]:
    """(passages of the corpus in file order, their unit vectors, how many were encoded now).

    Vectors come from the ``passage_vectors`` cache; missing ones are encoded and written in
    chunks, each chunk one commit.
    """
    passages = store.passages(corpus)
    hashes = passages.column("passage_hash")
    unique = pc.unique(hashes)
    cached = store.passage_vectors(embedder.name, unique)
    have = set(cached.column("passage_hash").to_pylist())
    todo = pc.filter(unique, pc.invert(pc.is_in(unique, pa.array(list(have), pa.string()))))
    encoded = 0
    if len(todo):
        cached = _encode_missing(store, passages, cached, todo.to_pylist(), embedder,
                                 precision=precision, chunk=chunk, on_progress=on_progress)
        encoded = len(todo)
    pos = pc.index_in(hashes, cached.column("passage_hash")).to_numpy(zero_copy_only=False)
    return passages, vector_matrix(cached.column("vector"))[pos], encoded


def _encode_missing(store: Store, passages: pa.Table, cached: pa.Table, todo: list[str],
                    embedder: Embedder, *, precision: str, chunk: int,
                    on_progress: Callable[[int, int], None] | None) -> pa.Table:
    """Encode the passages whose hashes are in ``todo``, a chunk per commit; returns ``cached``
    with them added (passage_hash, vector)."""
    first = pc.index_in(pa.array(todo, pa.string()), passages.column("passage_hash")).to_numpy()
    titles = passages.column("title").to_pylist()
    texts = passages.column("text").to_pylist()
    parts = [cached]
    encoded = 0
    for start in range(0, len(todo), chunk):
        idx = first[start : start + chunk]
        vecs, used = encode(embedder, [passage_input(titles[i], texts[i]) for i in idx],
                            precision)
        part = pa.table({
            "passage_hash": pa.array(todo[start : start + chunk], pa.string()),
            "embedder": pa.array([embedder.name] * len(idx), pa.string()),
            "precision": pa.array([used] * len(idx), pa.string()),
            "vector": vector_array(vecs),
        })
        store.add_passage_vectors(part)
        parts.append(part.select(["passage_hash", "vector"]))
        encoded += len(idx)
        if on_progress:
            on_progress(encoded, len(todo))
    store.optimize("passage_vectors")
    return pa.concat_tables([p.cast(parts[0].schema) for p in parts])


# -------------------------------------------------------------------------- vector columns
def vector_array(vecs: np.ndarray) -> pa.FixedSizeListArray:
    """A float32 matrix as an Arrow fixed-size-list column (one list per row)."""
    flat = pa.array(np.ascontiguousarray(vecs, dtype=np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1])


def vector_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed-size-list vector column (no nulls) as a matrix, one row per entry."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, arr.type.list_size), np.float32)
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)


def vectors_or_zero(column: pa.ChunkedArray, dim: int) -> np.ndarray:
    """A vector column as a float32 matrix, with zero rows where a vector is missing."""
    arr = column.combine_chunks()
    dim = arr.type.list_size if hasattr(arr.type, "list_size") else dim
    out = np.zeros((len(arr), dim), np.float32)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if valid.any():
        present = arr.filter(pa.array(valid))
        out[valid] = present.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    return out


def unit_vectors(column: pa.ChunkedArray, positions: np.ndarray) -> np.ndarray:
    """Rows at ``positions`` of a vector column as a unit-normalised float32 matrix."""
    taken = column.take(pa.array(positions)).combine_chunks()
    dim = taken.type.list_size
    x = taken.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


__all__ = ["DEFAULT_EMBEDDER", "ENCODE_PRECISIONS", "Embedder", "embed_pending", "encode",
           "encoding_precision", "passage_input", "passage_matrix", "resolve_precision",
           "unit_vectors", "vector_array", "vector_matrix", "vectors_or_zero"]
