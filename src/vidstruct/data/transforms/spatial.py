"""Spatial transforms: short-side scale, random / multi-scale / fixed crops, three-crop.

All of them take frames in any ``[..., H, W]`` layout (``[T, C, H, W]``
videos inside a pipeline, ``[C, T, H, W]`` clips for :class:`ThreeCrop`) and
apply the same geometry to every frame of the clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from vidstruct.data.transforms.base import FrameTransform
from vidstruct.errors import ConfigError, InputError

__all__ = [
    "CenterCrop",
    "MultiScaleCrop",
    "RandomCrop",
    "RandomResizedCrop",
    "ShortSideScale",
    "SpatialCrop",
    "ThreeCrop",
    "spatial_crop",
    "three_crop",
]


def _positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ConfigError(f"transform argument {name!r} must be a positive integer, got {value!r}")
    return int(value)


class ShortSideScale(FrameTransform):
    """Resize so the shorter side is ``size`` pixels, keeping the aspect ratio (antialiased bilinear)."""

    def __init__(self, size: int) -> None:
        self.size = _positive("short_side", size)
        self._op = v2.Resize(self.size, antialias=True)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return self._op(frames)


class RandomCrop(FrameTransform):
    """A random ``size × size`` crop (the same window for every frame)."""

    def __init__(self, size: int) -> None:
        self.size = _positive("crop_size", size)
        self._op = v2.RandomCrop(self.size)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        _check_fits(frames, self.size)
        return self._op(frames)


class CenterCrop(FrameTransform):
    """The central ``size × size`` crop (torchvision's centring: offset ``round((H - size) / 2)``)."""

    def __init__(self, size: int) -> None:
        self.size = _positive("crop_size", size)
        self._op = v2.CenterCrop(self.size)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        _check_fits(frames, self.size)
        return self._op(frames)


class RandomResizedCrop(FrameTransform):
    """Inception-style crop: random area fraction in ``scale`` and aspect ratio in ``ratio``, resized to ``size``."""

    def __init__(
        self, size: int, scale: tuple[float, float] = (0.25, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
    ) -> None:
        self.size = _positive("crop_size", size)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ConfigError(f"transform argument 'scale' must satisfy 0 < min <= max <= 1, got {tuple(scale)}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self._op = v2.RandomResizedCrop(self.size, scale=self.scale, ratio=self.ratio, antialias=True)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return self._op(frames)


class MultiScaleCrop(FrameTransform):
    """TSN's multi-scale crop (mmaction2 ``MultiScaleCrop``), resized to ``size × size``.

    With ``base = min(H, W)``, crop sides are ``int(base * s)`` for ``s`` in
    ``scales``; a (width, height) pair is drawn among pairs whose scale indices
    differ by at most ``max_distort``; the offset is one of the fixed grid
    positions (corners and centre, plus 8 more when ``more_fix_crop``) with
    ``step = (W - crop_w) // 4`` horizontally (same vertically).
    """

    def __init__(
        self,
        size: int,
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        max_distort: int = 1,
        more_fix_crop: bool = True,
    ) -> None:
        self.size = _positive("crop_size", size)
        if not scales or any(not 0 < s <= 1 for s in scales):
            raise ConfigError(f"transform argument 'scales' must be values in (0, 1], got {list(scales)}")
        self.scales = tuple(float(s) for s in scales)
        self.max_distort = int(max_distort)
        self.more_fix_crop = bool(more_fix_crop)

    def candidates(self, height: int, width: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(sizes, offsets)``: candidate ``(crop_w, crop_h)`` pairs, and offset grid multipliers ``(i, j)``."""
        base = min(height, width)
        sides = [int(base * s) for s in self.scales]
        sizes = [(w, h) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= self.max_distort]
        grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]
        if self.more_fix_crop:
            grid += [(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
        return sizes, grid

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        height, width = frames.shape[-2:]
        sizes, grid = self.candidates(height, width)
        crop_w, crop_h = sizes[int(torch.randint(len(sizes), ()).item())]
        gx, gy = grid[int(torch.randint(len(grid), ()).item())]
        left = gx * ((width - crop_w) // 4)
        top = gy * ((height - crop_h) // 4)
        return F.resized_crop(frames, top, left, crop_h, crop_w, [self.size, self.size], antialias=True)


def _check_fits(frames: torch.Tensor, size: int) -> None:
    height, width = frames.shape[-2:]
    if height < size or width < size:
        raise InputError(f"cannot crop {size}x{size} from frames of size {height}x{width} (scale the short side first)")


def spatial_crop(frames: torch.Tensor, size: int, index: int) -> torch.Tensor:
    """A ``size × size`` crop of ``[..., H, W]`` frames at position ``index`` along the longer side.

    PySlowFast's ``uniform_crop``: ``index`` 0 / 1 / 2 = left, centre, right when
    ``W >= H`` (top, centre, bottom when ``H > W``). The centre offset is
    ``ceil((side - size) / 2)`` and the crop is centred on the shorter side the same way.
    """
    if index not in (0, 1, 2):
        raise ValueError(f"spatial crop index must be 0, 1 or 2, got {index!r}")
    _check_fits(frames, size)
    height, width = frames.shape[-2:]
    top = math.ceil((height - size) / 2)
    left = math.ceil((width - size) / 2)
    if height > width:
        top = {0: 0, 1: top, 2: height - size}[index]
    else:
        left = {0: 0, 1: left, 2: width - size}[index]
    return frames[..., top : top + size, left : left + size]


def three_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Left / centre / right (or top / centre / bottom) crops stacked on a new first dim.

    ``[C, T, H, W]`` → ``[3, C, T, size, size]`` (any ``[..., H, W]`` input works).
    """
    return torch.stack([spatial_crop(frames, size, i) for i in range(3)])


class SpatialCrop(FrameTransform):
    """One fixed crop of a multi-view plan: :func:`spatial_crop` with a given ``index``."""

    def __init__(self, size: int, index: int = 1) -> None:
        self.size = _positive("crop_size", size)
        if index not in (0, 1, 2):
            raise ConfigError(f"transform argument 'crop_index' must be 0, 1 or 2, got {index!r}")
        self.index = index

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return spatial_crop(frames, self.size, self.index)


class ThreeCrop(FrameTransform):
    """Multi-view testing: ``[C, T, H, W]`` → ``[3, C, T, size, size]`` (see :func:`three_crop`)."""

    def __init__(self, size: int) -> None:
        self.size = _positive("crop_size", size)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return three_crop(frames.as_subclass(torch.Tensor), self.size)
