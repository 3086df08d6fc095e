"""Fine-tuning a retriever on (query, passage) pairs with sentence-transformers."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from typing import Any


def train(model: Any, pairs: Sequence[tuple[str, str]], config: dict[str, Any], seed: int) -> float:
    """Fine-tune ``model`` in place on (anchor, positive) pairs; returns the seconds taken."""
    import transformers
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.set_seed(seed)
    static = type(model[0]).__name__ == "StaticEmbedding"
    if not static:
        model.max_seq_length = config["max_seq_length"]
    # The model card's widget examples are for publishing models; skip them (and their bar).
    model.model_card_data.set_widget_examples = lambda *_a, **_k: None
    data = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]})
    if config["loss"] == "cached-mnrl":
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=config["mini_batch_size"])
    else:
        loss = MultipleNegativesRankingLoss(model)
    import torch

    with tempfile.TemporaryDirectory(prefix="augplan-train-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            num_train_epochs=config["epochs"],
            per_device_train_batch_size=config["batch_size"],
            learning_rate=config["learning_rate"],
            warmup_steps=float(config["warmup_ratio"]),  # a float below 1: a ratio
            seed=seed,
            data_seed=seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            bf16=config["precision"] == "bf16" and not static,
            use_cpu=not torch.cuda.is_available(),
            save_strategy="no",
            report_to="none",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                             loss=loss)
        for callback in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(callback)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    model.eval()
    return seconds


def train_point(model: Any, pairs: Sequence[tuple[str, str]], config: dict[str, Any],
                seed: int, keep_models: str | None, config_hash: str) -> float:
    """A pilot point's training: on the pairs (none: zero-shot, 0 s), keeping the model in
    ``keep_models``/``config_hash`` when asked; returns the seconds."""
    if not pairs:
        return 0.0
    seconds = train(model, pairs, config, seed)
    if keep_models:
        from pathlib import Path

        model.save(str(Path(keep_models).expanduser() / config_hash))
    return seconds

