"""Corpora on disk: recognise their layout, validate them in full, then stream them.

Three inputs are understood:

* a BEIR folder: ``corpus.jsonl`` (``_id``, optional ``title``, ``text``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels/*.tsv`` (header ``query-id<TAB>corpus-id<TAB>score``; the
  split name is the file stem);
* a plain ``.jsonl`` file of passages (``_id`` or ``id``, optional ``title``, ``text``);
* a ``.parquet`` file of passages with the same columns.

One concept per module: :mod:`~store.corpus.layout` finds the files (:func:`detect`),
:mod:`~store.corpus.validate` is the complete first pass that stores nothing and reports every
problem by ``file:line`` (:func:`validate`), :mod:`~store.corpus.read` is the second pass that
yields Arrow record batches (``iter_*``). Both passes parse records with the same private
functions. Finding a dataset by name and downloading public BEIR sets are not storage: they
live in ``engine.datasets``.
"""

from store.corpus.layout import CorpusFiles, detect
from store.corpus.read import (
    PASSAGE_SCHEMA,
    QREL_SCHEMA,
    QUERY_SCHEMA,
    iter_passages,
    iter_qrels,
    iter_queries,
)
from store.corpus.validate import (
    MAX_DROPPED_SHOWN,
    MAX_PROBLEMS,
    CorpusSummary,
    DroppedQrels,
    validate,
)

__all__ = [
    "MAX_DROPPED_SHOWN",
    "MAX_PROBLEMS",
    "PASSAGE_SCHEMA",
    "QREL_SCHEMA",
    "QUERY_SCHEMA",
    "CorpusFiles",
    "CorpusSummary",
    "DroppedQrels",
    "detect",
    "iter_passages",
    "iter_qrels",
    "iter_queries",
    "validate",
]
