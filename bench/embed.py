"""Benchmark: query embedding through the store pipeline against a bare SentenceTransformer.

Both sides embed the same ~2,000 query-like texts (SciFact claims, then SciFact titles) with the
same MiniLM model object in this one process, alternating (bare, pipeline, bare, pipeline...)
so machine noise hits both alike. The pipeline side is ``embed_pending`` exactly as the CLI runs
it: the scan of pending rows from LanceDB, ``Embedder.encode`` in chunks, the Arrow conversion of
the vectors and the merge-insert commits, then ``optimize``. The bare side is
``SentenceTransformer.encode`` with the same batch size and normalisation. The ratio pipeline /
bare (best run of each) is the overhead of the store (target: within 5%). Run it on an idle
machine: torch's threads slow down unevenly when other processes share the cores.

    .venv/bin/python bench/embed.py [--texts 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.embed import Embedder, embed_pending
from store import Selection, Store
from store import corpus as corpus_io
from store.schemas import augmentations as augmentation_schema


def load_texts(data: Path, n: int) -> list[str]:
    texts: list[str] = []
    for name, field in (("queries.jsonl", "text"), ("corpus.jsonl", "title")):
        with (data / "scifact" / name).open(encoding="utf-8") as f:
            for line in f:
                t = json.loads(line)[field].strip()
                if t:
                    texts.append(t)
                if len(texts) >= n:
                    return texts
    return texts


def pending_rows(corpus: str, texts: list[str], dim: int) -> pa.Table:
    n = len(texts)
    rows = [{
        "uid": f"{corpus}/{i:06d}", "key": f"{i:06d}", "corpus": corpus, "passage_id": "p0",
        "passage_hash": "h", "query": t, "raw": t, "augmenter": "bench", "model_sha256": "",
        "strategy": "inpars", "prompt_hash": "", "params": "{}", "temperature": 0.0,
        "top_p": 1.0, "seed": 0, "idx": i, "prompt_tokens": 0, "gen_tokens": 0, "seconds": 0.0,
        "run_id": "bench", "created_at": "2026-01-01T00:00:00+00:00", "status": "ok",
        "reason": "", "dup_of": "", "checks": "", "embedder": None, "vector": None,
    } for i, t in enumerate(texts)]
    assert len(rows) == n
    return pa.Table.from_pylist(rows, schema=augmentation_schema(dim))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128, help="Embedder.encode's default.")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "AUGPLAN_DATA_DIR", ROOT.parent / "shared" / "data")))
    ap.add_argument("--models-dir", type=Path, default=None)
    args = ap.parse_args()

    texts = load_texts(args.data, args.texts)
    embedder = Embedder(models_dir=args.models_dir)
    model = embedder.model
    print(f"{len(texts)} texts, model {embedder.name}, batch size {args.batch_size}, "
          f"torch threads {__import__('torch').get_num_threads()}")
    model.encode(texts[:256], batch_size=args.batch_size, normalize_embeddings=True)  # warm-up

    bare_s: list[float] = []
    pipe_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = Path(tmp) / "one.jsonl"
        corpus_file.write_text(json.dumps({"_id": "p0", "title": "", "text": "x"}) + "\n",
                               encoding="utf-8")
        store = Store(Path(tmp) / "store")
        for r in range(args.repeats):
            t0 = time.perf_counter()
            model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
            bare_s.append(time.perf_counter() - t0)

            corpus = f"bench{r}"
            store.import_corpus(corpus, corpus_io.detect(corpus_file))
            store.add_augmentations(pending_rows(corpus, texts, store.dim))
            t0 = time.perf_counter()
            done = embed_pending(store, corpus, embedder=embedder)
            pipe_s.append(time.perf_counter() - t0)
            assert done == len(texts)
            assert store.count_augmentations(Selection(corpus=corpus, embedded=False)) == 0
            print(f"  repeat {r + 1}: bare {bare_s[-1]:.2f} s, pipeline {pipe_s[-1]:.2f} s",
                  flush=True)

    # Best of the repeats: the least disturbed run of each side (other processes only ever
    # add time); medians are printed too.
    bare, pipe = min(bare_s), min(pipe_s)
    print(f"bare SentenceTransformer.encode: {bare:.2f} s ({len(texts) / bare:.0f} texts/s)")
    print(f"embed_pending (scan, encode, Arrow, store write): {pipe:.2f} s "
          f"({len(texts) / pipe:.0f} texts/s)")
    print(f"ratio pipeline / bare: {pipe / bare:.3f} (overhead {100 * (pipe / bare - 1):+.1f}%, "
          f"best of {args.repeats}); medians: {statistics.median(pipe_s):.2f} / "
          f"{statistics.median(bare_s):.2f} s = "
          f"{statistics.median(pipe_s) / statistics.median(bare_s):.3f}")

if __name__ == "__main__":
    main()
