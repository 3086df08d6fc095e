"""In-process llama.cpp backend that decodes many prompts at once (llama.cpp's batch API).

One ``llama_context`` holds ``n_parallel + 1`` sequences, each in its own KV stream
(``kv_unified = false``: a sequence attends only to its own cells):

* sequence 0 keeps the shared prefix of the prompts (the strategy's instruction and examples, and
  the fixed head of the per-passage item that every prompt of the call starts with). It is decoded
  once per backend: a later call decodes only what sequence 0 does not hold already (nothing, for
  the same prefix and template);
* sequences ``1..n_parallel`` are slots. The first prompt placed in a slot gets the prefix with
  ``llama_memory_seq_cp`` (a copy of the cells, nothing is recomputed); when a sequence ends, its
  slot is cut back to the prefix with ``llama_memory_seq_rm``, so the next prompt placed there
  decodes only its own suffix tokens.

Slots are refilled as soon as a sequence finishes (continuous batching). The tokens of a newly
placed prompt are decoded at once, in chunks of at most ``n_batch`` (see ``_chunks``); then every
generation step decodes one token for each live sequence in a single ``llama_decode`` call, until
each meets a stop string, an end-of-generation token or ``max_tokens``. Each stream is sized for
the longest prompt of a call plus ``max_tokens``.

A unified KV cache (one stream shared by every sequence, where the prefix cells could simply be
tagged with each slot's id) is not used: with the llama.cpp of llama-cpp-python 0.3.36 the logits
of a sequence in a unified cache depend on which cells its tokens occupy (on SmolLM2-135M they
move by up to 0.7 when another sequence holds the first 20 cells, whatever those cells hold), so
greedy outputs would depend on the batch. In its own stream a sequence always starts at cell 0,
exactly as in the sequential backend.

Tokenization, stop strings, EOS handling and the sampler chain mirror llama-cpp-python's
``Llama.create_completion`` (as used by :class:`engine.backends.llamacpp.LlamaCppBackend`), and
every token is computed in the same kind of ubatch as there (prompt tokens in multi-token chunks
of their own sequence, generated tokens one per sequence), so the logits, and greedy outputs,
are the sequential backend's (both load the weights in their file layout, see
:func:`engine.backends.llamacpp.open_llama`). They can differ where llama-cpp-python itself decodes a lone prompt
token (a prompt equal to the previous one, or one ``n_batch * k + 1`` tokens past the cached
part).
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends._batched_call import (
    BatchedCompletion,
    Call,
    Seq,
    checked_prefix,
    common_prefix,
)
from engine.backends.llamacpp import open_llama
from engine.device import default_threads

__all__ = ["BatchedCompletion", "LlamaCppBatchedBackend", "common_prefix"]

#: Each sequence's KV stream is a multiple of this many cells (llama.cpp's own rounding).
_CELLS_ROUND = 256


class LlamaCppBatchedBackend:
    """Generates for many prompts per ``llama_decode`` call, with a shared prefix cached once."""

    name = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_parallel: int = 4,
        n_ctx: int | None = None,
        n_batch: int = 512,
        n_threads: int | None = None,
    ) -> None:
        """``n_ctx`` is the whole cache, shared evenly by the prefix sequence and the slots;
        by default each sequence gets room for the longest prompt of a call plus max_tokens."""
        import llama_cpp

        if n_parallel < 1:
            raise ValueError("n_parallel must be at least 1")
        if n_batch < n_parallel:
            raise ValueError("n_batch must be at least n_parallel")
        if n_parallel + 1 > llama_cpp.llama_max_parallel_sequences():
            raise ValueError(
                f"n_parallel must be below {llama_cpp.llama_max_parallel_sequences()}"
            )
        self._lib = llama_cpp
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self._fixed_ctx = n_ctx
        self._threads = n_threads or default_threads()
        # The high-level object loads the model and tokenizes; its own (small) context is freed
        # at once, the work happens in a multi-sequence context made below.
        self.llm = open_llama(
            model_path,
            n_ctx=64,
            n_batch=64,
            n_threads=self._threads,
            n_threads_batch=self._threads,
            verbose=False,
        )
        self.llm._ctx.close()
        self._model = self.llm._model
        self._vocab = self._model.vocab
        self.chat_template: str | None = self.llm.metadata.get("tokenizer.chat_template")
        self.eos_token: str = self._model.token_get_text(self.llm.token_eos())
        self._n_vocab = self.llm.n_vocab()
        #: Sliding-window models (Gemma 3): several sequences in one generation step change
        #: the logits (greedy outputs agreed with the sequential backend on 5 of 8 passages), so
        #: each sequence's step is its own decode; the shared prefix is still decoded once.
        self.step_per_sequence = llama_cpp.llama_model_n_swa(self._model.model) > 0
        self._ctx: Any | None = None
        self._mem: Any | None = None
        self._seq_cells = 0  # KV cells of each sequence's stream
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._batch_live = True
        self._piece_buf = ctypes.create_string_buffer(256)
        self._cached: list[int] = []  # the tokens sequence 0 holds
        self._held = [0] * (n_parallel + 1)  # leading tokens of those each slot holds
        #: "continuous": refill a slot as soon as its sequence ends; "wave": once all have ended.
        self.refill = "continuous"
        #: Prompts of a call with equal tokens (several queries of one passage) decode them once
        #: and fork (see ``_start``); False decodes each one itself (the path before forks).
        self.fork = True
        #: Decode calls made and tokens decoded by the last ``complete_many``.
        self.last_stats: dict[str, int] = {}
        if n_ctx is not None:
            self._make_context(n_ctx)

    # ------------------------------------------------------------------ context and tokens

    def _make_context(self, n_ctx: int) -> None:
        from llama_cpp import _internals

        lib = self._lib
        self._free_context()
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_batch
        params.n_seq_max = self.n_parallel + 1
        params.n_threads = self._threads
        params.n_threads_batch = self._threads
        params.kv_unified = False  # one stream per sequence, see the module docstring
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the sequential backend
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._mem = lib.llama_get_memory(self._ctx.ctx)
        self._seq_cells = lib.llama_n_ctx_seq(self._ctx.ctx)
        self._cached = []
        self._held = [0] * (self.n_parallel + 1)

    def _free_context(self) -> None:
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None
            self._mem = None

    def _ensure_room(self, cells: int) -> None:
        """Make sure each sequence's stream holds ``cells`` cells."""
        if self._ctx is not None and cells <= self._seq_cells:
            return
        if self._fixed_ctx is not None:
            if self._ctx is None:
                self._make_context(self._fixed_ctx)
            if cells > self._seq_cells:
                raise ValueError(
                    f"a prompt needs {cells} KV cells (prompt and max_tokens) but n_ctx "
                    f"{self._fixed_ctx} gives each of the {self.n_parallel + 1} sequences "
                    f"{self._seq_cells}"
                )
            return
        # Some headroom, so that a slightly longer prompt later does not rebuild the context.
        per_seq = -(-(cells + cells // 4) // _CELLS_ROUND) * _CELLS_ROUND
        self._make_context(per_seq * (self.n_parallel + 1))

    def _head(self) -> list[int]:
        model = self._model
        first = model.token_cls() if model.token_cls() != -1 else model.token_bos()
        return [first] if model.add_bos_token() and first != -1 else []

    def _tokens(self, text: str) -> list[int]:
        """The prompt tokens exactly as ``Llama.create_completion`` builds them."""
        model = self._model
        sep = model.token_sep()
        tail = [] if (not model.add_eos_token() and sep == -1) else [
            sep if sep != -1 else model.token_eos()
        ]
        body = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []
        return self._head() + body + tail

    def _prefix_tokens(self, prefix: str) -> list[int]:
        return self._head() + self.llm.tokenize(prefix.encode("utf-8"), add_bos=False,
                                                special=True)

    def _piece(self, token: int) -> bytes:
        buf = self._piece_buf
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return bytes(buf[:n])

    # ------------------------------------------------------------------ decoding

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence id, wants logits) entries."""
        if not 0 < len(entries) <= self.n_batch:
            raise ValueError(f"{len(entries)} tokens for a batch of {self.n_batch}")
        b = self._batch
        for i, (tok, pos, seq, logits) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        b.n_tokens = len(entries)
        assert self._ctx is not None
        rc = self._lib.llama_decode(self._ctx.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def _share(self, target: list[int]) -> int:
        """Make sequence 0 hold exactly ``target``, keeping what it holds of it already; returns
        the tokens decoded."""
        lib = self._lib
        keep = common_prefix(self._cached, target)
        if keep == len(self._cached) == len(target):
            return 0
        if len(target) - keep == 1 and keep > 0:
            keep -= 1  # never decode a lone token (see _chunks)
        lib.llama_memory_seq_rm(self._mem, 0, keep, -1)
        self._cached = self._cached[:keep]
        self._held = [min(h, keep) for h in self._held]
        pos = keep
        for chunk in self._chunks(target[keep:]):
            self._decode([(t, pos + j, 0, False) for j, t in enumerate(chunk)])
            pos += len(chunk)
        self._cached = list(target)
        return len(target) - keep

    def _place(self, slot: int, shared: int) -> None:
        """Leave exactly the first ``shared`` tokens of sequence 0 in the slot's stream."""
        lib = self._lib
        if shared and self._held[slot] < shared:
            # A copy between streams takes the whole source stream; the tail is cut below.
            lib.llama_memory_seq_cp(self._mem, 0, slot, -1, -1)
        lib.llama_memory_seq_rm(self._mem, slot, shared, -1)
        self._held[slot] = shared

    def _chunks(self, tokens: list[int]) -> list[list[int]]:
        """Prompt tokens in even chunks of at most n_batch, never a chunk of one token when
        there are more: llama.cpp computes a sequence's lone token in a ubatch slightly
        differently (a few tenths on SmolLM2-135M logits), and the sequential backend decodes
        prompts in multi-token chunks. For the same reason a prompt is never decoded together
        with other sequences' tokens: llama.cpp would split it into ubatches of equal tokens per
        sequence, leaving lone tokens."""
        n = len(tokens)
        if n == 0:
            return []
        k = -(-n // self.n_batch)
        size, extra = divmod(n, k)
        out, start = [], 0
        for c in range(k):
            end = start + size + (c < extra)
            out.append(tokens[start:end])
            start = end
        return out

    def _sample(self, seq: Seq, batch_index: int) -> int:
        assert self._ctx is not None
        if seq.sampler is not None:
            return int(seq.sampler.sample(self._ctx, batch_index))
        ptr = self._lib.llama_get_logits_ith(self._ctx.ctx, batch_index)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))))

    # ------------------------------------------------------------------ API

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seed: int,
        stop: Sequence[str],
    ) -> BatchedCompletion:
        return self.complete_many(
            [prompt], max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            seeds=[seed], stop=stop,
        )[0]

    def complete_many(
        self,
        prompts: list[str],
        *,
        prefix: str | None = None,
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seeds: list[int],
        stop: Sequence[str],
    ) -> list[BatchedCompletion]:
        """Complete every prompt (temperature 0: greedy); results keep the order of ``prompts``.

        When ``prefix`` is given every prompt must start with it; its tokens are decoded once
        per backend and shared by the prompts, and ``evaluated_tokens`` counts them only on the
        first prompt of the call that paid for them.
        """
        t0 = time.perf_counter()
        prefix = checked_prefix(prompts, prefix, max_tokens=max_tokens,
                                 temperature=temperature, seeds=seeds)
        if not prompts:
            return []
        full = [self._tokens(p) for p in prompts]
        if not all(full):
            raise ValueError("a prompt has no tokens")
        self._ensure_room(max(len(t) for t in full) + max_tokens)
        shared, paid = self._share_head(full, prefix)
        evaluated = [len(t) - shared for t in full]
        evaluated[0] += paid
        call = Call(
            full=full, shared=[shared] * len(full), evaluated=evaluated, seeds=seeds,
            sampling=(temperature, top_p, top_k) if temperature > 0 else None,
            max_tokens=max_tokens, stops=[s.encode("utf-8") for s in stop if s],
            n_slots=self.n_parallel, fork=self.fork,
        )
        self._run(call)
        self.last_stats = call.stats
        return call.completions((time.perf_counter() - t0) / len(prompts))

    # ------------------------------------------------------------------ the steps of a call

    def _share_head(self, full: list[list[int]], prefix: str | None) -> tuple[int, int]:
        """Make sequence 0 hold the tokens every prompt of the call starts with; returns how
        many that is and how many of them were decoded now (0, 0 without a prefix).

        That is the prefix's tokens, but for a merge at the prefix/item boundary, plus the
        item's fixed head (as the sequential backend reuses it too). Each prompt still decodes
        two tokens or more."""
        if prefix is None:
            return 0, 0
        head = full[0]
        for t in full[1:]:
            head = head[: common_prefix(head, t)]
        if len(full) == 1:
            head = head[: max(common_prefix(self._prefix_tokens(prefix), head),
                              common_prefix(self._cached, head))]
        head = head[: max(0, min(len(t) for t in full) - 2)]
        return len(head), self._share(head)

    def _run(self, call: Call) -> None:
        """Generate until every prompt of the call is done, refilling slots as they free up."""
        try:
            while call.pending() is not None or call.active:
                if self.refill == "continuous" or not call.active:
                    self._fill(call)
                if call.active:
                    self._step(call)
        finally:
            for seq in call.active:
                self._lib.llama_memory_seq_rm(self._mem, seq.slot, self._held[seq.slot], -1)
            for seq in [*call.active, *(s for w in call.waiting.values() for s in w)]:
                if seq.sampler is not None:
                    seq.sampler.close()

    def _fill(self, call: Call) -> None:
        """Start waiting prompts in the free slots, in order. A prompt with twins (equal
        tokens) waits until it and its twins (as many as there are slots) can start together,
        unless nothing is running, so that their tokens are decoded once; twins beyond the
        slots take their siblings' slots over as these finish."""
        while call.free and (index := call.pending()) is not None:
            twins = call.twins(index)
            if len(call.free) < min(1 + len(twins), call.n_slots) and call.active:
                return
            call.take(index)
            slot = call.free.pop()
            forks = []
            for twin in twins:
                call.take(twin)
                forks.append((twin, call.free.pop() if call.free else -1))
            self._start(call, index, slot, forks)

    def _start(self, call: Call, index: int, slot: int,
               forks: Sequence[tuple[int, int]] = ()) -> None:
        """Place prompt ``index`` in ``slot``: decode its own tokens at once, alone in their
        llama_decode calls (see _chunks), and sample its first token. Each (twin, slot) of
        ``forks`` (a prompt with the same tokens) gets a copy of the slot's stream
        (``llama_memory_seq_cp``, nothing recomputed) and samples its first token from the same
        logits with its own sampler: its cells and logits are those it would have computed
        itself, so its row is the one it would have been alone. A twin without a slot (-1:
        more twins than slots) samples its first token now and waits; it takes over the slot
        of the first sibling to finish, cut back to the prompt (see ``_finish``)."""
        self._place(slot, call.shared[index])
        seq = call.new_seq(index, slot)
        last = 0
        for chunk in self._chunks(call.full[index][seq.pos :]):
            last = len(chunk) - 1
            self._decode([(t, seq.pos + j, slot, j == last) for j, t in enumerate(chunk)])
            call.counted(len(chunk))
            seq.pos += len(chunk)
        started = [seq]
        for twin, twin_slot in forks:
            if twin_slot >= 0:
                # a copy between streams replaces the target stream with the whole source one
                self._lib.llama_memory_seq_cp(self._mem, slot, twin_slot, -1, -1)
                self._held[twin_slot] = call.shared[index]
            call.evaluated[twin] = 0
            fork = call.new_seq(twin, twin_slot)
            fork.pos, fork.group = seq.pos, index
            started.append(fork)
        seq.group = index if forks else -1
        done = [self._accept(call, s, self._sample(s, last)) for s in started]
        waiting: deque[Seq] = deque()
        for s, ended in zip(started, done, strict=True):
            if s.slot >= 0:
                continue
            if ended:  # done at its first token: it never needs a slot
                call.record(s)
                if s.sampler is not None:
                    s.sampler.close()
            else:
                waiting.append(s)
        if waiting:
            call.waiting[index] = waiting
        for s, ended in zip(started, done, strict=True):
            if s.slot < 0:
                continue
            if not ended:
                call.active.append(s)
            elif (nxt := self._finish(call, s)) is not None:
                call.active.append(nxt)

    def _step(self, call: Call) -> None:
        """One generation step: a token for every live sequence, in one llama_decode (one per
        sequence for sliding-window models). Slot order: llama.cpp puts only sequences with
        consecutive ids into one ubatch when each has its own stream."""
        active = call.active
        active.sort(key=lambda q: q.slot)
        entries: list[tuple[int, int, int, bool]] = []
        for seq in active:
            assert seq.last is not None
            entries.append((seq.last, seq.pos, seq.slot, True))
            seq.pos += 1
        if self.step_per_sequence:
            sampled = []
            for entry, seq in zip(entries, active, strict=True):
                self._decode([entry])
                call.counted(1)
                sampled.append(self._sample(seq, 0))
        else:
            self._decode(entries)
            call.counted(len(entries))
            sampled = [self._sample(seq, bi) for bi, seq in enumerate(active)]
        still: list[Seq] = []
        for tok, seq in zip(sampled, active, strict=True):
            if self._accept(call, seq, tok):
                if (nxt := self._finish(call, seq)) is not None:
                    still.append(nxt)
            else:
                still.append(seq)
        call.active = still

    def _accept(self, call: Call, seq: Seq, tok: int) -> bool:
        """Take a sampled token; True when the sequence is done."""
        if self._lib.llama_vocab_is_eog(self._vocab, tok):
            return True
        return call.accept(seq, tok, self._piece(tok))

    def _finish(self, call: Call, seq: Seq) -> Seq | None:
        """Record a done sequence. A twin waiting for its group takes the slot over, cut back
        to their prompt (the cells of the prompt are the twin's own), and is returned; else
        the slot is cut back to the prefix and freed."""
        call.record(seq)
        if seq.sampler is not None:
            seq.sampler.close()
        queue = call.waiting.get(seq.group)
        if queue:
            twin = queue.popleft()
            twin.slot = seq.slot
            self._lib.llama_memory_seq_rm(self._mem, seq.slot, twin.pos, -1)
            return twin
        self._lib.llama_memory_seq_rm(self._mem, seq.slot, self._held[seq.slot], -1)
        call.release(seq.slot)
        return None

    def close(self) -> None:
        self._free_context()
        if self._batch_live:
            self._lib.llama_batch_free(self._batch)
            self._batch_live = False
        self.llm.close()

