"""Shared plumbing of the video transformers: classifier head, init, input resizing.

Subclasses build their token pipeline and implement :meth:`forward_features`
(``[B, C, T, H, W] → [B, D]``) and :meth:`_resize_position_embeddings`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from vidstruct.models.base import VideoModel, check_clip
from vidstruct.models.spec import InputSpec
from vidstruct.models.transformers.embeddings import Grid, TubeletEmbedding


def init_transformer_weights(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal(std) linear / conv weights, zero biases, unit LayerNorms (ViT init)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv3d, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class VideoTransformer(VideoModel):
    """A tubelet-embedding transformer with a ``dropout → linear`` classifier on pooled features ``[B, D]``."""

    patch_embed: TubeletEmbedding
    grid: Grid  # token grid (T', H', W') the position embeddings are stored for

    def __init__(self, *, num_classes: int, feature_dim: int, head_dropout: float, input_spec: InputSpec) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self.input_spec = input_spec
        self.head_drop = nn.Dropout(head_dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of clips ``[B, C, T, H, W]``."""
        return self.head(self.head_drop(self.forward_features(x)))

    def reset_head(self, num_classes: int) -> None:
        """A new truncated-normal(0.02) classifier for ``num_classes`` classes."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.feature_dim, num_classes).to(self.head.weight.device)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Checked clip ``[B, C, T, H, W]`` → tubelet tokens ``[B, T', H', W', D]``."""
        check_clip(x, channels=self.patch_embed.proj.in_channels)
        return self.patch_embed(x)

    def resize_input(self, *, num_frames: int | None = None, image_size: int | None = None) -> None:
        """Permanently resize the position embeddings for ``num_frames`` x ``image_size``² clips.

        Spatial embeddings are interpolated bicubically, temporal ones linearly,
        CLS embeddings kept; :attr:`input_spec` is updated. (Any input size also
        works without this call: forward interpolates on the fly.)
        """
        num_frames = num_frames or self.input_spec.num_frames
        image_size = image_size or self.input_spec.crop_size
        new_grid = self.patch_embed.grid(num_frames, image_size, image_size)
        with torch.no_grad():
            self._resize_position_embeddings(new_grid)
        self.grid = new_grid
        spec = self.input_spec
        short_side = max(image_size, round(spec.short_side * image_size / spec.crop_size))
        self.input_spec = dataclasses.replace(spec, num_frames=num_frames, crop_size=image_size, short_side=short_side)

    def _resize_position_embeddings(self, new_grid: Grid) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def replace_parameter(old: nn.Parameter, value: torch.Tensor) -> nn.Parameter:
    """A new trainable parameter holding ``value`` (same dtype / device as ``old``)."""
    return nn.Parameter(value.detach().to(dtype=old.dtype, device=old.device).clone(), requires_grad=old.requires_grad)
