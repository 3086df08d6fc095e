"""Hugging Face transformers backend: batched generation on a GPU (or the CPU).

It loads the same GGUF files as the llama.cpp backend (transformers dequantises them to a float
dtype on load), a local model folder, or a Hub id. Prompts are left-padded and generated in
batches; each row stops on its own as soon as its generated text holds a stop string, and a batch
ends when every row has stopped (or hit ``max_tokens``). Stop strings are applied again to the
decoded text, so the returned text never contains one.

Sampling is greedy for ``temperature == 0``. Otherwise every row is sampled with its own random
stream (see ``engine.backends._rows.RowSampler``): a CPU ``torch.Generator`` seeded with the row's seed draws the
row's uniforms, one per generated token, and the row's token is taken from its own distribution
(temperature, then top-k, then top-p) by inverse transform. A row's text thus depends only on its
prompt, the sampling parameters and its seed, not on the other rows of its batch nor on how rows
are batched (up to the float rounding of a batched forward pass, as for greedy decoding).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.backends._rows import RowSampler, StopOnText, eos_ids, generated_lengths
from engine.backends.base import Completion
from engine.device import cpu_name, default_threads
from store.errors import AugplanError

__all__ = ["TransformersBackend", "convert_gguf", "cpu_name"]


def _cut(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the first stop string."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


class TransformersBackend:
    """Batched ``generate`` with a causal LM from transformers.

    ``model`` is a ``.gguf`` file, a folder (a saved model, or the folder of ``gguf_file``), or a
    Hub id. Hub ids are only read from the local cache unless ``allow_download`` is true.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: Any = None,
        batch_size: int = 16,
        allow_download: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise AugplanError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise AugplanError(f"device {device!r} was asked for, but torch sees no CUDA GPU")
            if dtype is None:
                dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            self.device_name = torch.cuda.get_device_name(self.device)
            self.threads = torch.get_num_threads()
        else:
            if dtype is None:
                dtype = torch.float32
            self.threads = default_threads()
            torch.set_num_threads(self.threads)
            self.device_name = cpu_name()
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        self.dtype = dtype

        source, gguf = _resolve_source(model, gguf_file)
        local_only = not allow_download or Path(source).exists()
        kwargs: dict[str, Any] = {"local_files_only": local_only}
        if gguf:
            kwargs["gguf_file"] = gguf
        self.source = f"{source}/{gguf}" if gguf else str(source)
        quiet = _Quiet()  # GGUF conversion progress bars and notices are not for users
        t0 = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, **kwargs, **_dequantised(gguf)
            )
        except (OSError, ValueError) as exc:
            hint = (
                "pass a local .gguf file or model folder, or allow downloads when online"
                if local_only
                else "check the Hub id and the network"
            )
            raise AugplanError(f"cannot load model {self.source}: {exc}", hint=hint) from None
        finally:
            quiet.restore()
        self.model.to(self.device)
        self.model.eval()
        self.load_seconds = time.perf_counter() - t0

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self.chat_template: str | None = getattr(tok, "chat_template", None) or None
        self.eos_token: str = tok.eos_token or ""
        self._stop_masks: dict[tuple[str, ...], Any] = {}
        #: True: rows with equal prompts (the K queries of a passage) share one prefill of the
        #: prompt, whose KV cache is copied to each; False prefills every row itself.
        self.fork = True

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_catalogue(
        cls,
        name: str,
        models_dir: str | Path | None = None,
        device: str | None = None,
        **kwargs: Any,
    ) -> TransformersBackend:
        """A catalogue augmenter's GGUF file, after its sha256 check."""
        from engine import catalogue

        entry = catalogue.get_entry(name)
        if entry.kind != "augmenter":
            raise AugplanError(f"--augmenter {name!r} is an {entry.kind}, not an augmenter")
        path = catalogue.verify(name, Path(models_dir) if models_dir is not None else None)
        return cls(path, device=device, **kwargs)

    # ------------------------------------------------------------------ the protocol
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
    ) -> Completion:
        return self.complete_many(
            [prompt], max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            seeds=[seed], stop=stop,
        )[0]

    def complete_many(
        self,
        prompts: Sequence[str],
        *,
        prefix: str | None = None,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        top_k: int = 0,
        seeds: Sequence[int] | int | None = None,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """Completions of every prompt, in the order given.

        Prompts are whole prompts; ``prefix`` (the part they all start with) is accepted for the
        protocol but not needed here. Prompts are sorted by length and generated ``batch_size``
        rows at a time (less padding). Rows with equal prompts (twins: the K queries of one
        passage) go in one batch and their prompt is prefilled once (only the first twin counts
        its ``evaluated_tokens``). Each completion's ``seconds`` is its batch's wall time divided
        by the batch's rows.
        """
        n = len(prompts)
        if n == 0:
            return []
        if isinstance(seeds, int) or seeds is None:
            seed_list = [int(seeds or 0)] * n
        else:
            seed_list = [int(s) for s in seeds]
            if len(seed_list) != n:
                raise ValueError(f"{len(seed_list)} seeds for {n} prompts")
        texts = list(prompts)
        stop = tuple(s for s in stop if s)
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        results: list[Completion | None] = [None] * n
        for batch in _batches(texts, lengths, self.batch_size, fork=self.fork):
            rows = [i for group in batch for i in group]
            outs = self._batch(
                [texts[group[0]] for group in batch], [len(group) for group in batch],
                max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                seeds=[seed_list[i] for i in rows], stop=stop,
            )
            for i, c in zip(rows, outs, strict=True):
                results[i] = c
        return [c for c in results if c is not None]

    def close(self) -> None:
        import gc

        import torch

        self.model = None  # type: ignore[assignment]
        self._stop_masks.clear()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ internals
    def _batch(
        self,
        texts: list[str],
        counts: list[int],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        seeds: list[int],
        stop: tuple[str, ...],
    ) -> list[Completion]:
        """One ``generate`` call: prompt ``texts[j]`` gives ``counts[j]`` rows in a row (its
        twins), and ``seeds[i]`` seeds row ``i`` when sampling. Twins share one prefill."""
        import torch

        tok = self.tokenizer
        t0 = time.perf_counter()
        enc = tok(texts, return_tensors="pt", padding=True)
        input_ids = enc["input_ids"].to(self.device)
        attention = enc["attention_mask"].to(self.device)
        prompt_len = input_ids.shape[1]
        first = [True] * len(seeds)  # the row that pays for its prompt's tokens
        cache = None
        if max(counts) > 1 and prompt_len > 1:
            index = torch.repeat_interleave(torch.arange(len(texts)), torch.tensor(counts))
            cache = self._prefill(input_ids, attention)
            index = index.to(self.device)
            cache.batch_select_indices(index)
            input_ids, attention = input_ids[index], attention[index]
            first = [j == 0 for c in counts for j in range(c)]
        mask = self._stop_mask(stop) if stop else None  # no stop strings: no criteria
        criteria = StopOnText(tok, stop, prompt_len, mask, self.device)
        steps = max(1, int(max_tokens))
        sampler = None
        if temperature > 0.0:
            sampler = RowSampler(seeds, prompt_len=prompt_len, steps=steps,
                                  temperature=temperature, top_p=top_p, top_k=top_k,
                                  device=self.device)
        gen_kwargs = self._gen_kwargs(max_new_tokens=steps, criteria=criteria if stop else None,
                                      sampler=sampler)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention,
                                      cache=cache, **gen_kwargs)
        gen = out[:, prompt_len:].cpu()
        seconds = (time.perf_counter() - t0) / len(seeds)
        prompt_counts = attention.sum(dim=1).cpu().tolist()
        finished = criteria.finished_at.cpu() if criteria.finished_at is not None else None
        lengths = generated_lengths(gen, finished, eos_ids(self.model, tok))
        decoded = tok.batch_decode(
            [row[:k].tolist() for row, k in zip(gen, lengths, strict=True)],
            skip_special_tokens=True,
        )
        return [
            Completion(text=_cut(text, stop), prompt_tokens=int(p), gen_tokens=int(k),
                       seconds=seconds, evaluated_tokens=int(p) if paid else 0)
            for text, p, k, paid in zip(decoded, prompt_counts, lengths, first, strict=True)
        ]

    def _prefill(self, input_ids: Any, attention: Any) -> Any:
        """The KV cache of every prompt but its last token (left-padded rows, positions counted
        from each row's first real token), which ``generate`` then decodes for each twin."""
        import torch
        from transformers import DynamicCache

        positions = attention.long().cumsum(-1) - 1
        positions.masked_fill_(attention == 0, 1)
        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            self.model(input_ids=input_ids[:, :-1], attention_mask=attention[:, :-1],
                       position_ids=positions[:, :-1], cache=cache, use_cache=True)
        return cache

    def _gen_kwargs(
        self, *, max_new_tokens: int, criteria: StopOnText | None, sampler: RowSampler | None
    ) -> dict[str, Any]:
        """``generate`` arguments. Decoding is always greedy there: when sampling, ``sampler``
        (a logits processor) has already drawn each row's token and left it the only finite
        score, so the arg-max is that token."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        return {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": StoppingCriteriaList([criteria]) if criteria else None,
            "logits_processor": LogitsProcessorList([sampler]) if sampler else None,
            "do_sample": False,
            "repetition_penalty": 1.0,  # as the llama.cpp backends: no penalty
            # Unset the sampling knobs a model's generation_config may carry (no warnings).
            "temperature": None,
            "top_p": None,
            "top_k": None,
        }

    def _stop_mask(self, stop: tuple[str, ...]) -> Any:
        """A boolean vector over the vocabulary: tokens whose text holds a stop string."""
        import torch

        mask = self._stop_masks.get(stop)
        if mask is None:
            size = max(len(self.tokenizer), int(self.model.config.get_text_config().vocab_size))
            pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            flags = [any(s in piece for s in stop) for piece in pieces]
            flags += [False] * (size - len(flags))
            mask = torch.tensor(flags, dtype=torch.bool, device=self.device)
            self._stop_masks[stop] = mask
        return mask


def _batches(texts: list[str], lengths: list[int], batch_size: int, *,
             fork: bool) -> list[list[list[int]]]:
    """Rows in batches of at most ``batch_size``, as groups of twins (rows whose prompts are
    equal, kept together; a group larger than a batch is cut into batch-sized ones), shortest
    prompts first. Without ``fork`` every row is its own group."""
    if fork:
        twins: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            twins.setdefault(text, []).append(i)
        groups = [rows[j : j + batch_size] for rows in twins.values()
                  for j in range(0, len(rows), batch_size)]
    else:
        groups = [[i] for i in range(len(texts))]
    groups.sort(key=lambda g: lengths[g[0]])
    batches: list[list[list[int]]] = []
    size = batch_size
    for group in groups:
        if size + len(group) > batch_size:
            batches.append([])
            size = 0
        batches[-1].append(group)
        size += len(group)
    return batches


def _dequantised(gguf: str | None) -> dict[str, Any]:
    """``from_pretrained`` arguments that unpack a GGUF file into dense weights (newer
    transformers can keep GGUF blocks packed when a kernel package is installed)."""
    if not gguf:
        return {}
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always dequantise
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


class _Quiet:
    """transformers' logging at error level and its progress bars off, until ``restore``."""

    def __init__(self) -> None:
        import functools
        import importlib

        from transformers.utils import logging as hf_logging

        self._log = hf_logging
        self._verbosity = hf_logging.get_verbosity()
        self._bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        # The GGUF dequantisation loop uses tqdm directly, not transformers' switch.
        self._gguf: Any = None
        try:
            self._gguf = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
            self._tqdm = self._gguf.tqdm
            self._gguf.tqdm = functools.partial(self._tqdm, disable=True)
        except (ImportError, AttributeError):
            self._gguf = None

    def restore(self) -> None:
        self._log.set_verbosity(self._verbosity)
        if self._bars:
            self._log.enable_progress_bar()
        if self._gguf is not None:
            self._gguf.tqdm = self._tqdm


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, *, dtype: Any = "bfloat16") -> Path:
    """Dequantise a GGUF file once into a transformers folder (safetensors and tokenizer).

    Loading a GGUF file re-parses its metadata and dequantises every tensor on the CPU (about a
    minute for a 1.5B model); the folder written here loads in seconds. It is written under a
    temporary name and renamed when complete; an existing folder is returned as it is.
    """
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    if (out / "config.json").is_file():
        return out
    source, gguf = _resolve_source(gguf_path, None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    quiet = _Quiet()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf, dtype=dtype,
                                                     local_files_only=True, **_dequantised(gguf))
        # The weights are plain dense tensors now; drop the GGUF loader's marks so the folder
        # is an ordinary (unquantised) checkpoint.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer = None
        for config in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
            if hasattr(config, "quantization_config"):
                delattr(config, "quantization_config")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        quiet.restore()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _resolve_source(model: str | Path, gguf_file: str | None) -> tuple[str, str | None]:
    """(folder or Hub id, GGUF file name inside it or None)."""
    path = Path(model).expanduser()
    if gguf_file is None and path.suffix == ".gguf":
        if not path.is_file():
            raise AugplanError(f"model file {path} does not exist")
        return str(path.parent), path.name
    if path.exists():
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise AugplanError(f"{path} holds no file {gguf_file!r}")
        return str(path), gguf_file
    if os.sep in str(model) and str(model).startswith((".", os.sep, "~")):
        raise AugplanError(f"model folder {path} does not exist")
    return str(model), gguf_file


