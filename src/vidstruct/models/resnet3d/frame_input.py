"""What the stem of a 3D CNN sees: the RGB clip, its temporal differences, or both.

Clips stay RGB at the model's boundary (``[B, 3, T, H, W]``, normalized), so data loading, ``predict``,
``test``, feature extraction and export are unchanged; the model derives the differences itself:

- ``"rgb"``: the clip as is;
- ``"diff"``: ``d_t = x_t - x_{t-1}`` for ``t ≥ 1`` and ``d_0 = 0`` (the first frame has no predecessor), so
  ``[B, 3, T, H, W]`` again. Whatever stands still cancels, what moves remains: TSN's "RGB difference"
  modality (Wang et al., ECCV 2016). On motion-defined classes it removes the long plateau at chance that a
  randomly initialized RGB network spends finding motion among textured backgrounds (README, "Learning
  evidence");
- ``"rgb_diff"``: RGB and differences stacked along channels, ``[B, 6, T, H, W]`` into a 6-channel stem.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

InputMode = Literal["rgb", "diff", "rgb_diff"]
INPUT_MODES: tuple[str, ...] = ("rgb", "diff", "rgb_diff")


def frame_differences(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W] → [B, C, T, H, W]``: ``out[:, :, t] = x[:, :, t] - x[:, :, t - 1]``, ``out[:, :, 0] = 0``."""
    return torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2)


class FrameInput(nn.Module):
    """The input transform of :data:`INPUT_MODES` (no parameters; see the module doc)."""

    def __init__(self, mode: str = "rgb") -> None:
        super().__init__()
        if mode not in INPUT_MODES:
            raise ValueError(f"input_mode: expected one of {', '.join(INPUT_MODES)}, got {mode!r}")
        self.mode = mode

    def channel_factor(self) -> int:
        """Stem input channels per clip channel (2 for ``"rgb_diff"``, else 1)."""
        return 2 if self.mode == "rgb_diff" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "rgb":
            return x
        d = frame_differences(x)
        return d if self.mode == "diff" else torch.cat([x, d], dim=1)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
