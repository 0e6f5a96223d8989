"""Weakly supervised temporal action localization from video-level labels (BaS-Net style).

Lee et al., "Background Suppression Network for Weakly-supervised Temporal
Action Localization" (AAAI 2020). Snippet features ``[B, F, T]`` go through:

- a filtering (foreground attention) module: ``Conv1d(k=3)`` + LeakyReLU +
  ``Conv1d(k=1)`` + sigmoid → ``attention [B, T]`` in ``[0, 1]``;
- a CAS module: ``Conv1d(k=3)`` + LeakyReLU + dropout + ``Conv1d(k=1)`` →
  class activation sequence logits ``[B, T, C + 1]`` (the last class is
  background), applied twice, in two branches:

  - **base** branch: on the features as they are;
  - **suppressed** branch: on ``attention · features`` (background snippets
    are filtered out before classification).

Multiple-instance learning: per class, the mean of the top ``k = max(1, T //
topk_ratio)`` activations over time (``topk_ratio = 8``) is the video-level
logit ``[B, C + 1]``. Losses (:meth:`WeakCAS.loss`), with video labels
``[B, C]`` (multi-hot):

- base branch: cross-entropy of ``softmax(video_logits_base)`` with the
  labels plus background = 1, normalized to sum to 1;
- suppressed branch: the same with background = 0 (the attention must remove
  the background for this to be satisfiable);
- ``norm_weight · mean |attention|`` (sparse foreground).

At inference, :meth:`WeakCAS.probabilities` gives the suppressed branch's
softmax CAS times the attention ``[B, T, C]`` and video scores ``[B, C]``
(background dropped);
:func:`~vidstruct.eval.localization.decode.decode_cas` turns them into segments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.errors import ConfigError, ShapeError
from vidstruct.registry import MODELS

__all__ = ["WeakCAS", "topk_pool", "weak_cas"]


def topk_pool(cas: torch.Tensor, k: int) -> torch.Tensor:
    """MIL pooling: ``cas [B, T, K]`` → mean of the ``k`` largest values over time per class, ``[B, K]``."""
    k = max(1, min(k, cas.shape[1]))
    return cas.topk(k, dim=1).values.mean(dim=1)


class WeakCAS(nn.Module):
    """Snippet features ``[B, feat_dim, T]`` → CAS logits ``[B, T, C + 1]``, video logits ``[B, C + 1]``."""

    def __init__(
        self,
        *,
        feat_dim: int = 2048,
        num_classes: int = 20,
        hidden_dim: int = 512,
        dropout: float = 0.7,
        topk_ratio: int = 8,
        norm_weight: float = 1e-4,
    ) -> None:
        super().__init__()
        if num_classes < 1 or topk_ratio < 1:
            raise ConfigError(f"weak_cas: num_classes and topk_ratio must be ≥ 1, got {num_classes}, {topk_ratio}")
        self.feat_dim, self.num_classes = feat_dim, num_classes
        self.topk_ratio, self.norm_weight = topk_ratio, norm_weight
        self.filter = nn.Sequential(
            nn.Conv1d(feat_dim, hidden_dim, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv1d(hidden_dim, 1, 1), nn.Sigmoid()
        )
        self.cas = nn.Sequential(
            nn.Conv1d(feat_dim, hidden_dim, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Conv1d(hidden_dim, num_classes + 1, 1),
        )

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"cas", "cas_base" [B, T, C+1], "video_logits", "video_logits_base" [B, C+1], "attention" [B, T]}``.

        All logits except ``attention`` (a probability).
        """
        if feats.ndim != 3 or feats.shape[1] != self.feat_dim:
            raise ShapeError(
                f"weak_cas input: expected snippet features [B, {self.feat_dim}, T], got {tuple(feats.shape)}"
            )
        attention = self.filter(feats).squeeze(1)
        cas_base = self.cas(feats).transpose(1, 2)
        cas = self.cas(feats * attention.unsqueeze(1)).transpose(1, 2)
        k = max(1, feats.shape[2] // self.topk_ratio)
        return {
            "cas": cas,
            "cas_base": cas_base,
            "video_logits": topk_pool(cas, k),
            "video_logits_base": topk_pool(cas_base, k),
            "attention": attention,
        }

    @staticmethod
    def probabilities(outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class activations ``[B, T, C]`` and video scores ``[B, C]``, probabilities (background dropped).

        Activation of class ``c`` at snippet ``t``: ``softmax(cas[t])[c] · attention[t]`` (suppressed
        branch, weighted by the foreground probability: a filtered-out snippet carries no evidence
        for any class); video scores: ``softmax(video_logits)[c]``.
        """
        cas = torch.softmax(outputs["cas"], dim=-1)[..., :-1] * outputs["attention"].unsqueeze(-1)
        video = torch.softmax(outputs["video_logits"], dim=-1)[..., :-1]
        return cas, video

    def loss(
        self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor] | torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "base", "supp", "norm"}`` for video labels ``[B, C]`` (multi-hot; or ``targets["labels"]``)."""
        labels = targets["labels"] if isinstance(targets, dict) else targets
        logits = outputs["video_logits"]
        B = logits.shape[0]
        if labels.shape != (B, self.num_classes):
            raise ShapeError(f"video labels: expected multi-hot [{B}, {self.num_classes}], got {tuple(labels.shape)}")
        labels = labels.to(logits.dtype)
        ones, zeros = torch.ones_like(labels[:, :1]), torch.zeros_like(labels[:, :1])
        base = _soft_ce(outputs["video_logits_base"], torch.cat([labels, ones], dim=1))
        supp = _soft_ce(logits, torch.cat([labels, zeros], dim=1))
        norm = outputs["attention"].abs().mean()
        return {"loss": base + supp + self.norm_weight * norm, "base": base, "supp": supp, "norm": norm}


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the target rows normalized to sum to 1 (an all-zero row contributes 0)."""
    target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=1).mean()


@MODELS.register("weak_cas")
def weak_cas(
    *,
    feat_dim: int = 2048,
    num_classes: int = 20,
    hidden_dim: int = 512,
    dropout: float = 0.7,
    topk_ratio: int = 8,
    norm_weight: float = 1e-4,
) -> WeakCAS:
    """Weakly supervised CAS model (BaS-Net style) on ``[B, feat_dim, T]`` snippet features; THUMOS-14 defaults."""
    return WeakCAS(
        feat_dim=feat_dim,
        num_classes=num_classes,
        hidden_dim=hidden_dim,
        dropout=dropout,
        topk_ratio=topk_ratio,
        norm_weight=norm_weight,
    )
