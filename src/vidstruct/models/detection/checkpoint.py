"""The action detector checkpoint ``RUN/detector.pt`` (format ``vidstruct.detector/1``).

A ``torch.save`` of plain types (loads with ``torch.load(weights_only=True)``)::

    format: "vidstruct.detector/1"
    name: str                                  # the model's name as results report it (e.g. the run directory)
    builder: {"backbone": str, "num_classes": int, "backbone_kwargs": {...}, "head": "roi" | "relation", ...,
              "relation_geometry": "relative" | "absolute"}   # absent in older files: "absolute"
    state_dict: {...}
    classes: [names]                           # output k is classes[k] ...
    class_ids: [int]                           # ... whose AVA action id is class_ids[k]
    preprocessing: {"num_frames", "frame_interval", "target_fps", "size", "mean", "std"}
    metrics: {...}; config: {...}; vidstruct_version, torch_version

:func:`load_detector` rebuilds the model (eval mode) into a :class:`DetectorBundle`: the file alone is enough to
run inference (``vidstruct detect-actions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct import __version__
from vidstruct.atomic import write_bytes_atomic
from vidstruct.errors import CheckpointError, VidstructError
from vidstruct.models.checkpoint_files import need_field, read_checkpoint_doc, resolve_run_file
from vidstruct.models.detection.detector import build_action_detector
from vidstruct.models.state_dict import load_checkpoint_into

__all__ = ["FORMAT", "PREPROCESSING_KEYS", "DetectorBundle", "load_detector", "save_detector"]

FORMAT = "vidstruct.detector/1"
PREPROCESSING_KEYS = ("num_frames", "frame_interval", "target_fps", "size", "mean", "std")


@dataclass
class DetectorBundle:
    """A loaded detector: ``model`` (eval mode), class names and AVA ids, preprocessing, provenance."""

    model: nn.Module
    name: str
    classes: list[str]
    class_ids: list[int]
    preprocessing: dict[str, Any]
    builder: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    path: str = ""


def save_detector(
    path: str | Path,
    model: nn.Module,
    *,
    name: str,
    builder: dict[str, Any],
    classes: list[str],
    class_ids: list[int],
    preprocessing: dict[str, Any],
    metrics: dict[str, float] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (built by ``build_action_detector(**builder)``) atomically as ``vidstruct.detector/1``."""
    missing = [k for k in PREPROCESSING_KEYS if k not in preprocessing]
    if missing:
        raise CheckpointError(f"save_detector: preprocessing lacks {missing}")
    if len(classes) != len(class_ids):
        raise CheckpointError(f"save_detector: {len(classes)} class names but {len(class_ids)} class ids")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    builder = dict(builder)
    if builder.get("head", "relation") == "relation":  # the geometry the weights hold (pair embeddings or not)
        builder["relation_geometry"] = "relative" if any(".pair_geometry." in k for k in state) else "absolute"
    doc = {
        "format": FORMAT,
        "name": str(name),
        "builder": builder,
        "state_dict": state,
        "classes": [str(c) for c in classes],
        "class_ids": [int(i) for i in class_ids],
        "preprocessing": dict(preprocessing),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "config": config or {},
        "vidstruct_version": str(__version__),
        "torch_version": str(torch.__version__),
    }
    return write_bytes_atomic(path, lambda fh: torch.save(doc, fh))


def load_detector(path: str | Path, *, device: str | torch.device = "cpu") -> DetectorBundle:
    """Load ``RUN/detector.pt`` (or the run directory holding it); :class:`CheckpointError` for a bad file."""
    path = resolve_run_file(path, "detector.pt", "action detector")
    doc = read_checkpoint_doc(path, FORMAT, "action detector")
    for key, kind in (("builder", dict), ("state_dict", dict), ("classes", list), ("class_ids", list)):
        need_field(doc, key, kind, path, FORMAT)
    prep = doc.get("preprocessing")
    if not isinstance(prep, dict) or any(k not in prep for k in PREPROCESSING_KEYS):
        raise CheckpointError(f"{path}: field 'preprocessing' lacks one of {PREPROCESSING_KEYS}")
    builder = dict(doc["builder"])
    builder.setdefault("relation_geometry", "absolute")  # files written before the geometry choice existed
    try:
        model = build_action_detector(**builder)
        load_checkpoint_into(model, doc["state_dict"], strict=True, reinit_head=False, where=f"{path}: state_dict")
    except CheckpointError:
        raise
    except (VidstructError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the detector ({exc})") from None
    model.to(device).eval()
    return DetectorBundle(
        model=model,
        name=str(doc.get("name") or path.parent.name),
        classes=[str(c) for c in doc["classes"]],
        class_ids=[int(i) for i in doc["class_ids"]],
        preprocessing=dict(prep),
        builder=builder,
        metrics=dict(doc.get("metrics") or {}),
        path=str(path),
    )
