"""Detection models by name: torchvision's (no weights downloaded) and vidstruct's ``fcos_tiny``.

Every builder returns a torchvision detection model (``GeneralizedRCNN``, ``FCOS``, ``RetinaNet``, ``SSD``):
``model(images)`` in eval mode takes a list of float ``[3, H, W]`` RGB images in ``[0, 1]`` and returns one
dict per image with ``boxes`` float ``[N, 4]`` (pixels of that image, ``[x1, y1, x2, y2]``), ``labels`` int64
``[N]`` and ``scores`` float ``[N]`` (probabilities: softmax for Faster R-CNN / SSD, sigmoid for FCOS /
RetinaNet); in train mode ``model(images, targets)`` returns its loss terms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torchvision
from torch import nn

from vidstruct.models.persons.tiny import fcos_tiny
from vidstruct.registry import Registry

__all__ = ["PERSON_DETECTORS", "TORCHVISION_DETECTORS", "build_person_detector", "set_score_threshold"]

TORCHVISION_DETECTORS: tuple[str, ...] = tuple(torchvision.models.list_models(module=torchvision.models.detection))
"""Names of torchvision's detection builders (``fasterrcnn_resnet50_fpn_v2``, ``fcos_resnet50_fpn``...)."""

PERSON_DETECTORS: Registry[Callable[..., nn.Module]] = Registry("person detector")
"""Detector name → builder (keyword arguments go to the torchvision model, e.g. ``num_classes``, ``min_size``)."""


def _torchvision_builder(name: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        # weights=None, weights_backbone=None: randomly initialized, nothing is downloaded
        return torchvision.models.get_model(name, weights=None, weights_backbone=None, **kwargs)

    build.__name__ = name
    build.__doc__ = f"torchvision's ``{name}`` without pretrained weights (COCO's 91 classes unless num_classes)."
    return build


for _name in TORCHVISION_DETECTORS:
    PERSON_DETECTORS.register(_name)(_torchvision_builder(_name))
PERSON_DETECTORS.register("fcos_tiny")(fcos_tiny)


def build_person_detector(name: str, **kwargs: Any) -> nn.Module:
    """The detector ``name`` (see :data:`PERSON_DETECTORS`) built with ``kwargs``, randomly initialized.

    An unknown name is a :class:`~vidstruct.errors.RegistryError` (with close matches).
    """
    return PERSON_DETECTORS.build(name, **kwargs)


def set_score_threshold(model: nn.Module, min_score: float) -> None:
    """Make ``model`` return every box with a score ``>= min_score`` that its own threshold would hide.

    torchvision detectors drop boxes below a built-in threshold (0.05 for Faster R-CNN, 0.2 for FCOS...);
    lowering it to ``min_score`` lets the caller's threshold decide. A higher built-in one is lowered only.
    """
    holder: Any = model.roi_heads if hasattr(model, "roi_heads") else model
    if hasattr(holder, "score_thresh"):
        holder.score_thresh = min(float(holder.score_thresh), float(min_score))
