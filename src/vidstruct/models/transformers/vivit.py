"""ViViT: A Video Vision Transformer (Arnab et al., ICCV 2021), the three tubelet-embedding variants.

- model 1, joint space-time attention (``vivit_b_joint``): CLS + all
  ``T'·H'·W'`` tubelet tokens in one encoder; the architecture (and parameter
  count) of Hugging Face ``VivitForVideoClassification``, whose weights
  :mod:`vidstruct.models.convert.hf` converts;
- model 2, factorised encoder (``vivit_b_fe``): a spatial encoder over the
  ``H'·W'`` tokens of each temporal index (with its own CLS), then a temporal
  encoder over the ``T'`` spatial CLS outputs (with a temporal CLS);
- model 3, factorised self-attention (``vivit_b_fsa``): each block attends
  over space within a time step, then over time at each spatial position,
  then the MLP; no CLS token, the classifier reads global-average-pooled tokens.

All take clips ``[B, 3, T, H, W]`` normalized with mean = std = 0.5 (i.e.
``[0, 1]`` pixels mapped to ``[-1, 1]``, ViViT's zero-centred input; these are
the ``image_mean`` / ``image_std`` of HF's ``VivitImageProcessor``, which
however also rescales to ``[-1, 1]`` before normalizing). Other frame
counts / resolutions work: position embeddings are interpolated on the fly,
or permanently with :meth:`~VideoTransformer.resize_input`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidstruct.models.spec import InputSpec
from vidstruct.models.transformers.attention import (
    Mlp,
    SelfAttention,
    TransformerBlock,
    drop_path,
    drop_path_rates,
    mlp_hidden,
)
from vidstruct.models.transformers.base import VideoTransformer, init_transformer_weights, replace_parameter
from vidstruct.models.transformers.embeddings import Grid, TubeletEmbedding, as_triple, resize_pos_embed
from vidstruct.registry import MODELS

VIVIT_MEAN = (0.5, 0.5, 0.5)
VIVIT_STD = (0.5, 0.5, 0.5)


def vivit_input_spec(num_frames: int, image_size: int) -> InputSpec:
    """ViViT's default input: ``num_frames`` frames, 2 source frames apart, short side 256, centre crop."""
    short_side = max(image_size, round(image_size * 256 / 224))
    return InputSpec(
        num_frames=num_frames,
        frame_interval=2,
        crop_size=image_size,
        short_side=short_side,
        mean=VIVIT_MEAN,
        std=VIVIT_STD,
    )


def _blocks(depth: int, dim: int, num_heads: int, drop_path_rate: float, **kwargs: object) -> nn.ModuleList:
    return nn.ModuleList(
        TransformerBlock(dim, num_heads, drop_path_rate=r, **kwargs)  # type: ignore[arg-type]
        for r in drop_path_rates(drop_path_rate, depth)
    )


class _ViViTBase(VideoTransformer):
    def __init__(
        self,
        *,
        num_classes: int,
        image_size: int,
        num_frames: int,
        tubelet_size: Sequence[int],
        hidden_size: int,
        dropout: float,
        head_dropout: float,
        in_channels: int = 3,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            feature_dim=hidden_size,
            head_dropout=head_dropout,
            input_spec=vivit_input_spec(num_frames, image_size),
        )
        self.patch_embed = TubeletEmbedding(in_channels, hidden_size, as_triple(tubelet_size, "tubelet_size"))
        self.grid = self.patch_embed.grid(num_frames, image_size, image_size)
        self.pos_drop = nn.Dropout(dropout)


class ViViTJoint(_ViViTBase):
    """ViViT model 1: joint space-time attention over CLS + ``T'·H'·W'`` tubelet tokens."""

    def __init__(
        self,
        *,
        num_classes: int = 400,
        image_size: int = 224,
        num_frames: int = 32,
        tubelet_size: Sequence[int] = (2, 16, 16),
        hidden_size: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        activation: str = "gelu_tanh",
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            image_size=image_size,
            num_frames=num_frames,
            tubelet_size=tubelet_size,
            hidden_size=hidden_size,
            dropout=dropout,
            head_dropout=head_dropout,
        )
        t, h, w = self.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + t * h * w, hidden_size))
        self.blocks = _blocks(
            depth,
            hidden_size,
            num_heads,
            drop_path_rate,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
        )
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """CLS output ``[B, D]`` of clips ``[B, C, T, H, W]``."""
        tokens = self._tokens(x)
        grid = tuple(tokens.shape[1:4])
        tokens = tokens.flatten(1, 3)
        pos = self.pos_embed if grid == self.grid else resize_pos_embed(self.pos_embed, self.grid, grid, 1)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + pos
        tokens = self.pos_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]

    def _resize_position_embeddings(self, new_grid: Grid) -> None:
        self.pos_embed = replace_parameter(self.pos_embed, resize_pos_embed(self.pos_embed, self.grid, new_grid, 1))


class ViViTFactorisedEncoder(_ViViTBase):
    """ViViT model 2: spatial encoder per temporal index, then a temporal encoder over their CLS outputs."""

    def __init__(
        self,
        *,
        num_classes: int = 400,
        image_size: int = 224,
        num_frames: int = 32,
        tubelet_size: Sequence[int] = (2, 16, 16),
        hidden_size: int = 768,
        depth: int = 12,
        temporal_depth: int = 4,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        activation: str = "gelu_tanh",
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            image_size=image_size,
            num_frames=num_frames,
            tubelet_size=tubelet_size,
            hidden_size=hidden_size,
            dropout=dropout,
            head_dropout=head_dropout,
        )
        t, h, w = self.grid
        block_kwargs = dict(
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + h * w, hidden_size))
        self.blocks = _blocks(depth, hidden_size, num_heads, drop_path_rate, **block_kwargs)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, 1 + t, hidden_size))
        self.temporal_blocks = _blocks(temporal_depth, hidden_size, num_heads, drop_path_rate, **block_kwargs)
        self.temporal_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos_embed, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Temporal CLS output ``[B, D]`` of clips ``[B, C, T, H, W]``."""
        tokens = self._tokens(x)
        b, t, h, w, d = tokens.shape
        _, old_h, old_w = self.grid
        spatial = tokens.reshape(b * t, h * w, d)
        pos = self.pos_embed
        if (h, w) != (old_h, old_w):
            pos = resize_pos_embed(pos, (1, old_h, old_w), (1, h, w), 1)
        spatial = torch.cat([self.cls_token.expand(b * t, -1, -1), spatial], dim=1) + pos
        spatial = self.pos_drop(spatial)
        for block in self.blocks:
            spatial = block(spatial)
        frames = self.norm(spatial)[:, 0].reshape(b, t, d)
        pos_t = self.temporal_pos_embed
        if t != self.grid[0]:
            pos_t = resize_pos_embed(pos_t, (self.grid[0], 1, 1), (t, 1, 1), 1)
        temporal = torch.cat([self.temporal_cls_token.expand(b, -1, -1), frames], dim=1) + pos_t
        for block in self.temporal_blocks:
            temporal = block(temporal)
        return self.temporal_norm(temporal)[:, 0]

    def _resize_position_embeddings(self, new_grid: Grid) -> None:
        (t, h, w), (new_t, new_h, new_w) = self.grid, new_grid
        self.pos_embed = replace_parameter(
            self.pos_embed, resize_pos_embed(self.pos_embed, (1, h, w), (1, new_h, new_w), 1)
        )
        self.temporal_pos_embed = replace_parameter(
            self.temporal_pos_embed, resize_pos_embed(self.temporal_pos_embed, (t, 1, 1), (new_t, 1, 1), 1)
        )


class FactorisedSelfAttentionBlock(nn.Module):
    """ViViT model 3 block on tokens ``[B, T', N, D]``: spatial attention, temporal attention, MLP (pre-norm)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        activation: str = "gelu_tanh",
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        attn_kwargs = dict(qkv_bias=qkv_bias, attention_dropout=attention_dropout, dropout=dropout)
        self.spatial_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.spatial_attn = SelfAttention(dim, num_heads, **attn_kwargs)  # type: ignore[arg-type]
        self.temporal_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.temporal_attn = SelfAttention(dim, num_heads, **attn_kwargs)  # type: ignore[arg-type]
        self.mlp_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, mlp_hidden(dim, mlp_ratio), activation=activation, dropout=dropout)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, d = x.shape
        s = x.reshape(b * t, n, d)
        s = s + self.drop_path(self.spatial_attn(self.spatial_norm(s)))
        tt = s.reshape(b, t, n, d).transpose(1, 2).reshape(b * n, t, d)
        tt = tt + self.drop_path(self.temporal_attn(self.temporal_norm(tt)))
        x = tt.reshape(b, n, t, d).transpose(1, 2)
        return x + self.drop_path(self.mlp(self.mlp_norm(x)))


class ViViTFactorisedSelfAttention(_ViViTBase):
    """ViViT model 3: blocks of spatial-then-temporal self-attention; global average pooled tokens."""

    def __init__(
        self,
        *,
        num_classes: int = 400,
        image_size: int = 224,
        num_frames: int = 32,
        tubelet_size: Sequence[int] = (2, 16, 16),
        hidden_size: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        activation: str = "gelu_tanh",
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            image_size=image_size,
            num_frames=num_frames,
            tubelet_size=tubelet_size,
            hidden_size=hidden_size,
            dropout=dropout,
            head_dropout=head_dropout,
        )
        t, h, w = self.grid
        self.pos_embed = nn.Parameter(torch.zeros(1, t * h * w, hidden_size))
        self.blocks = nn.ModuleList(
            FactorisedSelfAttentionBlock(
                hidden_size,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                dropout=dropout,
                attention_dropout=attention_dropout,
                drop_path_rate=r,
                activation=activation,
                layer_norm_eps=layer_norm_eps,
            )
            for r in drop_path_rates(drop_path_rate, depth)
        )
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the final tokens ``[B, D]`` of clips ``[B, C, T, H, W]``."""
        tokens = self._tokens(x)
        b, t, h, w, d = tokens.shape
        pos = self.pos_embed if (t, h, w) == self.grid else resize_pos_embed(self.pos_embed, self.grid, (t, h, w))
        tokens = self.pos_drop(tokens.reshape(b, t * h * w, d) + pos).reshape(b, t, h * w, d)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens).mean(dim=(1, 2))

    def _resize_position_embeddings(self, new_grid: Grid) -> None:
        self.pos_embed = replace_parameter(self.pos_embed, resize_pos_embed(self.pos_embed, self.grid, new_grid))


@MODELS.register("vivit_b_joint")
def vivit_b_joint(
    *,
    num_classes: int = 400,
    image_size: int = 224,
    num_frames: int = 32,
    tubelet_size: tuple[int, int, int] = (2, 16, 16),
    hidden_size: int = 768,
    depth: int = 12,
    num_heads: int = 12,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    head_dropout: float = 0.0,
    activation: str = "gelu_tanh",
    layer_norm_eps: float = 1e-6,
) -> ViViTJoint:
    """ViViT-B/16x2 model 1 (joint space-time), 32 x 224² input; = HF ``VivitForVideoClassification``."""
    return ViViTJoint(**locals())


@MODELS.register("vivit_b_fe")
def vivit_b_fe(
    *,
    num_classes: int = 400,
    image_size: int = 224,
    num_frames: int = 32,
    tubelet_size: tuple[int, int, int] = (2, 16, 16),
    hidden_size: int = 768,
    depth: int = 12,
    temporal_depth: int = 4,
    num_heads: int = 12,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    head_dropout: float = 0.0,
    activation: str = "gelu_tanh",
    layer_norm_eps: float = 1e-6,
) -> ViViTFactorisedEncoder:
    """ViViT-B/16x2 model 2 (factorised encoder: 12 spatial + 4 temporal layers), 32 x 224² input."""
    return ViViTFactorisedEncoder(**locals())


@MODELS.register("vivit_b_fsa")
def vivit_b_fsa(
    *,
    num_classes: int = 400,
    image_size: int = 224,
    num_frames: int = 32,
    tubelet_size: tuple[int, int, int] = (2, 16, 16),
    hidden_size: int = 768,
    depth: int = 12,
    num_heads: int = 12,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    head_dropout: float = 0.0,
    activation: str = "gelu_tanh",
    layer_norm_eps: float = 1e-6,
) -> ViViTFactorisedSelfAttention:
    """ViViT-B/16x2 model 3 (factorised self-attention: space then time in each block), 32 x 224² input."""
    return ViViTFactorisedSelfAttention(**locals())
