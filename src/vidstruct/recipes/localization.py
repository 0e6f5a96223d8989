"""Localization recipe: a validated :class:`LocalizationExperimentConfig` → datasets, model, training, localizer.pt.

:func:`run_localization_training` trains through the recognition engine
(:func:`vidstruct.engine.trainer.train`: same checkpoints, resume, logs, DDP)
with its ``loss_fn`` / ``evaluate_fn`` hooks (:func:`vidstruct.engine.localization.losses.make_loss_fn`):

- BMN: ``BMN.loss`` on :func:`~vidstruct.models.localization.targets.bmn_targets_batch`
  targets (plus the relation loss with ``relation.stage: joint``);
- relation ``stage: second``: BMN alone into ``RUN/stage1``, then BMN frozen and
  only the relation loss into ``RUN/stage2``;
- weak_cas: the MIL + background-suppression loss on video-level labels;
- validation: :func:`~vidstruct.engine.localization.evaluate.evaluate_localizer`
  on ``data.val`` (AR@100, AUC, mAP@0.5, average mAP).

``feat_dim`` comes from the feature store, ``temporal_scale`` from
``data.temporal_scale`` and ``num_classes`` (weak_cas) from the classes; the
run directory receives ``localizer.pt`` (:mod:`vidstruct.models.localization.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.config import ComposedConfig, LocalizationExperimentConfig, validate_kwargs
from vidstruct.data.features import FeatureStore
from vidstruct.data.localization import (
    RescaledFeatureDataset,
    WindowedFeatureDataset,
    collate_localization,
    read_localization_annotations,
)
from vidstruct.device import resolve_device
from vidstruct.engine.checkpoint import load_checkpoint, load_model_weights
from vidstruct.engine.distributed import cleanup
from vidstruct.engine.localization.evaluate import evaluate_localizer
from vidstruct.engine.localization.losses import make_loss_fn
from vidstruct.engine.trainer import TrainResult, train
from vidstruct.errors import ConfigError
from vidstruct.eval.temporal import protocol_thresholds
from vidstruct.models import MODELS
from vidstruct.models.localization.checkpoint import save_localizer
from vidstruct.models.localization.spec import PostprocessSettings, class_map

__all__ = [
    "LocalizationData",
    "build_localizer",
    "localization_data",
    "postprocess_settings",
    "run_localization_training",
]

log = logging.getLogger(__name__)
RESCALED = ("activitynet", "hacs")


@dataclasses.dataclass
class LocalizationData:
    """Datasets, class names and feature metadata of a config."""

    train: Any
    val: Any | None
    classes: list[str]
    store: Any
    features: dict[str, Any]


def _dataset(cfg: LocalizationExperimentConfig, store: Any, split: str, train: bool) -> tuple[Any, list[str]]:
    d = cfg.data
    section = getattr(d, split)
    durations = {vid: float(store.entry(vid)["duration_s"]) for vid in store.video_ids}
    ann = read_localization_annotations(
        d.format,
        section.annotations,
        subset=section.subset,
        classes=d.classes,
        durations=durations,
        epic_label=d.epic_label,
    )
    if d.format in RESCALED:
        ds = RescaledFeatureDataset(store, ann.videos, ann.classes, temporal_scale=d.temporal_scale)
    else:
        ds = WindowedFeatureDataset(
            store, ann.videos, ann.classes, window_size=d.temporal_scale, window_stride=d.window_stride, train=train,
            min_segment_overlap=d.min_segment_overlap,
        )  # fmt: skip
    if len(ds) == 0:
        raise ConfigError(
            f"data.{split}: no usable {'training windows' if train and d.format not in RESCALED else 'videos'} "
            f"({len(ann.videos)} annotated videos, skipped: "
            f"{ {k: len(v) for k, v in ds.skipped.items()} }); check data.features and the subset"
        )
    return ds, ann.classes


def localization_data(cfg: LocalizationExperimentConfig) -> LocalizationData:
    """Training / validation datasets and the feature metadata stored in the localizer."""
    store = FeatureStore(cfg.data.features)
    train, classes = _dataset(cfg, store, "train", True)
    val = None
    if cfg.data.val is not None:
        val, val_classes = _dataset(cfg, store, "val", False)
        if val_classes != classes:
            raise ConfigError("data.val: its class list differs from data.train's (give data.classes)")
    meta = store.meta
    features = {
        "backbone_checkpoint": meta["backbone"]["checkpoint"],
        "backbone_sha256": meta["backbone"]["sha256"],
        "backbone_model": meta["backbone"]["model"],
        "backbone_classes": store.classes,
        "config_hash": store.config_hash,
        "window_s": store.window_s,
        "stride_s": store.stride_s,
        "feature_dim": store.feature_dim,
        "temporal_scale": cfg.data.temporal_scale,
        "mode": "rescale" if cfg.data.format in RESCALED else "window",
        "window_stride": None if cfg.data.format in RESCALED else train.window_stride,
    }
    return LocalizationData(train, val, classes, store, features)


def postprocess_settings(cfg: LocalizationExperimentConfig) -> PostprocessSettings:
    """``cfg.postprocess`` (a :class:`~vidstruct.models.localization.spec.PostprocessSettings`), checked against the
    model: ``fusion: cas`` is the weak model's own and only fusion."""
    fusion = cfg.postprocess.fusion
    if (fusion == "cas") != (cfg.model.name == "weak_cas"):
        raise ConfigError(f"postprocess.fusion: {fusion!r} does not apply to model {cfg.model.name!r}")
    return cfg.postprocess


def build_localizer(
    cfg: LocalizationExperimentConfig,
    feature_dim: int,
    num_classes: int,
    composed: ComposedConfig | None = None,
    *,
    relation: bool | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, builder kwargs)`` of ``cfg.model``; ``relation`` overrides ``model.relation.enabled`` (BMN)."""
    name = cfg.model.name
    given = cfg.model.builder_kwargs()
    bad = [k for k in given if k.startswith("relation") or k in ("feat_dim", "num_classes")]
    if bad:
        raise ConfigError(f"model.{bad[0]}: set by the recipe (use model.relation.* / the feature store / the classes)")
    if "temporal_scale" in given and given["temporal_scale"] != cfg.data.temporal_scale:
        raise ConfigError(
            f"model.temporal_scale ({given['temporal_scale']}) differs from data.temporal_scale "
            f"({cfg.data.temporal_scale})"
        )
    kwargs = validate_kwargs(MODELS.get(name), given, "model", composed)
    kwargs["feat_dim"] = feature_dim
    if name == "bmn":
        kwargs["temporal_scale"] = cfg.data.temporal_scale
        use_rel = cfg.model.relation.enabled if relation is None else relation
        if use_rel:
            kwargs.update(cfg.model.relation.bmn_kwargs())
    else:
        if cfg.model.relation.enabled:
            raise ConfigError("model.relation.enabled: the relation head applies to bmn only")
        kwargs["num_classes"] = num_classes
    return MODELS.build(name, **kwargs), kwargs


def _evaluate_fn(cfg: LocalizationExperimentConfig, data: LocalizationData, post: Any, kind: str) -> Any:
    if data.val is None:
        return None
    protocol = (
        cfg.eval.protocol
        or {"activitynet": "anet", "hacs": "anet", "thumos14": "thumos", "epic": "epic"}[cfg.data.format]
    )
    tiou = protocol_thresholds(protocol)
    cmap = class_map(data.classes, data.store.classes, post.fusion)

    def evaluate_fn(model: nn.Module) -> dict[str, float]:
        return evaluate_localizer(
            model, kind, data.val, classes=data.classes, post=post, tiou=tiou, class_map=cmap,
            batch_size=cfg.eval.batch_size,
        )  # fmt: skip

    return evaluate_fn


def _train_stage(
    cfg: LocalizationExperimentConfig,
    model: nn.Module,
    data: LocalizationData,
    run_dir: Path,
    *,
    loss_fn: Any,
    evaluate_fn: Any,
    resume: bool,
    quiet: bool,
    max_steps: int | None = None,
    lr: float | None = None,
) -> TrainResult:
    settings = dataclasses.replace(cfg.train, precise_bn_batches=0)  # no BatchNorm statistics to redo on features
    if max_steps is not None:
        settings = dataclasses.replace(settings, max_steps=max_steps)
    optim = cfg.optim if lr is None else dataclasses.replace(cfg.optim, lr=lr)
    return train(
        model, data.train, settings=settings, optim=optim, run_dir=run_dir, classes=data.classes,
        config=cfg.model_dump(mode="json"), resume=resume, collate_fn=collate_localization, loss_fn=loss_fn,
        evaluate_fn=evaluate_fn, num_workers=cfg.data.num_workers, quiet=quiet,
    )  # fmt: skip


def _load_final(model: nn.Module, result: TrainResult) -> None:
    load_model_weights(model, load_checkpoint(result.final), str(result.final), prefer_ema=True)


def run_localization_training(
    cfg: LocalizationExperimentConfig,
    run_dir: str | Path,
    *,
    composed: ComposedConfig | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (see module doc); writes ``RUN/localizer.pt``; the last stage's result."""
    run_dir = Path(run_dir)
    resolve_device(cfg.train.device, where="train.device")  # a device this machine lacks: fail before any work
    data = localization_data(cfg)
    post = postprocess_settings(cfg)
    kind = cfg.model.name
    T = cfg.data.temporal_scale
    second = kind == "bmn" and cfg.model.relation.enabled and cfg.model.relation.stage == "second"
    torch.manual_seed(cfg.train.seed)  # initial weights follow train.seed
    model, kwargs = build_localizer(
        cfg, data.store.feature_dim, len(data.classes), composed, relation=not second and None
    )
    max_duration = kwargs.get("max_duration")
    evaluate_fn = _evaluate_fn(cfg, data, post, kind)
    try:
        if not second:
            result = _train_stage(
                cfg, model, data, run_dir, loss_fn=make_loss_fn(kind, T, max_duration), evaluate_fn=evaluate_fn,
                resume=resume, quiet=quiet,
            )  # fmt: skip
        else:
            stage1 = run_dir / "stage1"
            if resume and (stage1 / "final.pt").is_file():
                result = TrainResult(cfg.train.max_steps, stage1, stage1 / "final.pt")
            else:
                result = _train_stage(
                    cfg, model, data, stage1, loss_fn=make_loss_fn(kind, T, max_duration), evaluate_fn=None,
                    resume=resume, quiet=quiet,
                )  # fmt: skip
            _load_final(model, result)
            torch.manual_seed(cfg.train.seed + 1)
            full, kwargs = build_localizer(cfg, data.store.feature_dim, len(data.classes), composed, relation=True)
            full.load_state_dict(model.state_dict(), strict=False)  # everything but the new relation.* weights
            for name, p in full.named_parameters():
                p.requires_grad_(name.startswith("relation."))
            model = full
            rel = cfg.model.relation
            result = _train_stage(
                cfg, model, data, run_dir / "stage2", loss_fn=make_loss_fn(kind, T, max_duration, relation_only=True),
                evaluate_fn=evaluate_fn, resume=resume, quiet=quiet, max_steps=rel.steps, lr=rel.lr,
            )  # fmt: skip
        if result.rank == 0:
            _load_final(model, result)
            save_localizer(
                run_dir / "localizer.pt", model.cpu(), model_name=kind, model_kwargs=kwargs, classes=data.classes,
                features=data.features, postprocess=post, metrics=result.metrics, config=cfg.model_dump(mode="json"),
            )  # fmt: skip
    finally:
        cleanup()
    return result
