"""Arrow schemas of the store's tables (one place, so readers and writers agree)."""

from __future__ import annotations

import pyarrow as pa

CORPORA = pa.schema(
    [
        ("name", pa.string()),
        ("kind", pa.string()),
        ("source", pa.string()),
        ("fingerprint", pa.string()),
        ("n_passages", pa.int64()),
        ("n_queries", pa.int64()),
        ("qrels", pa.string()),  # JSON: split -> rows kept
        ("imported_at", pa.string()),
        # JSON: {"count": n, "first": ["qrels/test.tsv:12", ...]}: qrels rows left out because
        # they name a query or corpus id the corpus lacks (null in stores written before)
        ("dropped_qrels", pa.string()),
        # JSON: {"dev": {"from": "train", "queries": 300, "seed": 0, "left": 509}}: splits carved
        # out of another after import (null: none)
        ("carved_splits", pa.string()),
    ]
)

PASSAGES = pa.schema(
    [
        ("corpus", pa.string()),
        ("passage_id", pa.string()),
        ("passage_hash", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("ordinal", pa.int64()),
    ]
)

QUERIES = pa.schema([("corpus", pa.string()), ("query_id", pa.string()), ("text", pa.string())])

QRELS = pa.schema(
    [
        ("corpus", pa.string()),
        ("split", pa.string()),
        ("query_id", pa.string()),
        ("passage_id", pa.string()),
        ("score", pa.int32()),
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("kind", pa.string()),
        ("corpus", pa.string()),
        ("augmenter", pa.string()),
        ("strategy", pa.string()),
        ("manifest", pa.string()),  # JSON of the full request
        ("target", pa.int64()),
        ("done", pa.int64()),
        ("generated", pa.int64()),
        ("cached", pa.int64()),
        ("status", pa.string()),  # running | finished | failed | cancelled
        ("message", pa.string()),
        ("seconds", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("gen_tokens", pa.int64()),
        ("diversity", pa.string()),  # JSON of diversity scores of the run's queries
        ("created_at", pa.string()),
        ("updated_at", pa.string()),
    ]
)


PILOTS = pa.schema(
    [
        pa.field("point_id", pa.string(), nullable=False),  # hash of (config_hash, eval set)
        ("config_hash", pa.string()),  # hash of everything that shapes the trained model
        ("corpus", pa.string()),  # the corpus whose passages the pairs come from
        ("kind", pa.string()),  # zero-shot | synthetic | human
        ("retriever", pa.string()),
        ("augmenter", pa.string()),  # "" for zero-shot, "human" for the corpus' own pairs
        ("strategy", pa.string()),
        ("scale", pa.int64()),  # training pairs (0: zero-shot)
        ("seed", pa.int64()),
        ("eval_set", pa.string()),  # corpus:split
        ("eval_mode", pa.string()),  # full | nano
        ("ndcg_at_10", pa.float64()),
        ("recall_at_100", pa.float64()),
        ("mrr_at_10", pa.float64()),
        ("metrics", pa.string()),  # JSON of every metric computed
        ("n_queries", pa.int64()),
        ("train_seconds", pa.float64()),
        ("eval_seconds", pa.float64()),
        ("device", pa.string()),
        ("config", pa.string()),  # JSON: hyperparameters, selection, versions
        ("created_at", pa.string()),
    ]
)

PROFILES = pa.schema(
    [
        # content hash of the profile: re-adding one is a no-op
        pa.field("profile_id", pa.string(), nullable=False),
        ("kind", pa.string()),  # augmenter | training
        ("name", pa.string()),  # augmenter (catalogue name) or retriever
        ("strategy", pa.string()),
        ("backend", pa.string()),
        ("device", pa.string()),  # CPU model name or GPU name
        ("threads", pa.int64()),
        ("prompt_tokens_per_s", pa.float64()),
        ("gen_tokens_per_s", pa.float64()),
        ("queries_per_s", pa.float64()),
        ("queries_per_hour", pa.float64()),
        ("pairs_per_s", pa.float64()),
        ("pairs_per_hour", pa.float64()),
        ("batch_size", pa.int64()),
        ("max_seq_length", pa.int64()),
        ("peak_rss_mb", pa.float64()),
        ("peak_gpu_mb", pa.float64()),
        ("passages", pa.int64()),
        ("model_params", pa.int64()),  # parameters of the model, a count
        ("params", pa.string()),  # JSON of the measurement's settings (sampling, batch...)
        ("source", pa.string()),  # measured | the file it was imported from
        ("measured_at", pa.string()),
    ]
)


def augmentations(dim: int) -> pa.Schema:
    """Synthetic queries. ``key`` is the content key (what was generated, from what); a row is
    unique on (key, corpus): the same passage in two corpora shares one generation."""
    return pa.schema(
        [
            pa.field("uid", pa.string(), nullable=False),  # corpus + "/" + key: the identity
            ("key", pa.string()),
            ("corpus", pa.string()),
            ("passage_id", pa.string()),
            ("passage_hash", pa.string()),
            ("query", pa.string()),
            ("raw", pa.string()),
            ("augmenter", pa.string()),
            ("model_sha256", pa.string()),
            ("strategy", pa.string()),
            ("prompt_hash", pa.string()),
            ("params", pa.string()),  # canonical JSON of the sampling parameters
            ("temperature", pa.float32()),
            ("top_p", pa.float32()),
            ("seed", pa.int64()),
            ("idx", pa.int32()),
            ("prompt_tokens", pa.int32()),
            ("gen_tokens", pa.int32()),
            ("seconds", pa.float64()),
            ("run_id", pa.string()),
            ("created_at", pa.string()),
            ("status", pa.string()),  # ok | filtered | duplicate | empty
            ("reason", pa.string()),  # why a row is not ok (filter name and detail)
            ("dup_of", pa.string()),  # uid of the representative when status = duplicate
            ("checks", pa.string()),  # JSON of filter measurements (overlap, round-trip rank...)
            ("embedder", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=True),
        ]
    )


def passage_vectors(dim: int) -> pa.Schema:
    """Passage embeddings, computed once per (passage content, embedder) and shared by corpora:
    a row is unique on (passage_hash, embedder)."""
    return pa.schema(
        [
            ("passage_hash", pa.string()),
            ("embedder", pa.string()),
            ("precision", pa.string()),  # float32 | bfloat16: how the vector was computed
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


#: The primary key of each table whose rows are written by several writers at once (generation
#: workers, pilot grids): LanceDB's merge-insert keeps one row per key only when the column is
#: non-nullable and marked as the table's (unenforced) primary key. Compound keys are not
#: supported by LanceDB, so ``passage_vectors`` (keyed on hash and embedder) has none: its
#: readers keep one row per key.
PRIMARY_KEYS = {"augmentations": "uid", "pilots": "point_id", "profiles": "profile_id"}

