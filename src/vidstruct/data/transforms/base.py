"""Sample-dict plumbing of clip transforms: compose, layout conversion, normalization.

A *sample* is a dict ``{"frames": Tensor, "label": ..., ...}``; a transform
maps a sample to a new sample (it never mutates its input). Most transforms
only touch ``"frames"``; label-aware ones (the horizontal flip with a label
map) also rewrite ``"label"``. Layouts along a pipeline:

1. decoded input: ``uint8 [T, H, W, C]`` RGB (``torch.Tensor``);
2. :class:`ToVideo` → ``tv_tensors.Video`` ``uint8 [T, C, H, W]`` — the layout
   torchvision.transforms.v2 ops work on (one call = same parameters for every frame);
3. :class:`Normalize` → ``float32 [T, C, H, W]``, ``(x / 255 - mean) / std``;
4. :class:`ToClip` → plain ``float32 [C, T, H, W]`` (the model layout without batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vidstruct.errors import ConfigError, ShapeError

Sample = dict[str, Any]

__all__ = ["Compose", "FrameTransform", "Normalize", "OnFrames", "Sample", "ToClip", "ToVideo"]


class FrameTransform:
    """Base of transforms that only change ``sample["frames"]``: subclasses define :meth:`transform`."""

    def transform(self, frames: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, sample: Sample) -> Sample:
        out = dict(sample)
        out["frames"] = self.transform(sample["frames"])
        return out

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class OnFrames(FrameTransform):
    """Apply a frames → frames callable (e.g. a torchvision v2 transform) to ``sample["frames"]``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return self.fn(frames)


class Compose:
    """Apply transforms in order to a sample dict.

    Called with a bare tensor (decoded ``uint8 [T, H, W, C]`` frames) it wraps it
    as ``{"frames": tensor}`` and returns only the resulting frames.
    """

    def __init__(self, transforms: Sequence[Callable[[Sample], Sample]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample | torch.Tensor) -> Any:
        if isinstance(sample, torch.Tensor):
            return self({"frames": sample})["frames"]
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(t) for t in self.transforms)
        return f"Compose([\n  {inner}\n])"


class ToVideo(FrameTransform):
    """``uint8 [T, H, W, C]`` RGB frames → ``tv_tensors.Video`` ``uint8 [T, C, H, W]``."""

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] not in (1, 3):
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ShapeError(f"frames must be a uint8 tensor [T, H, W, C] with C in (1, 3), got {shape}")
        if frames.dtype != torch.uint8:
            raise ShapeError(f"frames must be uint8 [T, H, W, C], got dtype {frames.dtype}")
        return tv_tensors.Video(frames.permute(0, 3, 1, 2))


class Normalize(FrameTransform):
    """``uint8 [T, C, H, W]`` → ``float32 [T, C, H, W]``: ``(x / 255 - mean) / std`` per channel.

    ``mean`` / ``std`` are in [0, 1] pixel units (e.g. Kinetics ``0.45`` / ``0.225``).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or len(mean) not in (1, 3):
            raise ConfigError(f"mean and std need 1 or 3 values each, got mean={list(mean)} std={list(std)}")
        if any(s <= 0 for s in std):
            raise ConfigError(f"std values must be > 0, got {list(std)}")
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self._ops = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)])

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim < 3 or frames.shape[-3] != len(self.mean):
            raise ShapeError(f"Normalize expects [T, C, H, W] with C={len(self.mean)}, got {tuple(frames.shape)}")
        return self._ops(frames)


class ToClip(FrameTransform):
    """``[T, C, H, W]`` (Video or tensor) → plain contiguous ``float32 [C, T, H, W]``."""

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous().float()
