"""The actor–context–object relation module: transformer blocks in which actor tokens attend to the scene.

Tokens (all width ``D``):

- actors ``[B, N, D]``: each actor's RoI feature, projected, plus an embedding of its box geometry;
- context ``[B, L, D]``: the cells of the time-pooled feature map (``L = H' × W'``), projected, plus the
  embedding of each cell's own box (the same geometry MLP, so actors and cells share one notion of "where");
- objects ``[B, M, D]`` (optional): RoI features of object boxes, projected, plus their geometry.

Each block: ``actors += Attention(LN(actors), LN(keys), LN(keys))`` with ``keys = [actors, context, objects]``,
then ``actors += MLP(LN(actors))``. Only actors are updated (context and objects are keys and values). Padded
actor and object slots are excluded from the keys by ``key_padding_mask``; context tokens are never padded, so
every query sees at least one key. A padded actor slot's own output is meaningless and must be ignored.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.errors import ShapeError

__all__ = ["RelationBlock", "RelationModule", "box_geometry"]


def box_geometry(boxes: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` normalized ``[x1, y1, x2, y2]`` → ``[..., 6]``: corners and centre, mapped to ``[-1, 1]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2, y2, (x1 + x2) / 2, (y1 + y2) / 2], dim=-1) * 2 - 1


def cell_boxes(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Boxes ``[H * W, 4]`` (row-major) of the cells of an ``H × W`` grid over the unit square."""
    ys = torch.arange(height, device=device, dtype=torch.float32)
    xs = torch.arange(width, device=device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx / width, gy / height, (gx + 1) / width, (gy + 1) / height], dim=-1).reshape(-1, 4)


class RelationBlock(nn.Module):
    """One pre-norm block: actors attend to ``[actors, context, objects]``, then an MLP (see module doc)."""

    def __init__(self, dim: int, heads: int, dropout: float, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout)
        )

    def forward(self, actors: torch.Tensor, others: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
        """``actors`` ``[B, N, D]``, ``others`` ``[B, L + M, D]``, ``key_padding`` ``[B, N + L + M]`` (True = ignore)
        → updated actors ``[B, N, D]``."""
        keys = self.norm_kv(torch.cat([actors, others], dim=1))
        out, _ = self.attn(self.norm_q(actors), keys, keys, key_padding_mask=key_padding, need_weights=False)
        actors = actors + out
        return actors + self.mlp(self.norm_mlp(actors))


class RelationModule(nn.Module):
    """Actor tokens refined by attention to context, other actors and objects (see module doc).

    ``in_dim``: channels of RoI features and of the feature map; ``dim``: token width; ``layers`` blocks of
    ``heads`` heads. :meth:`forward` returns actor features ``[B, N, dim]``.
    """

    def __init__(self, in_dim: int, dim: int = 128, layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.in_dim, self.dim = in_dim, dim
        self.actor_proj = nn.Linear(in_dim, dim)
        self.context_proj = nn.Linear(in_dim, dim)
        self.object_proj = nn.Linear(in_dim, dim)
        self.geometry = nn.Sequential(nn.Linear(6, dim), nn.GELU(), nn.Linear(dim, dim))
        self.kind = nn.Parameter(torch.zeros(3, dim))  # actor / context / object type embeddings
        nn.init.normal_(self.kind, std=0.02)
        self.blocks = nn.ModuleList(RelationBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        actor_feats: torch.Tensor,
        actor_boxes: torch.Tensor,
        actor_mask: torch.Tensor,
        feature_map: torch.Tensor,
        object_feats: torch.Tensor | None = None,
        object_boxes: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Refined actor features ``[B, N, dim]``.

        - ``actor_feats`` ``[B, N, in_dim]``, ``actor_boxes`` ``[B, N, 4]``, ``actor_mask`` ``[B, N]`` (True = real);
        - ``feature_map`` ``[B, in_dim, H', W']`` (time-pooled) → ``H' × W'`` context tokens;
        - ``object_*``: the same for ``M`` object boxes (``None``: no object tokens).
        """
        b, n = actor_mask.shape
        if actor_feats.shape[:2] != (b, n) or actor_boxes.shape != (b, n, 4):
            raise ShapeError(
                f"actors: feats {tuple(actor_feats.shape)}, boxes {tuple(actor_boxes.shape)}, mask {(b, n)} disagree"
            )
        h, w = feature_map.shape[-2:]
        actors = self.actor_proj(actor_feats) + self.geometry(box_geometry(actor_boxes)) + self.kind[0]
        cells = cell_boxes(h, w, feature_map.device).to(feature_map.dtype)
        context = self.context_proj(feature_map.flatten(2).transpose(1, 2)) + self.geometry(box_geometry(cells))
        others = [context + self.kind[1]]
        padding = [~actor_mask, actor_mask.new_zeros((b, h * w))]
        if object_feats is not None:
            if object_boxes is None or object_mask is None:
                raise ValueError("object_feats needs object_boxes and object_mask")
            objects = self.object_proj(object_feats) + self.geometry(box_geometry(object_boxes)) + self.kind[2]
            others.append(objects)
            padding.append(~object_mask)
        rest, key_padding = torch.cat(others, dim=1), torch.cat(padding, dim=1)
        for block in self.blocks:
            actors = block(actors, rest, key_padding)
        return self.norm(actors)
