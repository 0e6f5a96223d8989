"""The contract every registered recognition model follows.

- input: float ``[B, C, T, H, W]`` clips, normalized per :attr:`input_spec`;
- :meth:`forward` → logits ``[B, num_classes]`` (raw; callers turn them into
  probabilities with softmax or sigmoid and say which);
- :meth:`forward_features` → pooled features ``[B, feature_dim]`` (used by
  feature extraction, linear probes and localization);
- :meth:`reset_head` replaces the classifier for another number of classes.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.errors import ShapeError
from vidstruct.models.spec import InputSpec


class VideoModel(nn.Module):
    """Base class: subclasses set ``input_spec``, ``num_classes``, ``feature_dim``."""

    input_spec: InputSpec
    num_classes: int
    feature_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Pooled features ``[B, feature_dim]`` of clips ``[B, C, T, H, W]``."""
        raise NotImplementedError

    def reset_head(self, num_classes: int) -> None:  # pragma: no cover - abstract
        """Replace the classification head by a freshly initialized one."""
        raise NotImplementedError


def check_clip(x: torch.Tensor, channels: int = 3, name: str = "clip") -> None:
    """Raise :class:`InputError` unless ``x`` is a float ``[B, C, T, H, W]`` tensor with C = ``channels``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor [B, C, T, H, W], got {type(x).__name__}")
    if x.ndim != 5:
        raise ShapeError(f"{name}: expected 5 dims [B, C, T, H, W], got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        hint = " (channels-last [B, T, H, W, C] input? permute to [B, C, T, H, W])" if x.shape[-1] == channels else ""
        raise ShapeError(f"{name}: expected {channels} channels at dim 1, got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise ShapeError(f"{name}: expected a float tensor, got {x.dtype} (normalize uint8 frames first)")
