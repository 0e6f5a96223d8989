"""Recognition recipe: datasets, model and settings from a validated :class:`ExperimentConfig`.

This is the edge where a config becomes explicit objects (the CLI's ``train``
and ``test`` call :func:`run_training` / :func:`run_test`); the engine below
never sees the config (``cfg.optim`` / ``cfg.train`` are already the engine's
:class:`~vidstruct.engine.settings.OptimSettings` / :class:`~vidstruct.engine.settings.TrainSettings`).

- training clips: ``data.sampler`` (one random clip of ``clip_len`` frames every
  ``frame_interval`` frames at ``target_fps``) and the training transform of
  ``data.transform``;
- validation during training: one centre clip per video;
- testing: ``test.temporal_views`` evenly spaced clips x ``test.spatial_crops``
  (1 centre or 3 crops along the longer side) per video, softmax averaged;
- class names: ``data.classes`` (one per line), else those of the annotation
  reader, else ``"0" .. "K-1"`` from the largest label;
- EPIC-Kitchens-100 (``model.head.name: epic_verb_noun``): verb and noun heads on the ``model.name`` backbone,
  classes from ``data.verb_classes`` / ``data.noun_classes``, loss weighted by ``model.head.loss_weights``;
  a test reports verb / noun / action top-1 / top-5 and writes the C1 challenge's files (:mod:`.epic`).

A run directory holds ``model.pt`` (``vidstruct.model/1``, the EMA weights when
kept; what ``predict`` / ``export`` load), ``final.pt`` and ``checkpoints/``
(see :mod:`vidstruct.engine.checkpoint`), ``log.csv``, ``metrics.csv``, ``tb/``.
A test (:func:`run_test` with ``out_dir``) writes every file atomically (:mod:`vidstruct.atomic`).
"""

from __future__ import annotations

import csv
import inspect
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidstruct.atomic import atomic_open, atomic_path, write_json_atomic
from vidstruct.config import ComposedConfig, ExperimentConfig, check_model_kwargs
from vidstruct.config.schema import DataSection
from vidstruct.data.dataset import VideoClipDataset, collate_skip_failed
from vidstruct.data.transforms import build_eval_transform, build_train_transform
from vidstruct.device import resolve_device
from vidstruct.engine.checkpoint import (
    check_classes,
    ema_weights,
    latest_checkpoint,
    load_checkpoint,
    load_model_weights,
)
from vidstruct.engine.distributed import cleanup, init_distributed
from vidstruct.engine.evaluator import evaluate
from vidstruct.engine.losses import multi_head_loss_fn
from vidstruct.engine.settings import EvalSettings
from vidstruct.engine.trainer import TrainResult, train
from vidstruct.errors import ConfigError
from vidstruct.eval.classification import confusion_matrix, per_class_report, plot_confusion_matrix
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint
from vidstruct.models.spec import InputSpec
from vidstruct.models.state_dict import load_checkpoint_into
from vidstruct.recipes import epic
from vidstruct.registry import DATASETS, SAMPLERS, did_you_mean

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def read_split(data: DataSection, split: str) -> list[Any]:
    """Records of ``data.<split>`` from its registered annotation reader (a ``ClipList``)."""
    section = getattr(data, split)
    if section is None:
        raise ConfigError(f"data.{split}: no dataset configured (expected data.{split}.format and .annotations)")
    kwargs = {"annotations": section.annotations, "root": section.root, **section.reader_kwargs()}
    reader = DATASETS.get(section.format)
    params = inspect.signature(reader).parameters
    if data.classes and "classes" in params and "classes" not in kwargs:
        kwargs["classes"] = data.classes
    if data.verb_classes and data.noun_classes and "num_verbs" in params and "num_nouns" in params:
        verbs, nouns = epic.epic_classes(data)  # EPIC readers check class ranges against the class tables
        kwargs.setdefault("num_verbs", len(verbs))
        kwargs.setdefault("num_nouns", len(nouns))
    return DATASETS.build(section.format, **kwargs)


def class_names(cfg: ExperimentConfig, *splits: list[Any] | None) -> tuple[list[str], bool]:
    """``(names, named)``: the dataset's class names and whether they were given (not just numbered)."""
    lists = [s for s in splits if s is not None]
    if cfg.data.classes:
        path = Path(cfg.data.classes)
        if not path.is_file():
            raise ConfigError(f"data.classes: {path}: class list not found")
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        named = True
    elif any(getattr(s, "class_names", None) for s in lists):
        names, named = list(next(s.class_names for s in lists if getattr(s, "class_names", None))), True
    else:
        top = max((r.label for s in lists for r in s), default=-1)
        names, named = [str(i) for i in range(top + 1)], False
    top = max((r.label for s in lists for r in s), default=-1)
    if top >= len(names):
        raise ConfigError(f"data.classes: {len(names)} class names but the annotations use label {top}")
    return names, named


def input_spec(cfg: ExperimentConfig) -> InputSpec:
    """The preprocessing of this config, as stored in checkpoints."""
    s, t = cfg.data.sampler, cfg.data.transform
    return InputSpec(
        num_frames=s.clip_len,
        frame_interval=s.frame_interval,
        crop_size=t.crop_size,
        short_side=t.short_side,
        target_fps=s.target_fps,
        mean=tuple(t.mean),  # type: ignore[arg-type]
        std=tuple(t.std),  # type: ignore[arg-type]
    )


def build_model(
    cfg: ExperimentConfig, num_classes: int, composed: ComposedConfig | None = None, *, init: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, builder kwargs)``: the registered ``model.name`` for ``num_classes`` classes, with the
    ``model.init_from`` weights loaded when ``init``.

    An unknown name raises :class:`~vidstruct.errors.RegistryError` (with close matches).
    """
    kwargs = check_model_kwargs(cfg, composed)
    epic.check_head(cfg)
    if epic.is_epic(cfg):  # the checked kwargs are the backbone's; num_classes comes from the class tables
        kwargs = epic.epic_model_kwargs(cfg, kwargs)
        model = MODELS.build(epic.EPIC_MODEL, **kwargs)
        model.input_spec = input_spec(cfg)
        if init and cfg.model.init_from:
            raw = load_checkpoint(cfg.model.init_from)
            state, held = (raw["state_dict"], str(raw.get("model"))) if "state_dict" in raw else (raw["model"], None)
            epic.init_epic_backbone(model, state, held, cfg.model.init_from)
        return model, kwargs
    params = inspect.signature(MODELS.get(cfg.model.name)).parameters
    if "num_classes" in kwargs and kwargs["num_classes"] != num_classes:
        raise ConfigError(f"model.num_classes is {kwargs['num_classes']} but the dataset has {num_classes} classes")
    if "num_classes" in params:
        kwargs["num_classes"] = num_classes
    model = MODELS.build(cfg.model.name, **kwargs)
    if hasattr(model, "input_spec"):
        model.input_spec = input_spec(cfg)
    if init and cfg.model.init_from:
        _init_from(model, cfg.model.init_from, cfg.model.name)
    return model, kwargs


def _init_from(model: nn.Module, path: str, name: str) -> None:
    """Initialize from a model checkpoint or a training checkpoint; the head is re-initialized if it differs."""
    raw = load_checkpoint(path)
    if "state_dict" in raw:  # vidstruct.model/1
        state, held = raw["state_dict"], str(raw.get("model"))
    else:  # a training checkpoint of this engine
        state, held = raw["model"], None
    load_checkpoint_into(model, state, strict=True, model_name=name, checkpoint_model=held, where=path)


def flip_label_map(cfg: ExperimentConfig, records: list[Any]) -> dict[int, int] | None:
    """``{i: j}`` from ``data.transform.flip_pairs`` (class names), both directions; ``None`` without pairs."""
    pairs = cfg.data.transform.flip_pairs
    if not pairs:
        return None
    if not cfg.data.transform.hflip:
        raise ConfigError("data.transform.flip_pairs: given but data.transform.hflip is false")
    names, _ = class_names(cfg, records)
    index = {name: i for i, name in enumerate(names)}
    mapping: dict[int, int] = {}
    for a, b in pairs:
        for name in (a, b):
            if name not in index:
                raise ConfigError(f"data.transform.flip_pairs: unknown class {name!r}{did_you_mean(name, names)}")
        if a == b or index[a] in mapping or index[b] in mapping:
            raise ConfigError(f"data.transform.flip_pairs: [{a}, {b}] repeats a class")
        mapping[index[a]], mapping[index[b]] = index[b], index[a]
    return mapping


def train_dataset(cfg: ExperimentConfig, records: list[Any]) -> Any:
    """A :class:`VideoClipDataset` of one random clip per video with the training transform."""
    s, t = cfg.data.sampler, cfg.data.transform
    sampler = SAMPLERS.build(
        "interval", clip_len=s.clip_len, frame_interval=s.frame_interval, num_clips=1, target_fps=s.target_fps
    )
    transform = build_train_transform(
        short_side=t.short_side, crop_size=t.crop_size, mean=t.mean, std=t.std,
        random_resized_crop=t.random_resized_crop, scale=t.scale, hflip=t.hflip,
        flip_label_map=flip_label_map(cfg, records), color_jitter=t.color_jitter,
        randaugment=t.randaugment, random_erasing=t.random_erasing,
    )  # fmt: skip
    short_side = None if t.random_resized_crop else t.short_side
    return VideoClipDataset(
        records, sampler, transform, on_error=cfg.data.on_decode_error, short_side=short_side, random=True
    )


def eval_dataset(cfg: ExperimentConfig, records: list[Any], temporal_views: int = 1, spatial_crops: int = 1) -> Any:
    """A deterministic :class:`VideoClipDataset`: clips ``[C, T, H, W]``, or ``[V, C, T, H, W]`` with
    V = ``temporal_views * spatial_crops`` (temporal-major)."""
    s, t = cfg.data.sampler, cfg.data.transform
    sampler = SAMPLERS.build(
        "interval", clip_len=s.clip_len, frame_interval=s.frame_interval, num_clips=temporal_views,
        target_fps=s.target_fps,
    )  # fmt: skip
    transform = build_eval_transform(
        short_side=t.short_side, crop_size=t.crop_size, mean=t.mean, std=t.std, num_crops=spatial_crops
    )
    return VideoClipDataset(records, sampler, transform, on_error=cfg.data.on_decode_error, short_side=t.short_side)


def eval_settings(cfg: ExperimentConfig, quiet: bool = True) -> EvalSettings:
    """Evaluation settings: ``test.batch_size`` videos per batch, ``data.num_workers``, ``train.amp`` / ``device``."""
    return EvalSettings(
        batch_size=cfg.test.batch_size,
        num_workers=cfg.data.num_workers,
        amp=cfg.train.amp,
        device=cfg.train.device,
        quiet=quiet,
    )


def run_training(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    composed: ComposedConfig | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (resuming its newest checkpoint if ``resume``); writes ``model.pt``."""
    run_dir = Path(run_dir)
    if resume:
        latest_checkpoint(run_dir)  # fail before reading data when there is nothing to resume
    resolve_device(cfg.train.device, where="train.device")  # a device this machine lacks: fail before any work
    train_records = read_split(cfg.data, "train")
    val_records = read_split(cfg.data, "val") if cfg.data.val is not None else None
    if epic.is_epic(cfg):
        verbs, nouns = epic.epic_classes(cfg.data)
        classes = verbs + nouns  # the checkpoints' class list: verb keys, then noun keys
    else:
        classes, _ = class_names(cfg, train_records, val_records)
    torch.manual_seed(cfg.train.seed)  # initial weights follow train.seed (two runs of one config are the same run)
    model, kwargs = build_model(cfg, len(classes), composed)
    model_name = epic.EPIC_MODEL if epic.is_epic(cfg) else cfg.model.name
    loss_fn = multi_head_loss_fn(epic.loss_weights(cfg), cfg.train.label_smoothing) if epic.is_epic(cfg) else None
    try:
        result = train(
            model,
            train_dataset(cfg, train_records),
            settings=cfg.train,
            optim=cfg.optim,
            run_dir=run_dir,
            val_data=eval_dataset(cfg, val_records) if val_records is not None else None,
            eval_settings=eval_settings(cfg),
            classes=classes,
            input_spec=input_spec(cfg).to_dict(),
            config=cfg.model_dump(mode="json"),
            resume=resume,
            collate_fn=collate_skip_failed,
            loss_fn=loss_fn,
            num_workers=cfg.data.num_workers,
            quiet=quiet,
        )
        if result.rank == 0:
            load_model_weights(model, load_checkpoint(result.final), str(result.final), prefer_ema=True)
            save_model_checkpoint(
                run_dir / "model.pt", model.cpu(), model_name=model_name, model_kwargs=kwargs, classes=classes
            )
    finally:
        cleanup()
    return result


def _weights_and_classes(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None, str]:
    """Weights (EMA when kept) and class names of a model checkpoint, a training checkpoint or a run dir."""
    if path.is_dir():
        path = path / "model.pt" if (path / "model.pt").is_file() else path / "final.pt"
    raw = load_checkpoint(path)
    if "state_dict" in raw:  # vidstruct.model/1 (model.pt)
        return raw["state_dict"], raw.get("classes") or None, str(path)
    state = ema_weights(raw["ema"]) if isinstance(raw.get("ema"), dict) else raw["model"]
    return state, raw.get("classes") or None, str(path)


def run_test(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    *,
    composed: ComposedConfig | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Multi-view test of ``checkpoint`` on ``data.<split>`` (default: test if configured, else val).

    Returns ``{"metrics", "per_class", "confusion", "classes", "num_videos", "evaluated", "views",
    "checkpoint", "split"}``; with ``out_dir`` also writes ``metrics.json``, ``per_class.csv``,
    ``confusion.npy``, ``confusion.png`` and ``probs.npy`` (``[N, K]`` softmax, dataset order). An EPIC model
    reports verb / noun / action top-k (``heads``: the class names) and writes ``probs.npz`` (``verb``, ``noun``)
    and the C1 challenge's ``results.pkl``, ``submission.json`` and ``submission.zip`` (``files``).
    """
    split = split or ("test" if cfg.data.test is not None else "val")
    if split not in SPLITS:
        raise ConfigError(f"--split: unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    records = read_split(cfg.data, split)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")), where="train.device")
    info = init_distributed(device)  # under torchrun every process tests its share of the videos
    try:
        weights, ckpt_classes, where = _weights_and_classes(Path(checkpoint))
        if epic.is_epic(cfg):
            verbs, nouns = epic.epic_classes(cfg.data)
            classes, named = verbs + nouns, True
        else:
            classes, named = class_names(cfg, records)
        if ckpt_classes and not named and len(classes) <= len(ckpt_classes):
            classes = list(ckpt_classes)  # the annotations only number the classes: use the checkpoint's names
        check_classes(ckpt_classes, classes, where)
        model, _ = build_model(cfg, len(classes), composed, init=False)
        load_model_weights(model, {"model": weights}, where, prefer_ema=False)
        views = cfg.test.temporal_views * cfg.test.spatial_crops
        data = eval_dataset(cfg, records, cfg.test.temporal_views, cfg.test.spatial_crops)
        settings = eval_settings(cfg, quiet=quiet)
        metrics, preds = evaluate(model, data, settings=settings, device=device, collate_fn=collate_skip_failed)
    finally:
        cleanup()
    per_class: list[dict[str, Any]] = []
    confusion = None
    if isinstance(preds.probs, np.ndarray):  # single-label model (multi-head models get their metrics only)
        labelled = preds.targets >= 0  # type: ignore[operator]
        if labelled.any():
            probs, targets = preds.probs[labelled], preds.targets[labelled]  # type: ignore[index]
            per_class = per_class_report(probs, targets, classes)
            confusion = confusion_matrix(probs, targets, len(classes))
    report = {
        "checkpoint": where,
        "split": split,
        "metrics": metrics,
        "num_videos": len(records),
        "evaluated": int(len(preds.indices)),
        "views": views,
        "classes": classes,
        "per_class": per_class,
        "confusion": confusion.tolist() if confusion is not None else None,
    }
    epic_probs = epic.is_epic(cfg) and isinstance(preds.probs, dict)
    if epic_probs:
        report["heads"] = {"verb": verbs, "noun": nouns}
    if out_dir is not None and info.is_main:
        _write_test_outputs(Path(out_dir), report, preds.probs, confusion)  # type: ignore[arg-type]
        if epic_probs:  # the C1 challenge's results file and submission
            narration_ids = [str(records[i].meta.get("narration_id", i)) for i in preds.indices]
            sls = (2 if cfg.model.init_from else 0, 3, 3)  # pretraining, full temporal labels, the training set
            files = epic.write_epic_outputs(
                Path(out_dir),
                preds.probs["verb"],
                preds.probs["noun"],
                narration_ids,
                sls=sls,  # type: ignore[index]
            )
            report["files"] = {k: str(v) for k, v in files.items()}
    return report


def _write_test_outputs(out: Path, report: dict[str, Any], probs: np.ndarray, confusion: np.ndarray | None) -> None:
    """The test's files, each written atomically (a reader never sees a half-written one)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {k: v for k, v in report.items() if k not in ("per_class", "confusion")}
    write_json_atomic(out / "metrics.json", summary)
    if isinstance(probs, dict):  # one array per head
        with atomic_open(out / "probs.npz") as f:
            np.savez(f, **probs)
    else:
        with atomic_open(out / "probs.npy") as f:
            np.save(f, probs)
    with atomic_open(out / "per_class.csv", "w") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "support", "correct", "predicted", "recall", "precision"])
        writer.writeheader()
        writer.writerows(report["per_class"])
    if confusion is not None:
        with atomic_open(out / "confusion.npy") as f:
            np.save(f, confusion)
        with atomic_path(out / "confusion.png") as tmp:
            plot_confusion_matrix(confusion, report["classes"], tmp, title=report["split"])
