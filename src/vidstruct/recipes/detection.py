"""Detection recipe: a validated :class:`DetectionExperimentConfig` → keyframe datasets, detector, training,
``RUN/detector.pt``.

Trains through the recognition engine (:func:`vidstruct.engine.trainer.train`: same checkpoints, resume, AMP,
EMA, DDP, logs) with its ``loss_fn`` / ``evaluate_fn`` hooks:

- loss: binary cross-entropy of each real actor's logits against its multi-hot targets (padded slots excluded),
  averaged over actors and classes;
- validation: frame-mAP@0.5 on ``data.val`` with its ground-truth boxes
  (:func:`vidstruct.pipeline.detection.evaluate.evaluate_detector`), plus the AP of each class (``AP/<name>``).

Classes are the label map's, in increasing id order. The run directory receives ``detector.pt``
(:mod:`vidstruct.models.detection.checkpoint`): builder arguments, weights (EMA when kept), class names and
ids, preprocessing; enough to run ``vidstruct detect-actions``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.config import ComposedConfig, validate_kwargs
from vidstruct.config.detection import DetectionExperimentConfig
from vidstruct.data.detection import KeyframeClipDataset, collate_keyframes, keyframe_records, resolve_videos
from vidstruct.data.formats.ava import AvaLabel, read_ava, read_ava_excluded, read_ava_label_map, read_ava_proposals
from vidstruct.device import resolve_device
from vidstruct.engine.checkpoint import load_checkpoint, load_model_weights
from vidstruct.engine.distributed import cleanup, current
from vidstruct.engine.trainer import TrainResult, train
from vidstruct.errors import ConfigError
from vidstruct.models import MODELS
from vidstruct.models.detection import build_action_detector, save_detector
from vidstruct.models.state_dict import load_checkpoint_into
from vidstruct.pipeline.detection.evaluate import evaluate_detector

__all__ = [
    "DetectionData",
    "build_detector",
    "detection_data",
    "detection_loss",
    "preprocessing",
    "run_detection_training",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class DetectionData:
    """Datasets, the label map and the class order (names / AVA ids) of a config."""

    train: KeyframeClipDataset
    val: KeyframeClipDataset | None
    labels: dict[int, AvaLabel]
    class_ids: list[int]
    classes: list[str]
    excluded: set[tuple[str, float]] | None


def preprocessing(cfg: DetectionExperimentConfig) -> dict[str, Any]:
    """The checkpoint's ``preprocessing`` (sampling, frame size, normalization)."""
    s, t = cfg.data.sampler, cfg.data.transform
    return {
        "num_frames": s.clip_len, "frame_interval": s.frame_interval, "target_fps": s.target_fps, "size": t.size,
        "mean": list(t.mean), "std": list(t.std),
    }  # fmt: skip


def _flip_pairs(cfg: DetectionExperimentConfig, classes: list[str]) -> list[tuple[int, int]]:
    pairs = cfg.data.transform.flip_pairs
    if pairs and not cfg.data.transform.hflip:
        raise ConfigError("data.transform.flip_pairs: given but data.transform.hflip is false")
    index = {name: i for i, name in enumerate(classes)}
    out = []
    for a, b in pairs:
        for name in (a, b):
            if name not in index:
                raise ConfigError(f"data.transform.flip_pairs: {name!r} is not a class of {cfg.data.label_map}")
        out.append((index[a], index[b]))
    return out


def _objects(path: str | None) -> dict[tuple[str, float], list[tuple[float, ...]]] | None:
    if path is None:
        return None
    out: dict[tuple[str, float], list[tuple[float, ...]]] = {}
    for row in read_ava_proposals(path):
        out.setdefault((row.video_id, float(row.timestamp_s)), []).append(row.box)
    return out


def detection_data(cfg: DetectionExperimentConfig) -> DetectionData:
    """Training / validation keyframe datasets of ``cfg`` (every video checked to exist first)."""
    d = cfg.data
    labels = read_ava_label_map(d.label_map)
    class_ids = sorted(labels)
    classes = [labels[i].name for i in class_ids]
    objects = _objects(d.objects)
    common = dict(
        num_frames=d.sampler.clip_len, frame_interval=d.sampler.frame_interval, target_fps=d.sampler.target_fps,
        size=d.transform.size, mean=d.transform.mean, std=d.transform.std, objects=objects,
        on_error=d.on_decode_error,
    )  # fmt: skip

    def split(path: str, train: bool) -> KeyframeClipDataset:
        rows = read_ava(path, label_map=labels)
        if not rows:
            raise ConfigError(f"{path}: no annotated keyframes")
        records = keyframe_records(rows, resolve_videos((r.video_id for r in rows), d.videos))
        extra = {}
        if train:
            extra = dict(
                train=True, box_jitter=d.transform.box_jitter, hflip=d.transform.hflip,
                flip_pairs=_flip_pairs(cfg, classes),
            )  # fmt: skip
        return KeyframeClipDataset(records, class_ids, **common, **extra)  # type: ignore[arg-type]

    val = split(d.val, False) if d.val else None
    excluded = read_ava_excluded(d.exclusions) if d.exclusions else None
    return DetectionData(split(d.train, True), val, labels, class_ids, classes, excluded)


def build_detector(
    cfg: DetectionExperimentConfig, num_classes: int, composed: ComposedConfig | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, builder kwargs of build_action_detector)``; ``model.backbone.init_from`` weights loaded."""
    m = cfg.model
    given = m.backbone.builder_kwargs()
    if "num_classes" in given:
        raise ConfigError("model.backbone.num_classes: the detector's classes come from data.label_map")
    backbone_kwargs = validate_kwargs(MODELS.get(m.backbone.name), given, "model.backbone", composed)
    builder = {
        "backbone": m.backbone.name, "num_classes": num_classes, "backbone_kwargs": backbone_kwargs, "head": m.head,
        "roi_size": m.roi_size, "dropout": m.dropout, "relation_dim": m.relation.dim,
        "relation_layers": m.relation.layers, "relation_heads": m.relation.heads,
        "relation_dropout": m.relation.dropout, "relation_geometry": m.relation.geometry,
    }  # fmt: skip
    model = build_action_detector(**builder)
    if m.backbone.init_from:
        raw = load_checkpoint(m.backbone.init_from)
        state = raw["state_dict"] if "state_dict" in raw else raw["model"]
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        load_checkpoint_into(model.backbone, state, strict=True, reinit_head=False, where=m.backbone.init_from)
    return model, builder


def _actors_per_rank(count: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The real actors of the global batch divided by the world size (``count`` itself in one process)."""
    total = count.to(device=device, dtype=torch.float32)
    info = current()
    if info.enabled:  # a collective: every rank calls it once per micro-batch, even one whose samples all failed
        torch.distributed.all_reduce(total)
        total = total / info.world_size
    return total.clamp_min(1.0 / info.world_size)


def detection_loss(net: nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """Binary cross-entropy of one collated batch (the engine's ``loss_fn``): the mean over the real actors' classes
    of the *global* batch. Under DDP each rank divides its sum by (global actor count / world size), so the mean
    that DDP takes of the ranks' gradients is the gradient of the global mean however the boxes fall on the ranks;
    object tokens are always passed (only padding when the batch has none), so every parameter takes part in every
    step, as DDP's reducer requires."""
    per_rank = _actors_per_rank(batch["mask"].sum() if "clip" in batch else torch.zeros(()), device)
    if "clip" not in batch:  # every sample of the batch failed and was skipped: a zero loss with a graph
        return sum(p.sum() for p in net.parameters()) * 0.0  # type: ignore[return-value]
    mask = batch["mask"].to(device)
    objects = {"objects": batch["objects"].to(device), "object_mask": batch["object_mask"].to(device)}
    logits = net(batch["clip"].to(device), batch["boxes"].to(device), mask, **objects)
    targets = batch["targets"].to(device)[mask]
    bce = nn.functional.binary_cross_entropy_with_logits(logits[mask].float(), targets, reduction="sum")
    return bce / (per_rank * logits.shape[-1])


def run_detection_training(
    cfg: DetectionExperimentConfig,
    run_dir: str | Path,
    *,
    composed: ComposedConfig | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (see module doc); writes ``RUN/detector.pt``."""
    run_dir = Path(run_dir)
    resolve_device(cfg.train.device, where="train.device")  # a device this machine lacks: fail before any work
    data = detection_data(cfg)
    torch.manual_seed(cfg.train.seed)  # initial weights follow train.seed
    model, builder = build_detector(cfg, len(data.classes), composed)
    evaluate_fn = None
    if data.val is not None:
        val = data.val

        def evaluate_fn(m: nn.Module) -> dict[str, float]:
            return evaluate_detector(
                m, val, data.labels, excluded=data.excluded, device=next(m.parameters()).device,
                batch_size=cfg.eval.batch_size,
            )  # fmt: skip

    prep = preprocessing(cfg)
    try:
        result = train(
            model, data.train, settings=cfg.train, optim=cfg.optim, run_dir=run_dir, classes=data.classes,
            input_spec=prep, config=cfg.model_dump(mode="json"), resume=resume, collate_fn=collate_keyframes,
            loss_fn=detection_loss, evaluate_fn=evaluate_fn, num_workers=cfg.data.num_workers, quiet=quiet,
        )  # fmt: skip
        if result.rank == 0:
            load_model_weights(model, load_checkpoint(result.final), str(result.final), prefer_ema=True)
            save_detector(
                run_dir / "detector.pt", model.cpu(), name=run_dir.name, builder=builder, classes=data.classes,
                class_ids=data.class_ids, preprocessing=prep, metrics=result.metrics,
                config=cfg.model_dump(mode="json"),
            )  # fmt: skip
    finally:
        cleanup()
    return result
