"""Architecture configuration of a ResNet3D: one dataclass describes Slow, I3D, CSN, R(2+1)D, X3D.

A :class:`ResNet3DConfig` is plain data (no modules); :mod:`.stages` and :mod:`.model` turn it
into layers. SlowFast is two configs (slow and fast pathway) plus lateral-fusion settings
(:class:`vidstruct.models.resnet3d.slowfast.SlowFast`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidstruct.models.resnet3d.blocks import ConvKind

StemKind = Literal["basic", "r2plus1d", "x3d"]
BlockKind = Literal["bottleneck", "basic"]


@dataclass(frozen=True)
class StemConfig:
    """The stem (see :mod:`.stem`): ``kind``, output ``width``, temporal kernel, max pool, (2+1)D width."""

    kind: StemKind = "basic"
    width: int = 64
    temporal_kernel: int = 1
    pool: bool = True
    mid_width: int = 0  # R2Plus1DStem only


@dataclass(frozen=True)
class StageConfig:
    """One stage ("res2" … "res5") of residual blocks.

    - ``depth``: number of blocks; ``width``: output channels; ``inner``: bottleneck width;
    - ``spatial_stride`` / ``temporal_stride``: stride of the first block;
    - ``temporal_kernels_a``: temporal kernel of each block's ``conv_a``, cycled over the blocks
      (e.g. I3D's ``(3, 1)`` alternates inflated and 2D blocks);
    - ``temporal_pool``: a ``(p, 1, 1)`` max pool after the stage when > 1 (I3D after res2).
    """

    depth: int
    width: int
    inner: int
    spatial_stride: int = 2
    temporal_stride: int = 1
    temporal_kernels_a: tuple[int, ...] = (1,)
    temporal_pool: int = 1


@dataclass(frozen=True)
class ResNet3DConfig:
    """A single-pathway 3D ResNet.

    - ``block``: ``bottleneck`` (``conv_b`` chosen by ``conv_b``) or ``basic`` ((2+1)D, R18/R34);
    - ``temporal_kernel_b``: temporal kernel of a ``3d`` ``conv_b``;
    - ``se_ratio``: X3D squeeze-excitation width (fraction of the inner width, on every other
      block starting with the first; 0 = none); ``swish``: SiLU after ``conv_b``;
    - ``conv5_width``: a ``1×1×1`` conv+BN+ReLU on the last stage (X3D ``conv5``; 0 = none);
    - ``projection_width``: a linear+ReLU on the pooled features (X3D's 2048-d projection; 0 = none);
    - ``shortcut_bn_when_strided``: ``False`` drops the BN of a projection shortcut that only strides
      (equal widths), as X3D does.
    """

    stem: StemConfig
    stages: tuple[StageConfig, ...]
    block: BlockKind = "bottleneck"
    conv_b: ConvKind = "3d"
    temporal_kernel_b: int = 1
    se_ratio: float = 0.0
    swish: bool = False
    conv5_width: int = 0
    projection_width: int = 0
    shortcut_bn_when_strided: bool = True

    @property
    def feature_map_dim(self) -> int:
        """Channels of :meth:`ResNet3D.forward_feature_maps`."""
        return self.conv5_width or self.stages[-1].width

    @property
    def feature_dim(self) -> int:
        """Channels of the pooled features."""
        return self.projection_width or self.feature_map_dim


def bottleneck_stages(
    depths: tuple[int, ...] | list[int],
    width: int,
    *,
    spatial_strides: tuple[int, ...] = (1, 2, 2, 2),
    temporal_strides: tuple[int, ...] = (1, 1, 1, 1),
    temporal_kernels_a: tuple[tuple[int, ...], ...] = ((1,), (1,), (1,), (1,)),
    expansion: int = 4,
) -> tuple[StageConfig, ...]:
    """Standard ResNet widths: stage ``i`` has inner width ``width·2^i`` and output ``expansion×`` that."""
    return tuple(
        StageConfig(
            depth=d,
            width=width * 2**i * expansion,
            inner=width * 2**i,
            spatial_stride=spatial_strides[i],
            temporal_stride=temporal_strides[i],
            temporal_kernels_a=temporal_kernels_a[i],
        )
        for i, d in enumerate(depths)
    )
