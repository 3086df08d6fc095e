"""Query embeddings with the catalogue embedder, computed once per stored query."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine import catalogue
from store import Selection, Store

DEFAULT_EMBEDDER = "minilm-l6"


class Embedder:
    """A SentenceTransformer from the catalogue, loaded after its sha256 check, on the CPU."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, models_dir: Path | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        from engine.backends.llamacpp import default_threads

        entry = catalogue.get_entry(name)
        path = catalogue.verify(name, models_dir)
        torch.set_num_threads(default_threads())
        self.name = name
        self.dim = int(entry.dim or 0)
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vecs.astype(np.float32, copy=False)


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
        flat = pa.array(vecs.reshape(-1), pa.float32())
        vec_col = pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1])
        part = part.set_column(part.schema.get_field_index("vector"), "vector", vec_col)
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
