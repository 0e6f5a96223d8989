"""TAda2D: temporally-adaptive convolutions (Huang et al., "TAda! Temporally-Adaptive Convolutions for
Video Understanding", ICLR 2022).

:class:`TAdaConv2d` is a 2D convolution applied to every frame of a clip
``[B, C, T, H, W]`` whose weights are calibrated per frame:
``W_t = α_t ⊙ W_b`` with ``α_t [C_in]`` (``cal_dim="cin"``, the paper's choice)
generated from temporal context by :class:`TemporalCalibration`
(``α = 1 + F(x)``: frame descriptors by global average pooling over space, a
global descriptor over the whole clip added through a 1x1 conv, then a
kernel-3 temporal conv → BN → ReLU → kernel-3 temporal conv, the last one
zero-initialized so that ``α = 1`` at the start).

Because ``α_t`` scales input channels, ``(α_t ⊙ W) * x_t = W * (α_t ⊙ x_t)``
exactly (zero padding stays zero), so the op scales the input and runs one
ordinary ``conv2d`` over all ``B·T`` frames: no per-frame weight tensors.

:class:`TAdaBottleneck` is the ResNet bottleneck with TAdaConv in its 3x3 conv
and the paper's temporal feature aggregation ``BN(x) + BN'(avgpool_t(x))``
(``avgpool`` over 3 frames, ``BN'`` zero-initialized). ``tada2d_r50`` is
ResNet-50 built from these blocks (8 x 224² input); ``tada2d_tiny`` is a small
variant for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from vidstruct.models.base import VideoModel, check_clip
from vidstruct.models.spec import InputSpec
from vidstruct.registry import MODELS


class TemporalCalibration(nn.Module):
    """Calibration factors ``α = 1 + F(x)``: clip ``[B, C, T, H, W]`` → ``[B, C, T, 1, 1]``.

    (The paper's / official code's ``RouteFuncMLP``; parameter names follow it:
    ``g`` global 1x1 conv, ``a`` temporal conv with reduction, ``bn``, ``b``
    zero-initialized temporal conv.)
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 4,
        kernels: Sequence[int] = (3, 3),
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        k0, k1 = kernels
        self.g = nn.Conv3d(channels, channels, kernel_size=1)
        self.a = nn.Conv3d(channels, hidden, kernel_size=(k0, 1, 1), padding=(k0 // 2, 0, 0))
        self.bn = nn.BatchNorm3d(hidden, eps=bn_eps, momentum=bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        self.b = nn.Conv3d(hidden, channels, kernel_size=(k1, 1, 1), padding=(k1 // 2, 0, 0), bias=False)
        nn.init.zeros_(self.b.weight)  # α = 1 at initialization

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.mean(dim=(3, 4), keepdim=True)  # [B, C, T, 1, 1]
        clip = x.mean(dim=(2, 3, 4), keepdim=True)  # [B, C, 1, 1, 1]
        y = self.relu(self.bn(self.a(frames + self.g(clip))))
        return self.b(y) + 1


class TAdaConv2d(nn.Module):
    """Temporally adaptive 2D convolution on clips ``[B, C_in, T, H, W]`` → ``[B, C_out, T, H', W']``.

    ``forward(x, alpha)`` takes calibration factors ``alpha`` of shape
    ``[B, C_in, T, 1, 1]`` (``cal_dim="cin"``) or ``[B, C_out, T, 1, 1]``
    (``cal_dim="cout"``); frame ``t`` of sample ``b`` is convolved with
    ``alpha[b, :, t] ⊙ weight`` (scaling the input / output-channel axis of the
    weight). ``weight`` is a plain 2D kernel ``[C_out, C_in / groups, kh, kw]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = False,
        cal_dim: str = "cin",
    ) -> None:
        super().__init__()
        if cal_dim not in ("cin", "cout"):
            raise ValueError(f"cal_dim must be 'cin' or 'cout', got {cal_dim!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.groups, self.cal_dim = groups, cal_dim
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)  # for its default init
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if self.cal_dim == "cin":
            x = x * alpha
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        bias = self.bias if self.cal_dim == "cin" else None
        y = F.conv2d(frames, self.weight, bias, self.stride, self.padding, self.dilation, self.groups)
        y = y.reshape(b, t, self.out_channels, *y.shape[-2:]).transpose(1, 2)
        if self.cal_dim == "cout":
            y = y * alpha
            if self.bias is not None:
                y = y + self.bias.view(1, -1, 1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={tuple(self.weight.shape[-2:])}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, cal_dim={self.cal_dim!r}"
        )


class TAdaBottleneck(nn.Module):
    """ResNet bottleneck ``1x1 → TAdaConv 3x3 (stride) → 1x1`` with avg-pool temporal aggregation, ``[B, C, T, H, W]``.

    The 3x3 conv output ``y`` becomes ``relu(BN(y) + BN_0(avgpool_t(y)))`` (``BN_0`` zero-initialized).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        reduction: int = 4,
        kernels: Sequence[int] = (3, 3),
        pool_kernel: int = 3,
    ) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.a = nn.Conv3d(in_channels, width, kernel_size=1, bias=False)
        self.a_bn = nn.BatchNorm3d(width)
        self.b = TAdaConv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.b_rf = TemporalCalibration(width, reduction=reduction, kernels=kernels)
        self.b_bn = nn.BatchNorm3d(width)
        self.b_avgpool = nn.AvgPool3d((pool_kernel, 1, 1), stride=1, padding=(pool_kernel // 2, 0, 0))
        self.b_avgpool_bn = nn.BatchNorm3d(width)
        nn.init.zeros_(self.b_avgpool_bn.weight)  # the aggregation branch starts switched off
        nn.init.zeros_(self.b_avgpool_bn.bias)
        self.c = nn.Conv3d(width, out_channels, kernel_size=1, bias=False)
        self.c_bn = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.a_bn(self.a(x)))
        y = self.b(y, self.b_rf(y))
        y = self.relu(self.b_bn(y) + self.b_avgpool_bn(self.b_avgpool(y)))
        y = self.c_bn(self.c(y))
        return self.relu(y + self.shortcut(x))


class TAda2D(VideoModel):
    """A 2D ResNet with :class:`TAdaBottleneck` blocks; frames stay separate except through TAdaConv.

    Stem ``1x7x7`` conv (stride 2) + ``1x3x3`` max-pool (stride 2), four stages
    (spatial stride 1, 2, 2, 2, no temporal striding), global average pooling
    over ``T, H, W``, dropout, linear classifier.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        blocks: Sequence[int] = (3, 4, 6, 3),
        stem_width: int = 64,
        widths: Sequence[int] = (64, 128, 256, 512),
        num_frames: int = 8,
        image_size: int = 224,
        dropout: float = 0.5,
        reduction: int = 4,
        kernels: Sequence[int] = (3, 3),
        pool_kernel: int = 3,
    ) -> None:
        super().__init__()
        short_side = max(image_size, round(image_size * 256 / 224))
        self.input_spec = InputSpec(
            num_frames=num_frames, frame_interval=8, crop_size=image_size, short_side=short_side
        )
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_width, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        stages: list[nn.Module] = []
        channels = stem_width
        for i, (n, width) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(
                    TAdaBottleneck(
                        channels, width, stride=stride, reduction=reduction, kernels=kernels, pool_kernel=pool_kernel
                    )
                )
                channels = width * TAdaBottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.feature_dim = channels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, TAdaConv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, TemporalCalibration):
                nn.init.zeros_(m.b.weight)  # α = 1 at initialization
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward_feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Final feature map ``[B, feature_dim, T, H/32, W/32]`` of clips ``[B, 3, T, H, W]``."""
        check_clip(x)
        return self.stages(self.stem(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``[B, feature_dim]``."""
        return self.forward_feature_maps(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of clips ``[B, 3, T, H, W]``."""
        return self.head(self.dropout(self.forward_features(x)))

    def reset_head(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.feature_dim, num_classes).to(self.head.weight.device)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)


@MODELS.register("tada2d_r50")
def tada2d_r50(
    *,
    num_classes: int = 400,
    num_frames: int = 8,
    image_size: int = 224,
    dropout: float = 0.5,
    width: int = 64,
    depths: tuple[int, int, int, int] = (3, 4, 6, 3),
    reduction: int = 4,
    kernels: tuple[int, int] = (3, 3),
    pool_kernel: int = 3,
) -> TAda2D:
    """TAda2D ResNet-50 (TAdaConv in every bottleneck's 3x3 conv), 8 x 224² input; 27.5M parameters.

    ``width`` (stem and first-stage width) and ``depths`` (blocks per stage) shrink it for tests.
    """
    return TAda2D(
        num_classes=num_classes,
        blocks=depths,
        stem_width=width,
        widths=(width, 2 * width, 4 * width, 8 * width),
        num_frames=num_frames,
        image_size=image_size,
        dropout=dropout,
        reduction=reduction,
        kernels=kernels,
        pool_kernel=pool_kernel,
    )


@MODELS.register("tada2d_tiny")
def tada2d_tiny(
    *,
    num_classes: int = 400,
    num_frames: int = 4,
    image_size: int = 64,
    width: int = 8,
    dropout: float = 0.0,
) -> TAda2D:
    """A tiny TAda2D (one bottleneck per stage, base width ``width``) for CPU tests; 4 x 64² input."""
    return TAda2D(
        num_classes=num_classes,
        blocks=(1, 1, 1, 1),
        stem_width=width,
        widths=(width, 2 * width, 4 * width, 8 * width),
        num_frames=num_frames,
        image_size=image_size,
        dropout=dropout,
    )
