"""The person-detector checkpoint ``RUN/person_detector.pt`` (format ``vidstruct.person_detector/1``).

A ``torch.save`` of plain types (loads with ``torch.load(weights_only=True)``)::

    format: "vidstruct.person_detector/1"
    model: "fcos_tiny" | any torchvision detection name      # a PERSON_DETECTORS builder
    model_kwargs: {...}                                      # its arguments (num_classes, image size...)
    state_dict: {...}
    classes: ["__background__", "person"]                    # label index -> name
    person_label: 1
    preprocessing: {"input": "RGB float [3, H, W] in [0, 1]", "min_size", "max_size", "image_mean", "image_std"}
    metrics: {...}                                           # validation metrics at the end of training
    config: {...}                                            # the training config
    vidstruct_version, torch_version

The detector resizes and normalizes its input itself (torchvision's ``GeneralizedRCNNTransform``, set by
``model_kwargs``); ``preprocessing`` records what it does, for readers of the file.
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
from vidstruct.models.persons.builders import build_person_detector
from vidstruct.models.persons.outputs import PERSON_LABEL
from vidstruct.models.state_dict import load_checkpoint_into

__all__ = ["FILENAME", "FORMAT", "PersonDetectorBundle", "load_person_detector", "save_person_detector"]

FORMAT = "vidstruct.person_detector/1"
FILENAME = "person_detector.pt"
"""The checkpoint's name in a run directory."""


@dataclass
class PersonDetectorBundle:
    """A loaded person detector: ``model`` (eval mode) and what the checkpoint says about it."""

    model: nn.Module
    name: str
    model_kwargs: dict[str, Any]
    classes: list[str]
    person_label: int
    preprocessing: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    path: str = ""


def preprocessing_of(model: nn.Module) -> dict[str, Any]:
    """What a torchvision detector does to its input before the backbone (its ``transform``)."""
    tf: Any = model.transform
    return {
        "input": "RGB float [3, H, W] in [0, 1]",
        "min_size": [int(s) for s in tf.min_size],
        "max_size": int(tf.max_size),
        "image_mean": [float(v) for v in tf.image_mean],
        "image_std": [float(v) for v in tf.image_std],
    }


def save_person_detector(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict[str, Any],
    classes: list[str] | None = None,
    person_label: int = PERSON_LABEL,
    metrics: dict[str, float] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (built by ``build_person_detector(model_name, **model_kwargs)``) atomically."""
    doc = {
        "format": FORMAT,
        "model": model_name,
        "model_kwargs": dict(model_kwargs),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "classes": [str(c) for c in (classes or ["__background__", "person"])],
        "person_label": int(person_label),
        "preprocessing": preprocessing_of(model),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "config": config or {},
        "vidstruct_version": str(__version__),
        "torch_version": str(torch.__version__),
    }
    return write_bytes_atomic(path, lambda fh: torch.save(doc, fh))


def _need(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    return need_field(doc, key, kind, path, FORMAT)


def load_person_detector(path: str | Path, *, device: str | torch.device = "cpu") -> PersonDetectorBundle:
    """Load ``RUN/person_detector.pt`` (or the run directory holding it): the model in eval mode on ``device``."""
    p = resolve_run_file(path, FILENAME, "person detector")
    doc = read_checkpoint_doc(p, FORMAT, "person detector")
    name = _need(doc, "model", str, p)
    kwargs = _need(doc, "model_kwargs", dict, p)
    state = _need(doc, "state_dict", dict, p)
    classes = _need(doc, "classes", list, p)
    person_label = _need(doc, "person_label", int, p)
    try:
        model = build_person_detector(name, **kwargs)
    except VidstructError as e:
        raise CheckpointError(f"{p}: cannot rebuild detector {name!r}: {e}") from None
    load_checkpoint_into(model, state, model_name=name, checkpoint_model=name, where=str(p), reinit_head=False)
    model.eval().to(device)
    return PersonDetectorBundle(
        model=model,
        name=name,
        model_kwargs=kwargs,
        classes=[str(c) for c in classes],
        person_label=person_label,
        preprocessing=dict(doc.get("preprocessing") or {}),
        metrics=dict(doc.get("metrics") or {}),
        path=str(p),
    )
