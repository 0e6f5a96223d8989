"""BMN: Boundary-Matching Network (Lin et al., ICCV 2019), with optional proposal relation encoding.

Input: snippet features ``[B, feat_dim, T]`` of whole videos rescaled to
``T = temporal_scale`` positions (ActivityNet style). Modules (parameter
names follow the reference implementation, so converted weights load):

- base module ``x_1d_b``: two ``Conv1d(k=3, groups=4)`` + ReLU → ``[B, H1, T]``;
- temporal evaluation module ``x_1d_s`` / ``x_1d_e``: ``Conv1d(k=3, groups=4)``
  + ReLU + ``Conv1d(k=1)`` + sigmoid → start / end probabilities ``[B, T]``;
- proposal evaluation module: ``x_1d_p`` (``Conv1d(k=3)`` + ReLU), the BM layer
  and ``Conv3d((N, 1, 1))`` + ReLU (``x_3d_p``, see
  :class:`~vidstruct.models.localization.bm_layer.BoundaryMatchingConv`) →
  ``[B, H3, D, T]``, then ``x_2d_p``: ``Conv2d(1x1)`` + two ``Conv2d(3x3)`` (each
  + ReLU) + ``Conv2d(1x1, 2)`` + sigmoid → confidence map ``[B, 2, D, T]``
  (channel 0: IoU regression, channel 1: classification).

Map cell ``(d, t)`` is the proposal over snippets ``t .. t + d``: normalized
time ``[t / T, (t + d + 1) / T]``, start probability ``start[t]``, end
probability ``end[t + d]``.

With a :class:`~vidstruct.models.localization.relation.RelationHead`
(``bmn(relation=True)``), the forward pass also picks each video's
``relation_top_k`` best valid cells by the BMN score ``start·end·cls·reg``
(detached), describes each by its BM features pooled over the sample points
(left context, inside, right context: ``3·H1``) and the PEM hidden map at the
cell (``H2``), and refines them jointly; :meth:`BMN.loss` then adds the
relation loss to BMN's.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.errors import ConfigError, ShapeError
from vidstruct.models.localization.bm_layer import IMPLS, BMGeometry, BoundaryMatchingConv, Impl, sample_cells
from vidstruct.models.localization.losses import bmn_loss
from vidstruct.models.localization.relation import RelationHead, relation_loss, relation_targets
from vidstruct.registry import MODELS

__all__ = ["BMN", "bmn"]


def _conv1d(c_in: int, c_out: int, groups: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, kernel_size=3, padding=1, groups=groups)


class BMN(nn.Module):
    """Snippet features ``[B, feat_dim, T]`` → ``{"start", "end", "confidence", ...}`` (see module doc)."""

    def __init__(
        self,
        *,
        feat_dim: int = 400,
        geometry: BMGeometry | None = None,
        hidden_dim_1d: int = 256,
        hidden_dim_2d: int = 128,
        hidden_dim_3d: int = 512,
        groups: int = 4,
        bm_impl: Impl = "fused",
        relation: RelationHead | None = None,
        relation_top_k: int = 100,
        relation_weight: float = 1.0,
    ) -> None:
        super().__init__()
        g = geometry or BMGeometry()
        for key, value in (("feat_dim", feat_dim), ("hidden_dim_1d", hidden_dim_1d)):
            if value % groups:
                raise ConfigError(f"{key}: expected a multiple of groups={groups}, got {value}")
        self.geometry = g
        self.feat_dim = feat_dim
        self.relation_top_k = relation_top_k
        self.relation_weight = relation_weight
        h1, h2, h3 = hidden_dim_1d, hidden_dim_2d, hidden_dim_3d
        self.x_1d_b = nn.Sequential(
            _conv1d(feat_dim, h1, groups), nn.ReLU(inplace=True), _conv1d(h1, h1, groups), nn.ReLU(inplace=True)
        )
        self.x_1d_s = nn.Sequential(_conv1d(h1, h1, groups), nn.ReLU(inplace=True), nn.Conv1d(h1, 1, 1), nn.Sigmoid())
        self.x_1d_e = nn.Sequential(_conv1d(h1, h1, groups), nn.ReLU(inplace=True), nn.Conv1d(h1, 1, 1), nn.Sigmoid())
        self.x_1d_p = nn.Sequential(_conv1d(h1, h1), nn.ReLU(inplace=True))
        self.x_3d_p = nn.Sequential(BoundaryMatchingConv(h1, h3, g, impl=bm_impl), nn.ReLU(inplace=True))
        self.x_2d_p = nn.Sequential(
            nn.Conv2d(h3, h2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, 2, 1), nn.Sigmoid(),
        )  # fmt: skip
        self.proposal_dim = 3 * h1 + h2
        if relation is not None and relation.in_dim != self.proposal_dim:
            raise ConfigError(
                f"relation head in_dim: expected 3·hidden_dim_1d + hidden_dim_2d = {self.proposal_dim}, "
                f"got {relation.in_dim}"
            )
        self.relation = relation

    def forward(self, feats: torch.Tensor, *, return_features: bool = False) -> dict[str, torch.Tensor]:
        """``feats [B, feat_dim, T]`` → probabilities ``start / end [B, T]``, ``confidence [B, 2, D, T]``.

        ``return_features`` adds ``"pem_1d" [B, H1, T]`` and ``"pem_2d" [B, H2, D, T]`` (inputs of
        :meth:`proposal_features`). With a relation head the dict also holds ``"proposal_cells"
        [B, P, 2]`` (``(d, t)``), ``"proposal_segments" [B, P, 2]`` (normalized), ``"proposal_mask"
        [B, P]`` and the head's ``"rel_cls_logit" [B, P]``, ``"rel_iou" [B, P]``, ``"rel_offsets" [B, P, 2]``.
        """
        g = self.geometry
        if feats.ndim != 3 or feats.shape[1] != self.feat_dim or feats.shape[2] != g.T:
            raise ShapeError(
                f"BMN input: expected snippet features [B, {self.feat_dim}, {g.T}], got {tuple(feats.shape)}"
            )
        base = self.x_1d_b(feats)
        out = {"start": self.x_1d_s(base).squeeze(1), "end": self.x_1d_e(base).squeeze(1)}
        pem_1d = self.x_1d_p(base)
        hidden = self.x_2d_p[:6](self.x_3d_p(pem_1d))
        out["confidence"] = self.x_2d_p[6:](hidden)
        if return_features:
            out["pem_1d"], out["pem_2d"] = pem_1d, hidden
        if self.relation is not None:
            d, t = self.top_cells(out, self.relation_top_k)
            mask = torch.ones_like(d, dtype=torch.bool)
            segments = torch.stack([t, t + d + 1], dim=-1).to(feats.dtype) / g.T
            rel = self.relation(self.proposal_features(pem_1d, hidden, d, t), segments, mask)
            out.update(proposal_cells=torch.stack([d, t], dim=-1), proposal_segments=segments, proposal_mask=mask)
            out.update({f"rel_{k}": v for k, v in rel.items()})
        return out

    def top_cells(self, outputs: dict[str, torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` valid cells with the highest ``start[t]·end[t+d]·reg·cls`` per video: ``(d, t)`` each ``[B, k']``.

        ``k' = min(k, number of valid cells)``; scores are detached.
        """
        score = proposal_scores(outputs["start"], outputs["end"], outputs["confidence"]).detach()
        B, D, T = score.shape
        flat = score.flatten(1)
        k = min(k, int((flat >= 0).sum(dim=1).min()))
        idx = flat.topk(k, dim=1).indices
        return idx // T, idx % T

    def proposal_features(
        self, pem_1d: torch.Tensor, pem_2d: torch.Tensor, d: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Features ``[B, P, 3·H1 + H2]`` of cells ``(d, t) [B, P]`` (see module doc)."""
        g = self.geometry
        bm = sample_cells(pem_1d, g, d, t)  # [B, H1, P, N]
        n = g.N
        q = (
            min(max(1, round(n * g.prop_boundary_ratio / (1 + 2 * g.prop_boundary_ratio))), (n - 1) // 2)
            if n >= 3
            else 0
        )
        parts = [bm[..., :q], bm[..., q : n - q], bm[..., n - q :]] if q else [bm, bm, bm]
        pooled = torch.cat([p.mean(-1) for p in parts], dim=1)  # [B, 3·H1, P]
        cell = (d * g.T + t).unsqueeze(1).expand(-1, pem_2d.shape[1], -1)
        local = pem_2d.flatten(2).gather(2, cell)  # [B, H2, P]
        return torch.cat([pooled, local], dim=1).transpose(1, 2)

    def loss(
        self,
        outputs: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """BMN loss (``tem + 10·pem_reg + pem_cls``), plus ``relation_weight ·`` the relation loss when the head is on.

        ``targets``: :func:`~vidstruct.models.localization.targets.bmn_targets_batch` (the relation
        loss also needs its ``"segments"`` and ``"segment_mask"``).
        """
        losses = bmn_loss(outputs, targets, generator=generator)
        if self.relation is not None and "rel_cls_logit" in outputs:
            for key in ("segments", "segment_mask"):
                if key not in targets:
                    raise ValueError(f"relation loss: targets lack {key!r}; have {sorted(targets)}")
            device = outputs["rel_cls_logit"].device
            rt = relation_targets(
                outputs["proposal_segments"], targets["segments"].to(device), targets["segment_mask"].to(device)
            )
            rel = {k[4:]: v for k, v in outputs.items() if k.startswith("rel_")}
            rl = relation_loss(rel, rt, outputs["proposal_mask"])
            losses.update(rl)
            losses["loss"] = losses["loss"] + self.relation_weight * rl["relation"]
        return losses


def proposal_scores(start: torch.Tensor, end: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """BMN score map ``[B, D, T]``: ``start[t] · end[t+d] · reg[d, t] · cls[d, t]`` on valid cells, ``-1`` elsewhere."""
    B, _, D, T = confidence.shape
    d = torch.arange(D, device=start.device).view(D, 1)
    t = torch.arange(T, device=start.device).view(1, T)
    end_idx = (t + d).clamp(max=T - 1)
    score = start[:, None, :] * end[:, end_idx] * confidence[:, 0] * confidence[:, 1]
    return torch.where((t + d) < T, score, torch.full_like(score, -1.0))


@MODELS.register("bmn")
def bmn(
    *,
    feat_dim: int = 400,
    temporal_scale: int = 100,
    max_duration: int | None = None,
    num_sample: int = 32,
    num_sample_perbin: int = 3,
    prop_boundary_ratio: float = 0.5,
    hidden_dim_1d: int = 256,
    hidden_dim_2d: int = 128,
    hidden_dim_3d: int = 512,
    groups: int = 4,
    bm_impl: str = "fused",
    relation: bool = False,
    relation_top_k: int = 100,
    relation_dim: int = 256,
    relation_layers: int = 2,
    relation_heads: int = 4,
    relation_dropout: float = 0.1,
    relation_weight: float = 1.0,
) -> BMN:
    """BMN on ``[B, feat_dim, temporal_scale]`` snippet features; ``relation=True`` adds the proposal relation head.

    ``bm_impl``: ``"fused"`` (memory-lean, default), ``"gather"`` or ``"dense"`` (the reference's
    mask product); all give the same outputs.
    """
    if bm_impl not in IMPLS:
        raise ConfigError(f"bm_impl: expected one of {', '.join(IMPLS)}, got {bm_impl!r}")
    geometry = BMGeometry(temporal_scale, max_duration, num_sample, num_sample_perbin, prop_boundary_ratio)
    head = None
    if relation:
        head = RelationHead(
            in_dim=3 * hidden_dim_1d + hidden_dim_2d,
            d_model=relation_dim,
            num_layers=relation_layers,
            num_heads=relation_heads,
            dropout=relation_dropout,
        )
    return BMN(
        feat_dim=feat_dim,
        geometry=geometry,
        hidden_dim_1d=hidden_dim_1d,
        hidden_dim_2d=hidden_dim_2d,
        hidden_dim_3d=hidden_dim_3d,
        groups=groups,
        bm_impl=bm_impl,  # type: ignore[arg-type]
        relation=head,
        relation_top_k=relation_top_k,
        relation_weight=relation_weight,
    )
