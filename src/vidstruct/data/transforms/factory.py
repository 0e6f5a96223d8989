"""Train / eval pipelines from explicit arguments (the fields of ``TransformSection``).

Both take decoded ``uint8 [T, H, W, C]`` frames (bare, or in a sample dict
``{"frames": ..., "label": ...}``) and produce ``float32 [C, T, crop, crop]``
normalized clips; ``build_eval_transform(num_crops=3)`` produces
``[3, C, T, crop, crop]`` (left / centre / right views).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from vidstruct.data.transforms.base import Compose, Normalize, Sample, ToClip, ToVideo
from vidstruct.data.transforms.flip import RandomHorizontalFlip
from vidstruct.data.transforms.photometric import ColorJitter, RandAugment, RandomErasing
from vidstruct.data.transforms.spatial import (
    MultiScaleCrop,
    RandomCrop,
    RandomResizedCrop,
    ShortSideScale,
    SpatialCrop,
    ThreeCrop,
)
from vidstruct.errors import ConfigError

__all__ = ["build_eval_transform", "build_train_transform"]

_MEAN = (0.45, 0.45, 0.45)
_STD = (0.225, 0.225, 0.225)


def build_train_transform(
    *,
    short_side: int = 128,
    crop_size: int = 112,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    random_resized_crop: bool = False,
    scale: tuple[float, float] = (0.25, 1.0),
    multi_scale_crop: bool = False,
    hflip: bool = False,
    flip_label_map: Mapping[int, int] | None = None,
    color_jitter: float = 0.0,
    per_frame_jitter: bool = False,
    randaugment: bool = False,
    random_erasing: float = 0.0,
) -> Compose:
    """Training pipeline, in this order:

    1. crop: ``random_resized_crop`` → :class:`RandomResizedCrop` (area ``scale``,
       on the decoded frames, output ``crop_size``); else ``multi_scale_crop`` →
       short side to ``short_side`` then TSN :class:`MultiScaleCrop`; else short
       side to ``short_side`` then a random ``crop_size`` crop;
    2. ``hflip``: flip with p=0.5, remapping labels through ``flip_label_map``
       (e.g. :func:`swap_label_map` for SSv2);
    3. ``color_jitter > 0``: brightness = contrast = saturation = ``color_jitter``
       (per clip, or per frame with ``per_frame_jitter``);
    4. ``randaugment``: RandAugment(2 ops, magnitude 9), same ops for all frames;
    5. normalize with ``mean`` / ``std`` ([0, 1] units);
    6. ``random_erasing > 0``: erase one box with that probability (same box in all frames).
    """
    if random_resized_crop and multi_scale_crop:
        raise ConfigError("choose one of random_resized_crop and multi_scale_crop, not both")
    if not random_resized_crop:
        _check_sizes(short_side, crop_size)
    steps: list[Callable[[Sample], Sample]] = [ToVideo()]
    if random_resized_crop:
        steps.append(RandomResizedCrop(crop_size, scale=scale))
    elif multi_scale_crop:
        steps += [ShortSideScale(short_side), MultiScaleCrop(crop_size)]
    else:
        steps += [ShortSideScale(short_side), RandomCrop(crop_size)]
    if hflip:
        steps.append(RandomHorizontalFlip(0.5, flip_label_map))
    elif flip_label_map:
        raise ConfigError("flip_label_map given but hflip is off")
    if color_jitter < 0:
        raise ConfigError(f"color_jitter must be >= 0, got {color_jitter}")
    if color_jitter > 0:
        steps.append(ColorJitter(color_jitter, color_jitter, color_jitter, per_frame=per_frame_jitter))
    if randaugment:
        steps.append(RandAugment())
    steps.append(Normalize(mean, std))
    if random_erasing > 0:
        steps.append(RandomErasing(p=random_erasing))
    steps.append(ToClip())
    return Compose(steps)


def build_eval_transform(
    *,
    short_side: int = 128,
    crop_size: int = 112,
    mean: Sequence[float] = _MEAN,
    std: Sequence[float] = _STD,
    num_crops: int = 1,
    crop_index: int = 1,
) -> Compose:
    """Deterministic pipeline: short side to ``short_side``, crop, normalize.

    ``num_crops=1``: the crop at ``crop_index`` (0 / 1 / 2 = left, centre, right
    along the longer side, see :func:`spatial_crop`) → ``[C, T, crop, crop]``;
    ``num_crops=3``: all three → ``[3, C, T, crop, crop]``. With
    ``short_side == crop_size`` the three crops cover the whole frame (PySlowFast).
    """
    _check_sizes(short_side, crop_size)
    if num_crops not in (1, 3):
        raise ConfigError(f"num_crops must be 1 or 3, got {num_crops!r}")
    steps: list[Callable[[Sample], Sample]] = [ToVideo(), ShortSideScale(short_side)]
    if num_crops == 1:
        steps.append(SpatialCrop(crop_size, crop_index))
    steps += [Normalize(mean, std), ToClip()]
    if num_crops == 3:
        steps.append(ThreeCrop(crop_size))
    return Compose(steps)


def _check_sizes(short_side: int, crop_size: int) -> None:
    if crop_size > short_side:
        raise ConfigError(f"crop_size ({crop_size}) must be <= short_side ({short_side})")
