"""Training and evaluation engine: the loop, checkpoints, DDP, AMP, optimizers, logs.

- :func:`train` — the training loop (:mod:`vidstruct.engine.trainer`);
- :func:`evaluate` / :func:`predict` — multi-view evaluation (:mod:`vidstruct.engine.evaluator`);
- :class:`TrainSettings`, :class:`OptimSettings`, :class:`EvalSettings` — typed settings;
- :mod:`vidstruct.engine.checkpoint` — checkpoint files of a run directory.
"""

from __future__ import annotations

from vidstruct.engine.evaluator import Predictions, evaluate, predict
from vidstruct.engine.settings import EvalSettings, OptimSettings, TrainSettings
from vidstruct.engine.trainer import TrainingDiverged, TrainResult, train

__all__ = [
    "EvalSettings",
    "OptimSettings",
    "Predictions",
    "TrainResult",
    "TrainSettings",
    "TrainingDiverged",
    "evaluate",
    "predict",
    "train",
]
