"""Tubelet embedding and position-embedding resizing for video transformers.

Token grids are ``(T', H', W')``: the number of tubelets along time, height and
width. Position embeddings are ``[1, E + T'·H'·W', D]`` with ``E`` prefix
tokens (CLS) first and the grid flattened in ``(t, h, w)`` order (w fastest).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.errors import InputError

Grid = tuple[int, int, int]


def as_triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    """``7 → (7, 7, 7)``; a length-3 sequence → tuple; anything else raises ``ValueError`` naming ``name``."""
    if isinstance(value, int):
        return (value, value, value)
    t = tuple(int(v) for v in value)
    if len(t) != 3:
        raise ValueError(f"{name} must be an int or 3 ints (t, h, w), got {value!r}")
    return t  # type: ignore[return-value]


class TubeletEmbedding(nn.Module):
    """Non-overlapping tubelets → tokens: ``[B, C, T, H, W] → [B, T', H', W', D]``.

    A ``Conv3d`` with kernel = stride = ``tubelet_size`` ``(t, h, w)``; ``t = 1`` is
    the per-frame patch embedding of ViT / TimeSformer.
    """

    def __init__(self, in_channels: int, dim: int, tubelet_size: Sequence[int]) -> None:
        super().__init__()
        self.tubelet_size = as_triple(tubelet_size, "tubelet_size")
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=self.tubelet_size, stride=self.tubelet_size)

    def grid(self, num_frames: int, height: int, width: int) -> Grid:
        """Token grid ``(T', H', W')`` of a ``T x H x W`` clip; :class:`InputError` unless it divides evenly."""
        t, h, w = self.tubelet_size
        if num_frames % t or height % h or width % w:
            raise InputError(
                f"clip of {num_frames} frames x {height} x {width} px is not divisible by the tubelet size "
                f"{t} x {h} x {w} (frames x height x width)"
            )
        return (num_frames // t, height // h, width // w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grid(*x.shape[2:])
        return self.proj(x).permute(0, 2, 3, 4, 1)


def resize_pos_embed(
    pos_embed: torch.Tensor,
    old_grid: Sequence[int],
    new_grid: Sequence[int],
    num_prefix_tokens: int = 0,
    spatial_mode: str = "bicubic",
) -> torch.Tensor:
    """Resize position embeddings ``[1, E + T·H·W, D]`` from grid ``old_grid`` to ``new_grid``.

    The ``E = num_prefix_tokens`` leading embeddings (CLS) are kept unchanged;
    the grid part is interpolated with ``spatial_mode`` (bicubic) over ``(H, W)``
    for every time step, then linearly over ``T`` for every spatial position
    (``align_corners=False``: the embeddings are treated as cell centres). An axis
    whose size does not change is left untouched, so resizing to the same grid
    returns the embeddings unchanged. Use ``T = 1`` for purely spatial embeddings
    and ``H = W = 1`` for purely temporal ones.
    """
    old_t, old_h, old_w = (int(v) for v in old_grid)
    new_t, new_h, new_w = (int(v) for v in new_grid)
    d = pos_embed.shape[-1]
    expected = num_prefix_tokens + old_t * old_h * old_w
    if pos_embed.ndim != 3 or pos_embed.shape[:2] != (1, expected):
        raise ValueError(
            f"position embeddings of shape {tuple(pos_embed.shape)} do not match grid {tuple(old_grid)} "
            f"with {num_prefix_tokens} prefix tokens (expected [1, {expected}, D])"
        )
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    g = grid.reshape(old_t, old_h, old_w, d)
    if (old_h, old_w) != (new_h, new_w):
        g = g.permute(0, 3, 1, 2)  # [T, D, H, W]
        g = F.interpolate(g.float(), size=(new_h, new_w), mode=spatial_mode, align_corners=False).to(grid.dtype)
        g = g.permute(0, 2, 3, 1)  # [T, H', W', D]
    if old_t != new_t:
        g = g.permute(1, 2, 3, 0).reshape(new_h * new_w, d, old_t)  # [H'W', D, T]
        g = F.interpolate(g.float(), size=new_t, mode="linear", align_corners=False).to(grid.dtype)
        g = g.reshape(new_h, new_w, d, new_t).permute(3, 0, 1, 2)  # [T', H', W', D]
    return torch.cat([prefix, g.reshape(1, new_t * new_h * new_w, d)], dim=1)
