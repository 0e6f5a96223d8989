"""X3D (Feichtenhofer, CVPR 2020): XS, S, M, L and a tiny CPU variant, hosted by :class:`ResNet3D`.

X3D-XS/S/M share one architecture (3.79M parameters with 400 classes) and differ only in
their input; X3D-L is deeper (6.15M). Layers: ``X3DStem`` (24 ch) → 4 stages of bottlenecks
with a depthwise ``3×3×3`` conv, squeeze-excitation on every other block and swish →
``conv5`` (``1×1×1``, 432 ch, = :meth:`forward_feature_maps`) → global average pool →
2048-d projection (linear + ReLU, = :meth:`forward_features`) → dropout → linear.

Default inputs follow PyTorchVideo's model zoo (frames × interval at 30 fps):
XS 4×12, 182 crop (short side 182); S 13×6, 182 (182); M 16×5, 224 (256); L 16×5, 312 (356).
Names and weights match PyTorchVideo's hub models (see :mod:`vidstruct.models.convert.pytorchvideo`).
"""

from __future__ import annotations

import math

from vidstruct.models.resnet3d.config import ResNet3DConfig, StageConfig, StemConfig
from vidstruct.models.resnet3d.frame_input import InputMode
from vidstruct.models.resnet3d.model import ResNet3D
from vidstruct.models.spec import InputSpec
from vidstruct.registry import MODELS

BASE_DEPTHS = (1, 2, 5, 3)


def round_width(width: float, multiplier: float, *, divisor: int = 8, min_width: int = 8) -> int:
    """``width·multiplier`` rounded to a multiple of ``divisor`` (never below 90 % of the exact value)."""
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def x3d_config(
    *,
    width_factor: float = 2.0,
    depth_factor: float = 2.2,
    bottleneck_factor: float = 2.25,
    base_width: int = 12,
    head_width: int = 2048,
    se_ratio: float = 0.0625,
) -> ResNet3DConfig:
    """X3D expansion: stage widths ``round(base·2^i·γ_w)``, depths ``ceil(γ_d·(1, 2, 5, 3))``, inner ``γ_b×``."""
    stem_width = round_width(base_width, width_factor)
    stages = []
    stage_base = base_width
    for i, d in enumerate(BASE_DEPTHS):
        if i > 0:
            stage_base = round_width(stage_base, 2.0)
        width = round_width(stage_base, width_factor)
        stages.append(
            StageConfig(
                depth=int(math.ceil(depth_factor * d)),
                width=width,
                inner=int(bottleneck_factor * width),
                spatial_stride=2,
                temporal_stride=1,
            )
        )
    return ResNet3DConfig(
        stem=StemConfig(kind="x3d", width=stem_width, temporal_kernel=5),
        stages=tuple(stages),
        conv_b="dw",
        se_ratio=se_ratio,
        swish=True,
        conv5_width=stages[-1].inner,
        projection_width=head_width,
        shortcut_bn_when_strided=False,
    )


def _x3d(
    cfg: ResNet3DConfig, spec: InputSpec, num_classes: int, dropout: float, input_mode: InputMode = "rgb"
) -> ResNet3D:
    return ResNet3D(cfg, num_classes=num_classes, dropout=dropout, input_spec=spec, input_mode=input_mode)


def _spec(frames: int, interval: int, crop: int, short: int) -> InputSpec:
    return InputSpec(num_frames=frames, frame_interval=interval, crop_size=crop, short_side=short)


@MODELS.register("x3d_xs")
def x3d_xs(
    *, num_classes: int = 400, dropout: float = 0.5, width_factor: float = 2.0, depth_factor: float = 2.2
) -> ResNet3D:
    """X3D-XS: 4×12, 182 crop; 3.79M parameters."""
    cfg = x3d_config(width_factor=width_factor, depth_factor=depth_factor)
    return _x3d(cfg, _spec(4, 12, 182, 182), num_classes, dropout)


@MODELS.register("x3d_s")
def x3d_s(
    *, num_classes: int = 400, dropout: float = 0.5, width_factor: float = 2.0, depth_factor: float = 2.2
) -> ResNet3D:
    """X3D-S: 13×6, 182 crop; 3.79M parameters."""
    cfg = x3d_config(width_factor=width_factor, depth_factor=depth_factor)
    return _x3d(cfg, _spec(13, 6, 182, 182), num_classes, dropout)


@MODELS.register("x3d_m")
def x3d_m(
    *, num_classes: int = 400, dropout: float = 0.5, width_factor: float = 2.0, depth_factor: float = 2.2
) -> ResNet3D:
    """X3D-M: 16×5, 224 crop; 3.79M parameters."""
    cfg = x3d_config(width_factor=width_factor, depth_factor=depth_factor)
    return _x3d(cfg, _spec(16, 5, 224, 256), num_classes, dropout)


@MODELS.register("x3d_l")
def x3d_l(
    *, num_classes: int = 400, dropout: float = 0.5, width_factor: float = 2.0, depth_factor: float = 5.0
) -> ResNet3D:
    """X3D-L: 16×5, 312 crop; 6.15M parameters."""
    cfg = x3d_config(width_factor=width_factor, depth_factor=depth_factor)
    return _x3d(cfg, _spec(16, 5, 312, 356), num_classes, dropout)


@MODELS.register("x3d_tiny")
def x3d_tiny(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    width_factor: float = 1.0,
    depth_factor: float = 1.0,
    head_width: int = 256,
    input_mode: InputMode = "rgb",
) -> ResNet3D:
    """A small X3D for CPU training (depths 1-2-5-3, half X3D-M's width, 256-d head); 8×4, 112 crop.

    ``input_mode``: ``"rgb"``, ``"diff"`` or ``"rgb_diff"`` (see :mod:`vidstruct.models.resnet3d.frame_input`).
    """
    cfg = x3d_config(width_factor=width_factor, depth_factor=depth_factor, head_width=head_width)
    return _x3d(cfg, _spec(8, 4, 112, 128), num_classes, dropout, input_mode)
