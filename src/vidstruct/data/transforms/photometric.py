"""Photometric and regularizing augmentations: color jitter, RandAugment, random erasing.

Inputs are ``[T, C, H, W]`` videos (``tv_tensors.Video``). One torchvision v2
call on a whole video draws its random parameters once, so RandAugment,
clip-level color jitter and random erasing apply the *same* operation to every
frame of the clip (temporally consistent); ``ColorJitter(per_frame=True)``
draws new parameters for each frame instead.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vidstruct.data.transforms.base import FrameTransform
from vidstruct.errors import ConfigError

__all__ = ["ColorJitter", "RandAugment", "RandomErasing"]


class ColorJitter(FrameTransform):
    """Random brightness / contrast / saturation / hue, applied with probability ``p``.

    Strengths follow torchvision (factor drawn in ``[max(0, 1 - s), 1 + s]``;
    hue shift in ``[-hue, hue]``, ``hue <= 0.5``). ``per_frame=False``: one draw
    per clip; ``True``: an independent draw per frame.
    """

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.0,
        p: float = 1.0,
        per_frame: bool = False,
    ) -> None:
        if min(brightness, contrast, saturation, hue) < 0 or hue > 0.5 or not 0 <= p <= 1:
            raise ConfigError(
                "color jitter strengths must be >= 0 (hue <= 0.5) and p in [0, 1], got "
                f"brightness={brightness} contrast={contrast} saturation={saturation} hue={hue} p={p}"
            )
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.p = p
        self.per_frame = per_frame
        self._op = v2.ColorJitter(brightness, contrast, saturation, hue)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        if self.per_frame:
            out = torch.stack([self._jitter(f.as_subclass(torch.Tensor)) for f in frames])
            return tv_tensors.Video(out) if isinstance(frames, tv_tensors.Video) else out
        return self._jitter(frames)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        if self.p < 1 and torch.rand(()).item() >= self.p:
            return x
        return self._op(x)


class RandAugment(FrameTransform):
    """torchvision's RandAugment (``num_ops`` ops of strength ``magnitude`` / 31), same ops for all frames.

    Apply it to ``uint8`` frames, before :class:`~vidstruct.data.transforms.base.Normalize`.
    """

    def __init__(self, num_ops: int = 2, magnitude: int = 9) -> None:
        if num_ops < 0 or not 0 <= magnitude < 31:
            raise ConfigError(f"randaugment needs num_ops >= 0 and 0 <= magnitude < 31, got {num_ops}, {magnitude}")
        self.num_ops, self.magnitude = num_ops, magnitude
        self._op = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return self._op(frames)


class RandomErasing(FrameTransform):
    """With probability ``p`` set one random rectangle to ``value`` in every frame (same rectangle).

    Apply it after normalization: ``value=0`` is then the dataset mean colour.
    ``scale`` is the erased area fraction range, ``ratio`` its aspect range.
    """

    def __init__(
        self,
        p: float = 0.25,
        scale: tuple[float, float] = (0.02, 1 / 3),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: float = 0.0,
    ) -> None:
        if not 0 <= p <= 1:
            raise ConfigError(f"random erasing probability must be in [0, 1], got {p!r}")
        self.p, self.scale, self.ratio, self.value = p, scale, ratio, value
        self._op = v2.RandomErasing(p=p, scale=scale, ratio=ratio, value=value)

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        return self._op(frames)
