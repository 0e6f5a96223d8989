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

Ties (``tie_order``, see :mod:`.ranking`). Two orderings can change the
result: predictions of a class with equal scores (step 1), and ground-truth
segments with equal tIoU to one prediction (step 2).

- ``"stable"`` (default): a class's predictions are ranked by descending
  score, equal scores in input order (file order: the ``results`` videos in
  file order, each video's list in order); among candidate ground-truth
  segments of equal tIoU the one listed first in the ground truth is taken.
- ``"official"``: as the official ``compute_average_precision_detection``:
  the class's predictions in input order are ranked by
  ``np.argsort(score)[::-1]`` (numpy's default, unstable sort, reversed), and
  the candidates of a prediction are visited in the order
  ``np.argsort(tiou)[::-1]`` of its tIoUs with the class's ground-truth
  segments of its video (listed in ground-truth order). With the same numpy on
  the same CPU this gives the official script's numbers exactly, ties
  included.

Without such ties both rules give the official numbers (verified against a
loop transcription of the toolkit on random cases: differences below 1e-12).

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

from vidstruct.errors import AnnotationError, ShapeError
from vidstruct.eval.temporal.formats import TemporalGroundTruth, TemporalPredictions
from vidstruct.eval.temporal.protocols import ANET_TIOU, check_thresholds
from vidstruct.eval.temporal.ranking import TieOrder, check_tie_order, rank_by_score
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


def _official_visit_order(tiou: np.ndarray, count: np.ndarray, lowest: float) -> np.ndarray | None:
    """The official scripts' order of visiting ground-truth slots, ``[P, m]``; None when slot order is equivalent.

    ``tiou`` ``[P, m]``: a prediction's tIoU with the ``count[p]`` ground-truth
    segments of its (class, video) group, padded with ``-inf``. The official
    loop visits ``np.argsort(tiou[:count])[::-1]``; only rows where two slots
    share a tIoU ``>= lowest`` (the smallest threshold) can be matched
    differently from slot order, so only those are sorted.
    """
    if tiou.shape[1] < 2:
        return None
    srt = np.sort(tiou, axis=1)
    tied_rows = np.flatnonzero(((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= lowest)).any(axis=1))
    if tied_rows.size == 0:
        return None
    visit = np.broadcast_to(np.arange(tiou.shape[1]), tiou.shape).copy()
    for r in tied_rows:
        n = int(count[r])
        visit[r, :n] = np.argsort(tiou[r, :n])[::-1]
    return visit


def match_detections(
    gt_key: np.ndarray,
    gt_segments: np.ndarray,
    pred_key: np.ndarray,
    pred_segments: np.ndarray,
    pred_rank: np.ndarray,
    tiou_thresholds: np.ndarray,
    tie_order: TieOrder = "stable",
) -> np.ndarray:
    """Greedy ActivityNet matching; returns ``tp`` ``[P, T]`` bool (``~tp`` are the false positives).

    ``gt_key`` ``[G]`` / ``pred_key`` ``[P]``: int64 group ids (one per (class,
    video) pair); predictions only match ground truth of the same key.
    ``pred_rank`` ``[P]``: position in the class ranking (lower is matched
    first; only the order within a key matters). Segments ``[*, 2]`` seconds.
    ``tie_order``: which of several free ground-truth segments with the same
    (highest) tIoU a prediction takes: ``"stable"`` the first listed,
    ``"official"`` the first in ``np.argsort(tiou)[::-1]`` (module docstring).
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
        # slot visiting order per prediction (None: slot order, the first listed wins among equal tIoUs)
        visit = (
            _official_visit_order(tiou, g_count[bucket_groups][b_group], thr.min()) if tie_order == "official" else None
        )
        # process rank 0 of every group, then rank 1, ...; one group appears once per step
        o = np.lexsort((b_group, b_rank))
        b_pred, b_group, b_rank, tiou = b_pred[o], b_group[o], b_rank[o], tiou[o]
        if visit is not None:
            visit = visit[o]
        bounds = np.searchsorted(b_rank, np.arange(b_rank[-1] + 2))
        locked = np.zeros((bucket_groups.size, n_t, m), dtype=bool)
        for k in range(bounds.size - 1):
            s, e = bounds[k], bounds[k + 1]
            g = b_group[s:e]
            u = tiou[s:e][:, None, :]  # [A, 1, m]
            cand = (u >= thr[None, :, None]) & ~locked[g]  # [A, T, m]
            if visit is None:
                best = np.argmax(np.where(cand, u, -np.inf), axis=2)  # first of equal tIoUs wins
            else:  # the highest tIoU first, equal ones in the visiting order
                v = np.broadcast_to(visit[s:e][:, None, :], cand.shape)
                u_v = np.take_along_axis(np.broadcast_to(u, cand.shape), v, axis=2)
                first = np.argmax(np.where(np.take_along_axis(cand, v, axis=2), u_v, -np.inf), axis=2)
                best = np.take_along_axis(v, first[:, :, None], axis=2)[:, :, 0]
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
    tie_order: TieOrder = "stable",
) -> np.ndarray:
    """Interpolated AP ``[T, C]`` of every class at every tIoU threshold (flat-array API).

    ``gt_video`` ``[G]`` / ``pred_video`` ``[P]``: non-negative int video ids in
    one id space (a prediction whose video has no ground truth is a false
    positive). ``gt_labels`` / ``pred_labels``: class ids in ``[0,
    num_classes)``. Segments ``[*, 2]`` seconds, ``pred_scores`` ``[P]``.
    Classes without ground truth get AP NaN (the toolkit never has them: its
    classes are the ground-truth labels); classes without predictions get 0.
    Predictions and ground truth are in input (file) order, which ``tie_order``
    (``"stable"`` / ``"official"``, module docstring) uses to break ties.
    """
    thr = check_thresholds(tiou_thresholds)
    tie_order = check_tie_order(tie_order)
    gt_video = np.asarray(gt_video, dtype=np.int64).reshape(-1)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    pred_video = np.asarray(pred_video, dtype=np.int64).reshape(-1)
    pred_labels = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
    pred_segments = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    n_g, n_p = gt_video.shape[0], pred_video.shape[0]
    if gt_labels.shape[0] != n_g or gt_segments.shape[0] != n_g:
        raise ShapeError(f"ground truth: {n_g} videos, {gt_labels.shape[0]} labels, {gt_segments.shape[0]} segments")
    if pred_labels.shape[0] != n_p or pred_segments.shape[0] != n_p or pred_scores.shape[0] != n_p:
        raise ShapeError(
            f"predictions: {n_p} videos, {pred_labels.shape[0]} labels, {pred_segments.shape[0]} segments, "
            f"{pred_scores.shape[0]} scores (expected equal counts)"
        )
    for name, lab in (("gt_labels", gt_labels), ("pred_labels", pred_labels)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(f"{name}: class ids must lie in [0, {num_classes}), got {lab.min()}..{lab.max()}")
    if (gt_video.size and gt_video.min() < 0) or (pred_video.size and pred_video.min() < 0):
        raise ValueError("video ids must be non-negative integers")

    n_vid = int(max(gt_video.max(initial=-1), pred_video.max(initial=-1))) + 1
    order = rank_by_score(pred_scores, pred_labels, tie_order)  # by class, then score descending
    rank = np.empty(n_p, dtype=np.int64)
    rank[order] = np.arange(n_p)
    tp = match_detections(
        gt_labels * n_vid + gt_video,
        gt_segments,
        pred_labels * n_vid + pred_video,
        pred_segments,
        rank,
        thr,
        tie_order,
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
    tie_order: TieOrder = "stable"

    @property
    def mAP(self) -> np.ndarray:
        """Mean AP over classes, one value per threshold ``[T]``."""
        return self.ap.mean(axis=1)

    @property
    def average_mAP(self) -> float:
        """Mean of :attr:`mAP` over the thresholds."""
        return float(self.mAP.mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``mAP`` (list per threshold), ``tiou``, ``average_mAP``, ``per_class_AP``, counts and
        ``tie_order``."""
        return {
            "mAP": [float(x) for x in self.mAP],
            "tiou": [round(float(t), 10) for t in self.tiou_thresholds],
            "average_mAP": self.average_mAP,
            "per_class_AP": {c: [float(x) for x in self.ap[:, i]] for i, c in enumerate(self.class_names)},
            "num_videos": self.num_videos,
            "num_ground_truth": self.num_ground_truth,
            "num_predictions": self.num_predictions,
            "num_predictions_outside_ground_truth": self.num_predictions_outside,
            "tie_order": self.tie_order,
        }


def evaluate_detection(
    ground_truth: TemporalGroundTruth,
    predictions: TemporalPredictions,
    *,
    tiou_thresholds: Sequence[float] | np.ndarray = ANET_TIOU,
    unknown_labels: Literal["error", "ignore"] = "error",
    tie_order: TieOrder = "stable",
) -> DetectionResult:
    """ActivityNet detection mAP of ``predictions`` against ``ground_truth`` (see the module docstring).

    ``unknown_labels``: a predicted label that is no ground-truth class raises
    :class:`AnnotationError` (the toolkit fails with a ``KeyError`` too);
    ``"ignore"`` drops those predictions instead (they could only form classes
    that are not evaluated). ``tie_order``: ``"stable"`` or ``"official"``
    (module docstring; predictions are taken in file order).
    """
    tie_order = check_tie_order(tie_order)
    if unknown_labels not in ("error", "ignore"):
        raise ValueError(f"unknown_labels must be 'error' or 'ignore', got {unknown_labels!r}")
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
        tie_order=tie_order,
    )
    return DetectionResult(
        tiou_thresholds=thr,
        class_names=ground_truth.class_names,
        ap=ap,
        num_videos=len(ground_truth.video_ids),
        num_ground_truth=int(ground_truth.video.size),
        num_predictions=int(keep.sum()),
        num_predictions_outside=n_outside,
        tie_order=tie_order,
    )
