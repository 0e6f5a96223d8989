"""Temporal post-processing: (Soft-)NMS of segments and fusion of proposals with class probabilities.

The one NMS of vidstruct (hard NMS is :func:`soft_nms` with ``method="hard"``,
:func:`nms`) and the one class fusion (:func:`fuse_classification`); the
localization chain (:mod:`vidstruct.eval.localization.chain`) uses both.

Soft-NMS (:func:`soft_nms`). Segments ``[N, 2]`` in seconds with scores
``[N]``. Repeat until ``top_k`` segments are kept or none remains:

1. select the remaining segment ``i`` with the highest *current* score (ties:
   the higher original score, then input order) and keep it with that score;
2. for every other remaining segment ``j`` with ``u = tIoU(i, j) > θ_i`` (and
   the same label when ``labels`` are given), decay its score:

   - ``"gaussian"``: ``s_j ← s_j · exp(-u² / σ)``;
   - ``"linear"``:   ``s_j ← s_j · (1 - u)``;
   - ``"hard"``:     remove ``j`` (classic NMS);

3. drop remaining segments whose score fell below ``min_score``.

The threshold ``θ_i`` is ``iou_threshold``, or, when ``low_threshold`` and
``high_threshold`` are given, BMN's width-adaptive threshold
``θ_i = low + (high - low) · (end_i - start_i) / duration`` (BMN normalizes
times to ``[0, 1]`` of the video; pass ``duration``, or ``1.0`` for
normalized segments). BMN's ActivityNet setting is ``method="gaussian",
sigma=0.4`` (its ``soft_nms_alpha``), ``low_threshold=0.5,
high_threshold=0.9``, ``top_k=100``; its reference loop is the one above with
the tIoU ``inter / (len_j + len_i - inter)``. With ``iou_threshold=0`` the
Gaussian rule is the original Soft-NMS of Bodla et al. (segments that do not
overlap keep their score either way).

Kept scores are non-increasing. The selection loop is sequential over the
``K`` kept segments; each step updates all remaining scores at once (numpy),
``O(K · N)``.

Fusion (:func:`fuse_classification`): the BSN / BMN ActivityNet detection
recipe: each class-agnostic proposal becomes one detection per top-k class
with score ``proposal_score · class_probability``; the class probabilities are
the video's (``[K]``, the same for every proposal) or each proposal's own
(``[P, K]``, e.g. a backbone's snippet probabilities averaged inside it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from vidstruct.errors import InputError, ShapeError

__all__ = ["fuse_classification", "nms", "soft_nms"]

Method = Literal["gaussian", "linear", "hard"]


def _as_inputs(
    segments: object, scores: object, labels: object | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    seg = np.asarray(_numpy(segments), dtype=np.float64)
    sc = np.asarray(_numpy(scores), dtype=np.float64)
    if seg.ndim != 2 or seg.shape[1] != 2:
        raise ShapeError(f"segments: expected [N, 2] (start, end) seconds, got shape {seg.shape}")
    if sc.shape != (seg.shape[0],):
        raise ShapeError(f"scores: expected [N] = [{seg.shape[0]}], got shape {sc.shape}")
    if not (np.isfinite(seg).all() and np.isfinite(sc).all()):
        raise ValueError("segments and scores must be finite")
    if (seg[:, 0] > seg[:, 1]).any():
        i = int(np.flatnonzero(seg[:, 0] > seg[:, 1])[0])
        raise ValueError(f"segments[{i}]: start {seg[i, 0]} is after end {seg[i, 1]}")
    lab = None
    if labels is not None:
        lab = np.asarray(_numpy(labels)).reshape(-1)
        if lab.shape[0] != seg.shape[0]:
            raise ShapeError(f"labels: expected [N] = [{seg.shape[0]}], got shape {lab.shape}")
    return seg, sc, lab


def _numpy(x: object) -> object:
    if hasattr(x, "detach"):  # torch.Tensor
        return x.detach().cpu().numpy()  # type: ignore[attr-defined]
    return x


def soft_nms(
    segments: np.ndarray | Sequence[Sequence[float]],
    scores: np.ndarray | Sequence[float],
    *,
    method: Method = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.0,
    low_threshold: float | None = None,
    high_threshold: float | None = None,
    duration: float | None = None,
    top_k: int | None = None,
    min_score: float = 0.0,
    labels: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft-NMS (or hard NMS) of 1-D segments; see the module docstring for the exact rule.

    Args:
        segments: ``[N, 2]`` ``(start, end)`` seconds (numpy, torch or lists).
        scores: ``[N]`` scores (e.g. probabilities).
        method: ``"gaussian"`` (``exp(-u²/σ)``), ``"linear"`` (``1 - u``) or ``"hard"``.
        sigma: Gaussian width σ (BMN's ``soft_nms_alpha``).
        iou_threshold: decay only segments with ``tIoU > iou_threshold``.
        low_threshold, high_threshold: BMN's width-adaptive threshold (both or neither; needs ``duration``).
        duration: video duration in seconds for the adaptive threshold.
        top_k: keep at most this many segments (None: all).
        min_score: drop segments whose decayed score falls below this.
        labels: ``[N]`` class ids; when given, only segments of the same label decay each other.

    Returns:
        ``(segments [K, 2], scores [K], indices [K])``: kept segments with their
        decayed scores, in selection order (scores non-increasing), and their
        indices into the input.
    """
    seg, sc, lab = _as_inputs(segments, scores, labels)
    if method not in ("gaussian", "linear", "hard"):
        raise InputError(f"method must be 'gaussian', 'linear' or 'hard', got {method!r}")
    if method == "gaussian" and not sigma > 0:
        raise InputError(f"sigma must be > 0, got {sigma}")
    adaptive = low_threshold is not None or high_threshold is not None
    if adaptive:
        if low_threshold is None or high_threshold is None:
            raise InputError("low_threshold and high_threshold go together (BMN's width-adaptive threshold)")
        if duration is None or not math.isfinite(duration) or duration <= 0:
            raise InputError(f"the width-adaptive threshold needs a positive duration in seconds, got {duration}")
    limit = seg.shape[0] if top_k is None else max(0, min(int(top_k), seg.shape[0]))

    order = np.argsort(-sc, kind="stable")  # ties in the current score go to the higher original score
    seg, cur = seg[order], sc[order].copy()
    lab = lab[order] if lab is not None else None
    start, end = seg[:, 0], seg[:, 1]
    length = end - start
    alive = np.ones(seg.shape[0], dtype=bool) if min_score <= 0 else cur >= min_score
    kept: list[int] = []
    kept_scores: list[float] = []
    masked = np.where(alive, cur, -np.inf)
    while len(kept) < limit and alive.any():
        i = int(np.argmax(masked))
        kept.append(i)
        kept_scores.append(float(cur[i]))
        alive[i] = False
        # tIoU of the selected segment with every segment (dead ones are ignored below)
        inter = (np.minimum(end, end[i]) - np.maximum(start, start[i])).clip(0)
        union = length - inter + length[i]
        u = np.zeros_like(inter)
        np.divide(inter, union, out=u, where=union > 0)
        thr = low_threshold + (high_threshold - low_threshold) * length[i] / duration if adaptive else iou_threshold
        hit = alive & (u > thr)
        if lab is not None:
            hit &= lab == lab[i]
        if method == "gaussian":
            cur[hit] *= np.exp(-np.square(u[hit]) / sigma)
        elif method == "linear":
            cur[hit] *= 1.0 - u[hit]
        else:
            alive[hit] = False
        if min_score > 0:
            alive &= cur >= min_score
        masked = np.where(alive, cur, -np.inf)
    idx = np.asarray(kept, dtype=np.int64)
    return seg[idx].reshape(-1, 2), np.asarray(kept_scores, dtype=np.float64), order[idx]


def nms(
    segments: np.ndarray | Sequence[Sequence[float]],
    scores: np.ndarray | Sequence[float],
    *,
    iou_threshold: float = 0.5,
    top_k: int | None = None,
    labels: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard NMS of 1-D segments: removes segments with ``tIoU > iou_threshold`` to a higher-scored kept one.

    Same inputs and outputs as :func:`soft_nms` (scores are unchanged).
    """
    return soft_nms(segments, scores, method="hard", iou_threshold=iou_threshold, top_k=top_k, labels=labels)


def fuse_classification(
    segments: np.ndarray | Sequence[Sequence[float]],
    proposal_scores: np.ndarray | Sequence[float],
    class_probs: np.ndarray | Sequence[float] | Sequence[Sequence[float]],
    *,
    top_k: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections from class-agnostic proposals and class probabilities (module doc).

    Args:
        segments: ``[P, 2]`` proposals in seconds.
        proposal_scores: ``[P]`` proposal confidences.
        class_probs: ``[K]`` video-level class probabilities (softmax or sigmoid), or ``[P, K]``, one row per
            proposal.
        top_k: number of classes to pair with every proposal (at most ``K``).

    Returns:
        ``(segments [P·k, 2], scores [P·k], labels [P·k])``, proposal-major (proposal 0 with its top class,
        proposal 0 with its second class, ...), ``score = proposal_score · class_prob``; classes ranked by
        descending probability, ties by class index.
    """
    seg, sc, _ = _as_inputs(segments, proposal_scores, None)
    probs = np.asarray(_numpy(class_probs), dtype=np.float64)
    if probs.ndim == 1:
        probs = np.broadcast_to(probs, (seg.shape[0], probs.size))
    if probs.ndim != 2 or probs.shape[0] != seg.shape[0] or probs.shape[1] == 0 or not np.isfinite(probs).all():
        raise ShapeError(
            f"class_probs: expected [K] or [P, K] = [{seg.shape[0]}, K] finite probabilities, got shape {probs.shape}"
        )
    if top_k < 1:
        raise InputError(f"top_k must be >= 1, got {top_k}")
    k = min(top_k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # [P, k]
    out_scores = (sc[:, None] * np.take_along_axis(probs, top, axis=1)).reshape(-1)
    return np.repeat(seg, k, axis=0), out_scores, top.reshape(-1).astype(np.int64)
