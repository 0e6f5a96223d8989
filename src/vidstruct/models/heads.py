"""Classification heads on backbone features, registered in :data:`vidstruct.registry.HEADS`.

- ``linear``: global average pooling of a feature map ``[B, D, T, H, W]`` (or
  pooled features ``[B, D]`` as they are) → dropout → linear → logits;
- ``transformer``: tokens from a feature map (one per time step after spatial
  pooling, or one per ``(t, h, w)`` cell) + CLS + position embeddings → a few
  pre-norm encoder layers → LayerNorm → CLS → dropout → linear;
- ``epic_verb_noun``: EPIC-Kitchens-100 multi-task head, verb and noun logits;
  :func:`action_scores` turns them into action probabilities
  ``p(verb, noun) = softmax(verb)[v] · softmax(noun)[n]`` and
  :func:`topk_actions` picks the best (verb, noun) pairs.

Every head returns raw logits; callers apply softmax and say so.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidstruct.errors import InputError, ShapeError
from vidstruct.models.transformers.attention import TransformerBlock, drop_path_rates
from vidstruct.models.transformers.embeddings import as_triple, resize_pos_embed
from vidstruct.registry import HEADS

TOKEN_MODES = ("temporal", "spatiotemporal")


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """``[B, D, *spatial]`` → ``[B, D]`` by averaging every axis after the channels; ``[B, D]`` passes through."""
    if x.ndim < 2:
        raise ShapeError(f"features: expected [B, D] or [B, D, T, H, W], got shape {tuple(x.shape)}")
    return x.flatten(2).mean(dim=2) if x.ndim > 2 else x


def _check_channels(x: torch.Tensor, expected: int, name: str) -> None:
    if x.ndim < 2 or x.shape[1] != expected:
        raise ShapeError(f"{name}: expected {expected} channels at dim 1, got shape {tuple(x.shape)}")


class LinearHead(nn.Module):
    """Features ``[B, D]`` or a map ``[B, D, T, H, W]`` → logits ``[B, num_classes]``."""

    def __init__(self, in_features: int, num_classes: int, *, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_features = in_features
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.in_features, "features")
        return self.fc(self.dropout(global_pool(x)))


class TransformerHead(nn.Module):
    """A small transformer over a CNN feature map ``[B, D, T, H, W]`` → logits ``[B, num_classes]``.

    ``tokens="temporal"``: average over ``H, W`` → ``T`` tokens;
    ``tokens="spatiotemporal"``: one token per ``(t, h, w)`` cell. Tokens are
    projected to ``hidden_size``, a CLS token is prepended, learned position
    embeddings for ``grid = (T, H, W)`` are added (interpolated when the map
    has another size: linearly over time, bicubically over space).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden_size: int = 512,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.5,
        attention_dropout: float = 0.0,
        token_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        tokens: str = "temporal",
        grid: Sequence[int] = (8, 7, 7),
    ) -> None:
        super().__init__()
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {TOKEN_MODES}, got {tokens!r}")
        self.in_channels, self.hidden_size, self.tokens = in_channels, hidden_size, tokens
        t, h, w = as_triple(grid, "grid")
        self.grid = (t, 1, 1) if tokens == "temporal" else (t, h, w)
        self.proj = nn.Linear(in_channels, hidden_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1] * self.grid[2], hidden_size))
        self.pos_drop = nn.Dropout(token_dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                hidden_size,
                num_heads,
                mlp_ratio=mlp_ratio,
                dropout=token_dropout,
                attention_dropout=attention_dropout,
                drop_path_rate=r,
            )
            for r in drop_path_rates(drop_path_rate, depth)
        )
        self.norm = nn.LayerNorm(hidden_size, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """CLS output ``[B, hidden_size]`` of a feature map ``[B, D, T, H, W]``."""
        if x.ndim != 5:
            raise ShapeError(f"feature map: expected [B, D, T, H, W], got shape {tuple(x.shape)}")
        _check_channels(x, self.in_channels, "feature map")
        if self.tokens == "temporal":
            x = x.mean(dim=(3, 4), keepdim=True)
        b, _, t, h, w = x.shape
        tokens = self.proj(x.flatten(2).transpose(1, 2))  # [B, T·H·W, hidden], (t, h, w) order
        pos = self.pos_embed if (t, h, w) == self.grid else resize_pos_embed(self.pos_embed, self.grid, (t, h, w), 1)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1) + pos
        tokens = self.pos_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of a feature map ``[B, D, T, H, W]``."""
        return self.fc(self.dropout(self.forward_features(x)))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final linear layer (truncated-normal(0.02) init)."""
        self.fc = nn.Linear(self.hidden_size, num_classes).to(self.fc.weight.device)
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)


class EpicVerbNounHead(nn.Module):
    """EPIC-Kitchens-100 head: features ``[B, D]`` (or a map) → ``{"verb": [B, V], "noun": [B, N]}`` logits."""

    def __init__(self, in_features: int, *, num_verbs: int = 97, num_nouns: int = 300, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_features = in_features
        self.dropout = nn.Dropout(dropout)
        self.verb = nn.Linear(in_features, num_verbs)
        self.noun = nn.Linear(in_features, num_nouns)
        for fc in (self.verb, self.noun):
            nn.init.normal_(fc.weight, std=0.01)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_channels(x, self.in_features, "features")
        x = self.dropout(global_pool(x))
        return {"verb": self.verb(x), "noun": self.noun(x)}


def action_scores(verb_logits: torch.Tensor, noun_logits: torch.Tensor) -> torch.Tensor:
    """Action probabilities ``[B, V, N]``: ``softmax(verb)[:, v] * softmax(noun)[:, n]`` (sum to 1 per sample).

    Verb and noun are treated as independent given the clip, EPIC-Kitchens'
    usual way of scoring actions from a two-head model.
    """
    if verb_logits.ndim != 2 or noun_logits.ndim != 2 or verb_logits.shape[0] != noun_logits.shape[0]:
        raise ShapeError(
            f"expected verb logits [B, V] and noun logits [B, N] with the same B, "
            f"got {tuple(verb_logits.shape)} and {tuple(noun_logits.shape)}"
        )
    p_verb = verb_logits.float().softmax(dim=1)
    p_noun = noun_logits.float().softmax(dim=1)
    return p_verb[:, :, None] * p_noun[:, None, :]


def topk_actions(action_probs: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` most probable actions of ``action_probs [B, V, N]``.

    Returns ``(probs [B, k], verbs [B, k], nouns [B, k])``, best first; action
    ``i`` of sample ``b`` is the pair ``(verbs[b, i], nouns[b, i])``.
    """
    if action_probs.ndim != 3:
        raise ShapeError(f"action scores: expected [B, V, N], got shape {tuple(action_probs.shape)}")
    b, v, n = action_probs.shape
    if not 1 <= k <= v * n:
        raise InputError(f"k must be in [1, {v * n}] (verbs x nouns), got {k}")
    probs, flat = action_probs.reshape(b, v * n).topk(k, dim=1)
    return probs, torch.div(flat, n, rounding_mode="floor"), flat % n


@HEADS.register("linear")
def linear_head(*, in_features: int, num_classes: int = 400, dropout: float = 0.5) -> LinearHead:
    """Global average pooling (of a map) → dropout → linear."""
    return LinearHead(in_features, num_classes, dropout=dropout)


@HEADS.register("transformer")
def transformer_head(
    *,
    in_channels: int,
    num_classes: int = 400,
    hidden_size: int = 512,
    depth: int = 2,
    num_heads: int = 8,
    mlp_ratio: float = 4.0,
    dropout: float = 0.5,
    attention_dropout: float = 0.0,
    token_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    tokens: str = "temporal",
    grid: tuple[int, int, int] = (8, 7, 7),
) -> TransformerHead:
    """Transformer encoder layers over feature-map tokens (``tokens``: temporal / spatiotemporal) + CLS → linear."""
    return TransformerHead(
        in_channels,
        num_classes,
        hidden_size=hidden_size,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        dropout=dropout,
        attention_dropout=attention_dropout,
        token_dropout=token_dropout,
        drop_path_rate=drop_path_rate,
        tokens=tokens,
        grid=grid,
    )


@HEADS.register("epic_verb_noun")
def epic_verb_noun_head(
    *, in_features: int, num_verbs: int = 97, num_nouns: int = 300, dropout: float = 0.5
) -> EpicVerbNounHead:
    """EPIC-Kitchens-100 verb (97) and noun (300) logits from shared features."""
    return EpicVerbNounHead(in_features, num_verbs=num_verbs, num_nouns=num_nouns, dropout=dropout)
