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

``geometry`` says how attention knows *where* a key is:

- ``"absolute"`` (default): only through the tokens' own box embeddings (above). An actor must then work out
  "the other actor is to my left" from two absolute positions mixed into the value;
- ``"relative"``: in addition, every (actor, key) pair gets an embedding of the key's box *relative to
  the querying actor's box* (:func:`pairwise_geometry`: centre offset, distance, log size ratios, as in Hu et
  al., "Relation Networks for Object Detection", CVPR 2018). Each block turns it into a per-head bias of the
  attention logits (who to look at depends on where it is) and adds it to the attended values (what comes back
  says where it was, in the actor's own frame), as in Shaw et al.'s relative position representations. This is
  what should tell ``approach`` (moving towards the other actor) from a lone ``move_left``. Measured
  (``benchmarks/ava_learning.py``, 3 seeds, 400 steps), it did not beat ``"absolute"``: the same gain over the
  RoI head on the interaction classes, a smaller one on individual actions, hence not the default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.errors import ShapeError

__all__ = ["GEOMETRY_KINDS", "RelationBlock", "RelationModule", "box_geometry", "pairwise_geometry"]

#: how attention sees box positions (see module doc)
GEOMETRY_KINDS = ("absolute", "relative")
#: width / height floor for log ratios (a padded slot's zero box stays finite)
_MIN_SIDE = 1e-3
#: features of :func:`pairwise_geometry`
PAIR_FEATURES = 5


def box_geometry(boxes: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` normalized ``[x1, y1, x2, y2]`` → ``[..., 6]``: corners and centre, mapped to ``[-1, 1]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2, y2, (x1 + x2) / 2, (y1 + y2) / 2], dim=-1) * 2 - 1


def pairwise_geometry(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Each key box relative to each query box: ``[B, N, 4]`` and ``[B, K, 4]`` (normalized ``[x1, y1, x2, y2]``)
    → ``[B, N, K, 5]``: centre offset ``dx, dy`` (key minus query, in frame units, so ``dx > 0``: the key is to the
    right), their length, ``log(w_key / w_query)``, ``log(h_key / h_query)`` (sides floored at 1e-3)."""
    qc, kc = (queries[..., :2] + queries[..., 2:]) / 2, (keys[..., :2] + keys[..., 2:]) / 2
    qs = (queries[..., 2:] - queries[..., :2]).clamp_min(_MIN_SIDE)
    ks = (keys[..., 2:] - keys[..., :2]).clamp_min(_MIN_SIDE)
    offset = kc[:, None, :, :] - qc[:, :, None, :]  # [B, N, K, 2]
    dist = offset.square().sum(-1, keepdim=True).add(1e-12).sqrt()
    ratio = ks[:, None, :, :].log() - qs[:, :, None, :].log()
    return torch.cat([offset, dist, ratio], dim=-1)


def cell_boxes(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Boxes ``[H * W, 4]`` (row-major) of the cells of an ``H × W`` grid over the unit square."""
    ys = torch.arange(height, device=device, dtype=torch.float32)
    xs = torch.arange(width, device=device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx / width, gy / height, (gx + 1) / width, (gy + 1) / height], dim=-1).reshape(-1, 4)


class RelationBlock(nn.Module):
    """One pre-norm block: actors attend to ``[actors, context, objects]``, then an MLP (see module doc).

    With ``relative=True`` the block also takes pair embeddings ``[B, N, K, dim]`` (the relative geometry of
    each key seen from each actor): a per-head logit bias and an addition to the attended values.
    """

    def __init__(self, dim: int, heads: int, dropout: float, mlp_ratio: float = 2.0, relative: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.pair_bias = nn.Linear(dim, heads) if relative else None
        self.pair_value = nn.Linear(dim, dim) if relative else None
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout)
        )

    def forward(
        self,
        actors: torch.Tensor,
        others: torch.Tensor,
        key_padding: torch.Tensor,
        pairs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``actors`` ``[B, N, D]``, ``others`` ``[B, L + M, D]``, ``key_padding`` ``[B, N + L + M]`` (True = ignore),
        ``pairs`` ``[B, N, N + L + M, D]`` (relative blocks only) → updated actors ``[B, N, D]``."""
        keys = self.norm_kv(torch.cat([actors, others], dim=1))
        if self.pair_bias is None:
            out, _ = self.attn(self.norm_q(actors), keys, keys, key_padding_mask=key_padding, need_weights=False)
        else:
            if pairs is None:
                raise ValueError("a relative-geometry block needs pairs")
            out = self._relative_attention(self.norm_q(actors), keys, key_padding, pairs)
        actors = actors + out
        return actors + self.mlp(self.norm_mlp(actors))

    def _relative_attention(
        self, query: torch.Tensor, keys: torch.Tensor, key_padding: torch.Tensor, pairs: torch.Tensor
    ) -> torch.Tensor:
        """Multi-head attention with ``self.attn``'s projections, a pair bias on the logits and pair values:
        ``out_i = W_o · concat_h Σ_j softmax_j(q_i·k_j / √d + b_h(p_ij)) (v_j + r_h(p_ij))``."""
        assert self.pair_bias is not None and self.pair_value is not None
        b, n, d = query.shape
        k_len, h = keys.shape[1], self.heads
        dh = d // h
        w_q, w_k, w_v = self.attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.attn.in_proj_bias.chunk(3)  # type: ignore[union-attr]
        q = F.linear(query, w_q, b_q).view(b, n, h, dh).transpose(1, 2)  # [B, H, N, dh]
        k = F.linear(keys, w_k, b_k).view(b, k_len, h, dh).transpose(1, 2)  # [B, H, K, dh]
        v = F.linear(keys, w_v, b_v).view(b, k_len, h, dh).transpose(1, 2)
        logits = q @ k.transpose(-1, -2) / math.sqrt(dh) + self.pair_bias(pairs).permute(0, 3, 1, 2)  # [B, H, N, K]
        logits = logits.masked_fill(key_padding[:, None, None, :], float("-inf"))
        weights = F.dropout(logits.softmax(dim=-1), self.attn.dropout, self.training)
        rel = self.pair_value(pairs).view(b, n, k_len, h, dh).permute(0, 3, 1, 2, 4)  # [B, H, N, K, dh]
        out = weights @ v + (weights[..., None] * rel).sum(dim=3)  # [B, H, N, dh]
        return self.attn.out_proj(out.transpose(1, 2).reshape(b, n, d))


class RelationModule(nn.Module):
    """Actor tokens refined by attention to context, other actors and objects (see module doc).

    ``in_dim``: channels of RoI features and of the feature map; ``dim``: token width; ``layers`` blocks of
    ``heads`` heads; ``geometry``: ``"absolute"`` or ``"relative"`` (pairwise box geometry in every block).
    :meth:`forward` returns actor features ``[B, N, dim]``.
    """

    def __init__(
        self,
        in_dim: int,
        dim: int = 128,
        layers: int = 2,
        heads: int = 4,
        dropout: float = 0.1,
        geometry: str = "absolute",
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        if geometry not in GEOMETRY_KINDS:
            raise ValueError(f"geometry: expected one of {GEOMETRY_KINDS}, got {geometry!r}")
        self.in_dim, self.dim, self.geometry_kind = in_dim, dim, geometry
        self.actor_proj = nn.Linear(in_dim, dim)
        self.context_proj = nn.Linear(in_dim, dim)
        self.object_proj = nn.Linear(in_dim, dim)
        self.geometry = nn.Sequential(nn.Linear(6, dim), nn.GELU(), nn.Linear(dim, dim))
        relative = geometry == "relative"
        self.pair_geometry = (
            nn.Sequential(nn.Linear(PAIR_FEATURES, dim), nn.GELU(), nn.Linear(dim, dim)) if relative else None
        )
        self.kind = nn.Parameter(torch.zeros(3, dim))  # actor / context / object type embeddings
        nn.init.normal_(self.kind, std=0.02)
        self.blocks = nn.ModuleList(RelationBlock(dim, heads, dropout, relative=relative) for _ in range(layers))
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
        key_boxes = [actor_boxes, cells.expand(b, -1, -1)]
        if object_feats is not None:
            if object_boxes is None or object_mask is None:
                raise ValueError("object_feats needs object_boxes and object_mask")
            objects = self.object_proj(object_feats) + self.geometry(box_geometry(object_boxes)) + self.kind[2]
            others.append(objects)
            padding.append(~object_mask)
            key_boxes.append(object_boxes)
        rest, key_padding = torch.cat(others, dim=1), torch.cat(padding, dim=1)
        pairs = None
        if self.pair_geometry is not None:
            geometry = pairwise_geometry(actor_boxes.float(), torch.cat(key_boxes, dim=1).float())
            pairs = self.pair_geometry(geometry.to(actors.dtype))  # [B, N, N + L + M, dim]
        for block in self.blocks:
            actors = block(actors, rest, key_padding, pairs)
        return self.norm(actors)
