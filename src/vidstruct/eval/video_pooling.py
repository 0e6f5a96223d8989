"""Video-level class probabilities from per-snippet probabilities (untrimmed video classification).

The one implementation of "pool a video's snippet probabilities into its class probabilities": ``vidstruct
classify-videos`` (:mod:`vidstruct.pipeline.video_classification`) pools a feature store's ``probs`` with it, and
the localization chain's ``fusion: video`` (:mod:`vidstruct.eval.localization.chain`) pools the probabilities on
its rescaled grid with it (``mean``).

Pools, over the ``N`` snippets of a video, per class ``c`` (``probs [N, K]``, softmax rows):

- ``mean``: ``mean_i probs[i, c]``;
- ``max``: ``max_i probs[i, c]``;
- ``top-k-mean``: the mean of the ``k`` largest ``probs[i, c]`` over ``i`` (each class its own ``k`` snippets, as in
  untrimmed-video work such as UntrimmedNet's top-k pooling); ``k`` is clipped to ``N``, so ``k >= N`` is ``mean``
  and ``k == 1`` is ``max``.

The pooled vector is then rescaled to sum to 1 (:func:`normalize_probs`; uniform if it sums to 0), so a video's
scores are class probabilities whatever the pool.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from vidstruct.errors import InputError, ShapeError

__all__ = ["POOLS", "Pool", "normalize_probs", "pool_snippet_probs", "video_class_probs"]

Pool = Literal["mean", "max", "top-k-mean"]
POOLS: tuple[str, ...] = ("mean", "max", "top-k-mean")


def normalize_probs(p: np.ndarray) -> np.ndarray:
    """Rows (or a vector) rescaled to sum to 1 along the last axis; uniform where the sum is 0."""
    s = p.sum(axis=-1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / p.shape[-1])


def pool_snippet_probs(probs: np.ndarray, pool: str = "mean", top_k: int = 1) -> np.ndarray:
    """Pool ``probs [N, K]`` (per-snippet class probabilities, ``N >= 1``) over snippets → float64 ``[K]``
    (module doc; not renormalized). ``top_k`` is used by ``top-k-mean`` only (>= 1, clipped to ``N``)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ShapeError(f"snippet probabilities: expected [N, K] with N, K >= 1, got shape {tuple(p.shape)}")
    if pool == "mean":
        return p.mean(axis=0)
    if pool == "max":
        return p.max(axis=0)
    if pool == "top-k-mean":
        if top_k < 1:
            raise InputError(f"top-k-mean pooling: k must be >= 1, got {top_k}")
        k = min(int(top_k), p.shape[0])
        return np.sort(p, axis=0)[-k:].mean(axis=0)
    raise InputError(f"pool: expected one of {', '.join(POOLS)}, got {pool!r}")


def video_class_probs(probs: np.ndarray, pool: str = "mean", top_k: int = 1) -> np.ndarray:
    """The video's class probabilities ``[K]`` (sum 1): :func:`pool_snippet_probs` then :func:`normalize_probs`."""
    return normalize_probs(pool_snippet_probs(probs, pool, top_k))
