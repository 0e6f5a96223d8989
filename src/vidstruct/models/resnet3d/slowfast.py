"""SlowFast: a slow (high-capacity, few frames) and a fast (thin, many frames) ResNet3D pathway.

**Input is one clip** ``[B, C, T, H, W]`` — the *fast* pathway's frames (e.g. 32 frames,
interval 2 for 8×8). The model derives the slow pathway itself by temporal striding,
``slow = x[:, :, ::alpha]`` (8 frames for ``alpha = 4``), so engine / pipeline code treats
SlowFast like every other model. (PyTorchVideo instead takes ``[slow, fast]`` and its
``PackPathway`` picks slow frames with ``linspace``; frame ``i·alpha`` is what the lateral
connections align with.)

After the stem and after res2, res3, res4, a lateral connection (``FastToSlowFusion``: a
``(k, 1, 1)`` conv with temporal stride ``alpha`` → BN → ReLU, doubling the fast channels)
is concatenated to the slow features. The head pools each pathway separately and
concatenates the two pooled vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.models.base import VideoModel, check_clip
from vidstruct.models.heads import LinearHead
from vidstruct.models.resnet3d.blocks import ConvBNAct
from vidstruct.models.resnet3d.config import ResNet3DConfig
from vidstruct.models.resnet3d.init import init_cnn_weights
from vidstruct.models.resnet3d.model import global_pool
from vidstruct.models.resnet3d.stages import build_stage, build_stem
from vidstruct.models.spec import InputSpec


class FastToSlowFusion(nn.Module):
    """Lateral connection: ``slow ⊕ ConvBNAct(fast)`` along channels, ``[B, Ds + r·Df, Ts, H, W]``."""

    def __init__(self, fast_channels: int, *, alpha: int, kernel: int = 7, ratio: int = 2) -> None:
        super().__init__()
        self.lateral = ConvBNAct(fast_channels, fast_channels * ratio, (kernel, 1, 1), stride=(alpha, 1, 1))

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, self.lateral(fast)], dim=1)


class Pathway(nn.Module):
    """A stem and its stages (``stages[i]`` is res{i+2})."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module]) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)


class SlowFast(VideoModel):
    """Two-pathway SlowFast network (see the module docstring for the input convention).

    ``slow_cfg`` / ``fast_cfg`` describe each pathway as a ResNet3D; the slow stages' input
    widths grow by the fused fast channels. ``forward_feature_maps`` returns
    ``[slow [B, Ds, T/alpha, H', W'], fast [B, Df, T, H', W']]``.
    """

    head_prefix = "head."

    def __init__(
        self,
        slow_cfg: ResNet3DConfig,
        fast_cfg: ResNet3DConfig,
        *,
        alpha: int = 4,
        fusion_kernel: int = 7,
        fusion_ratio: int = 2,
        num_classes: int = 400,
        dropout: float = 0.5,
        input_spec: InputSpec | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(slow_cfg.stages) != len(fast_cfg.stages):
            raise ValueError("slow and fast pathways need the same number of stages")
        self.alpha = alpha
        self.in_channels = in_channels
        self.input_spec = input_spec or InputSpec(num_frames=32, frame_interval=2)
        self.num_classes = num_classes
        self.dropout_rate = dropout
        self.slow_cfg, self.fast_cfg = slow_cfg, fast_cfg

        fast_dims = [fast_cfg.stem.width] + [s.width for s in fast_cfg.stages]
        slow_dims = [slow_cfg.stem.width] + [s.width for s in slow_cfg.stages]
        n = len(slow_cfg.stages)
        # fusion i follows the stem (i = 0) or stage i (res{i+1}); none after the last stage
        self.fusions = nn.ModuleList(
            FastToSlowFusion(fast_dims[i], alpha=alpha, kernel=fusion_kernel, ratio=fusion_ratio) for i in range(n)
        )
        slow_stages = [
            build_stage(slow_cfg, slow_cfg.stages[i], slow_dims[i] + fusion_ratio * fast_dims[i]) for i in range(n)
        ]
        fast_stages = [build_stage(fast_cfg, fast_cfg.stages[i], fast_dims[i]) for i in range(n)]
        self.slow = Pathway(build_stem(slow_cfg.stem, in_channels), slow_stages)
        self.fast = Pathway(build_stem(fast_cfg.stem, in_channels), fast_stages)
        self.feature_map_dims = (slow_dims[-1], fast_dims[-1])
        self.feature_dim = slow_dims[-1] + fast_dims[-1]
        init_cnn_weights(self)
        self.head = LinearHead(self.feature_dim, num_classes, dropout=dropout)

    def forward_feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[slow, fast]`` final feature maps of fast-pathway clips ``[B, C, T, H, W]``."""
        check_clip(x, channels=self.in_channels)
        slow = self.slow.stem(x[:, :, :: self.alpha])
        fast = self.fast.stem(x)
        for i, (slow_stage, fast_stage) in enumerate(zip(self.slow.stages, self.fast.stages)):
            slow = self.fusions[i](slow, fast)
            slow, fast = slow_stage(slow), fast_stage(fast)
        return [slow, fast]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``[B, Ds + Df]`` features (slow then fast) of clips ``[B, C, T, H, W]``."""
        slow, fast = self.forward_feature_maps(x)
        return torch.cat([global_pool(slow), global_pool(fast)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of clips ``[B, C, T, H, W]`` (T = fast-pathway frames)."""
        return self.head(self.forward_features(x))

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialized one for ``num_classes`` classes."""
        device = self.head.fc.weight.device
        self.head = LinearHead(self.feature_dim, num_classes, dropout=self.dropout_rate).to(device)
        self.num_classes = num_classes
