"""Registered ResNet3D-family models: Slow, I3D, SlowFast, CSN, R(2+1)D (names as PyTorchVideo's hub).

Every builder takes keyword-only typed arguments: ``num_classes``, ``dropout`` and architecture
knobs (``width``: stem / base width, ``depths``: blocks per stage) so tests can build small
variants. Defaults reproduce the published architectures (parameter counts equal
PyTorchVideo's models: slow_r50 32.45M, i3d_r50 28.04M, slowfast_r50 34.57M,
slowfast_r101 62.83M, csn_r101 22.21M, r2plus1d_r50 28.11M; r2plus1d_r18 equals torchvision's).

``input_spec`` is the default input of the model as in PyTorchVideo's model zoo
(``T×τ`` = frames × interval at 30 fps, mean/std 0.45/0.225).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from vidstruct.models.resnet3d.config import ResNet3DConfig, StageConfig, StemConfig, bottleneck_stages
from vidstruct.models.resnet3d.frame_input import InputMode
from vidstruct.models.resnet3d.model import ResNet3D
from vidstruct.models.resnet3d.slowfast import SlowFast
from vidstruct.models.spec import InputSpec
from vidstruct.registry import MODELS

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _spec(num_frames: int, interval: int, crop: int = 224, short: int = 256, **extra: object) -> InputSpec:
    return InputSpec(num_frames=num_frames, frame_interval=interval, crop_size=crop, short_side=short, extra=extra)


def _depths(depths: Sequence[int], name: str = "depths") -> tuple[int, ...]:
    depths = tuple(int(d) for d in depths)
    if len(depths) != 4 or min(depths) < 1:
        raise ValueError(f"{name}: expected 4 positive block counts, got {depths}")
    return depths


# --------------------------------------------------------------------------- Slow / I3D


def slow_config(*, width: int = 64, depths: Sequence[int] = DEPTHS[50]) -> ResNet3DConfig:
    """Slow-only: 2D stem, ``conv_a`` inflated to 3 frames in res4 and res5 only."""
    return ResNet3DConfig(
        stem=StemConfig(width=width, temporal_kernel=1),
        stages=bottleneck_stages(_depths(depths), width, temporal_kernels_a=((1,), (1,), (3,), (3,))),
    )


def i3d_config(*, width: int = 64, depths: Sequence[int] = DEPTHS[50]) -> ResNet3DConfig:
    """I3D (PyTorchVideo variant): ``(5, 7, 7)`` stem, alternating inflated ``conv_a``, temporal pool after res2."""
    stages = bottleneck_stages(_depths(depths), width, temporal_kernels_a=((3,), (3, 1), (3, 1), (1, 3)))
    stages = (replace(stages[0], temporal_pool=2), *stages[1:])
    return ResNet3DConfig(stem=StemConfig(width=width, temporal_kernel=5), stages=stages)


@MODELS.register("slow_r50")
def slow_r50(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[50]
) -> ResNet3D:
    """Slow-only R50, 8×8 (8 frames, interval 8), 224 crop; 32.45M parameters."""
    return ResNet3D(
        slow_config(width=width, depths=depths), num_classes=num_classes, dropout=dropout, input_spec=_spec(8, 8)
    )


@MODELS.register("i3d_r50")
def i3d_r50(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[50]
) -> ResNet3D:
    """I3D R50, 8×8, 224 crop; 28.04M parameters. Needs an even number of frames ≥ 2."""
    return ResNet3D(
        i3d_config(width=width, depths=depths), num_classes=num_classes, dropout=dropout, input_spec=_spec(8, 8)
    )


# --------------------------------------------------------------------------- SlowFast


def _slowfast(
    *,
    num_classes: int,
    dropout: float,
    width: int,
    depths: Sequence[int],
    alpha: int,
    beta_inv: int,
    fusion_kernel: int,
    input_spec: InputSpec,
) -> SlowFast:
    depths = _depths(depths)
    if width % beta_inv:
        raise ValueError(f"width {width} must be divisible by beta_inv {beta_inv}")
    slow = ResNet3DConfig(
        stem=StemConfig(width=width, temporal_kernel=1),
        stages=bottleneck_stages(depths, width, temporal_kernels_a=((1,), (1,), (3,), (3,))),
    )
    fast_width = width // beta_inv
    fast = ResNet3DConfig(
        stem=StemConfig(width=fast_width, temporal_kernel=5),
        stages=bottleneck_stages(depths, fast_width, temporal_kernels_a=((3,), (3,), (3,), (3,))),
    )
    return SlowFast(
        slow,
        fast,
        alpha=alpha,
        fusion_kernel=fusion_kernel,
        num_classes=num_classes,
        dropout=dropout,
        input_spec=input_spec,
    )


@MODELS.register("slowfast_r50")
def slowfast_r50(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    width: int = 64,
    depths: Sequence[int] = DEPTHS[50],
    alpha: int = 4,
    beta_inv: int = 8,
    fusion_kernel: int = 7,
) -> SlowFast:
    """SlowFast R50 8×8: input 32 frames at interval 2 (fast), slow = every 4th; 34.57M parameters."""
    return _slowfast(
        num_classes=num_classes,
        dropout=dropout,
        width=width,
        depths=depths,
        alpha=alpha,
        beta_inv=beta_inv,
        fusion_kernel=fusion_kernel,
        input_spec=_spec(32, 2, alpha=alpha),
    )


@MODELS.register("slowfast_r50_4x16")
def slowfast_r50_4x16(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    width: int = 64,
    depths: Sequence[int] = DEPTHS[50],
    alpha: int = 8,
    beta_inv: int = 8,
    fusion_kernel: int = 5,
) -> SlowFast:
    """SlowFast R50 4×16: input 32 frames at interval 2 (fast), slow = every 8th; 34.48M parameters."""
    return _slowfast(
        num_classes=num_classes,
        dropout=dropout,
        width=width,
        depths=depths,
        alpha=alpha,
        beta_inv=beta_inv,
        fusion_kernel=fusion_kernel,
        input_spec=_spec(32, 2, alpha=alpha),
    )


@MODELS.register("slowfast_r101")
def slowfast_r101(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    width: int = 64,
    depths: Sequence[int] = DEPTHS[101],
    alpha: int = 4,
    beta_inv: int = 8,
    fusion_kernel: int = 5,
) -> SlowFast:
    """SlowFast R101 8×8 (PyTorchVideo: lateral kernel 5): 32 frames at interval 2; 62.83M parameters."""
    return _slowfast(
        num_classes=num_classes,
        dropout=dropout,
        width=width,
        depths=depths,
        alpha=alpha,
        beta_inv=beta_inv,
        fusion_kernel=fusion_kernel,
        input_spec=_spec(32, 2, alpha=alpha),
    )


# --------------------------------------------------------------------------- CSN


def csn_config(*, mode: str, width: int = 64, depths: Sequence[int] = DEPTHS[101]) -> ResNet3DConfig:
    """Channel-separated network: ``(3, 7, 7)`` stem + max pool, depthwise ``3×3×3`` ``conv_b`` (``ir`` or ``ip``).

    Temporal and spatial stride 2 in res3, res4, res5 (on ``conv_b``).
    """
    if mode not in ("ir", "ip"):
        raise ValueError(f"CSN mode must be 'ir' or 'ip', got {mode!r}")
    return ResNet3DConfig(
        stem=StemConfig(width=width, temporal_kernel=3, pool=True),
        stages=bottleneck_stages(_depths(depths), width, temporal_strides=(1, 2, 2, 2)),
        conv_b=mode,  # type: ignore[arg-type]
    )


def _csn(mode: str, depth: int, num_classes: int, dropout: float, width: int, depths: Sequence[int] | None) -> ResNet3D:
    cfg = csn_config(mode=mode, width=width, depths=depths or DEPTHS[depth])
    return ResNet3D(cfg, num_classes=num_classes, dropout=dropout, input_spec=_spec(32, 2))


@MODELS.register("csn_r101")
def csn_r101(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[101]
) -> ResNet3D:
    """ir-CSN R101 (PyTorchVideo's ``csn_r101``), 32×2, 224 crop; 22.21M parameters."""
    return _csn("ir", 101, num_classes, dropout, width, depths)


@MODELS.register("ircsn_r50")
def ircsn_r50(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[50]
) -> ResNet3D:
    """Interaction-reduced CSN R50, 32×2, 224 crop."""
    return _csn("ir", 50, num_classes, dropout, width, depths)


@MODELS.register("ircsn_r152")
def ircsn_r152(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[152]
) -> ResNet3D:
    """Interaction-reduced CSN R152 (ir-CSN-152), 32×2, 224 crop."""
    return _csn("ir", 152, num_classes, dropout, width, depths)


@MODELS.register("ipcsn_r50")
def ipcsn_r50(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[50]
) -> ResNet3D:
    """Interaction-preserved CSN R50 (``1×1×1`` conv + BN before each depthwise conv), 32×2."""
    return _csn("ip", 50, num_classes, dropout, width, depths)


@MODELS.register("ipcsn_r101")
def ipcsn_r101(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[101]
) -> ResNet3D:
    """Interaction-preserved CSN R101, 32×2."""
    return _csn("ip", 101, num_classes, dropout, width, depths)


@MODELS.register("ipcsn_r152")
def ipcsn_r152(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[152]
) -> ResNet3D:
    """Interaction-preserved CSN R152, 32×2."""
    return _csn("ip", 152, num_classes, dropout, width, depths)


# --------------------------------------------------------------------------- R(2+1)D


def r2plus1d_basic_config(
    *, widths: Sequence[int] = (64, 128, 256, 512), depths: Sequence[int] = DEPTHS[18], stem_mid_width: int = 0
) -> ResNet3DConfig:
    """R(2+1)D with basic blocks (torchvision's ``r2plus1d_18`` layout): spatiotemporal stride 2 in res3-res5."""
    widths = tuple(int(w) for w in widths)
    if len(widths) != 4:
        raise ValueError(f"widths: expected 4 stage widths, got {widths}")
    stages = tuple(
        StageConfig(depth=d, width=w, inner=w, spatial_stride=s, temporal_stride=s)
        for d, w, s in zip(_depths(depths), widths, (1, 2, 2, 2))
    )
    return ResNet3DConfig(
        stem=StemConfig(kind="r2plus1d", width=widths[0], mid_width=stem_mid_width), stages=stages, block="basic"
    )


@MODELS.register("r2plus1d_r18")
def r2plus1d_r18(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    widths: Sequence[int] = (64, 128, 256, 512),
    depths: Sequence[int] = DEPTHS[18],
) -> ResNet3D:
    """R(2+1)D-18 (same layers as torchvision's ``r2plus1d_18``, 31.5M parameters), 16×4, 112 crop."""
    cfg = r2plus1d_basic_config(widths=widths, depths=depths)
    return ResNet3D(cfg, num_classes=num_classes, dropout=dropout, input_spec=_spec(16, 4, 112, 128))


@MODELS.register("r2plus1d_r34")
def r2plus1d_r34(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    widths: Sequence[int] = (64, 128, 256, 512),
    depths: Sequence[int] = DEPTHS[34],
) -> ResNet3D:
    """R(2+1)D-34 (basic blocks 3-4-6-3), 16×4, 112 crop."""
    cfg = r2plus1d_basic_config(widths=widths, depths=depths)
    return ResNet3D(cfg, num_classes=num_classes, dropout=dropout, input_spec=_spec(16, 4, 112, 128))


@MODELS.register("r2plus1d_tiny")
def r2plus1d_tiny(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    widths: Sequence[int] = (16, 32, 64, 128),
    depths: Sequence[int] = (1, 1, 1, 1),
    pool: Literal["avg", "max"] = "avg",
    input_mode: InputMode = "rgb",
) -> ResNet3D:
    """A narrow R(2+1)D-10 for CPU training (about 0.9M parameters with 400 classes); 8×4, 112 crop.

    Works on 32-112 px clips of 4+ frames (pooling is adaptive). ``pool="max"`` takes the maximum of the final
    feature map instead of its mean: a small moving object then dominates its channels from the first steps.
    ``input_mode="diff"`` feeds the stem the differences of consecutive frames (``"rgb_diff"``: RGB and
    differences, 6 channels); the clip itself stays RGB (see :mod:`.frame_input`).
    """
    cfg = r2plus1d_basic_config(widths=widths, depths=depths)
    return ResNet3D(
        cfg,
        num_classes=num_classes,
        dropout=dropout,
        input_spec=_spec(8, 4, 112, 128),
        pool=pool,
        input_mode=input_mode,
    )


def r2plus1d_bottleneck_config(*, width: int = 64, depths: Sequence[int] = DEPTHS[50]) -> ResNet3DConfig:
    """PyTorchVideo's R(2+1)D-50: 2D stem without pool, bottlenecks with a temporal-first (2+1)D ``conv_b``.

    Spatial stride 2 in every stage, temporal stride 2 in res4 and res5.
    """
    return ResNet3DConfig(
        stem=StemConfig(width=width, temporal_kernel=1, pool=False),
        stages=bottleneck_stages(_depths(depths), width, spatial_strides=(2, 2, 2, 2), temporal_strides=(1, 1, 2, 2)),
        conv_b="2plus1d",
    )


@MODELS.register("r2plus1d_r50")
def r2plus1d_r50(
    *, num_classes: int = 400, dropout: float = 0.5, width: int = 64, depths: Sequence[int] = DEPTHS[50]
) -> ResNet3D:
    """R(2+1)D-50 as PyTorchVideo's ``r2plus1d_r50``, 16×4, 224 crop; 28.11M parameters."""
    cfg = r2plus1d_bottleneck_config(width=width, depths=depths)
    return ResNet3D(cfg, num_classes=num_classes, dropout=dropout, input_spec=_spec(16, 4))
