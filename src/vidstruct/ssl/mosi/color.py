"""Per-clip colour jitter for MoSI: one random colour change shared by every frame of a clip.

The clip ``[C, T, H, W]`` (or any set of its pixels ``[C, N]``) is viewed as a single image and jittered with
torchvision's functional ops (random brightness / contrast / saturation / hue in a random
order, optional grayscale first, as in the MoSI recipe). Viewing it as one image matters:
torchvision's ``v2.ColorJitter`` on a ``[T, C, H, W]`` video draws its parameters once, but
``adjust_contrast`` blends each frame with *that frame's own* mean grey, so two frames that
differ only inside the moving rectangle get slightly different backgrounds — the static
region would no longer be static. Here the contrast mean is the whole clip's.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

from vidstruct.errors import ConfigError, ShapeError


class ClipColorJitter:
    """Random colour jitter applied identically to all frames of a float clip ``[C, T, H, W]`` in ``[0, 1]``.

    Factors follow torchvision: brightness / contrast / saturation factor uniform in
    ``[max(0, 1 - s), 1 + s]``, hue shift uniform in ``[-hue, hue]`` (``hue <= 0.5``);
    with probability ``grayscale`` the clip is first turned grey (3 equal channels).
    Defaults are the public MoSI recipe (0.5, 0.5, 0.5, 0.25, grayscale 0.3).
    """

    def __init__(
        self,
        brightness: float = 0.5,
        contrast: float = 0.5,
        saturation: float = 0.5,
        hue: float = 0.25,
        grayscale: float = 0.3,
    ) -> None:
        if min(brightness, contrast, saturation, hue, grayscale) < 0 or hue > 0.5 or grayscale > 1:
            raise ConfigError(
                "mosi colour jitter needs strengths >= 0, hue <= 0.5 and grayscale probability in [0, 1], got "
                f"brightness={brightness} contrast={contrast} saturation={saturation} hue={hue} grayscale={grayscale}"
            )
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.grayscale = grayscale

    def __repr__(self) -> str:
        return (
            f"ClipColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue}, grayscale={self.grayscale})"
        )

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Jittered copy of ``clip``: float ``[3, ...]`` (e.g. ``[C, T, H, W]`` or pixels ``[C, N]``) in ``[0, 1]``.

        All pixels form one image, so they share every random factor and the contrast mean.
        """
        if clip.dim() < 2 or clip.shape[0] != 3 or not clip.is_floating_point():
            raise ShapeError(
                f"ClipColorJitter expects a float RGB clip [3, T, H, W], got {clip.dtype} {tuple(clip.shape)}"
            )
        image = clip.reshape(3, 1, -1)
        u = torch.rand(5, generator=generator).tolist()
        order = torch.randperm(4, generator=generator).tolist()
        if u[4] < self.grayscale:
            image = F.rgb_to_grayscale(image, num_output_channels=3)
        for op in order:
            if op == 0 and self.brightness > 0:
                image = F.adjust_brightness(image, _factor(u[0], self.brightness))
            elif op == 1 and self.contrast > 0:
                image = F.adjust_contrast(image, _factor(u[1], self.contrast))
            elif op == 2 and self.saturation > 0:
                image = F.adjust_saturation(image, _factor(u[2], self.saturation))
            elif op == 3 and self.hue > 0:
                image = F.adjust_hue(image, (2 * u[3] - 1) * self.hue)
        return image.reshape(clip.shape)


def _factor(u: float, strength: float) -> float:
    """Uniform ``u`` in [0, 1) mapped to ``[max(0, 1 - strength), 1 + strength]``."""
    lo = max(0.0, 1.0 - strength)
    return lo + u * (1.0 + strength - lo)
