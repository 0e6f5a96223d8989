"""Transformer building blocks shared by the video transformers and the transformer heads.

Tokens are ``[B, N, D]`` (batch, tokens, channels) everywhere in this module.
Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`,
so PyTorch picks the fused flash / memory-efficient kernel where one applies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

ACTIVATIONS = ("gelu", "gelu_tanh")


def make_activation(name: str) -> nn.Module:
    """``"gelu"`` (exact, erf) or ``"gelu_tanh"`` (tanh approximation, = HF ``gelu_fast`` / ``gelu_new``)."""
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


class SelfAttention(nn.Module):
    """Multi-head self-attention ``[B, N, D] → [B, N, D]`` with a fused ``qkv`` projection.

    ``qkv.weight`` is ``[3D, D]`` laid out as (query, key, value) rows, each split
    into ``num_heads`` heads of ``D / num_heads`` channels.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        qkv_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, heads, N, D / heads]
        p = self.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class Mlp(nn.Module):
    """``fc1 → activation → dropout → fc2 → dropout`` on ``[..., D]``."""

    def __init__(self, dim: int, hidden: int, *, activation: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(activation)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def mlp_hidden(dim: int, mlp_ratio: float) -> int:
    """Hidden width of the MLP: ``round(dim * mlp_ratio)``."""
    return int(round(dim * mlp_ratio))


def drop_path(p: float) -> nn.Module:
    """Per-sample stochastic depth with rate ``p`` (identity in eval mode or when ``p == 0``)."""
    return StochasticDepth(p, mode="row")


class TransformerBlock(nn.Module):
    """Pre-norm encoder block on ``[B, N, D]``: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

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
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = SelfAttention(
            dim, num_heads, qkv_bias=qkv_bias, attention_dropout=attention_dropout, dropout=dropout
        )
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, mlp_hidden(dim, mlp_ratio), activation=activation, dropout=dropout)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic-depth rates growing linearly from 0 to ``rate`` over ``depth`` blocks (as ``torch.linspace``)."""
    if depth <= 1:
        return [0.0] * depth
    return [rate * i / (depth - 1) for i in range(depth)]
