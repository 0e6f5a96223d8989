"""Build stems and stages from a :class:`~vidstruct.models.resnet3d.config.ResNet3DConfig`.

A stage is an ``nn.Sequential`` of residual blocks (optionally ending in a temporal max pool),
mapping ``[B, D_in, T, H, W] → [B, width, T / st, H / s, W / s]``.
"""

from __future__ import annotations

from torch import nn

from vidstruct.models.resnet3d.blocks import BasicBlock, Bottleneck
from vidstruct.models.resnet3d.config import ResNet3DConfig, StageConfig, StemConfig
from vidstruct.models.resnet3d.stem import BasicStem, R2Plus1DStem, X3DStem


def build_stem(cfg: StemConfig, in_channels: int = 3) -> nn.Module:
    """The stem module of ``cfg`` (``[B, in_channels, T, H, W] → [B, cfg.width, T, H/2 or H/4, …]``)."""
    if cfg.kind == "basic":
        return BasicStem(in_channels, cfg.width, temporal_kernel=cfg.temporal_kernel, pool=cfg.pool)
    if cfg.kind == "r2plus1d":
        return R2Plus1DStem(in_channels, cfg.width, mid_channels=cfg.mid_width or (45 * cfg.width) // 64)
    if cfg.kind == "x3d":
        return X3DStem(in_channels, cfg.width, temporal_kernel=cfg.temporal_kernel)
    raise ValueError(f"unknown stem kind {cfg.kind!r}; expected basic, r2plus1d or x3d")


def se_width(channels: int, ratio: float, divisor: int = 8) -> int:
    """Squeeze-excitation width: ``channels·ratio`` rounded to a multiple of ``divisor`` (≥ 8).

    Same rounding as X3D / PyTorchVideo's ``round_width``.
    """
    width = channels * ratio
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def build_stage(cfg: ResNet3DConfig, stage: StageConfig, in_channels: int) -> nn.Sequential:
    """The blocks of one stage; the first block takes ``in_channels`` and carries the stride."""
    blocks: list[nn.Module] = []
    for i in range(stage.depth):
        stride = (stage.temporal_stride, stage.spatial_stride, stage.spatial_stride) if i == 0 else (1, 1, 1)
        dim_in = in_channels if i == 0 else stage.width
        if cfg.block == "basic":
            blocks.append(BasicBlock(dim_in, stage.width, stride=stride))
            continue
        use_se = cfg.se_ratio > 0 and i % 2 == 0
        blocks.append(
            Bottleneck(
                dim_in,
                stage.inner,
                stage.width,
                conv_b=cfg.conv_b,
                stride=stride,
                temporal_kernel_a=stage.temporal_kernels_a[i % len(stage.temporal_kernels_a)],
                temporal_kernel_b=cfg.temporal_kernel_b,
                se_channels=se_width(stage.inner, cfg.se_ratio) if use_se else 0,
                swish=cfg.swish,
                shortcut_bn_when_strided=cfg.shortcut_bn_when_strided,
            )
        )
    if stage.temporal_pool > 1:
        p = stage.temporal_pool
        blocks.append(nn.MaxPool3d((p, 1, 1), stride=(p, 1, 1)))
    return nn.Sequential(*blocks)


def build_stages(cfg: ResNet3DConfig, in_channels: int) -> nn.Sequential:
    """All stages of ``cfg`` chained, the first taking ``in_channels`` (the stem width)."""
    stages = []
    for stage in cfg.stages:
        stages.append(build_stage(cfg, stage, in_channels))
        in_channels = stage.width
    return nn.Sequential(*stages)
