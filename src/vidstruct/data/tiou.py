"""Temporal intersection over union (tIoU) of ``[start, end]`` segments: the one implementation.

Written once for torch tensors and numpy arrays alike (the same operations on
either, picked by the input's type): BMN's training targets and the relation
head call it on tensors, the evaluation metrics on float64 arrays through
:mod:`vidstruct.eval.temporal.tiou`. It lives in the data layer, below both,
and never imports torch itself: numpy callers (``vidstruct eval``) start
without loading torch and the models, and numpy stays numpy (a torch round trip
made the metrics' tIoU several times slower). The arithmetic follows the
ActivityNet evaluation toolkit operation by operation (in float64 the results
agree with it bit for bit)::

    inter = max(0, min(end_a, end_b) - max(start_a, start_b))
    union = (end_a - start_a) + (end_b - start_b) - inter
    tiou  = inter / union

When ``union`` is 0 (two zero-length segments) the toolkit produces NaN; here
the tIoU is 0.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["paired_tiou", "pairwise_tiou"]

Array = TypeVar("Array", "torch.Tensor", np.ndarray)


def _namespace(x: Any) -> Any:
    """``torch`` for a tensor (torch is necessarily imported then), else ``numpy``."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else np


def paired_tiou(a: Array, b: Array) -> Array:
    """tIoU of segment ``a[..., :]`` with segment ``b[..., :]``: ``[..., 2]`` (broadcast) → ``[...]``; any unit.

    Both tensors or both numpy arrays (of a floating dtype); the result is of the same kind.
    """
    xp = _namespace(a)
    inter = (xp.minimum(a[..., 1], b[..., 1]) - xp.maximum(a[..., 0], b[..., 0])).clip(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    # union is 0 only for two zero-length segments, whose intersection is 0 too: 0 / 1
    return inter / xp.where(union > 0, union, 1.0)


def pairwise_tiou(a: Array, b: Array) -> Array:
    """tIoU of every segment of ``a [..., M, 2]`` with every segment of ``b [..., G, 2]`` → ``[..., M, G]``."""
    return paired_tiou(a[..., :, None, :], b[..., None, :, :])
