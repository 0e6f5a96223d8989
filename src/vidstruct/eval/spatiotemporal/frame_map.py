"""AVA frame-mAP@0.5, computed as ActivityNet's official ``get_ava_performance.py`` computes it.

The protocol (PASCAL VOC AP at IoU 0.5 per class over keyframes; the official
script wraps the TF object-detection ``PascalDetectionEvaluator``):

1. only the label map's classes are read: ground-truth rows of other classes are
   an error here (the official reader drops them silently); detection rows of
   other classes are ignored, as officially, and counted in
   ``num_detections_ignored``;
2. a keyframe is ``(video_id, timestamp)``; excluded keyframes are removed from
   both ground truth and detections;
3. each keyframe keeps at most 50 detections (all classes together), the
   highest scores, with the official tie rule (:mod:`.keyframe_order`); then
   degenerate boxes (``x1 >= x2`` or ``y1 >= y2``, only possible in memory: the
   file readers refuse them) are dropped, as the official per-image evaluation
   drops them;
4. per keyframe and class, detections are taken in the official per-keyframe
   order (descending score); each one looks only at the ground-truth box it
   overlaps most (the first of equal IoUs, in the official ground-truth order):
   a true positive if that IoU is >= 0.5 and the box is not matched yet, else a
   false positive (no fall-back to the next-best box; all boxes are neither
   "difficult" nor "group-of" in AVA). The official ground-truth order: the
   reader takes a ground-truth row's 8th column, ``person_id``, as its score,
   so a keyframe's boxes come in descending person id (then heap order);
5. detections on keyframes without ground truth (absent from the ground-truth
   file, or whose ground-truth rows are all of other classes) are **false
   positives** of their class: the official evaluator scores them against an
   empty ground truth, it does not skip them (excluded keyframes, by contrast,
   are removed before anything is counted);
6. per class, all detections are ranked by ``np.argsort(scores)[::-1]`` over the
   class's scores laid out as the official code lays them out (keyframes in
   order of their first detection row, rows in per-keyframe order): numpy's
   default sort, so equal scores come out in numpy's order, exactly as
   officially with the same numpy on the same CPU (``tie_order="official"``,
   the default). That order is not portable (numpy's introsort keeps up to 16
   tied items in input order, so reversed they come out last-listed first;
   AVX-512 CPUs use another sort); ``tie_order="stable"`` ranks equal scores
   in that layout order instead (first listed first), the same everywhere.
   Steps 3 and 4 follow the official rules under both: they are plain Python,
   the same on every machine;
7. precision and recall along that ranking (recall over the class's number of
   ground-truth rows); AP = VOC 2010+ area under the monotone precision
   envelope at the recall steps;
8. mAP = mean AP over the label-map classes with at least one ground-truth row
   (after exclusions). A class with ground truth and no detection has AP 0 and
   counts in the mean; a class without ground truth has no AP (the official
   output prints NaN for it) and is listed in ``classes_without_ground_truth``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidstruct.data.records import BoxAnnotation
from vidstruct.errors import AnnotationError, InputError
from vidstruct.eval.spatiotemporal.boxes import AvaBoxes, pairwise_iou_rows
from vidstruct.eval.spatiotemporal.keyframe_order import official_keyframe_order, replay_heap
from vidstruct.eval.temporal.ranking import TieOrder, check_tie_order

__all__ = [
    "AVA_IOU_THRESHOLD",
    "DETECTION_BOX_TOLERANCE",
    "AVA_MAX_DETECTIONS_PER_KEYFRAME",
    "AvaResult",
    "evaluate_ava",
    "evaluate_ava_boxes",
    "voc_average_precision",
]

AVA_IOU_THRESHOLD = 0.5
AVA_MAX_DETECTIONS_PER_KEYFRAME = 50
# Detection boxes may overshoot [0, 1] by this much (an unclipped regressor near the border); the official tool
# checks nothing and uses them as they are, so do we. Ground-truth boxes must lie in [0, 1] exactly.
DETECTION_BOX_TOLERANCE = 0.01


@dataclass
class AvaResult:
    """Frame-mAP of one detection set.

    ``per_class_AP``: class name -> AP in [0, 1] for every label-map class with
    ground truth (label-map order); ``classes_without_ground_truth``: the
    label-map classes left out of the mean (no ground-truth row).
    """

    mAP: float
    per_class_AP: dict[str, float]
    classes_without_ground_truth: list[str] = field(default_factory=list)
    num_keyframes: int = 0
    num_ground_truth: int = 0
    num_detections: int = 0
    num_detections_ignored: int = 0
    num_detections_over_cap: int = 0
    num_detections_degenerate: int = 0
    tie_order: str = "official"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "frame-mAP@0.5 (ActivityNet get_ava_performance.py protocol)",
            "mAP": self.mAP,
            "per_class_AP": dict(self.per_class_AP),
            "classes_without_ground_truth": list(self.classes_without_ground_truth),
            "num_keyframes": self.num_keyframes,
            "num_ground_truth": self.num_ground_truth,
            "num_detections": self.num_detections,
            "num_detections_ignored": self.num_detections_ignored,
            "num_detections_over_cap": self.num_detections_over_cap,
            "num_detections_degenerate": self.num_detections_degenerate,
            "iou_threshold": AVA_IOU_THRESHOLD,
            "max_detections_per_keyframe": AVA_MAX_DETECTIONS_PER_KEYFRAME,
            "tie_order": self.tie_order,
        }


def voc_average_precision(true_positive: np.ndarray, num_ground_truth: int) -> float:
    """VOC 2010+ AP of a ranking: ``true_positive`` ``[N]`` bool in rank order (best first).

    Precision ``tp / k`` and recall ``tp / num_ground_truth`` after each of the
    ``k`` first items; the precision is made non-increasing in recall (the
    envelope: each point takes the best precision at any later point), and AP
    is the sum of ``(recall step) x (envelope precision)`` over the points where
    recall grows. An empty ranking has AP 0.
    """
    if num_ground_truth <= 0:
        raise ValueError("AP needs at least one ground-truth instance")
    if true_positive.size == 0:
        return 0.0
    cum_tp = np.cumsum(true_positive.astype(np.int64))
    precision = cum_tp / np.arange(1, cum_tp.size + 1, dtype=np.float64)
    recall = cum_tp / float(num_ground_truth)
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([0.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _label_names(labels: Mapping[int, Any]) -> dict[int, str]:
    names = {int(k): (v if isinstance(v, str) else v.name) for k, v in labels.items()}
    seen: dict[str, int] = {}
    for k, name in names.items():
        if name in seen:
            raise InputError(f"label map: class name {name!r} is used by ids {seen[name]} and {k}; expected unique")
        seen[name] = k
    return names


def _check_rows(boxes: AvaBoxes, what: str, *, tolerance: float, degenerate_ok: bool = False) -> None:
    """In-memory rows: finite numbers, ``x1 < x2``, ``y1 < y2`` (unless ``degenerate_ok``), inside
    ``[-tolerance, 1 + tolerance]``."""
    b = boxes.boxes
    ok = np.isfinite(b).all(axis=1) & np.isfinite(boxes.timestamps) & np.isfinite(boxes.scores)
    if not degenerate_ok:
        ok &= (b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3])
    ok &= (b >= -tolerance).all(axis=1) & (b <= 1.0 + tolerance).all(axis=1)
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        raise AnnotationError(
            f"{what}[{i}]: expected finite timestamp/score and a box x1 < x2, y1 < y2 inside "
            f"[{-tolerance:g}, {1 + tolerance:g}], got timestamp {boxes.timestamps[i]}, box {b[i].tolist()}, "
            f"score {boxes.scores[i]}"
        )


def _keyframe_index(
    gt: AvaBoxes, det: AvaBoxes, excluded: Iterable[tuple[str, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One integer per distinct ``(video_id, timestamp)`` across ground truth, detections and exclusions.

    Returns ``(gt_keys [G], det_keys [D], excluded_key_flags [K] bool)`` with
    keys numbered 0..K-1.
    """
    excl = list(excluded)
    # one video vocabulary: each file's few names mapped onto it, then its codes through that table
    vocab: dict[str, int] = {}
    for v in [*gt.video_names, *det.video_names, *(e[0] for e in excl)]:
        vocab.setdefault(v, len(vocab))
    codes = np.concatenate(
        [
            np.fromiter(map(vocab.__getitem__, gt.video_names), np.int64, count=len(gt.video_names))[gt.video_codes],
            np.fromiter(map(vocab.__getitem__, det.video_names), np.int64, count=len(det.video_names))[det.video_codes],
            np.fromiter((vocab[e[0]] for e in excl), np.int64, count=len(excl)),
        ]
    )
    stamps = np.concatenate([gt.timestamps, det.timestamps, np.array([float(e[1]) for e in excl])]) + 0.0
    if stamps.size and (stamps == np.round(stamps)).all() and np.abs(stamps).max() < 2**31:
        low = int(stamps.min())  # whole seconds (AVA): one integer per keyframe directly
        combined = codes * (int(stamps.max()) - low + 1) + (stamps.astype(np.int64) - low)
    else:
        stamp_values, stamp_codes = np.unique(stamps, return_inverse=True)  # + 0.0 above: -0.0 == 0.0
        combined = codes * max(stamp_values.size, 1) + stamp_codes.reshape(-1)
    uniq, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_gt, n_det = len(gt), len(det)
    flags = np.zeros(uniq.size, dtype=bool)
    flags[inverse[n_gt + n_det :]] = True
    return inverse[:n_gt], inverse[n_gt : n_gt + n_det], flags


def _first_argmax_and_count(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple:
    """Per contiguous segment: max, offset of its first occurrence, and how many items reach it."""
    mx = np.maximum.reduceat(values, starts)
    is_max = values == np.repeat(mx, lengths)
    offsets = np.arange(values.size) - np.repeat(starts, lengths)
    first = np.minimum.reduceat(np.where(is_max, offsets, np.iinfo(np.int64).max), starts)
    count = np.add.reduceat(is_max.astype(np.int64), starts)
    return mx, first, count


def _match(
    det_group: np.ndarray,
    det_position: np.ndarray,
    det_boxes: np.ndarray,
    gt_group: np.ndarray,
    gt_rank: np.ndarray,
    gt_boxes: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy VOC matching within each group (one keyframe and class), all groups at once.

    Detections are processed in ``det_position`` order within their group and
    each looks at its highest-IoU ground-truth box (first in ``gt_rank`` order
    among equals). Returns ``(true_positive [D] bool, ambiguous [D] bool)``:
    ``ambiguous`` marks detections whose best IoU (>= threshold) is shared by
    several ground-truth boxes, where the ground-truth order decides.
    """
    n_det = det_group.size
    tp = np.zeros(n_det, dtype=bool)
    ambiguous = np.zeros(n_det, dtype=bool)
    if n_det == 0 or gt_group.size == 0:
        return tp, ambiguous
    g_order = np.lexsort((gt_rank, gt_group))
    g_sorted = gt_group[g_order]
    lo = np.searchsorted(g_sorted, det_group, side="left")
    count = np.searchsorted(g_sorted, det_group, side="right") - lo
    has = count > 0
    if not has.any():
        return tp, ambiguous
    det_idx = np.flatnonzero(has)
    lengths = count[has]
    seg_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pair_det = np.repeat(det_idx, lengths)
    pair_gt_sorted = np.repeat(lo[has], lengths) + (np.arange(lengths.sum()) - np.repeat(seg_starts, lengths))
    iou = pairwise_iou_rows(det_boxes[pair_det], gt_boxes[g_order[pair_gt_sorted]])
    best, first, n_best = _first_argmax_and_count(iou, seg_starts, lengths)
    best_gt = g_order[pair_gt_sorted[seg_starts + first]]
    candidate = best >= threshold
    ambiguous[det_idx] = candidate & (n_best > 1)
    cand_det = det_idx[candidate]
    cand_gt = best_gt[candidate]
    # the first detection (in processing order) to claim a ground-truth box takes it; later ones are FP
    order = np.lexsort((det_position[cand_det], cand_gt))
    first_claim = np.ones(order.size, dtype=bool)
    first_claim[1:] = cand_gt[order][1:] != cand_gt[order][:-1]
    tp[cand_det[order][first_claim]] = True
    return tp, ambiguous


def _official_gt_rank(gt: AvaBoxes, gt_keys: np.ndarray, keyframes: np.ndarray, rank: np.ndarray) -> None:
    """Overwrite ``rank`` for the ground truth of ``keyframes`` with the official order.

    The official reader heaps ground truth like detections, with the 8th column
    (``person_id``) as the score: a keyframe's boxes come in descending person
    id, equal ids in the heap array's order (``gt.scores`` holds those ids).
    """
    for k in keyframes:
        rows = np.flatnonzero(gt_keys == k)
        tuples = [
            (float(s), int(a), float(b[1]), float(b[0]), float(b[3]), float(b[2]))
            for s, a, b in zip(gt.scores[rows], gt.action_ids[rows], gt.boxes[rows])
        ]
        order = replay_heap(tuples, 0)
        rank[rows[order]] = rank[rows].min() + np.arange(rows.size)


def evaluate_ava_boxes(
    ground_truth: AvaBoxes,
    detections: AvaBoxes,
    labels: Mapping[int, Any],
    excluded: Iterable[tuple[str, float]] | None = None,
    tie_order: TieOrder = "official",
) -> AvaResult:
    """Frame-mAP of ``detections`` against ``ground_truth`` (columns, file order), official protocol.

    ``labels``: label-map id -> name (or an object with ``.name``, e.g.
    :class:`~vidstruct.data.formats.ava.AvaLabel`); ``excluded``:
    ``(video_id, timestamp_s)`` keyframes to leave out. Ground-truth rows must
    use label-map ids (:class:`AnnotationError` otherwise); detection rows of
    other ids are ignored. ``tie_order``: how equal scores of a class are
    ranked (see the module docstring, step 6).
    """
    tie_order = check_tie_order(tie_order)
    names = _label_names(labels)
    class_ids = np.array(sorted(names), dtype=np.int64)
    if class_ids.size == 0:
        raise InputError("label map has no classes")
    gt_in_map = np.isin(ground_truth.action_ids, class_ids)
    if not gt_in_map.all():
        i = int(np.flatnonzero(~gt_in_map)[0])
        raise AnnotationError(
            f"ground truth[{i}], field 'action_id': action id {int(ground_truth.action_ids[i])} is not in the label map"
        )
    det_in_map = np.isin(detections.action_ids, class_ids)
    num_ignored = int((~det_in_map).sum())
    det = detections.take(det_in_map)

    gt_keys, det_keys, excluded_flag = _keyframe_index(ground_truth, det, excluded or ())
    gt_keep = ~excluded_flag[gt_keys]
    gt = ground_truth.take(gt_keep)
    gt_keys = gt_keys[gt_keep]
    det_keep = ~excluded_flag[det_keys]
    det = det.take(det_keep)
    det_keys = det_keys[det_keep]

    kept, position = official_keyframe_order(
        det_keys, det.scores, det.action_ids, det.boxes, AVA_MAX_DETECTIONS_PER_KEYFRAME
    )
    num_over_cap = len(det) - kept.size
    # the official per-image evaluation drops degenerate boxes after the cap (they took a slot)
    valid = (det.boxes[kept, 0] < det.boxes[kept, 2]) & (det.boxes[kept, 1] < det.boxes[kept, 3])
    num_degenerate = int((~valid).sum())
    kept, position = kept[valid], position[valid]
    d_keys, d_pos = det_keys[kept], position
    d_cls = np.searchsorted(class_ids, det.action_ids[kept])
    d_scores, d_boxes = det.scores[kept], det.boxes[kept]
    g_cls = np.searchsorted(class_ids, gt.action_ids)
    n_cls = class_ids.size

    d_group = d_keys * n_cls + d_cls
    g_group = gt_keys * n_cls + g_cls
    g_rank = np.arange(len(gt), dtype=np.int64)
    tp, ambiguous = _match(d_group, d_pos, d_boxes, g_group, g_rank, gt.boxes, AVA_IOU_THRESHOLD)
    if ambiguous.any():  # equal best IoUs: the official ground-truth order decides which box is claimed
        _official_gt_rank(gt, gt_keys, np.unique(d_keys[ambiguous]), g_rank)
        tp, _ = _match(d_group, d_pos, d_boxes, g_group, g_rank, gt.boxes, AVA_IOU_THRESHOLD)

    # the official per-class score array: keyframes in order of their first detection row, rows in keyframe order
    n_keys = int(det_keys.max()) + 1 if det_keys.size else 0
    _, first_row = np.unique(det_keys, return_index=True)  # first row of each keyframe present
    key_rank = np.zeros(n_keys, dtype=np.int64)
    key_rank[det_keys[np.sort(first_row)]] = np.arange(first_row.size)  # keyframes by first appearance
    width = int(d_pos.max()) + 1 if d_pos.size else 1
    layout = np.argsort((d_cls * max(first_row.size, 1) + key_rank[d_keys]) * width + d_pos, kind="stable")
    cls_sorted = d_cls[layout]
    bounds = np.searchsorted(cls_sorted, np.arange(n_cls + 1))
    num_gt = np.bincount(g_cls, minlength=n_cls)

    per_class: dict[str, float] = {}
    without_gt: list[str] = []
    for c, cid in enumerate(class_ids.tolist()):
        if num_gt[c] == 0:
            without_gt.append(names[cid])
            continue
        rows = layout[bounds[c] : bounds[c + 1]]
        if tie_order == "official":
            ranking = np.argsort(d_scores[rows])[::-1]  # the official call: numpy's default sort, reversed
        else:
            ranking = np.argsort(-d_scores[rows], kind="stable")
        per_class[names[cid]] = voc_average_precision(tp[rows][ranking], int(num_gt[c]))
    if not per_class:
        raise AnnotationError("ground truth: no row of a label-map class is left after exclusions; nothing to evaluate")
    return AvaResult(
        mAP=float(np.mean(list(per_class.values()))),
        per_class_AP=per_class,
        classes_without_ground_truth=without_gt,
        num_keyframes=int(np.unique(gt_keys).size),
        num_ground_truth=len(gt),
        num_detections=int(kept.size),
        num_detections_ignored=num_ignored,
        num_detections_over_cap=int(num_over_cap),
        num_detections_degenerate=num_degenerate,
        tie_order=tie_order,
    )


def evaluate_ava(
    ground_truth: Sequence[BoxAnnotation],
    detections: Sequence[BoxAnnotation],
    labels: Mapping[int, Any],
    excluded: Iterable[tuple[str, float]] | None = None,
    tie_order: TieOrder = "official",
) -> AvaResult:
    """Frame-mAP of in-memory rows (see :func:`evaluate_ava_boxes` for the protocol).

    ``ground_truth`` / ``detections``: :class:`~vidstruct.data.records.BoxAnnotation`
    rows (boxes ``[x1, y1, x2, y2]`` normalized, ``action_id`` a label-map id,
    ``score`` the detection probability; ``person_id`` unused), in the order a
    file would list them (ties between equal scores are resolved as the
    official tool resolves them for rows in that order). Ground-truth boxes
    must lie in ``[0, 1]`` with ``x1 < x2``, ``y1 < y2``; detection boxes may
    overshoot by 0.01, and a degenerate one (``x1 >= x2`` or ``y1 >= y2``, which
    a detector may output) is dropped after the 50-per-keyframe cap, as the
    official evaluator drops it, and counted in ``num_detections_degenerate``
    (a detection *file* with one is refused instead).
    """
    gt = AvaBoxes.from_annotations(ground_truth, ground_truth=True)
    det = AvaBoxes.from_annotations(detections)
    _check_rows(gt, "ground truth", tolerance=0.0)
    _check_rows(det, "detections", tolerance=DETECTION_BOX_TOLERANCE, degenerate_ok=True)
    return evaluate_ava_boxes(gt, det, labels, excluded, tie_order)
