"""``ActionDetector``: video backbone → time-pooled feature map → RoI features per actor box → head → logits.

Heads (``head``):

- ``"roi"``: the plain RoI head (SlowFast's AVA head): dropout → linear on each actor's RoI feature;
- ``"relation"``: :class:`~.relation.RelationModule` (actors attend to context, each other and objects), then
  dropout → linear on the refined actor token; ``relation_geometry`` (``"absolute"``, the default: each token's own
  box embedding; ``"relative"``: pairwise box geometry also biases and feeds every attention).

Input: clips ``[B, 3, T, H, W]`` (normalized as the backbone's preprocessing says), actor boxes padded to
``[B, N, 4]`` with ``mask`` ``[B, N]`` (True = a real actor), optionally object boxes ``[B, M, 4]`` with their
mask. :meth:`ActionDetector.forward` returns raw logits ``[B, N, K]`` (padded slots hold 0);
:meth:`ActionDetector.predict` returns sigmoid probabilities (multi-label: actions are independent).

The backbone is any registered model with ``forward_feature_maps`` (the ResNet3D family: Slow, I3D, CSN,
R(2+1)D, X3D, SlowFast; TAdaConv); its classification head is not used and is replaced by an identity.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from vidstruct.errors import ConfigError, ShapeError
from vidstruct.models.detection.relation import RelationModule
from vidstruct.models.detection.roi import pooled_feature_map, roi_features
from vidstruct.registry import MODELS

__all__ = ["HEAD_KINDS", "ActionDetector", "build_action_detector"]

HEAD_KINDS = ("roi", "relation")
HeadKind = Literal["roi", "relation"]


def _feature_map_channels(backbone: nn.Module) -> int:
    dims = getattr(backbone, "feature_map_dims", None)  # SlowFast: one per pathway
    if dims is not None:
        return int(sum(dims))
    return int(backbone.feature_map_dim)  # type: ignore[arg-type]


class ActionDetector(nn.Module):
    """Backbone + RoI features + ``roi`` or ``relation`` head (see module doc); ``num_classes`` sigmoid outputs."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        *,
        head: HeadKind = "relation",
        roi_size: int = 4,
        dropout: float = 0.2,
        relation_dim: int = 128,
        relation_layers: int = 2,
        relation_heads: int = 4,
        relation_dropout: float = 0.1,
        relation_geometry: str = "absolute",
    ) -> None:
        super().__init__()
        if head not in HEAD_KINDS:
            raise ValueError(f"head: expected one of {HEAD_KINDS}, got {head!r}")
        if not hasattr(backbone, "forward_feature_maps"):
            raise ValueError(f"backbone {type(backbone).__name__} has no forward_feature_maps")
        self.backbone = backbone
        if hasattr(backbone, "head"):
            backbone.head = nn.Identity()  # the recognition classifier is not used
        self.head_kind = head
        self.num_classes = num_classes
        self.roi_size = roi_size
        channels = _feature_map_channels(backbone)
        self.relation = (
            RelationModule(channels, relation_dim, relation_layers, relation_heads, relation_dropout, relation_geometry)
            if head == "relation"
            else None
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(relation_dim if head == "relation" else channels, num_classes)

    def forward(
        self,
        clip: torch.Tensor,
        boxes: torch.Tensor,
        mask: torch.Tensor,
        objects: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, N, K]`` of the actors ``boxes`` ``[B, N, 4]`` (``mask`` ``[B, N]``) in ``clip``
        ``[B, 3, T, H, W]``; ``objects`` ``[B, M, 4]`` / ``object_mask`` ``[B, M]`` feed object tokens
        (relation head only; the RoI head ignores them)."""
        b, n = mask.shape
        if boxes.shape != (b, n, 4) or clip.shape[0] != b:
            raise ShapeError(f"clip {tuple(clip.shape)}, boxes {tuple(boxes.shape)}, mask {tuple(mask.shape)} disagree")
        fmap = pooled_feature_map(self.backbone.forward_feature_maps(clip))
        actor_feats = self._padded_roi(fmap, boxes, mask)
        if self.relation is None:
            tokens = actor_feats
        else:
            obj_feats = None
            if objects is not None:
                if object_mask is None:
                    raise ValueError("objects needs object_mask")
                obj_feats = self._padded_roi(fmap, objects, object_mask)
            tokens = self.relation(actor_feats, boxes, mask, fmap, obj_feats, objects, object_mask)
        logits = self.classifier(self.dropout(tokens))
        return logits.masked_fill(~mask[..., None], 0.0)

    def _padded_roi(self, fmap: torch.Tensor, boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """RoI features ``[B, N, C]`` of the real boxes (padded slots hold zeros, and no RoIAlign is run for them)."""
        batch_index, slot = mask.nonzero(as_tuple=True)
        feats = roi_features(fmap, boxes[batch_index, slot], batch_index, self.roi_size)
        out = fmap.new_zeros((*mask.shape, fmap.shape[1]))
        out[batch_index, slot] = feats.to(out.dtype)
        return out

    @torch.no_grad()
    def predict(self, clip: torch.Tensor, boxes: torch.Tensor, mask: torch.Tensor, **objects: Any) -> torch.Tensor:
        """Sigmoid probabilities ``[B, N, K]`` (independent per action; padded slots 0.5, ignore them)."""
        return torch.sigmoid(self.forward(clip, boxes, mask, **objects).float())


def build_action_detector(
    backbone: str,
    num_classes: int,
    *,
    backbone_kwargs: dict[str, Any] | None = None,
    head: HeadKind = "relation",
    roi_size: int = 4,
    dropout: float = 0.2,
    relation_dim: int = 128,
    relation_layers: int = 2,
    relation_heads: int = 4,
    relation_dropout: float = 0.1,
    relation_geometry: str = "absolute",
) -> ActionDetector:
    """An :class:`ActionDetector` on the registered video model ``backbone`` (built with ``backbone_kwargs``)."""
    net = MODELS.build(backbone, **dict(backbone_kwargs or {}))
    if not hasattr(net, "forward_feature_maps"):
        raise ConfigError(
            f"model.backbone.name: {backbone!r} has no spatio-temporal feature map (use a ResNet3D-family model, "
            "SlowFast, X3D or TAdaConv)"
        )
    return ActionDetector(
        net, num_classes, head=head, roi_size=roi_size, dropout=dropout, relation_dim=relation_dim,
        relation_layers=relation_layers, relation_heads=relation_heads, relation_dropout=relation_dropout,
        relation_geometry=relation_geometry,
    )  # fmt: skip
