"""Retrievers a pilot can fine-tune, at three levels of pre-training.

* ``minilm-l6`` — all-MiniLM-L6-v2 from the catalogue (strong: contrastively pre-trained for
  retrieval);
* ``static-minilm`` — a static-embedding retriever (``StaticEmbedding``: a token -> vector table,
  mean-pooled) initialised from MiniLM's tokenizer and *input* word embeddings, so it has seen no
  contextual retrieval pre-training (weak);
* any local SentenceTransformer folder, or a Hugging Face Hub id when online (``hub:ID``).

Every call of :func:`load` gives a fresh model, so one pilot point never trains on top of another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import catalogue
from store.errors import AugplanError

#: the retriever a pilot or a plan uses when none is named
DEFAULT_RETRIEVER = "minilm-l6"


@dataclass(frozen=True)
class RetrieverSpec:
    name: str
    description: str
    level: str  # strong | weak | custom
    learning_rate: float  # default for fine-tuning
    max_seq_length: int


BUILTIN: dict[str, RetrieverSpec] = {
    "minilm-l6": RetrieverSpec(
        "minilm-l6", "all-MiniLM-L6-v2 (catalogue), contrastively pre-trained", "strong",
        2e-5, 256,
    ),
    "static-minilm": RetrieverSpec(
        "static-minilm", "static embeddings from MiniLM's input word vectors, mean-pooled",
        "weak", 1e-2, 256,
    ),
}


def spec(name: str) -> RetrieverSpec:
    """The built-in spec, or a custom one for a folder / Hub id."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name.startswith("hub:") or Path(name).expanduser().is_dir():
        return RetrieverSpec(name, "SentenceTransformer " + name, "custom", 2e-5, 256)
    raise AugplanError(
        f"--retriever {name!r}: unknown retriever",
        hint=f"use {', '.join(BUILTIN)}, a SentenceTransformer folder, or hub:ID (online)",
    )


def _threads() -> None:
    import torch

    from engine.device import default_threads

    torch.set_num_threads(default_threads())


def load(name: str, models_dir: Path | None = None) -> Any:
    """A fresh SentenceTransformer for ``name`` on the CPU (weights checked by sha256 where the
    catalogue knows them)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _threads()
    s = spec(name)
    if name == "minilm-l6":
        path = catalogue.verify("minilm-l6", models_dir)
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    elif name == "static-minilm":
        model = _static_from_minilm(catalogue.verify("minilm-l6", models_dir))
    elif name.startswith("hub:"):
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise AugplanError(f"--retriever {name!r} needs the Hugging Face Hub, but this "
                               "session is offline (HF_HUB_OFFLINE=1)")
        try:
            model = SentenceTransformer(name[4:], device="cpu")
        except OSError as exc:
            raise AugplanError(f"--retriever {name!r}: could not load it from the Hub: "
                               f"{exc}") from exc
    else:
        try:
            model = SentenceTransformer(str(Path(name).expanduser()), device="cpu",
                                        local_files_only=True)
        except (OSError, ValueError) as exc:
            raise AugplanError(f"--retriever {name!r} is not a SentenceTransformer folder: "
                               f"{exc}") from exc
    if name != "static-minilm":  # a static table has no sequence limit to set
        model.max_seq_length = min(s.max_seq_length, model.max_seq_length or s.max_seq_length)
    return model


def _static_from_minilm(path: Path) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    bert = AutoModel.from_pretrained(str(path), local_files_only=True)
    with torch.no_grad():
        weights = bert.get_input_embeddings().weight.detach().clone()
    del bert
    static = StaticEmbedding(tokenizer, embedding_weights=weights)
    return SentenceTransformer(modules=[static], device="cpu")


__all__ = ["BUILTIN", "RetrieverSpec", "load", "spec"]
