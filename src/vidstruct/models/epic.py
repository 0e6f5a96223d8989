"""EPIC-Kitchens-100 recognition model: any registered backbone with a verb head and a noun head.

``epic_verb_noun`` (registered in :data:`~vidstruct.registry.MODELS`) builds the backbone ``backbone`` from
the registry with ``backbone_kwargs``, drops its classifier and puts an
:class:`~vidstruct.models.heads.EpicVerbNounHead` on its pooled features::

    clip [B, C, T, H, W] → backbone.forward_features → [B, D] → dropout → {"verb": [B, V], "noun": [B, N]} logits

The class names travel with the model (``verb_classes`` / ``noun_classes``, builder arguments, so a model
checkpoint alone is enough to name a prediction). Action probabilities are ``softmax(verb)[v] ·
softmax(noun)[n]`` (:func:`~vidstruct.models.heads.action_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from vidstruct.errors import ConfigError
from vidstruct.models.base import VideoModel
from vidstruct.models.heads import EpicVerbNounHead
from vidstruct.models.spec import InputSpec
from vidstruct.registry import MODELS

__all__ = ["EpicVerbNounModel", "epic_verb_noun"]


class EpicVerbNounModel(VideoModel):
    """A backbone (its classifier removed) + verb and noun heads; ``forward`` returns a dict of logits.

    ``num_classes`` is ``num_verbs + num_nouns`` (the width of both heads together); ``feature_dim`` the
    backbone's pooled feature size.
    """

    head_prefix = "head."

    def __init__(
        self,
        backbone: VideoModel,
        *,
        verb_classes: Sequence[str],
        noun_classes: Sequence[str],
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if not verb_classes or not noun_classes:
            raise ValueError("verb_classes and noun_classes must be non-empty")
        backbone.head = nn.Identity()  # the backbone's own classifier is never used
        self.backbone = backbone
        self.verb_classes, self.noun_classes = list(verb_classes), list(noun_classes)
        self.num_verbs, self.num_nouns = len(self.verb_classes), len(self.noun_classes)
        self.num_classes = self.num_verbs + self.num_nouns
        self.feature_dim = int(backbone.feature_dim)
        self.dropout_rate = dropout
        self.input_spec: InputSpec = backbone.input_spec
        self.head = EpicVerbNounHead(
            self.feature_dim, num_verbs=self.num_verbs, num_nouns=self.num_nouns, dropout=dropout
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``[B, feature_dim]`` of clips ``[B, C, T, H, W]``."""
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """``{"verb": [B, num_verbs], "noun": [B, num_nouns]}`` logits of clips ``[B, C, T, H, W]``."""
        return self.head(self.forward_features(x))

    def reset_head(self, num_classes: int | None = None) -> None:
        """Fresh verb and noun heads (same class counts; ``num_classes`` is accepted for the common interface)."""
        device = self.head.verb.weight.device
        self.head = EpicVerbNounHead(
            self.feature_dim, num_verbs=self.num_verbs, num_nouns=self.num_nouns, dropout=self.dropout_rate
        ).to(device)


@MODELS.register("epic_verb_noun")
def epic_verb_noun(
    *,
    backbone: str,
    backbone_kwargs: dict[str, Any] | None = None,
    verb_classes: list[str] | None = None,
    noun_classes: list[str] | None = None,
    num_verbs: int = 97,
    num_nouns: int = 300,
    dropout: float = 0.5,
) -> EpicVerbNounModel:
    """EPIC-100 verb + noun heads on the registered ``backbone`` (built with ``backbone_kwargs``).

    Class names default to ``"0" .. "K-1"`` for ``num_verbs`` / ``num_nouns`` classes (97 / 300 as in
    EPIC-100); given names fix the counts.
    """
    if backbone == "epic_verb_noun":
        raise ConfigError("epic_verb_noun: backbone must be a backbone model, not epic_verb_noun itself")
    verbs = list(verb_classes) if verb_classes else [str(i) for i in range(num_verbs)]
    nouns = list(noun_classes) if noun_classes else [str(i) for i in range(num_nouns)]
    net = MODELS.build(backbone, **dict(backbone_kwargs or {}))
    return EpicVerbNounModel(net, verb_classes=verbs, noun_classes=nouns, dropout=dropout)
