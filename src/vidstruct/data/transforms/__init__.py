"""Clip transforms: decoded ``uint8 [T, H, W, C]`` frames → normalized ``float32 [C, T, H, W]`` clips.

Transforms map sample dicts ``{"frames": ..., "label": ...}`` (see
:mod:`~vidstruct.data.transforms.base`), so label-changing augmentations (the
flip with a left/right label map) stay correct. Start with
:func:`build_train_transform` / :func:`build_eval_transform`; batch-level
mixup / cutmix live in :mod:`~vidstruct.data.transforms.mix`.
"""

from __future__ import annotations

from vidstruct.data.transforms.base import Compose, FrameTransform, Normalize, OnFrames, Sample, ToClip, ToVideo
from vidstruct.data.transforms.factory import build_eval_transform, build_train_transform
from vidstruct.data.transforms.flip import RandomHorizontalFlip, swap_label_map
from vidstruct.data.transforms.mix import MixupCutmix, cutmix, cutmix_box, mixup, smooth_targets
from vidstruct.data.transforms.photometric import ColorJitter, RandAugment, RandomErasing
from vidstruct.data.transforms.spatial import (
    CenterCrop,
    MultiScaleCrop,
    RandomCrop,
    RandomResizedCrop,
    ShortSideScale,
    SpatialCrop,
    ThreeCrop,
    spatial_crop,
    three_crop,
)

__all__ = [
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "FrameTransform",
    "MixupCutmix",
    "MultiScaleCrop",
    "Normalize",
    "OnFrames",
    "RandAugment",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Sample",
    "ShortSideScale",
    "SpatialCrop",
    "ThreeCrop",
    "ToClip",
    "ToVideo",
    "build_eval_transform",
    "build_train_transform",
    "cutmix",
    "cutmix_box",
    "mixup",
    "smooth_targets",
    "spatial_crop",
    "swap_label_map",
    "three_crop",
]
