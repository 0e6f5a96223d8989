"""Tubelet embedding and position-embedding resizing: hand-computed interpolation values and axis layout."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import InputError
from vidstruct.models.transformers.embeddings import TubeletEmbedding, resize_pos_embed


def _grid_embed(fn, t: int, h: int, w: int, d: int = 2, prefix: int = 0) -> torch.Tensor:
    """Position embeddings [1, prefix + t*h*w, d] whose value at (t, h, w) is fn(t, h, w) in every channel."""
    vals = torch.tensor([[[fn(i, j, k)] * d for k in range(w)] for i in range(t) for j in range(h)])
    vals = vals.reshape(1, t * h * w, d).float()
    return torch.cat([torch.full((1, prefix, d), 7.0), vals], dim=1)


def test_same_grid_is_identity() -> None:
    pos = torch.randn(1, 1 + 4 * 3 * 5, 8)
    assert torch.equal(resize_pos_embed(pos, (4, 3, 5), (4, 3, 5), num_prefix_tokens=1), pos)


def test_temporal_linear_interpolation_hand_values() -> None:
    # 4 -> 2 steps, align_corners=False: output i samples input at (i + 0.5) * 2 - 0.5 = 0.5, 2.5
    pos = _grid_embed(lambda t, h, w: float(t), 4, 1, 1, prefix=1)
    out = resize_pos_embed(pos, (4, 1, 1), (2, 1, 1), num_prefix_tokens=1)
    assert torch.allclose(out[0, 1:, 0], torch.tensor([0.5, 2.5]))
    # 2 -> 4 steps: samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1) of values [0, 1]
    pos = _grid_embed(lambda t, h, w: float(t), 2, 1, 1, prefix=1)
    out = resize_pos_embed(pos, (2, 1, 1), (4, 1, 1), num_prefix_tokens=1)
    assert torch.allclose(out[0, 1:, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert torch.equal(out[0, 0], torch.tensor([7.0, 7.0]))  # CLS kept


def test_axis_layout_is_t_h_w() -> None:
    # an embedding that depends only on t keeps its per-frame values under a spatial resize
    pos = _grid_embed(lambda t, h, w: 10.0 * t, 3, 2, 2, prefix=1)
    out = resize_pos_embed(pos, (3, 2, 2), (3, 5, 4), num_prefix_tokens=1)
    per_frame = out[0, 1:, 0].reshape(3, 5, 4)
    for t in range(3):
        assert torch.allclose(per_frame[t], torch.full((5, 4), 10.0 * t), atol=1e-5)
    # an embedding that depends only on w is unchanged by a temporal resize
    pos = _grid_embed(lambda t, h, w: float(w), 2, 2, 3)
    out = resize_pos_embed(pos, (2, 2, 3), (5, 2, 3))
    assert torch.allclose(out[0, :, 0].reshape(5, 2, 3), torch.tensor([0.0, 1.0, 2.0]).expand(5, 2, 3))


def test_spatial_constant_stays_constant_and_shape() -> None:
    pos = torch.cat([torch.randn(1, 1, 4), torch.full((1, 2 * 2 * 2, 4), 0.3)], dim=1)
    out = resize_pos_embed(pos, (2, 2, 2), (3, 4, 5), num_prefix_tokens=1)
    assert out.shape == (1, 1 + 3 * 4 * 5, 4)
    assert torch.allclose(out[:, 1:], torch.full((1, 60, 4), 0.3), atol=1e-6)
    assert torch.equal(out[:, :1], pos[:, :1])


def test_wrong_grid_raises() -> None:
    with pytest.raises(ValueError, match="do not match grid"):
        resize_pos_embed(torch.zeros(1, 10, 4), (2, 2, 2), (2, 3, 3), num_prefix_tokens=1)


def test_tubelet_embedding_tokens_and_divisibility() -> None:
    emb = TubeletEmbedding(3, 6, (2, 4, 4))
    out = emb(torch.randn(2, 3, 4, 8, 12))
    assert out.shape == (2, 2, 2, 3, 6)  # [B, T', H', W', D]
    # token (t, h, w) only sees its own tubelet: zeroing one tubelet changes exactly that token
    x = torch.randn(1, 3, 4, 8, 12)
    x2 = x.clone()
    x2[:, :, 2:4, 0:4, 4:8] = 0
    diff = (emb(x) - emb(x2)).abs().sum(-1)[0]
    assert diff[1, 0, 1] > 0 and (diff > 0).sum() == 1
    with pytest.raises(InputError, match="not divisible by the tubelet size"):
        emb(torch.randn(1, 3, 3, 8, 12))
