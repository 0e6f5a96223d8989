"""The MoSI static mask: only a rectangle of the clip moves, the rest is one still frame.

Without it a network can solve MoSI from the borders alone; with it, it must find *where*
things move (Huang et al. 2021, Sec. 3.2). The mask is applied to a finished clip: every
pixel outside the box shows frame ``still_index`` of the clip, pixels inside the box keep
their own frame. Boxes are integer pixel rectangles ``[x1, y1, x2, y2)`` (end exclusive) in
the clip's frame coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidstruct.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class MaskBox:
    """Pixel rectangle ``[x1, x2) × [y1, y2)`` of the moving region."""

    x1: int
    y1: int
    x2: int
    y2: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x1, self.y1, self.x2, self.y2)

    def as_mask(self, height: int, width: int) -> torch.Tensor:
        """bool ``[H, W]``: True inside the box."""
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[self.y1 : self.y2, self.x1 : self.x2] = True
        return mask


def check_ratio(ratio: tuple[float, float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` fraction range with ``0 < low <= high <= 1``."""
    lo, hi = (float(r) for r in ratio)
    if not 0 < lo <= hi <= 1:
        raise ConfigError(f"mosi mask_ratio must be (low, high) with 0 < low <= high <= 1, got {tuple(ratio)}")
    return lo, hi


def sample_mask_box(
    height: int,
    width: int,
    ratio: tuple[float, float] = (0.3, 0.5),
    *,
    generator: torch.Generator | None = None,
    centred: bool = False,
) -> MaskBox:
    """A box whose width and height are independent random fractions in ``ratio`` of the frame's.

    ``centred=True`` (evaluation): both fractions are the middle of ``ratio`` and the box is
    centred, so no random number is drawn. Otherwise the position is uniform over the frame.
    """
    lo, hi = check_ratio(ratio)
    if centred:
        fx = fy = (lo + hi) / 2
    else:
        fx, fy = (lo + (hi - lo) * torch.rand(2, generator=generator)).tolist()
    bw = min(width, max(1, round(fx * width)))
    bh = min(height, max(1, round(fy * height)))
    if centred:
        x1, y1 = (width - bw) // 2, (height - bh) // 2
    else:
        x1 = int(torch.randint(0, width - bw + 1, (), generator=generator))
        y1 = int(torch.randint(0, height - bh + 1, (), generator=generator))
    return MaskBox(x1, y1, x1 + bw, y1 + bh)


def apply_static_mask(clip: torch.Tensor, box: MaskBox, still_index: int) -> torch.Tensor:
    """Clip ``[C, T, H, W]`` whose pixels outside ``box`` all show frame ``still_index`` (a new tensor)."""
    if clip.dim() != 4:
        raise ShapeError(f"apply_static_mask expects a clip [C, T, H, W], got shape {tuple(clip.shape)}")
    t = clip.shape[1]
    if not 0 <= still_index < t:
        raise ValueError(f"still_index {still_index} outside the clip's {t} frames")
    out = clip[:, still_index : still_index + 1].expand_as(clip).clone()
    out[:, :, box.y1 : box.y2, box.x1 : box.x2] = clip[:, :, box.y1 : box.y2, box.x1 : box.x2]
    return out
