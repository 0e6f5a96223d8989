"""Temporal intersection over union (tIoU) of ``[start, end]`` segments in seconds, on numpy arrays.

Thin numpy entries (float64) to the one implementation, :mod:`vidstruct.data.tiou`,
whose arithmetic follows the ActivityNet evaluation toolkit operation by
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

from vidstruct.data import tiou as _tiou

__all__ = ["paired_tiou", "pairwise_tiou"]


def paired_tiou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """tIoU of row ``i`` of ``pred`` with row ``i`` of ``gt``; both ``[..., 2]`` seconds (broadcast) → ``[...]``."""
    return _tiou.paired_tiou(np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64))


def pairwise_tiou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """tIoU matrix ``[N, M]`` between ``pred`` ``[N, 2]`` and ``gt`` ``[M, 2]`` (seconds)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    return _tiou.pairwise_tiou(pred, np.asarray(gt, dtype=np.float64).reshape(-1, 2))
