"""Pilot runs: fine-tune a fresh retriever on n synthetic pairs and evaluate it, for a grid of
(augmenter, scale, seed), plus the zero-shot and human-pairs reference points.

* **Selection** (``pairs``). The corpus' passages are put in a fixed order seeded by
  ``sample_seed`` (a hash of seed and passage content, so the order does not change when the
  corpus is re-imported). The pairs of scale n are the first n *accepted* augmentations (status
  ``ok`` after filters and dedup) in that order, so a smaller scale is a prefix of a larger one.
  Missing augmentations are generated through the engine's content-keyed cache (never twice)
  and quality-checked first.
* **Training** (``train``). sentence-transformers' ``SentenceTransformerTrainer`` with
  ``MultipleNegativesRankingLoss`` (or its cached variant), ``BatchSamplers.NO_DUPLICATES``,
  fixed seeds; the hyperparameters are recorded with every point.
* **Points** (``run``, ``points``) go to the store's ``pilots`` table keyed by a hash of
  everything that shapes the trained model and the evaluation (``config``); a finished point is
  never recomputed.
"""

from engine.device import device_name
from engine.pilot.config import (
    PILOT_VERSION,
    PilotReport,
    PilotRequest,
    TrainConfig,
)
from engine.pilot.pairs import human_pairs, passage_order, select_pairs
from engine.pilot.points import CSV_COLUMNS, export_rows, next_point_request
from engine.pilot.run import measure_training, run_pilot
from engine.pilot.train import train

__all__ = [
    "CSV_COLUMNS",
    "PILOT_VERSION",
    "PilotReport",
    "PilotRequest",
    "TrainConfig",
    "device_name",
    "export_rows",
    "human_pairs",
    "measure_training",
    "next_point_request",
    "passage_order",
    "run_pilot",
    "select_pairs",
    "train",
]
