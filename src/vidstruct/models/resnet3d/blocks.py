"""Residual blocks and the convolutions that tell the ResNet3D variants apart.

Every block maps ``[B, D_in, T, H, W] → [B, D_out, T / st, H / s, W / s]`` and adds a
shortcut (identity, or ``1×1×1`` conv + BN when the shape changes) before the final ReLU.

The middle convolution ``conv_b`` of a :class:`Bottleneck` is what makes the variants:

==========  ===========================================================  ==================
kind        conv_b                                                       used by
==========  ===========================================================  ==================
``3d``      dense ``(kt_b, 3, 3)`` conv                                   Slow, I3D, SlowFast
``2plus1d`` ``(3, 1, 1)`` conv → BN → ReLU → ``(1, 3, 3)`` conv           R(2+1)D-50
``ir``      depthwise ``(3, 3, 3)`` conv (interaction-reduced CSN)         ir-CSN
``ip``      ``1×1×1`` conv → BN → depthwise ``(3, 3, 3)`` (interaction-    ip-CSN
            preserved CSN)
``dw``      depthwise ``(3, 3, 3)`` conv, with squeeze-excitation and       X3D
            SiLU (swish) after it when the config asks
==========  ===========================================================  ==================

The temporal extent of ``conv_a`` (``kt_a``, a ``(kt_a, 1, 1)`` kernel) is a per-block
choice (Slow / I3D / SlowFast inflate some ``conv_a`` to 3 frames).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vidstruct.models.resnet3d.conv import TemporalConv3d

ConvKind = Literal["3d", "2plus1d", "ir", "ip", "dw"]
Triple = tuple[int, int, int]


class ConvBNAct(nn.Module):
    """``Conv3d (no bias) → BN → [ReLU]``; used by SlowFast lateral fusions and the X3D ``conv5``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Triple = (1, 1, 1),
        *,
        stride: Triple = (1, 1, 1),
        act: bool = True,
    ) -> None:
        super().__init__()
        padding = tuple(k // 2 for k in kernel_size)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class Conv2Plus1d(nn.Module):
    """A ``(t, k, k)`` conv factorized into a spatial ``(1, k, k)`` and a temporal ``(t, 1, 1)`` conv.

    ``spatial_first=True`` is the R(2+1)D paper / torchvision order (``conv_s → BN → ReLU →
    conv_t``, the strides split the same way); ``False`` is PyTorchVideo's R(2+1)D-50 order
    (``conv_t → BN → ReLU → conv_s``). ``mid_channels`` is the width between the two convs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        *,
        kernel_size: Triple = (3, 3, 3),
        stride: Triple = (1, 1, 1),
        spatial_first: bool = True,
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        st, sh, sw = stride
        s_in, s_out = (in_channels, mid_channels) if spatial_first else (mid_channels, out_channels)
        t_in, t_out = (mid_channels, out_channels) if spatial_first else (in_channels, mid_channels)
        self.spatial_first = spatial_first
        self.conv_s = nn.Conv3d(s_in, s_out, (1, kh, kw), stride=(1, sh, sw), padding=(0, kh // 2, kw // 2), bias=False)
        self.bn = nn.BatchNorm3d(mid_channels)
        self.act = nn.ReLU(inplace=True)
        self.conv_t = TemporalConv3d(t_in, t_out, (kt, 1, 1), stride=(st, 1, 1), padding=(kt // 2, 0, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial_first:
            return self.conv_t(self.act(self.bn(self.conv_s(x))))
        return self.conv_s(self.act(self.bn(self.conv_t(x))))


def r2plus1d_mid_channels(in_channels: int, out_channels: int, kt: int = 3, k: int = 3) -> int:
    """Width between the two convs of a (2+1)D conv that has the parameters of a dense ``(kt, k, k)`` one.

    ``M = kt·k²·N_in·N_out / (k²·N_in + kt·N_out)`` (R(2+1)D paper, eq. in §3.5; torchvision's rounding).
    """
    return (in_channels * out_channels * kt * k * k) // (in_channels * k * k + kt * out_channels)


class ChannelSeparatedConv(nn.Module):
    """Interaction-preserved CSN conv: ``1×1×1`` conv → BN → depthwise ``(3, 3, 3)`` conv."""

    def __init__(self, channels: int, *, stride: Triple = (1, 1, 1)) -> None:
        super().__init__()
        self.conv_pw = nn.Conv3d(channels, channels, 1, bias=False)
        self.bn_pw = nn.BatchNorm3d(channels)
        self.conv_dw = nn.Conv3d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_dw(self.bn_pw(self.conv_pw(x)))


class SqueezeExcite(nn.Module):
    """Channel attention: ``x · sigmoid(fc2(ReLU(fc1(mean_THW(x)))))`` with ``1×1×1`` convs as the FCs."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3, 4), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(w))))


class Shortcut(nn.Module):
    """Projection shortcut: ``1×1×1`` conv with the block's stride → [BN]."""

    def __init__(self, in_channels: int, out_channels: int, stride: Triple, *, bn: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm3d(out_channels) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.bn(x) if self.bn is not None else x


def _shortcut(in_channels: int, out_channels: int, stride: Triple, *, bn_when_strided: bool = True) -> Shortcut | None:
    """Identity (``None``) when shapes match, else a projection; ``bn_when_strided=False`` is X3D's rule
    (a shortcut that only strides, with equal widths, has no BN)."""
    if in_channels == out_channels and stride == (1, 1, 1):
        return None
    return Shortcut(in_channels, out_channels, stride, bn=bn_when_strided or in_channels != out_channels)


def make_conv_b(kind: ConvKind, channels: int, *, stride: Triple, temporal_kernel: int = 1) -> nn.Module:
    """The middle conv of a bottleneck (see the module table); ``channels`` in and out."""
    if kind == "3d":
        kt = temporal_kernel
        return TemporalConv3d(channels, channels, (kt, 3, 3), stride=stride, padding=(kt // 2, 1, 1), bias=False)
    if kind == "2plus1d":
        return Conv2Plus1d(channels, channels, channels, stride=stride, spatial_first=False)
    if kind in ("ir", "dw"):
        return TemporalConv3d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)
    if kind == "ip":
        return ChannelSeparatedConv(channels, stride=stride)
    raise ValueError(f"unknown conv_b kind {kind!r}; expected one of 3d, 2plus1d, ir, ip, dw")


class Bottleneck(nn.Module):
    """``conv_a (kt_a,1,1) → BN → ReLU → conv_b → BN → [SE] → act_b → conv_c 1×1×1 → BN`` + shortcut → ReLU.

    ``act_b`` is ReLU, or SiLU (swish) for X3D. The block's stride sits on ``conv_b`` (and the shortcut).
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        *,
        conv_b: ConvKind = "3d",
        stride: Triple = (1, 1, 1),
        temporal_kernel_a: int = 1,
        temporal_kernel_b: int = 1,
        se_channels: int = 0,
        swish: bool = False,
        shortcut_bn_when_strided: bool = True,
    ) -> None:
        super().__init__()
        kt = temporal_kernel_a
        self.conv_a = TemporalConv3d(in_channels, inner_channels, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn_a = nn.BatchNorm3d(inner_channels)
        self.conv_b = make_conv_b(conv_b, inner_channels, stride=stride, temporal_kernel=temporal_kernel_b)
        self.bn_b = nn.BatchNorm3d(inner_channels)
        self.se = SqueezeExcite(inner_channels, se_channels) if se_channels > 0 else None
        self.act_b = nn.SiLU(inplace=True) if swish else nn.ReLU(inplace=True)
        self.conv_c = nn.Conv3d(inner_channels, out_channels, 1, bias=False)
        self.bn_c = nn.BatchNorm3d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride, bn_when_strided=shortcut_bn_when_strided)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn_a(self.conv_a(x)))
        out = self.bn_b(self.conv_b(out))
        if self.se is not None:
            out = self.se(out)
        out = self.bn_c(self.conv_c(self.act_b(out)))
        out += x if self.shortcut is None else self.shortcut(x)  # in place: BN does not keep its output
        return self.act(out)

    @property
    def last_bn(self) -> nn.BatchNorm3d:
        return self.bn_c


class BasicBlock(nn.Module):
    """Two (2+1)D ``(3, 3, 3)`` convs (R(2+1)D-18/34, torchvision layout): ``conv_a → BN → ReLU → conv_b → BN``.

    The stride sits on ``conv_a``. As in torchvision, both convs use the intermediate width
    computed from the block's input and output widths.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: Triple = (1, 1, 1)) -> None:
        super().__init__()
        mid = r2plus1d_mid_channels(in_channels, out_channels)
        self.conv_a = Conv2Plus1d(in_channels, out_channels, mid, stride=stride)
        self.bn_a = nn.BatchNorm3d(out_channels)
        self.conv_b = Conv2Plus1d(out_channels, out_channels, mid)
        self.bn_b = nn.BatchNorm3d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn_a(self.conv_a(x)))
        out = self.bn_b(self.conv_b(out))
        out += x if self.shortcut is None else self.shortcut(x)  # in place: BN does not keep its output
        return self.act(out)

    @property
    def last_bn(self) -> nn.BatchNorm3d:
        return self.bn_b
