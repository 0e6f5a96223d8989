"""MoSI pretraining recipe: a validated :class:`~vidstruct.config.mosi.MoSIExperimentConfig` → explicit objects.

The CLI's ``pretrain-mosi`` calls :func:`run_pretraining`, which trains through the
recognition engine (:func:`vidstruct.engine.trainer.train`: same checkpoints, resume, DDP under
``torchrun``, logs) with

- the model: the registered ``model.name`` (``model.init_from`` honoured) whose classifier is
  replaced by the MoSI pretext head (:func:`~vidstruct.ssl.mosi.head.attach_pretext_head`);
- the data: a :class:`~vidstruct.ssl.mosi.dataset.MoSIDataset` of ``mosi.source`` images and
  :func:`~vidstruct.ssl.mosi.dataset.mosi_collate` (with ``mosi.clips: all`` a batch of ``B``
  images is ``B × L`` clips ``[B·L, C, T, H, W]``);
- validation (``mosi.val_source``): every label of every image, deterministic clips; the
  engine's ``top1`` is the pretext accuracy (``move_x_top1`` / ``move_y_top1`` in separate mode);
- the initial weights: drawn after ``torch.manual_seed(train.seed)``, so a run is reproducible.

The run directory is a recognition run directory (``checkpoints/``, ``final.pt``, ``log.csv``,
``metrics.csv``, ``tb/``) whose ``model.pt`` (``vidstruct.model/1``) holds the backbone with the
pretext head under ``<head_prefix>pretext.*``. Fine-tuning it is a recognition config with
``model.init_from: RUN/model.pt``: the backbone loads, the pretext head is reported as unexpected
keys and dropped, the new classifier is re-initialized (and reported).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.config import ComposedConfig, MoSIExperimentConfig
from vidstruct.config.mosi import MoSISection, MoSISourceSection
from vidstruct.device import resolve_device
from vidstruct.engine.checkpoint import latest_checkpoint, load_checkpoint, load_model_weights
from vidstruct.engine.distributed import cleanup
from vidstruct.engine.trainer import TrainResult, train
from vidstruct.models.checkpoint import save_model_checkpoint
from vidstruct.models.spec import InputSpec
from vidstruct.recipes.recognition import build_model, eval_settings, input_spec, read_split
from vidstruct.ssl.mosi.color import ClipColorJitter
from vidstruct.ssl.mosi.dataset import MoSIDataset, mosi_collate
from vidstruct.ssl.mosi.generator import MoSIGenerator
from vidstruct.ssl.mosi.head import PRETEXT, attach_pretext_head, classifier_path
from vidstruct.ssl.mosi.labels import MotionLabelSpace
from vidstruct.ssl.mosi.pretext import IndexedItems, check_image_files, pretext_classes
from vidstruct.ssl.mosi.sources import ImageFileSource, ImageSource, ProceduralSource, VideoFrameSource

log = logging.getLogger(__name__)

SOURCE_FORMAT = "mosi"
"""``source["format"]`` of a MoSI ``model.pt``."""


def label_space(section: MoSISection) -> MotionLabelSpace:
    """The speeds and label mode of ``mosi``."""
    return MotionLabelSpace(
        num_speeds=section.num_speeds,
        mode=section.label_mode,
        decouple=section.decouple,
        include_static=section.include_static,
    )


def build_generator(cfg: MoSIExperimentConfig, *, train: bool) -> MoSIGenerator:
    """The clip generator of ``cfg.mosi`` (normalized with ``data.transform.mean`` / ``std``)."""
    m, t = cfg.mosi, cfg.data.transform
    jitter = None if m.color_jitter is None else ClipColorJitter(**m.color_jitter.model_dump())
    return MoSIGenerator(
        num_frames=m.num_frames,
        crop_size=m.crop_size,
        short_side=m.short_side,
        square_size=m.square_size,
        label_space=label_space(m),
        static_mask=m.static_mask,
        mask_ratio=m.mask_ratio,
        color_jitter=jitter,
        flip_p=m.flip_p,
        distance_jitter=m.distance_jitter,
        interpolation=m.interpolation,
        mean=tuple(t.mean),
        std=tuple(t.std),
        train=train,
    )


def build_source(cfg: MoSIExperimentConfig, section: MoSISourceSection) -> ImageSource:
    """The images of one ``mosi.source`` / ``mosi.val_source`` section."""
    if section.kind == "procedural":
        return ProceduralSource(section.count, height=section.size, width=section.size, seed=section.seed)
    if section.kind == "folder":
        return ImageFileSource.from_folder(str(section.path), recursive=section.recursive)
    if section.kind == "list":
        return ImageFileSource.from_list_file(str(section.path), root=section.root)
    return VideoFrameSource(list(read_split(cfg.data, section.split)), short_side=section.short_side)


def mosi_input_spec(cfg: MoSIExperimentConfig) -> InputSpec:
    """The recognition input spec of ``cfg`` with MoSI's clip length and crop size."""
    return dataclasses.replace(input_spec(cfg), num_frames=cfg.mosi.num_frames, crop_size=cfg.mosi.crop_size)


def build_pretext_model(
    cfg: MoSIExperimentConfig, composed: ComposedConfig | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model with the MoSI head, builder kwargs)``: ``model.name`` (``model.init_from`` loaded),
    its classifier replaced by the pretext head."""
    space = label_space(cfg.mosi)
    num_classes = len(space) if space.mode == "joint" else space.num_speeds
    torch.manual_seed(cfg.train.seed)  # initial weights (backbone and pretext head) follow train.seed
    model, kwargs = build_model(cfg, num_classes, composed)
    attach_pretext_head(model, space, dropout=cfg.mosi.head_dropout, name=cfg.model.name)
    model.input_spec = mosi_input_spec(cfg)
    return model, kwargs


def run_pretraining(
    cfg: MoSIExperimentConfig,
    run_dir: str | Path,
    *,
    composed: ComposedConfig | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """MoSI-pretrain ``cfg.model`` into ``run_dir`` (see module doc); writes ``RUN/model.pt``."""
    run_dir = Path(run_dir)
    if resume:
        latest_checkpoint(run_dir)  # nothing to resume: fail before building anything
    resolve_device(cfg.train.device, where="train.device")  # a device this machine lacks: fail before any work
    m = cfg.mosi
    space = label_space(m)
    generator = build_generator(cfg, train=True)
    source = build_source(cfg, m.source)
    check_image_files(source, generator)
    train_data = MoSIDataset(source, generator, clips=m.clips)
    val_data = None
    if m.val_source is not None:
        val_gen = build_generator(cfg, train=False)
        val_images = build_source(cfg, m.val_source)
        check_image_files(val_images, val_gen)
        val_data = IndexedItems(MoSIDataset(val_images, val_gen, clips="sample"))
    torch.manual_seed(cfg.train.seed)  # the initial weights follow train.seed (the engine reseeds after)
    model, kwargs = build_pretext_model(cfg, composed)
    classes = pretext_classes(space)
    spec = mosi_input_spec(cfg)
    try:
        result = train(
            model,
            train_data,
            settings=cfg.train,
            optim=cfg.optim,
            run_dir=run_dir,
            val_data=val_data,
            eval_settings=eval_settings(cfg),
            classes=classes,
            input_spec=spec.to_dict(),
            config=cfg.model_dump(mode="json"),
            resume=resume,
            collate_fn=mosi_collate,
            num_workers=cfg.data.num_workers,
            quiet=quiet,
        )
        if result.rank == 0:
            load_model_weights(model, load_checkpoint(result.final), str(result.final), prefer_ema=True)
            save_model_checkpoint(
                run_dir / "model.pt",
                model.cpu(),
                model_name=cfg.model.name,
                model_kwargs=kwargs,
                classes=classes if space.mode == "joint" else None,
                source={
                    "format": SOURCE_FORMAT,
                    "label_mode": space.mode,
                    "speeds": [list(s) for s in space.speeds],
                    "pretext_head": f"{classifier_path(model)}.{PRETEXT}.",
                    "metrics": dict(result.metrics),
                },
            )
    finally:
        cleanup()
    return result
