"""TimeSformer with divided space-time attention (Bertasius et al., ICML 2021).

The architecture (and parameter names' roles) of Hugging Face
``TimesformerForVideoClassification`` with ``attention_type="divided_space_time"``:
per-frame 16x16 patches plus a spatial position embedding (with CLS) and a
temporal embedding; each block applies temporal attention over the frames at
each patch position (followed by an extra ``temporal_fc`` linear), then
spatial attention over the patches of each frame with the CLS token repeated
per frame (its outputs averaged over frames), then the MLP.

Input clips ``[B, 3, T, H, W]`` normalized with ImageNet mean / std (as HF's
``TimesformerVideoProcessor``); the default is 8 frames 32 source frames
apart, 224² crop. Other frame counts / resolutions work (embeddings are
interpolated: bicubic over space, linear over time).
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.models.spec import InputSpec
from vidstruct.models.transformers.attention import Mlp, SelfAttention, drop_path, drop_path_rates, mlp_hidden
from vidstruct.models.transformers.base import VideoTransformer, init_transformer_weights, replace_parameter
from vidstruct.models.transformers.embeddings import Grid, TubeletEmbedding, resize_pos_embed
from vidstruct.registry import MODELS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DividedSpaceTimeBlock(nn.Module):
    """One TimeSformer block on ``cls [B, 1, D]`` and patch tokens ``[B, T, N, D]``."""

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
        activation: str = "gelu",
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        attn_kwargs = dict(qkv_bias=qkv_bias, attention_dropout=attention_dropout, dropout=dropout)
        self.temporal_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.temporal_attn = SelfAttention(dim, num_heads, **attn_kwargs)  # type: ignore[arg-type]
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = SelfAttention(dim, num_heads, **attn_kwargs)  # type: ignore[arg-type]
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, mlp_hidden(dim, mlp_ratio), activation=activation, dropout=dropout)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, cls: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``cls [B, 1, D]``, ``x [B, T, N, D]`` → the same shapes."""
        b, t, n, d = x.shape
        # temporal attention at each patch position (CLS excluded)
        xt = x.transpose(1, 2).reshape(b * n, t, d)
        res_t = self.temporal_fc(self.drop_path(self.temporal_attn(self.temporal_norm(xt))))
        x = x + res_t.reshape(b, n, t, d).transpose(1, 2)
        # spatial attention within each frame, CLS repeated per frame
        xs = torch.cat([cls.repeat_interleave(t, dim=0), x.reshape(b * t, n, d)], dim=1)
        res_s = self.drop_path(self.attn(self.norm1(xs)))
        cls = cls + res_s[:, :1].reshape(b, t, d).mean(dim=1, keepdim=True)
        x = x + res_s[:, 1:].reshape(b, t, n, d)
        # MLP on every token
        cls = cls + self.drop_path(self.mlp(self.norm2(cls)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return cls, x


class TimeSformer(VideoTransformer):
    """TimeSformer (divided space-time attention); features are the final CLS token ``[B, D]``."""

    def __init__(
        self,
        *,
        num_classes: int = 400,
        image_size: int = 224,
        num_frames: int = 8,
        patch_size: int = 16,
        hidden_size: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        head_dropout: float = 0.0,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-6,
        in_channels: int = 3,
    ) -> None:
        spec = InputSpec(
            num_frames=num_frames,
            frame_interval=32,
            crop_size=image_size,
            short_side=image_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        super().__init__(num_classes=num_classes, feature_dim=hidden_size, head_dropout=head_dropout, input_spec=spec)
        self.patch_embed = TubeletEmbedding(in_channels, hidden_size, (1, patch_size, patch_size))
        self.grid = self.patch_embed.grid(num_frames, image_size, image_size)
        t, h, w = self.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + h * w, hidden_size))
        self.time_embed = nn.Parameter(torch.zeros(1, t, hidden_size))
        self.pos_drop = nn.Dropout(dropout)
        self.time_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            DividedSpaceTimeBlock(
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
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final CLS token ``[B, D]`` of clips ``[B, C, T, H, W]``."""
        tokens = self._tokens(x)
        b, t, h, w, d = tokens.shape
        old_t, old_h, old_w = self.grid
        pos = self.pos_embed
        if (h, w) != (old_h, old_w):
            pos = resize_pos_embed(pos, (1, old_h, old_w), (1, h, w), 1)
        time = self.time_embed
        if t != old_t:
            time = resize_pos_embed(time, (old_t, 1, 1), (t, 1, 1))
        cls = self.pos_drop(self.cls_token + pos[:, :1]).expand(b, -1, -1)
        x = self.pos_drop(tokens.reshape(b, t, h * w, d) + pos[:, None, 1:])
        x = self.time_drop(x + time[:, :, None])
        for block in self.blocks:
            cls, x = block(cls, x)
        return self.norm(cls)[:, 0]

    def _resize_position_embeddings(self, new_grid: Grid) -> None:
        (t, h, w), (new_t, new_h, new_w) = self.grid, new_grid
        self.pos_embed = replace_parameter(
            self.pos_embed, resize_pos_embed(self.pos_embed, (1, h, w), (1, new_h, new_w), 1)
        )
        self.time_embed = replace_parameter(
            self.time_embed, resize_pos_embed(self.time_embed, (t, 1, 1), (new_t, 1, 1))
        )


@MODELS.register("timesformer_b")
def timesformer_b(
    *,
    num_classes: int = 400,
    image_size: int = 224,
    num_frames: int = 8,
    patch_size: int = 16,
    hidden_size: int = 768,
    depth: int = 12,
    num_heads: int = 12,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    head_dropout: float = 0.0,
    activation: str = "gelu",
    layer_norm_eps: float = 1e-6,
) -> TimeSformer:
    """TimeSformer-B, divided space-time attention, 8 x 224² input; = HF ``TimesformerForVideoClassification``."""
    return TimeSformer(**locals())
