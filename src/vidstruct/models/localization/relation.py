"""Action-nomination relation encoding: self-attention across a video's proposals (EMC²'s ActivityNet / HACS addition).

BMN scores every proposal on its own. This head refines a video's top
proposals jointly: each proposal becomes a token (its features + an encoding
of where it is), a transformer encoder lets every proposal attend to all the
others of the same video (global temporal context: overlapping candidates,
repeated actions, the scene before and after), and three small heads read
the refined tokens:

- ``cls_logit [B, P]``: logit of "tIoU with the best-matching GT ≥ 0.5";
- ``iou [B, P]``: regressed tIoU with the best-matching GT, in ``[0, 1]`` (sigmoid);
- ``offsets [B, P, 2]``: start / end corrections in units of the proposal's
  length, ``start' = start + δs·len``, ``end' = end + δe·len`` (normalized time).

Inputs: ``features [B, P, F]``, ``segments [B, P, 2]`` (normalized ``[start,
end]`` in ``[0, 1]``) and ``mask [B, P]`` (``True`` = real proposal; padded
tokens are excluded as attention keys, so they never change the outputs of
real ones, and their outputs are zeros). The position encoding is
sinusoidal in start, end and duration (``pos_dim`` features each), projected
to ``d_model`` and added to the projected features.

:func:`relation_targets` / :func:`relation_loss` train it: BCE on
``IoU ≥ pos_iou`` (0.5), smooth-L1 between the predicted and the true IoU,
and smooth-L1 on the offsets of positive proposals. Use it jointly with BMN
(``bmn(relation=True)``: the loss is added to BMN's) or as a second stage
on frozen BMN outputs (the ``"relation_head"`` registry entry).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.data.tiou import pairwise_tiou
from vidstruct.errors import InputError, ShapeError
from vidstruct.registry import MODELS

__all__ = [
    "RelationHead",
    "refine_segments",
    "relation_head",
    "relation_loss",
    "relation_targets",
    "sinusoidal_encoding",
]


def sinusoidal_encoding(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``values [...]`` in ``[0, 1]`` → ``[..., dim]``: ``sin / cos(2^k · π · v)`` for ``k = 0 .. dim/2 - 1``."""
    if dim % 2:
        raise InputError(f"pos_dim: expected an even number, got {dim}")
    freqs = (2.0 ** torch.arange(dim // 2, device=values.device, dtype=values.dtype)) * math.pi
    angles = values.unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class RelationHead(nn.Module):
    """Transformer over a video's proposals: ``(features [B, P, F], segments [B, P, 2], mask [B, P])`` → dict.

    See the module doc for the outputs.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        d_model: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        ff_dim: int | None = None,
        dropout: float = 0.1,
        pos_dim: int = 32,
    ) -> None:
        super().__init__()
        self.in_dim, self.pos_dim = in_dim, pos_dim
        self.proj = nn.Sequential(nn.Linear(in_dim, d_model), nn.LayerNorm(d_model))
        self.pos = nn.Sequential(nn.Linear(3 * pos_dim, d_model), nn.ReLU(inplace=True), nn.Linear(d_model, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=ff_dim or 2 * d_model,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.cls = nn.Linear(d_model, 1)
        self.iou = nn.Linear(d_model, 1)
        self.offsets = nn.Linear(d_model, 2)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)

    def forward(
        self, features: torch.Tensor, segments: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if features.ndim != 3 or features.shape[-1] != self.in_dim:
            raise ShapeError(f"proposal features: expected [B, P, {self.in_dim}], got {tuple(features.shape)}")
        B, P, _ = features.shape
        if segments.shape != (B, P, 2):
            raise ShapeError(f"proposal segments: expected [{B}, {P}, 2], got {tuple(segments.shape)}")
        if mask is None:
            mask = torch.ones(B, P, dtype=torch.bool, device=features.device)
        elif mask.shape != (B, P):
            raise ShapeError(f"proposal mask: expected [{B}, {P}], got {tuple(mask.shape)}")
        mask = mask.bool()
        seg = segments.to(features.dtype)
        where = torch.stack([seg[..., 0], seg[..., 1], seg[..., 1] - seg[..., 0]], dim=-1)
        tokens = self.proj(features) + self.pos(sinusoidal_encoding(where, self.pos_dim).flatten(-2))
        # a video without proposals would have no key to attend to (NaN): let its first token attend to itself
        keys = mask.clone()
        keys[:, 0] |= ~mask.any(dim=1)
        x = self.encoder(tokens, src_key_padding_mask=~keys)
        m = mask.to(x.dtype)
        return {
            "cls_logit": self.cls(x).squeeze(-1) * m,
            "iou": torch.sigmoid(self.iou(x).squeeze(-1)) * m,
            "offsets": self.offsets(x) * m.unsqueeze(-1),
        }


def refine_segments(segments: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply ``offsets [..., 2]`` (in proposal lengths) to ``segments [..., 2]``; clipped to ``[0, 1]``, end ≥ start."""
    length = (segments[..., 1] - segments[..., 0]).unsqueeze(-1)
    out = (segments + offsets * length).clamp(0.0, 1.0)
    return torch.stack([out[..., 0], torch.maximum(out[..., 0], out[..., 1])], dim=-1)


def relation_targets(
    segments: torch.Tensor, gt_segments: torch.Tensor, gt_mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Per proposal: ``"iou" [B, P]`` with its best-matching GT and ``"offsets" [B, P, 2]`` to that GT.

    ``segments [B, P, 2]`` and ``gt_segments [B, G, 2]`` are normalized; ``gt_mask [B, G]`` marks real
    GTs (a video without GT gets IoU 0 and zero offsets).
    """
    seg = segments.detach().to(gt_segments.dtype)
    iou = pairwise_tiou(seg, gt_segments)  # [B, P, G]
    if gt_mask is not None:
        iou = iou.masked_fill(~gt_mask.bool().unsqueeze(1), -1.0)
    best, idx = iou.max(dim=-1)
    gt = gt_segments.gather(1, idx.unsqueeze(-1).expand(-1, -1, 2))
    length = (seg[..., 1] - seg[..., 0]).clamp(min=1e-6).unsqueeze(-1)
    offsets = (gt - seg) / length
    has_gt = best >= 0
    return {"iou": best.clamp(min=0.0), "offsets": offsets * has_gt.unsqueeze(-1)}


def relation_loss(
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    mask: torch.Tensor | None = None,
    *,
    pos_iou: float = 0.5,
    offset_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``{"relation", "rel_cls", "rel_iou", "rel_offset"}``: BCE + smooth-L1 IoU + smooth-L1 offsets of positives.

    Means over real proposals (``mask``), the offset term over real positives (0 when there are none).
    """
    logit = outputs["cls_logit"]
    m = torch.ones_like(logit, dtype=torch.bool) if mask is None else mask.bool()
    iou = targets["iou"].to(logit.dtype)
    pos = (iou >= pos_iou) & m
    n = m.sum().clamp(min=1)
    bce = F.binary_cross_entropy_with_logits(logit, pos.to(logit.dtype), reduction="none")
    cls = (bce * m).sum() / n
    reg = (F.smooth_l1_loss(outputs["iou"], iou, reduction="none", beta=0.1) * m).sum() / n
    off_err = F.smooth_l1_loss(outputs["offsets"], targets["offsets"].to(logit.dtype), reduction="none", beta=0.1).sum(
        -1
    )
    off = (off_err * pos).sum() / pos.sum().clamp(min=1)
    return {"relation": cls + reg + offset_weight * off, "rel_cls": cls, "rel_iou": reg, "rel_offset": off}


@MODELS.register("relation_head")
def relation_head(
    *,
    in_dim: int = 896,
    d_model: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    dropout: float = 0.1,
    pos_dim: int = 32,
) -> RelationHead:
    """Second-stage proposal relation head on frozen BMN outputs.

    ``in_dim`` must match :meth:`BMN.proposal_features` (``3 · hidden_dim_1d + hidden_dim_2d``:
    896 for BMN's defaults).
    """
    return RelationHead(
        in_dim=in_dim, d_model=d_model, num_layers=num_layers, num_heads=num_heads, dropout=dropout, pos_dim=pos_dim
    )
