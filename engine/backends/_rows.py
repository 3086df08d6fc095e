"""Per-row pieces of the transformers backend's batched decoding: each row's own seeded
sampler (a logits processor), a stop criterion that ends each row on its own stop strings, and
the lengths of what each row generated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RowSampler:
    """Samples each row's next token with the row's own random stream (a logits processor).

    Row ``r`` gets a CPU ``torch.Generator`` seeded with ``seeds[r]``, which draws the row's
    uniforms for every step up front (one per generated token, so a row's draws do not depend on
    its batch-mates, on the device, or on when other rows stop). At each step the scores are
    divided by the temperature; the top ``top_k`` tokens are kept (all when ``top_k <= 0``), in
    descending order; of those, the smallest head whose probability reaches ``top_p``; the token
    is the first whose cumulative probability exceeds the row's uniform times their total. Every
    operation is row-wise, so a row's token depends only on its own scores and uniform. The
    returned scores are ``-inf`` except for the chosen token, which greedy ``generate`` picks.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        *,
        prompt_len: int,
        steps: int,
        temperature: float,
        top_p: float,
        top_k: int,
        device: Any,
    ) -> None:
        import torch

        if temperature <= 0:
            raise ValueError("a sampler needs a positive temperature")
        # One spare step: generate may decode one past a deferred stop check.
        uniforms = [
            torch.rand(steps + 1, generator=torch.Generator().manual_seed(seed64(s)))
            for s in seeds
        ]
        self.uniforms = torch.stack(uniforms).to(device)
        self.prompt_len = prompt_len
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = int(top_k)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = min(input_ids.shape[1] - self.prompt_len, self.uniforms.shape[1] - 1)
        tokens = self.sample(scores, self.uniforms[:, step])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, tokens[:, None], 0.0)

    def sample(self, scores: Any, uniforms: Any) -> Any:
        """The token of each row of ``scores`` (rows, vocabulary) for its uniform in [0, 1)."""
        import torch

        logits = scores.float() / self.temperature
        vocab = logits.shape[-1]
        if 0 < self.top_k < vocab:
            values, order = torch.topk(logits, self.top_k, dim=-1)
        else:
            values, order = torch.sort(logits, dim=-1, descending=True, stable=True)
        probs = torch.softmax(values, dim=-1)
        if self.top_p < 1.0:
            keep = probs.cumsum(dim=-1) - probs < self.top_p  # mass ranked above is short
            keep[:, 0] = True
            probs = probs * keep
        cum = probs.cumsum(dim=-1)
        target = (uniforms.to(cum.dtype) * cum[:, -1]).unsqueeze(1).contiguous()
        pick = torch.searchsorted(cum.contiguous(), target, right=True)
        # Probabilities fall along a row, so its zeros (cut or underflowed) are a tail: a target
        # rounded up to the total must not land there.
        last = (probs > 0).sum(dim=-1, keepdim=True) - 1
        return order.gather(1, torch.minimum(pick, last)).squeeze(1)


def seed64(seed: int) -> int:
    """A seed as the unsigned 64-bit value ``torch.Generator.manual_seed`` takes."""
    return int(seed) & 0xFFFF_FFFF_FFFF_FFFF


class StopOnText:
    """Per-row stopping: a row is done once its generated text holds a stop string.

    A stop string inside one token is found with a vocabulary mask (no decoding); one split over
    several tokens by decoding the last few generated tokens of the rows still running.
    ``finished_at`` records for each row how many tokens it had generated when it stopped.
    """

    def __init__(self, tokenizer: Any, stop: tuple[str, ...], prompt_len: int, mask: Any,
                 device: Any) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.prompt_len = prompt_len
        self.mask = mask
        self.device = device
        self.window = max((len(s) for s in stop), default=0) + 1
        self.multi_char = any(len(s) > 1 for s in stop)
        self.finished_at: Any = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        steps = input_ids.shape[1] - self.prompt_len
        if self.finished_at is None:
            self.finished_at = torch.full((input_ids.shape[0],), -1, dtype=torch.long,
                                          device=input_ids.device)
        last = input_ids[:, -1]
        done = self.mask[last.clamp(max=self.mask.shape[0] - 1)]
        if self.multi_char and steps > 1:
            running = (~done & (self.finished_at < 0)).nonzero().flatten().tolist()
            if running:
                tails = input_ids[running, max(self.prompt_len, input_ids.shape[1] - self.window):]
                texts = self.tokenizer.batch_decode(tails.tolist(), skip_special_tokens=True)
                for row, text in zip(running, texts, strict=True):
                    if any(s in text for s in self.stop):
                        done[row] = True
        newly = done & (self.finished_at < 0)
        self.finished_at = torch.where(newly, torch.full_like(self.finished_at, steps),
                                       self.finished_at)
        return done


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def generated_lengths(gen: Any, finished_at: Any, eos: set[int]) -> list[int]:
    """Tokens each row really generated: up to its stop string or end-of-sequence token."""
    width = gen.shape[1]
    lengths = []
    for r in range(gen.shape[0]):
        k = width
        if finished_at is not None and int(finished_at[r]) > 0:
            k = min(k, int(finished_at[r]))
        row = gen[r, :k].tolist()
        for j, t in enumerate(row):
            if t in eos:
                k = j + 1
                break
        lengths.append(k)
    return lengths
