"""ActivityNet detection mAP (``ANETdetection``), vectorized with numpy.

Protocol, per class and per tIoU threshold ``θ`` (identical to the official
ActivityNet toolkit, ``Evaluation/eval_detection.py``):

1. the class's predictions (all videos) are ranked by descending score;
2. walking down the ranking, a prediction is a true positive when its video
   has a ground-truth segment of the class with ``tIoU >= θ`` that no earlier
   prediction took; it takes the *highest-tIoU* such segment ("lock_gt"). All
   other predictions are false positives — including duplicates of a matched
   detection, predictions in videos that have no ground truth of the class,
   and predictions for videos that are not in the ground truth at all;
3. precision ``tp_cum / (tp_cum + fp_cum)`` and recall ``tp_cum / n_gt`` along
   the ranking give the interpolated AP of VOC 2011 (all points,
   :func:`interpolated_average_precision`);
4. ``mAP[θ]`` is the mean AP over the ground-truth classes (a class without
   predictions has AP 0); ``average_mAP`` the mean of ``mAP`` over thresholds.

Ties. Equal scores are ranked in input order (a stable sort on the negated
scores, ``np.argsort(-score, kind="stable")``), and among ground-truth
segments with equal tIoU the one listed first is taken. The official toolkit
sorts with numpy's default (unstable) ``argsort`` reversed, so its tie order is
unspecified: with classic numpy, arrays of at most 16 items come out in
*reverse* input order, longer ones in an arbitrary order, and SIMD sorts on
newer CPUs differ again. Results therefore agree exactly whenever no two
predictions of a class share a score and no prediction has the same tIoU with
two different ground-truth segments of its video (verified against a pandas
port of the toolkit on random cases: differences below 1e-15).

Vectorization. Matching is independent per (class, video) group; it is
sequential only along a group's own ranking, so the ``k``-th predictions of
all groups are matched at once for every threshold (a loop over ``k`` up to
the largest group, not over predictions). Groups are bucketed by their
number of ground-truth segments (powers of two) to bound the padding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vidstruct.errors import AnnotationError, InputError
from vidstruct.eval.temporal.formats import TemporalGroundTruth, TemporalPredictions
from vidstruct.eval.temporal.protocols import ANET_TIOU, check_thresholds
from vidstruct.eval.temporal.tiou import paired_tiou
from vidstruct.registry import did_you_mean

__all__ = [
    "DetectionResult",
    "average_precision_per_class",
    "evaluate_detection",
    "interpolated_average_precision",
    "match_detections",
]

log = logging.getLogger(__name__)


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC 2011 all-points interpolated AP (ActivityNet's ``interpolated_prec_rec``).

    ``precision``, ``recall``: ``[..., N]`` along a ranking. The curve is padded
    with ``(recall 0, precision 0)`` in front and ``(recall 1, precision 0)`` at
    the end, precision is made non-increasing from the right (running max),
    and ``AP = Σ (r[i] - r[i-1]) · p_interp[i]`` over the points where recall
    changes. Returns ``[...]`` (a 0-d array for 1-D inputs).
    """
    p = np.asarray(precision, dtype=np.float64)
    r = np.asarray(recall, dtype=np.float64)
    zeros = np.zeros(p.shape[:-1] + (1,))
    mprec = np.concatenate([zeros, p, zeros], axis=-1)
    mrec = np.concatenate([zeros, r, zeros + 1.0], axis=-1)
    mprec = np.flip(np.maximum.accumulate(np.flip(mprec, -1), axis=-1), -1)
    step = mrec[..., 1:] - mrec[..., :-1]
    return np.sum(np.where(mrec[..., 1:] != mrec[..., :-1], step * mprec[..., 1:], 0.0), axis=-1)


def _rank_order(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Indices sorting by ``groups`` ascending, then score descending, then input order."""
    return np.lexsort((-scores, groups))


def match_detections(
    gt_key: np.ndarray,
    gt_segments: np.ndarray,
    pred_key: np.ndarray,
    pred_segments: np.ndarray,
    pred_rank: np.ndarray,
    tiou_thresholds: np.ndarray,
) -> np.ndarray:
    """Greedy ActivityNet matching; returns ``tp`` ``[P, T]`` bool (``~tp`` are the false positives).

    ``gt_key`` ``[G]`` / ``pred_key`` ``[P]``: int64 group ids (one per (class,
    video) pair); predictions only match ground truth of the same key.
    ``pred_rank`` ``[P]``: position in the class ranking (lower is matched
    first; only the order within a key matters). Segments ``[*, 2]`` seconds.
    """
    thr = np.asarray(tiou_thresholds, dtype=np.float64)
    n_t = thr.shape[0]
    tp = np.zeros((pred_key.shape[0], n_t), dtype=bool)
    if gt_key.size == 0 or pred_key.size == 0:
        return tp
    # ground-truth groups, members in input order
    g_order = np.argsort(gt_key, kind="stable")
    keys, g_start, g_count = np.unique(gt_key[g_order], return_index=True, return_counts=True)
    pos = np.searchsorted(keys, pred_key)
    pos_c = np.minimum(pos, keys.size - 1)
    has_gt = keys[pos_c] == pred_key
    if not has_gt.any():
        return tp
    pred_ids = np.flatnonzero(has_gt)
    pred_group = pos_c[pred_ids]
    # rank within the group: order the matched predictions by (group, class rank)
    o = np.lexsort((pred_rank[pred_ids], pred_group))
    pred_ids, pred_group = pred_ids[o], pred_group[o]
    first = np.searchsorted(pred_group, pred_group, side="left")
    rank_in_group = np.arange(pred_ids.size) - first
    # bucket groups by padded ground-truth count (1, 2, 4, 8, ...)
    width = 1 << np.ceil(np.log2(g_count)).astype(np.int64)
    for m in np.unique(width):
        bucket_groups = np.flatnonzero(width == m)
        local = np.full(keys.size, -1, dtype=np.int64)
        local[bucket_groups] = np.arange(bucket_groups.size)
        sel = local[pred_group] >= 0
        if not sel.any():
            continue
        b_pred, b_group, b_rank = pred_ids[sel], local[pred_group[sel]], rank_in_group[sel]
        # padded ground truth of the bucket: [Gb, m, 2] with validity mask
        slot = np.arange(m)
        idx = g_start[bucket_groups][:, None] + slot[None, :]
        valid = slot[None, :] < g_count[bucket_groups][:, None]
        gt_pad = gt_segments[g_order[np.where(valid, idx, 0)]]
        tiou = paired_tiou(pred_segments[b_pred][:, None, :], gt_pad[b_group])  # [Pb, m]
        tiou = np.where(valid[b_group], tiou, -np.inf)
        # process rank 0 of every group, then rank 1, ...; one group appears once per step
        o = np.lexsort((b_group, b_rank))
        b_pred, b_group, b_rank, tiou = b_pred[o], b_group[o], b_rank[o], tiou[o]
        bounds = np.searchsorted(b_rank, np.arange(b_rank[-1] + 2))
        locked = np.zeros((bucket_groups.size, n_t, m), dtype=bool)
        for k in range(bounds.size - 1):
            s, e = bounds[k], bounds[k + 1]
            g = b_group[s:e]
            u = tiou[s:e][:, None, :]  # [A, 1, m]
            cand = (u >= thr[None, :, None]) & ~locked[g]  # [A, T, m]
            best = np.argmax(np.where(cand, u, -np.inf), axis=2)  # first of equal tIoUs wins
            hit = np.take_along_axis(cand, best[:, :, None], axis=2)[:, :, 0]  # [A, T]
            tp[b_pred[s:e]] = hit
            a_i, t_i = np.nonzero(hit)
            locked[g[a_i], t_i, best[a_i, t_i]] = True
    return tp


def average_precision_per_class(
    gt_video: np.ndarray,
    gt_segments: np.ndarray,
    gt_labels: np.ndarray,
    pred_video: np.ndarray,
    pred_segments: np.ndarray,
    pred_scores: np.ndarray,
    pred_labels: np.ndarray,
    num_classes: int,
    tiou_thresholds: Sequence[float] | np.ndarray = ANET_TIOU,
) -> np.ndarray:
    """Interpolated AP ``[T, C]`` of every class at every tIoU threshold (flat-array API).

    ``gt_video`` ``[G]`` / ``pred_video`` ``[P]``: non-negative int video ids in
    one id space (a prediction whose video has no ground truth is a false
    positive). ``gt_labels`` / ``pred_labels``: class ids in ``[0,
    num_classes)``. Segments ``[*, 2]`` seconds, ``pred_scores`` ``[P]``.
    Classes without ground truth get AP NaN (the toolkit never has them: its
    classes are the ground-truth labels); classes without predictions get 0.
    """
    thr = check_thresholds(tiou_thresholds)
    gt_video = np.asarray(gt_video, dtype=np.int64).reshape(-1)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    pred_video = np.asarray(pred_video, dtype=np.int64).reshape(-1)
    pred_labels = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
    pred_segments = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    n_g, n_p = gt_video.shape[0], pred_video.shape[0]
    if gt_labels.shape[0] != n_g or gt_segments.shape[0] != n_g:
        raise InputError(f"ground truth: {n_g} videos, {gt_labels.shape[0]} labels, {gt_segments.shape[0]} segments")
    if pred_labels.shape[0] != n_p or pred_segments.shape[0] != n_p or pred_scores.shape[0] != n_p:
        raise InputError(
            f"predictions: {n_p} videos, {pred_labels.shape[0]} labels, {pred_segments.shape[0]} segments, "
            f"{pred_scores.shape[0]} scores (expected equal counts)"
        )
    for name, lab in (("gt_labels", gt_labels), ("pred_labels", pred_labels)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise InputError(f"{name}: class ids must lie in [0, {num_classes}), got {lab.min()}..{lab.max()}")
    if (gt_video.size and gt_video.min() < 0) or (pred_video.size and pred_video.min() < 0):
        raise InputError("video ids must be non-negative integers")

    n_vid = int(max(gt_video.max(initial=-1), pred_video.max(initial=-1))) + 1
    order = _rank_order(pred_scores, pred_labels)  # by class, then score descending, stable
    rank = np.empty(n_p, dtype=np.int64)
    rank[order] = np.arange(n_p)
    tp = match_detections(
        gt_labels * n_vid + gt_video,
        gt_segments,
        pred_labels * n_vid + pred_video,
        pred_segments,
        rank,
        thr,
    )[order]
    npos = np.bincount(gt_labels, minlength=num_classes)
    sorted_labels = pred_labels[order]
    bounds = np.searchsorted(sorted_labels, np.arange(num_classes + 1))
    ap = np.zeros((thr.shape[0], num_classes))
    for c in range(num_classes):
        if npos[c] == 0:
            ap[:, c] = np.nan
            continue
        s, e = bounds[c], bounds[c + 1]
        if s == e:
            continue
        tp_cum = np.cumsum(tp[s:e].T, axis=1, dtype=np.float64)
        fp_cum = np.cumsum(~tp[s:e].T, axis=1, dtype=np.float64)
        ap[:, c] = interpolated_average_precision(tp_cum / (tp_cum + fp_cum), tp_cum / float(npos[c]))
    return ap


@dataclass(frozen=True)
class DetectionResult:
    """AP ``[T, C]`` for ``tiou_thresholds`` ``[T]`` and ``class_names`` (``C``); values are fractions in [0, 1]."""

    tiou_thresholds: np.ndarray
    class_names: tuple[str, ...]
    ap: np.ndarray
    num_videos: int
    num_ground_truth: int
    num_predictions: int
    num_predictions_outside: int

    @property
    def mAP(self) -> np.ndarray:
        """Mean AP over classes, one value per threshold ``[T]``."""
        return self.ap.mean(axis=1)

    @property
    def average_mAP(self) -> float:
        """Mean of :attr:`mAP` over the thresholds."""
        return float(self.mAP.mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``mAP`` (list per threshold), ``tiou``, ``average_mAP``, ``per_class_AP`` and counts."""
        return {
            "mAP": [float(x) for x in self.mAP],
            "tiou": [round(float(t), 10) for t in self.tiou_thresholds],
            "average_mAP": self.average_mAP,
            "per_class_AP": {c: [float(x) for x in self.ap[:, i]] for i, c in enumerate(self.class_names)},
            "num_videos": self.num_videos,
            "num_ground_truth": self.num_ground_truth,
            "num_predictions": self.num_predictions,
            "num_predictions_outside_ground_truth": self.num_predictions_outside,
        }


def evaluate_detection(
    ground_truth: TemporalGroundTruth,
    predictions: TemporalPredictions,
    *,
    tiou_thresholds: Sequence[float] | np.ndarray = ANET_TIOU,
    unknown_labels: Literal["error", "ignore"] = "error",
) -> DetectionResult:
    """ActivityNet detection mAP of ``predictions`` against ``ground_truth`` (see the module docstring).

    ``unknown_labels``: a predicted label that is no ground-truth class raises
    :class:`AnnotationError` (the toolkit fails with a ``KeyError`` too);
    ``"ignore"`` drops those predictions instead (they could only form classes
    that are not evaluated).
    """
    if unknown_labels not in ("error", "ignore"):
        raise InputError(f"unknown_labels must be 'error' or 'ignore', got {unknown_labels!r}")
    if predictions.label_names == () and predictions.labels.size:
        raise AnnotationError(f"{predictions.source}: detection results need a 'label' in every entry")
    if not ground_truth.class_names:
        raise AnnotationError(f"{ground_truth.source}: no ground-truth segments in subset {ground_truth.subset!r}")
    class_index = {c: i for i, c in enumerate(ground_truth.class_names)}
    label_map = np.array([class_index.get(n, -1) for n in predictions.label_names] + [-1], dtype=np.int64)
    labels = label_map[predictions.labels]
    keep = labels >= 0
    if not keep.all():
        if unknown_labels == "error":
            i = int(np.flatnonzero(~keep)[0])
            name = predictions.label_names[predictions.labels[i]]
            vid = predictions.video_ids[predictions.video[i]]
            j = i - int(np.searchsorted(predictions.video, predictions.video[i]))
            raise AnnotationError(
                f"{predictions.source}, results[{vid!r}][{j}], field 'label': {name!r} is not a class of the "
                f"ground truth ({len(class_index)} classes){did_you_mean(name, list(class_index))}"
            )
        log.warning(
            "%s: ignoring %d predictions with labels outside the ground truth", predictions.source, (~keep).sum()
        )
    video_index = {v: i for i, v in enumerate(ground_truth.video_ids)}
    outside = len(ground_truth.video_ids)  # one shared id for videos absent from the ground truth
    vmap = np.array([video_index.get(v, outside) for v in predictions.video_ids] + [outside], dtype=np.int64)
    pred_video = vmap[predictions.video]
    n_outside = int((pred_video[keep] == outside).sum())
    if predictions.video.size and n_outside == int(keep.sum()):
        log.warning(
            "%s: no prediction is for a video of the ground truth (%s): check the video ids (e.g. a 'v_' prefix)",
            predictions.source,
            ground_truth.source,
        )
    thr = check_thresholds(tiou_thresholds)
    ap = average_precision_per_class(
        ground_truth.video,
        ground_truth.segments,
        ground_truth.labels,
        pred_video[keep],
        predictions.segments[keep],
        predictions.scores[keep],
        labels[keep],
        num_classes=len(ground_truth.class_names),
        tiou_thresholds=thr,
    )
    return DetectionResult(
        tiou_thresholds=thr,
        class_names=ground_truth.class_names,
        ap=ap,
        num_videos=len(ground_truth.video_ids),
        num_ground_truth=int(ground_truth.video.size),
        num_predictions=int(keep.sum()),
        num_predictions_outside=n_outside,
    )
