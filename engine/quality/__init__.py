"""The quality stage: filters, duplicates and diversity of synthetic queries.

The algorithms live here; the store only records their verdicts (rows are marked, never
deleted). Modules:

- :mod:`engine.quality.filters` -- text rules, copy measures and the round-trip filter
  (:func:`apply_filters`);
- :mod:`engine.quality.pairs` -- similar-pair search: random-projection forest (semantic) and
  MinHash LSH (lexical);
- :mod:`engine.quality.dedup` -- exact and near duplicates and their marking (:func:`dedup`);
- :mod:`engine.quality.diversity` -- diversity scores of a set of queries (pure computation);
- :mod:`engine.quality.marks` -- reading and writing a row's marks (status, reason, checks);
- :mod:`engine.quality.stage` -- the whole stage (:func:`process`) and its read-outs.

Encoding and its caches (passage vectors, precision) are :mod:`engine.embed`'s.
"""

from engine.quality.dedup import SCOPES, assign_representatives, dedup, text_hash
from engine.quality.diversity import diversity_scores, self_bleu
from engine.quality.filters import (
    ECHO_PATTERN,
    FILTER_KEYS,
    PRECISIONS,
    FilterOptions,
    FilterReport,
    PassageIndex,
    apply_filters,
    copy_measures,
    round_trip_ranks,
    text_checks,
    tokens,
)
from engine.quality.marks import load_checks
from engine.quality.pairs import (
    Pairs,
    char_shingles,
    jaccard,
    lexical_pairs,
    minhash_signatures,
    normalise,
    semantic_pairs,
    semantic_pairs_within,
)
from engine.quality.stage import (
    QualityOptions,
    QualityReport,
    check_run,
    diversity_for,
    process,
    reason_counts,
    selection,
    status_counts,
)

__all__ = [
    "ECHO_PATTERN",
    "FILTER_KEYS",
    "PRECISIONS",
    "SCOPES",
    "FilterOptions",
    "FilterReport",
    "Pairs",
    "PassageIndex",
    "QualityOptions",
    "QualityReport",
    "apply_filters",
    "assign_representatives",
    "char_shingles",
    "check_run",
    "copy_measures",
    "dedup",
    "diversity_for",
    "diversity_scores",
    "jaccard",
    "lexical_pairs",
    "load_checks",
    "minhash_signatures",
    "normalise",
    "process",
    "reason_counts",
    "round_trip_ranks",
    "selection",
    "self_bleu",
    "semantic_pairs",
    "semantic_pairs_within",
    "status_counts",
    "text_checks",
    "text_hash",
    "tokens",
]
