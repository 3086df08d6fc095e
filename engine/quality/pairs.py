"""Similar pairs among synthetic queries: semantic (embedding cosine, random-projection forest)
and lexical (Jaccard of character 5-grams, MinHash LSH). Pure computation, no store.

Near-duplicate search never compares all pairs:

- Semantic: a random-projection forest over the unit query vectors. Each tree splits the set at
  the median of a random projection, level after level, until leaves hold at most ``leaf_size``
  rows; pairs inside a leaf are compared exactly (batched matrix products). A pair at cosine
  0.95 shares a leaf of one tree with probability ~0.35-0.45 at 20k-80k rows, so ``trees``
  independent trees (default 16) find it with probability ~0.999. Cost per tree is
  O(n log n) for the splits plus O(n * leaf_size * dim) for the leaves, whatever the data's shape
  (median splits keep leaves balanced). Every reported pair is verified exactly, so there are no
  false positives; recall is measured in ``bench/dedup.py``. (An HNSW index in LanceDB was
  measured too: building and querying it took ~41 s for 20k and ~94 s for 40k vectors on the
  2-core reference machine, an order of magnitude slower than the forest, and it would change
  the shared table's search behaviour.)
- Lexical: MinHash signatures (128 permutations, computed for all queries at once with numpy)
  of the character 5-grams of the normalised text (5-grams suit short queries better than word
  3-shingles, which a 6-word query has only 4 of), indexed with ``datasketch``'s MinHash LSH,
  whose banding is tuned a little below the Jaccard threshold (favouring recall); candidate
  pairs from LSH are then verified with the exact Jaccard similarity of the 5-gram sets, so no
  pair below the threshold is reported.
- Within groups (``semantic_pairs_within``, ``lexical_pairs(groups=...)``: the queries of one
  passage), groups are small, so they are compared exactly, pair by pair within each group.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_WS = re.compile(r"\s+")


# ------------------------------------------------------------------------------ normalising
def normalise(text: str) -> str:
    """Lower-case, whitespace collapsed, punctuation stripped at both ends."""
    return _EDGE_PUNCT.sub("", _WS.sub(" ", text.lower()).strip())


def char_shingles(text: str, k: int = 5) -> set[str]:
    """Character k-grams of the normalised text (the whole text when shorter than k)."""
    t = normalise(text)
    if len(t) <= k:
        return {t} if t else set()
    return {t[i : i + k] for i in range(len(t) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# -------------------------------------------------------------------------------- semantic
@dataclass(frozen=True)
class Pairs:
    """Similar pairs (i < j, positions in the input) with their similarity."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray

    @staticmethod
    def empty() -> Pairs:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return int(self.i.size)


def _unique_pairs(i: np.ndarray, j: np.ndarray, sim: np.ndarray, n: int) -> Pairs:
    if i.size == 0:
        return Pairs.empty()
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    code = lo.astype(np.int64) * n + hi
    code, first = np.unique(code, return_index=True)
    return Pairs(code // n, code % n, sim[first])


def semantic_pairs(
    vectors: np.ndarray,
    threshold: float = 0.95,
    *,
    trees: int = 16,
    leaf_size: int = 64,
    seed: int = 0,
    block_leaves: int = 256,
) -> Pairs:
    """Pairs with cosine >= threshold among unit vectors, via a random-projection forest."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = x.shape[0]
    if n < 2:
        return Pairs.empty()
    if n <= leaf_size:
        return _exact_pairs(x, np.arange(n), threshold)
    # Many small products: one BLAS thread each is fastest and, unlike BLAS's own threads,
    # does not stall when other processes keep the cores busy.
    with _one_blas_thread():
        return _forest_pairs(x, threshold, trees, leaf_size, seed, block_leaves)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it numpy keeps its own thread count: slower, still correct
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def _forest_pairs(x: np.ndarray, threshold: float, trees: int, leaf_size: int, seed: int,
                  block_leaves: int) -> Pairs:
    n, dim = x.shape
    rng = np.random.default_rng(seed)
    padded = np.vstack([x, np.zeros((1, dim), np.float32)])  # row n: padding, cosine 0
    depth = math.ceil(math.log2(n / leaf_size))
    node_dtype = np.uint16 if depth <= 16 else np.int64
    positions = np.arange(n)
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    for _ in range(trees):
        proj = x @ rng.standard_normal((dim, depth)).astype(np.float32)
        node = np.zeros(n, np.int64)
        for level in range(depth):
            # order by (node, projection): a float sort, then a stable (radix) sort on node
            by_proj = np.argsort(proj[:, level])
            order = by_proj[np.argsort(node[by_proj].astype(node_dtype), kind="stable")]
            sorted_node = node[order]
            size = np.bincount(sorted_node, minlength=1 << level)
            rank = positions - (np.cumsum(size) - size)[sorted_node]
            node[order] = 2 * sorted_node + (rank >= size[sorted_node] // 2)
        order = np.argsort(node, kind="stable")
        sorted_node = node[order]
        leaf_ids, first, counts = np.unique(sorted_node, return_index=True, return_counts=True)
        width = int(counts.max())
        leaf_of = np.repeat(np.arange(leaf_ids.size), counts)
        col = np.arange(n) - np.repeat(first, counts)
        members = np.full((leaf_ids.size, width), n, np.int64)
        members[leaf_of, col] = order
        upper = np.triu(np.ones((width, width), bool), k=1)
        for b in range(0, leaf_ids.size, block_leaves):
            m = members[b : b + block_leaves]
            a = padded[m]  # (leaves, width, dim)
            g = np.matmul(a, a.transpose(0, 2, 1))
            hit = (g >= threshold) & upper
            lf, r, c = np.nonzero(hit)
            if lf.size:
                found_i.append(m[lf, r])
                found_j.append(m[lf, c])
                found_s.append(g[lf, r, c])
    if not found_i:
        return Pairs.empty()
    return _unique_pairs(np.concatenate(found_i), np.concatenate(found_j),
                         np.concatenate(found_s), n)


def _exact_pairs(x: np.ndarray, index: np.ndarray, threshold: float) -> Pairs:
    """All pairs of a small group compared exactly (positions mapped through ``index``)."""
    g = x @ x.T
    r, c = np.nonzero(np.triu(g >= threshold, k=1))
    return Pairs(index[r].astype(np.int64), index[c].astype(np.int64), g[r, c].astype(np.float32))


def _group_slices(groups: np.ndarray) -> Iterable[np.ndarray]:
    """Positions of each group with at least two members."""
    order = np.argsort(groups, kind="stable")
    _, first, counts = np.unique(groups[order], return_index=True, return_counts=True)
    for f, c in zip(first, counts, strict=True):
        if c >= 2:
            yield order[f : f + c]


def semantic_pairs_within(vectors: np.ndarray, groups: np.ndarray, threshold: float) -> Pairs:
    """Pairs with cosine >= threshold inside each group (exact; groups are small)."""
    x = np.asarray(vectors, dtype=np.float32)
    parts = [_exact_pairs(x[idx], idx, threshold) for idx in _group_slices(groups)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return Pairs.empty()
    return Pairs(np.concatenate([p.i for p in parts]), np.concatenate([p.j for p in parts]),
                 np.concatenate([p.sim for p in parts]))


# --------------------------------------------------------------------------------- lexical
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (wrapping uint64 arithmetic)."""
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX2
    return h ^ (h >> np.uint64(33))


def minhash_signatures(
    texts: list[str], *, num_perm: int = 128, k: int = 5, seed: int = 1, chunk: int = 1 << 16
) -> np.ndarray:
    """MinHash signatures (n x num_perm, uint32) of the character k-gram sets of the
    normalised texts, computed for all texts at once with numpy.

    Each k-gram is hashed from its code points (a polynomial hash, then MurmurHash3's
    finaliser, kept to 32 bits), permuted by ``num_perm`` random affine maps mod 2^32 (odd
    multipliers: bijections), and reduced with a minimum per text. A text shorter than k is one
    k-gram. The values only need to agree within one call (they feed an in-memory LSH index),
    so nothing here is persisted.
    """
    return _signatures([normalise(t) for t in texts], num_perm, k, seed, chunk)


def _signatures(norm: list[str], num_perm: int, k: int, seed: int, chunk: int) -> np.ndarray:
    n = len(norm)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**32, size=num_perm, dtype=np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)
    out = np.zeros((n, num_perm), np.uint32)
    pad = "\x00" * (k - 1)
    powers = [np.uint64(pow(1_000_003, m, 2**64)) for m in range(k)]
    start = 0
    while start < n:
        # a group of texts with about ``chunk`` k-grams in all
        stop, grams = start, 0
        while stop < n and (grams == 0 or grams + len(norm[stop]) <= chunk):
            grams += max(len(norm[stop]) - k + 1, 1)
            stop += 1
        group = norm[start:stop]
        cps = np.frombuffer((pad.join(group) + pad).encode("utf-32-le"), dtype=np.uint32)
        cps = cps.astype(np.uint64)
        lengths = np.asarray([len(t) for t in group], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths + k - 1)[:-1]])
        counts = np.maximum(lengths - k + 1, 1)
        first = np.repeat(offsets, counts)
        pos = first + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        h = np.zeros(pos.size, np.uint64)
        for m in range(k):
            h = h + cps[pos + m] * powers[m]
        h = (_fmix64(h) >> np.uint64(32)).astype(np.uint32)
        perm = a[:, None] * h[None, :] + b[:, None]  # (num_perm, grams), wraps mod 2^32
        seg = np.cumsum(counts) - counts
        out[start:stop] = np.minimum.reduceat(perm, seg, axis=1).T
        start = stop
    return out


def lexical_pairs(
    texts: list[str],
    threshold: float = 0.8,
    *,
    groups: np.ndarray | None = None,
    num_perm: int = 128,
    shingle: int = 5,
) -> Pairs:
    """Pairs with Jaccard(char 5-grams) >= threshold: MinHash LSH candidates, verified exactly.

    With ``groups``, only pairs inside a group count, and groups are compared exactly.
    """
    n = len(texts)
    cache: dict[int, set[str]] = {}

    def shingles(k: int) -> set[str]:
        got = cache.get(k)
        if got is None:
            got = cache[k] = char_shingles(texts[k], shingle)
        return got

    out_i: list[int] = []
    out_j: list[int] = []
    out_s: list[float] = []
    if groups is not None:
        for idx in _group_slices(np.asarray(groups)):
            members = idx.tolist()
            for a_pos, a in enumerate(members):
                for b in members[a_pos + 1 :]:
                    s = jaccard(shingles(a), shingles(b))
                    if s >= threshold and shingles(a):
                        out_i.append(a)
                        out_j.append(b)
                        out_s.append(s)
    elif n >= 2:
        with _gc_paused():
            _lsh_pairs(texts, threshold, num_perm, shingle, shingles, out_i, out_j, out_s)
    if not out_i:
        return Pairs.empty()
    return _unique_pairs(np.asarray(out_i, np.int64), np.asarray(out_j, np.int64),
                         np.asarray(out_s, np.float32), max(n, 1))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The LSH index is hundreds of thousands of small objects and makes no reference cycles:
    the cyclic collector's passes over them cost a third of the time and grow with n."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _lsh_pairs(texts: list[str], threshold: float, num_perm: int, shingle: int,
               shingles: Callable[[int], set[str]], out_i: list[int], out_j: list[int],
               out_s: list[float]) -> None:
    from datasketch import LeanMinHash, MinHashLSH

    n = len(texts)
    norm = [normalise(t) for t in texts]
    present = [k for k in range(n) if norm[k]]
    sigs = _signatures([norm[k] for k in present], num_perm, shingle, 1, 1 << 16)
    # Banding tuned 0.1 below the threshold, false negatives weighted over false positives:
    # every candidate is verified exactly, so extra candidates cost time, never precision.
    lsh = MinHashLSH(threshold=max(threshold - 0.1, 0.3), num_perm=num_perm,
                     weights=(0.2, 0.8))
    hashes = [LeanMinHash(seed=1, hashvalues=row, scheme="affine32") for row in sigs]
    with lsh.insertion_session() as session:
        for key, h in zip(present, hashes, strict=True):
            session.insert(key, h, check_duplication=False)
    for key, h in zip(present, hashes, strict=True):
        for other in lsh.query(h):
            if other > key:
                s = jaccard(shingles(key), shingles(other))
                if s >= threshold:
                    out_i.append(key)
                    out_j.append(other)
                    out_s.append(s)


__all__ = ["Pairs", "char_shingles", "jaccard", "lexical_pairs", "minhash_signatures",
           "normalise", "semantic_pairs", "semantic_pairs_within"]
