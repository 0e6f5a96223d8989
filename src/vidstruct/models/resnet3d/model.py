"""``ResNet3D``: one single-pathway video CNN class that hosts Slow, I3D, CSN, R(2+1)D and X3D by configuration.

Layout (stem / stages / head decomposition)::

    clip [B, C, T, H, W]
      → frame input (RGB as is, or its temporal differences: ``input_mode``, see :mod:`.frame_input`)
      → stem → stages (res2 … res5) → [conv5 (X3D)]      = forward_feature_maps  [B, D, T', H', W']
      → global pool (average, or max) over T'×H'×W' → [projection] = forward_features [B, feature_dim]
      → head (LinearHead: dropout → linear)               = forward               [B, num_classes] logits

Pooling is adaptive, so the models accept any clip size that survives their strides
(at least ``2^k`` pixels, ``k`` = number of spatial stride-2 layers). Logits are raw;
callers apply softmax and say so.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.models.base import VideoModel, check_clip
from vidstruct.models.heads import LinearHead
from vidstruct.models.resnet3d.blocks import ConvBNAct
from vidstruct.models.resnet3d.config import ResNet3DConfig
from vidstruct.models.resnet3d.frame_input import FrameInput
from vidstruct.models.resnet3d.init import init_cnn_weights
from vidstruct.models.resnet3d.stages import build_stages, build_stem
from vidstruct.models.spec import InputSpec


def global_pool(x: torch.Tensor, kind: str = "avg") -> torch.Tensor:
    """``[B, D, T, H, W] → [B, D]``: average (``"avg"``) or maximum (``"max"``) over time and space."""
    if kind == "max":
        return x.flatten(2).amax(dim=2)
    return torch.flatten(nn.functional.adaptive_avg_pool3d(x, 1), 1)


class Projection(nn.Module):
    """``Linear (no bias) → ReLU`` on pooled features (X3D's "lin5" projection, ``[B, D] → [B, D']``)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=False)
        self.act = nn.ReLU(inplace=True)
        nn.init.kaiming_normal_(self.fc.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class ResNet3D(VideoModel):
    """A single-pathway 3D ResNet built from a :class:`ResNet3DConfig` (see the module docstring)."""

    head_prefix = "head."

    def __init__(
        self,
        cfg: ResNet3DConfig,
        *,
        num_classes: int = 400,
        dropout: float = 0.5,
        input_spec: InputSpec | None = None,
        in_channels: int = 3,
        pool: str = "avg",
        input_mode: str = "rgb",
    ) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool: expected 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.frame_input = FrameInput(input_mode)
        self.cfg = cfg
        self.in_channels = in_channels
        self.input_spec = input_spec or InputSpec()
        self.num_classes = num_classes
        self.dropout_rate = dropout
        self.feature_dim = cfg.feature_dim
        self.feature_map_dim = cfg.feature_map_dim
        self.stem = build_stem(cfg.stem, in_channels * self.frame_input.channel_factor())
        self.stages = build_stages(cfg, cfg.stem.width)
        last = cfg.stages[-1].width
        self.conv5 = ConvBNAct(last, cfg.conv5_width) if cfg.conv5_width else None
        self.projection = Projection(cfg.feature_map_dim, cfg.projection_width) if cfg.projection_width else None
        init_cnn_weights(self)
        self.head = LinearHead(self.feature_dim, num_classes, dropout=dropout)

    def forward_feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Final backbone feature map ``[B, feature_map_dim, T', H', W']`` of clips ``[B, C, T, H, W]``."""
        check_clip(x, channels=self.in_channels)
        x = self.stages(self.stem(self.frame_input(x)))
        return self.conv5(x) if self.conv5 is not None else x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, feature_dim]`` of clips ``[B, C, T, H, W]``."""
        x = global_pool(self.forward_feature_maps(x), self.pool)
        return self.projection(x) if self.projection is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of clips ``[B, C, T, H, W]``."""
        return self.head(self.forward_features(x))

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialized one for ``num_classes`` classes."""
        device = self.head.fc.weight.device
        self.head = LinearHead(self.feature_dim, num_classes, dropout=self.dropout_rate).to(device)
        self.num_classes = num_classes
