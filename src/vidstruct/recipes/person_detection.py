"""Person-detection recipe: a validated :class:`PersonDetectionConfig` → keyframe datasets, detector, training,
``RUN/person_detector.pt``.

Training goes through the engine (:func:`vidstruct.engine.trainer.train`: checkpoints, resume, logs, EMA,
DDP) with its ``loss_fn`` hook: the detector in train mode returns its loss terms (FCOS: focal classification,
GIoU box regression, centerness; Faster R-CNN: RPN and box-head losses) and the training loss is their sum.
Validation (every ``train.eval_every`` steps and at the end, with ``data.val``): box AP@0.5 on the held-out
keyframes (:func:`vidstruct.pipeline.persons.evaluate.evaluate_person_boxes`, AVA frame-mAP with one class),
reported as ``person_ap50``.
The model has two classes, background (0) and ``person`` (1, COCO's person label), so the detector source
(:mod:`vidstruct.pipeline.persons`) keeps label 1 of torchvision's COCO detectors and of these alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.config import ComposedConfig
from vidstruct.config.person_detection import PersonDetectionConfig, PersonSplit
from vidstruct.data.persons import PersonKeyframes, collate_keyframes
from vidstruct.device import resolve_device
from vidstruct.engine.checkpoint import load_checkpoint, load_model_weights
from vidstruct.engine.distributed import cleanup
from vidstruct.engine.trainer import TrainResult, train
from vidstruct.errors import ConfigError
from vidstruct.models.persons import PERSON_DETECTORS, save_person_detector
from vidstruct.models.persons.checkpoint import FILENAME
from vidstruct.pipeline.persons.detector import DetectorSource
from vidstruct.pipeline.persons.evaluate import evaluate_person_boxes

__all__ = [
    "CLASSES",
    "build_detector",
    "detection_loss",
    "person_evaluate_fn",
    "person_keyframes",
    "run_person_detection_training",
]

log = logging.getLogger(__name__)

CLASSES = ["__background__", "person"]
"""Label index → name of the detectors this recipe trains (person = label 1, as in COCO)."""


def person_keyframes(cfg: PersonDetectionConfig, split: PersonSplit, *, train: bool) -> PersonKeyframes:
    """The keyframe dataset of one split (training: with ``data.hflip``)."""
    d = cfg.data
    return PersonKeyframes(split.annotations, split.videos, video_suffix=d.video_suffix, hflip=d.hflip if train else 0)


def build_detector(cfg: PersonDetectionConfig) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, builder kwargs)`` of ``cfg.model``, randomly initialized, with ``num_classes = 2``."""
    kwargs = cfg.model.builder_kwargs()
    if "num_classes" in kwargs:
        raise ConfigError("model.num_classes: set by the recipe (2: background and person)")
    kwargs["num_classes"] = len(CLASSES)
    try:
        return PERSON_DETECTORS.build(cfg.model.name, **kwargs), kwargs
    except (TypeError, ValueError) as e:  # torchvision builders take **kwargs: a wrong one fails inside
        raise ConfigError(f"model: {cfg.model.name!r} does not accept these arguments ({e})") from None


def detection_loss(net: nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """The summed loss terms of a torchvision detector in train mode on a :func:`collate_keyframes` batch."""
    images = [im.to(device, non_blocking=True) for im in batch["images"]]
    targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in batch["targets"]]
    losses = net(images, targets)
    return torch.stack([v for v in losses.values()]).sum()


def person_evaluate_fn(cfg: PersonDetectionConfig) -> Callable[[nn.Module], dict[str, float]] | None:
    """Validation of the model being trained: ``{"person_ap50": box AP@0.5 on data.val}`` (``None``: no val)."""
    split = cfg.data.val
    if split is None:
        return None

    def evaluate_fn(model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        source = DetectorSource(model, "validation", min_score=cfg.eval.min_score, device=device)
        result = evaluate_person_boxes(source, split.annotations, split.videos, video_suffix=cfg.data.video_suffix)
        return {"person_ap50": result.mAP}

    return evaluate_fn


def run_person_detection_training(
    cfg: PersonDetectionConfig,
    run_dir: str | Path,
    *,
    composed: ComposedConfig | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir``; writes ``RUN/person_detector.pt`` (final weights, EMA when kept)."""
    run_dir = Path(run_dir)
    resolve_device(cfg.train.device, where="train.device")  # a device this machine lacks: fail before any work
    train_data = person_keyframes(cfg, cfg.data.train, train=True)
    torch.manual_seed(cfg.train.seed)  # initial weights follow train.seed
    model, kwargs = build_detector(cfg)
    try:
        result = train(
            model, train_data, settings=cfg.train, optim=cfg.optim, run_dir=run_dir, classes=CLASSES,
            config=cfg.model_dump(mode="json"), resume=resume, collate_fn=collate_keyframes, loss_fn=detection_loss,
            evaluate_fn=person_evaluate_fn(cfg), num_workers=cfg.data.num_workers, quiet=quiet,
        )  # fmt: skip
        if train_data.dropped_boxes:
            log.warning("%s: left out %d boxes under 1 px", cfg.data.train.annotations, train_data.dropped_boxes)
        if result.rank == 0:
            load_model_weights(model, load_checkpoint(result.final), str(result.final), prefer_ema=True)
            save_person_detector(
                run_dir / FILENAME, model.cpu(), model_name=cfg.model.name, model_kwargs=kwargs, classes=CLASSES,
                metrics=result.metrics, config=cfg.model_dump(mode="json"),
            )  # fmt: skip
    finally:
        cleanup()
    return result
