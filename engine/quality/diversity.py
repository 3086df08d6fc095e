"""Diversity of a set of synthetic queries: lexical (distinct-n, self-BLEU) and semantic (Vendi
score, pairwise cosine distance), plus the copy rate and the diversity within each passage.

Pure computation on texts and unit vectors (numpy, sacrebleu, vendi-score); no models, no I/O.

Choices, so that figures are comparable across runs:

- Tokens for distinct-n are lower-cased word characters (``\\w+``); punctuation is ignored.
  distinct-n = unique n-grams / total n-grams over the whole set (Li et al., 2016).
- Self-BLEU (Zhu et al., 2018) is the mean sentence BLEU of each query of a seeded random sample
  (``sample`` queries) against *all the other queries of the sample* as references, with
  sacrebleu's sentence-level settings (13a tokenisation, exponential smoothing, effective order)
  and lower-casing. Using the rest of the sample rather than the rest of the whole set keeps the
  cost fixed (sample^2 n-gram look-ups at most) and makes sets of different sizes comparable.
  The reference statistics are computed once (top two counts per n-gram), which gives exactly
  ``BLEU.sentence_score(query, others)`` for every query at a fraction of the cost.
- Vendi score (Friedman & Dieng, 2023) with the cosine kernel: exp of the entropy of the
  eigenvalues of K/n. For n > dim it is computed through the dual (X^T X / n, dim x dim), which
  has the same non-zero eigenvalues, so it is exact for any n; only when the sample size is
  smaller than both n and dim does it use a seeded sample.
- Mean pairwise cosine distance over i != j, exact in O(n) for unit vectors:
  sum_{i != j} <v_i, v_j> = ||sum v||^2 - n.
- Per-passage diversity: the same mean pairwise distance among the queries of one passage,
  averaged over passages with at least two queries (None when there are none).

Identical items give the minimum: distinct-n = 1/n, self-BLEU 100, Vendi 1, distance 0.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def distinct_n(token_lists: list[list[str]], n: int) -> float | None:
    """Unique n-grams / total n-grams over all token lists (None when there is no n-gram)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for toks in token_lists:
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def self_bleu(texts: list[str]) -> float | None:
    """Mean sentence BLEU of each text against all the others as references (0-100).

    Equal to ``mean(BLEU(lowercase=True, effective_order=True).sentence_score(t, others))``.
    """
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    if len(texts) < 2:
        return None
    bleu = BLEU(lowercase=True, effective_order=True)
    order = bleu.max_ngram_order
    grams: list[Counter] = []
    lens: list[int] = []
    for t in texts:
        g, n = extract_all_word_ngrams(bleu._preprocess_segment(t), 1, order)
        grams.append(g)
        lens.append(n)
    # For every n-gram: the largest count, who holds it, and the second largest count, so that
    # "max over all references but me" is one dictionary look-up.
    top: dict[tuple[str, ...], list[int]] = {}
    for owner, g in enumerate(grams):
        for gram, c in g.items():
            slot = top.get(gram)
            if slot is None:
                top[gram] = [c, owner, 0]
            elif c > slot[0]:
                slot[2] = slot[0]
                slot[0], slot[1] = c, owner
            elif c > slot[2]:
                slot[2] = c
    len_counts = Counter(lens)
    scores = []
    for i, g in enumerate(grams):
        correct = [0] * order
        total = [0] * order
        for gram, c in g.items():
            k = len(gram) - 1
            total[k] += c
            best, owner, second = top[gram]
            ref = second if owner == i else best
            correct[k] += min(c, ref)
        len_counts[lens[i]] -= 1
        ref_len = _closest_len(lens[i], len_counts)
        len_counts[lens[i]] += 1
        scores.append(
            bleu.compute_bleu(
                correct=correct, total=total, sys_len=lens[i], ref_len=ref_len,
                smooth_method=bleu.smooth_method, smooth_value=bleu.smooth_value,
                effective_order=bleu.effective_order, max_ngram_order=order,
            ).score
        )
    return float(np.mean(scores))


def _closest_len(hyp_len: int, ref_lens: Counter) -> int:
    """sacrebleu's rule: the reference length closest to the hypothesis, the shorter on a tie."""
    best_diff, best = -1, -1
    for ref_len, count in ref_lens.items():
        if count <= 0:
            continue
        diff = abs(hyp_len - ref_len)
        if best_diff == -1 or diff < best_diff or (diff == best_diff and ref_len < best):
            best_diff, best = diff, ref_len
    return best


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows are dropped."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1)
    keep = norms > 0
    return v[keep] / norms[keep, None]


def mean_pairwise_distance(unit: np.ndarray) -> float | None:
    """Mean cosine distance over all ordered pairs i != j of unit vectors, in O(n)."""
    n = unit.shape[0]
    if n < 2:
        return None
    s = unit.sum(axis=0)
    mean_cos = (float(s @ s) - n) / (n * (n - 1))
    return float(min(max(1.0 - mean_cos, 0.0), 2.0))


def vendi(unit: np.ndarray, *, sample: int, rng: np.random.Generator) -> float | None:
    """Vendi score with the cosine kernel (exact via the dual when n > dim)."""
    from vendi_score import vendi as _vendi

    n, dim = unit.shape
    if n == 0:
        return None
    if n > dim:
        return float(_vendi.score_dual(unit, normalize=False))
    if n > sample:
        unit = unit[np.sort(rng.choice(n, size=sample, replace=False))]
    with warnings.catch_warnings():  # vendi-score names a deprecated scipy.sparse path
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(_vendi.score_X(unit, normalize=False))


def per_passage_distance(unit: np.ndarray, passage_ids: list[str]) -> tuple[float | None, int]:
    """Mean over passages with >= 2 queries of their mean pairwise distance; (value, passages)."""
    if unit.shape[0] != len(passage_ids) or not passage_ids:
        return None, 0
    _, inverse, counts = np.unique(np.asarray(passage_ids, dtype=object).astype(str),
                                   return_inverse=True, return_counts=True)
    sums = np.zeros((counts.size, unit.shape[1]))
    np.add.at(sums, inverse, unit)
    multi = counts >= 2
    if not multi.any():
        return None, 0
    k = counts[multi].astype(np.float64)
    sq = np.einsum("ij,ij->i", sums[multi], sums[multi])
    dist = 1.0 - (sq - k) / (k * (k - 1))
    return float(np.clip(dist, 0.0, 2.0).mean()), int(multi.sum())


def diversity_scores(
    queries: list[str],
    vectors: np.ndarray | None,
    passage_ids: list[str] | None,
    *,
    copy_flags: list[bool] | np.ndarray | None = None,
    sample: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Diversity scores of a set of queries (see the module notes for each definition).

    ``vectors`` (one unit row per query, may be None) feed the semantic scores; ``passage_ids``
    (parallel to ``queries``) the per-passage score; ``copy_flags`` the copy rate. A score that is
    undefined for the input (too few items, no vectors) is None.
    """
    n = len(queries)
    rng = np.random.default_rng(seed)
    token_lists = [_tokens(q) for q in queries]
    if n > sample:
        pick = np.sort(rng.choice(n, size=sample, replace=False))
        bleu_texts = [queries[i] for i in pick]
    else:
        bleu_texts = list(queries)

    out: dict[str, Any] = {
        "n": n,
        "distinct_1": _round(distinct_n(token_lists, 1)),
        "distinct_2": _round(distinct_n(token_lists, 2)),
        "self_bleu": _round(self_bleu(bleu_texts)),
        "self_bleu_sample": len(bleu_texts),
        "vendi": None,
        "mean_pairwise_distance": None,
        "per_passage_distance": None,
        "passages_with_2plus": 0,
        "copy_rate": None,
        "embedded": 0,
    }
    if vectors is not None and len(vectors):
        vecs = np.asarray(vectors)
        if vecs.ndim != 2 or vecs.shape[0] != n:
            raise ValueError(f"vectors: expected {n} rows, got shape {vecs.shape}")
        present = np.isfinite(vecs).all(axis=1) & (np.abs(vecs).sum(axis=1) > 0)
        unit = _unit_rows(vecs[present])
        out["embedded"] = int(unit.shape[0])
        out["vendi"] = _round(vendi(unit, sample=sample, rng=rng))
        out["mean_pairwise_distance"] = _round(mean_pairwise_distance(unit))
        if passage_ids is not None:
            pids = [p for p, ok in zip(passage_ids, present, strict=True) if ok]
            value, groups = per_passage_distance(unit, pids)
            out["per_passage_distance"] = _round(value)
            out["passages_with_2plus"] = groups
    if copy_flags is not None and len(copy_flags):
        out["copy_rate"] = _round(float(np.mean(np.asarray(copy_flags, dtype=bool))))
    return out


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


__all__ = ["distinct_n", "diversity_scores", "mean_pairwise_distance", "per_passage_distance",
           "self_bleu", "vendi"]
