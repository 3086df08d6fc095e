"""The bookkeeping of one :meth:`LlamaCppBatchedBackend.complete_many` call, apart from llama.cpp's
context and batch: the prompts still waiting, the free slots, the live sequences with their
generated tokens and text, stop strings, the results, and the sampler chain of a sequence.

:mod:`engine.backends.llamacpp_batched` does the decoding and the KV cache; nothing here calls
into llama.cpp except :func:`new_sampler`, which builds a llama-cpp-python sampler object.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.backends.base import Completion

#: min_p of ``Llama.create_completion`` (applied there by default, so applied here too).
_MIN_P = 0.05


class BatchedCompletion(Completion):
    """A :class:`Completion` plus the prompt tokens this call actually decoded for it."""

    evaluated_tokens: int


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def new_sampler(*, temperature: float, top_p: float, top_k: int, seed: int) -> Any:
    """The chain ``Llama.create_completion`` builds (its repeat penalty 1.0 is a no-op)."""
    from llama_cpp import _internals

    s = _internals.LlamaSampler()
    s.add_top_k(top_k)
    s.add_typical(1.0, 1)
    s.add_top_p(top_p, 1)
    s.add_min_p(_MIN_P, 1)
    s.add_temp(temperature)
    s.add_dist(seed)
    return s


@dataclass
class Seq:
    """One prompt while it is in a slot (or, a twin, waiting for a sibling's slot)."""

    index: int  # position in the caller's list
    slot: int  # llama.cpp sequence id (-1 while waiting)
    pos: int  # position of the next token to decode
    sampler: Any | None  # llama-cpp-python LlamaSampler, None for greedy
    out: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    last: int | None = None  # sampled token not yet decoded
    group: int = -1  # the first prompt of its twins (equal tokens), -1 for none


@dataclass
class Call:
    """One call's prompts (as tokens), slots, live sequences and results.

    ``shared[i]`` leading tokens of prompt ``i`` come from sequence 0; ``evaluated[i]`` are the
    prompt tokens the call decoded for it. ``sampling`` is (temperature, top_p, top_k), or None
    for greedy decoding.
    """

    full: list[list[int]]
    shared: list[int]
    evaluated: list[int]
    seeds: Sequence[int]
    sampling: tuple[float, float, int] | None
    max_tokens: int
    stops: list[bytes]
    n_slots: int
    fork: bool = True  # prompts with equal tokens share one decode of them (see twins)
    queue: deque[int] = field(init=False)
    free: list[int] = field(init=False)  # popped from the end: lowest slot first
    active: list[Seq] = field(default_factory=list)
    #: twins whose first token is sampled, waiting for a sibling's slot, by group
    waiting: dict[int, deque[Seq]] = field(default_factory=dict)
    results: list[BatchedCompletion | None] = field(init=False)
    stats: dict[str, int] = field(
        default_factory=lambda: {"decode_calls": 0, "decoded_tokens": 0}
    )

    def __post_init__(self) -> None:
        self.queue = deque(range(len(self.full)))
        self.free = list(range(self.n_slots, 0, -1))
        self.results = [None] * len(self.full)
        self._longest_stop = max((len(s) for s in self.stops), default=0)
        self._taken: set[int] = set()
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, tokens in enumerate(self.full):
            groups.setdefault(tuple(tokens), []).append(i)
        self._twins = {i: g for g in groups.values() for i in g} if self.fork else {}

    def pending(self) -> int | None:
        """The next prompt waiting for a slot (None when every one was started)."""
        while self.queue and self.queue[0] in self._taken:
            self.queue.popleft()
        return self.queue[0] if self.queue else None

    def twins(self, index: int) -> list[int]:
        """The waiting prompts with exactly the tokens of prompt ``index`` (several queries of
        one passage, each with its own seed): they fork from its decode instead of decoding
        the same tokens again."""
        return [j for j in self._twins.get(index, ()) if j != index and j not in self._taken]

    def take(self, index: int) -> None:
        """Prompt ``index`` leaves the queue (it is being placed in a slot)."""
        self._taken.add(index)

    def counted(self, tokens: int) -> None:
        """Count one llama_decode call of ``tokens`` tokens."""
        self.stats["decode_calls"] += 1
        self.stats["decoded_tokens"] += tokens

    def new_seq(self, index: int, slot: int) -> Seq:
        """Prompt ``index`` placed in ``slot``, with its own sampler when sampling."""
        sampler = None
        if self.sampling is not None:
            temperature, top_p, top_k = self.sampling
            sampler = new_sampler(temperature=temperature, top_p=top_p, top_k=top_k,
                                  seed=self.seeds[index])
        return Seq(index, slot, self.shared[index], sampler)

    def accept(self, seq: Seq, tok: int, piece: bytes) -> bool:
        """Take a sampled token (not an end-of-generation one) and its text; True when the
        sequence is done (``max_tokens`` or a stop string)."""
        seq.out.append(tok)
        start = max(0, len(seq.text) - self._longest_stop + 1)
        seq.text += piece
        if len(seq.out) >= self.max_tokens or any(seq.text.find(s, start) >= 0
                                                  for s in self.stops):
            return True
        seq.last = tok
        return False

    def record(self, seq: Seq) -> None:
        """Store the finished sequence's completion (its text cut at the first stop string)."""
        raw = bytes(seq.text)
        cut = min((i for i in (raw.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            raw = raw[:cut]
        self.results[seq.index] = BatchedCompletion(
            text=raw.decode("utf-8", errors="ignore"),
            prompt_tokens=len(self.full[seq.index]),
            gen_tokens=len(seq.out),
            seconds=0.0,
            evaluated_tokens=self.evaluated[seq.index],
        )

    def release(self, slot: int) -> None:
        """Give a slot back (the lowest free slot is taken next)."""
        self.free.append(slot)
        self.free.sort(reverse=True)

    def completions(self, seconds_each: float) -> list[BatchedCompletion]:
        """Every result, in the caller's order, each with ``seconds_each``."""
        out: list[BatchedCompletion] = []
        for r in self.results:
            assert r is not None
            r["seconds"] = seconds_each
            out.append(r)
        return out


def checked_prefix(
    prompts: list[str], prefix: str | None, *, max_tokens: int, temperature: float,
    seeds: Sequence[int],
) -> str | None:
    """The call's arguments checked; returns the prefix (None for none or an empty one)."""
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if not prefix:
        return None
    for i, p in enumerate(prompts):
        if not p.startswith(prefix):
            raise ValueError(f"prompt {i} does not start with the given prefix")
    return prefix
