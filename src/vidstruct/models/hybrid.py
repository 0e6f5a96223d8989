"""Transformer-CNN hybrids: a transformer head over a CNN backbone's final feature map.

``clip [B, 3, T, H, W] → backbone.forward_feature_maps → [B, D, T', H', W']
→ TransformerHead (temporal tokens after spatial pooling, or spatio-temporal
tokens) → logits [B, num_classes]``. Two-pathway backbones (SlowFast) return a
list of maps; they are average-pooled to the smallest ``(T', H', W')`` and
concatenated along channels.

The backbone is any registered model with ``forward_feature_maps``; its
own classifier is removed (replaced by ``nn.Identity``) so that every
parameter of the hybrid receives a gradient (a requirement of DDP).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.errors import ConfigError
from vidstruct.models.base import VideoModel
from vidstruct.models.heads import TransformerHead
from vidstruct.registry import MODELS


def merge_pathways(maps: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """One map ``[B, D, T, H, W]`` from a map or a list of maps (pooled to the smallest grid, concatenated)."""
    if isinstance(maps, torch.Tensor):
        return maps
    t = min(m.shape[2] for m in maps)
    h = min(m.shape[3] for m in maps)
    w = min(m.shape[4] for m in maps)
    return torch.cat([m if m.shape[2:] == (t, h, w) else F.adaptive_avg_pool3d(m, (t, h, w)) for m in maps], dim=1)


class HybridTransformer(VideoModel):
    """CNN backbone (``forward_feature_maps``) + :class:`~vidstruct.models.heads.TransformerHead`.

    Only ``head.fc`` is the classifier (``head_prefix``): loading a checkpoint with
    another number of classes keeps the transformer layers and re-initializes ``fc``.
    """

    head_prefix = "head.fc."

    def __init__(self, backbone: nn.Module, head: TransformerHead) -> None:
        super().__init__()
        if not hasattr(backbone, "forward_feature_maps"):
            raise ConfigError(f"backbone {type(backbone).__name__} has no forward_feature_maps(x)")
        self.backbone = backbone
        self.head = head
        self.input_spec = backbone.input_spec
        self.num_classes = head.fc.out_features
        self.feature_dim = head.hidden_size

    def forward_feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's (merged) final map ``[B, D, T', H', W']`` of clips ``[B, 3, T, H, W]``."""
        return merge_pathways(self.backbone.forward_feature_maps(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Transformer CLS features ``[B, hidden_size]``."""
        return self.head.forward_features(self.forward_feature_maps(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of clips ``[B, 3, T, H, W]``."""
        return self.head(self.forward_feature_maps(x))

    def reset_head(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head.reset_classifier(num_classes)


def probe_backbone(factory: Callable[[], nn.Module]) -> tuple[tuple[int, int, int, int], set[str]]:
    """Build a backbone on the meta device and run its default input through ``forward_feature_maps``.

    Returns the merged map's ``(D, T', H', W')`` and the names of the modules
    holding parameters that the pass never called (its classifier).
    """
    with torch.device("meta"):
        probe = factory()
    return probe_module(probe)


def probe_module(backbone: nn.Module) -> tuple[tuple[int, int, int, int], set[str]]:
    """:func:`probe_backbone` on an existing (meta-device) backbone; it is left in eval mode."""
    if not hasattr(backbone, "forward_feature_maps"):
        raise ConfigError(
            f"backbone {type(backbone).__name__} has no forward_feature_maps(x); it cannot feed a hybrid head"
        )
    backbone.eval()
    ran: set[str] = set()
    hooks = [
        m.register_forward_pre_hook(lambda _m, _i, name=name: ran.add(name)) for name, m in backbone.named_modules()
    ]
    device = next(backbone.parameters()).device
    try:
        with torch.no_grad():
            out = merge_pathways(
                backbone.forward_feature_maps(torch.empty(1, *backbone.input_spec.shape, device=device))
            )
    finally:
        for h in hooks:
            h.remove()
    unused = {
        name
        for name, m in backbone.named_modules()
        if name and name not in ran and any(True for _ in m.parameters(recurse=False))
    }
    return (int(out.shape[1]), int(out.shape[2]), int(out.shape[3]), int(out.shape[4])), unused


def _drop_modules(model: nn.Module, names: set[str]) -> None:
    for name in sorted(names):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, nn.Identity())


def build_hybrid(
    backbone: str,
    *,
    num_classes: int = 400,
    backbone_kwargs: dict[str, Any] | None = None,
    hidden_size: int = 512,
    depth: int = 2,
    num_heads: int = 8,
    mlp_ratio: float = 4.0,
    dropout: float = 0.5,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    tokens: str = "temporal",
) -> HybridTransformer:
    """Backbone ``MODELS[backbone](**backbone_kwargs)`` + a transformer head sized from a meta-device probe."""
    kwargs = dict(backbone_kwargs or {})
    if torch.get_default_device().type == "meta":  # building on meta already: probe the backbone itself
        net = MODELS.build(backbone, **kwargs)
        (channels, t, h, w), unused = probe_module(net)
        net.train()
    else:
        (channels, t, h, w), unused = probe_backbone(lambda: MODELS.build(backbone, **kwargs))
        net = MODELS.build(backbone, **kwargs)
    _drop_modules(net, unused)
    head = TransformerHead(
        channels,
        num_classes,
        hidden_size=hidden_size,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        dropout=dropout,
        attention_dropout=attention_dropout,
        drop_path_rate=drop_path_rate,
        tokens=tokens,
        grid=(t, h, w),
    )
    return HybridTransformer(net, head)


@MODELS.register("hybrid_transformer")
def hybrid_transformer(
    *,
    backbone: str = "tada2d_r50",
    backbone_kwargs: dict[str, Any] | None = None,
    num_classes: int = 400,
    hidden_size: int = 512,
    depth: int = 2,
    num_heads: int = 8,
    mlp_ratio: float = 4.0,
    dropout: float = 0.5,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    tokens: str = "temporal",
) -> HybridTransformer:
    """A registered CNN with ``forward_feature_maps`` (default TAda2D-R50) + a transformer head.

    ``tokens``: ``"temporal"`` (one token per time step) or ``"spatiotemporal"`` (one per cell).
    """
    return build_hybrid(**locals())


def _named_hybrid(name: str, default_backbone: str, doc: str) -> None:
    """Register ``name``: :func:`build_hybrid` over ``default_backbone`` (resized through ``backbone_kwargs``)."""

    def builder(
        *,
        num_classes: int = 400,
        backbone_kwargs: dict[str, Any] | None = None,
        hidden_size: int = 512,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.5,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        tokens: str = "temporal",
    ) -> HybridTransformer:
        return build_hybrid(
            default_backbone,
            num_classes=num_classes,
            backbone_kwargs=backbone_kwargs,
            hidden_size=hidden_size,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path_rate=drop_path_rate,
            tokens=tokens,
        )

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    MODELS.register(name)(builder)


_named_hybrid(
    "hybrid_csn_transformer",
    "ircsn_r152",
    "ir-CSN-152 feature map → transformer head (temporal tokens by default), 32×2 input.",
)
_named_hybrid(
    "hybrid_slowfast_transformer",
    "slowfast_r50",
    "SlowFast-R50 8×8 maps (fast pooled to the slow grid, concatenated: 2304 channels) → transformer head.",
)
_named_hybrid(
    "hybrid_r2plus1d_transformer",
    "r2plus1d_r50",
    "R(2+1)D-50 feature map → transformer head.",
)
