"""Temporal intersection over union (tIoU) of ``[start, end]`` segments in seconds.

The arithmetic follows the ActivityNet evaluation toolkit operation by
operation (so threshold comparisons agree bit for bit)::

    inter = max(0, min(end_a, end_b) - max(start_a, start_b))
    union = (end_b - start_b) + (end_a - start_a) - inter      # b: ground truth
    tiou  = inter / union

One deliberate difference: when ``union`` is 0 (two zero-length segments) the
toolkit produces NaN, which its detection matcher then counts as a match; here
the tIoU is 0 (no match). This only arises for zero-length predictions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pairwise_tiou", "paired_tiou"]


def paired_tiou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """tIoU of row ``i`` of ``pred`` with row ``i`` of ``gt``; both ``[..., 2]`` seconds → ``[...]``."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    inter = (np.minimum(pred[..., 1], gt[..., 1]) - np.maximum(pred[..., 0], gt[..., 0])).clip(0)
    union = (gt[..., 1] - gt[..., 0]) + (pred[..., 1] - pred[..., 0]) - inter
    out = np.zeros(np.broadcast(inter, union).shape)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def pairwise_tiou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """tIoU matrix ``[N, M]`` between ``pred`` ``[N, 2]`` and ``gt`` ``[M, 2]`` (seconds)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 2)
    return paired_tiou(pred[:, None, :], gt[None, :, :])
