"""Stems: the first convolution(s) of a 3D ResNet, ``[B, C, T, H, W] → [B, D, T, H/4 or H/2, W/…]``.

- :class:`BasicStem`: ``(kt, 7, 7)`` conv with spatial stride 2, BN, ReLU and an optional
  ``(1, 3, 3)`` max pool with spatial stride 2 (Slow, I3D, SlowFast, CSN, R(2+1)D-50);
- :class:`R2Plus1DStem`: the factorized ``(1, 7, 7)`` then ``(3, 1, 1)`` stem of R(2+1)D-18/34
  (torchvision's ``R2Plus1dStem``);
- :class:`X3DStem`: a ``(1, 3, 3)`` conv followed by a depthwise ``(5, 1, 1)`` conv (X3D).

None of the stems stride in time.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.models.resnet3d.conv import TemporalConv3d


class BasicStem(nn.Module):
    """``Conv3d (kt, 7, 7) stride (1, 2, 2) → BN → ReLU → [MaxPool (1, 3, 3) stride (1, 2, 2)]``."""

    def __init__(self, in_channels: int, out_channels: int, *, temporal_kernel: int = 1, pool: bool = True) -> None:
        super().__init__()
        self.conv = TemporalConv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
        )
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        return self.pool(x) if self.pool is not None else x


class R2Plus1DStem(nn.Module):
    """``Conv (1, 7, 7) stride (1, 2, 2) → BN → ReLU → Conv (3, 1, 1) → BN → ReLU`` (no pooling)."""

    def __init__(self, in_channels: int, out_channels: int, *, mid_channels: int) -> None:
        super().__init__()
        self.conv_s = nn.Conv3d(in_channels, mid_channels, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.bn_s = nn.BatchNorm3d(mid_channels)
        self.conv_t = TemporalConv3d(mid_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn_s(self.conv_s(x)))
        return self.act(self.bn(self.conv_t(x)))


class X3DStem(nn.Module):
    """``Conv (1, 3, 3) stride (1, 2, 2) → depthwise Conv (kt, 1, 1) → BN → ReLU``."""

    def __init__(self, in_channels: int, out_channels: int, *, temporal_kernel: int = 5) -> None:
        super().__init__()
        self.conv_s = nn.Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
        self.conv_t = TemporalConv3d(
            out_channels,
            out_channels,
            (temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            groups=out_channels,
            bias=False,
        )
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv_t(self.conv_s(x))))
