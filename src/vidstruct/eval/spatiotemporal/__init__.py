"""Spatio-temporal action detection metrics: AVA / AVA-Kinetics frame-mAP, equal to the official tool.

- :mod:`.frame_map`: the protocol of ActivityNet's ``get_ava_performance.py``
  (PASCAL VOC AP at IoU 0.5 per class over keyframes, at most 50 detections per
  keyframe, official tie rules; ``tie_order="stable"`` for a portable ranking of
  equal scores), vectorized over whole columns;
- :mod:`.keyframe_order`: which detections of a keyframe the official reader
  keeps (the 50 cap) and in which order;
- :mod:`.reading`: strict, fast CSV reading into columns; :mod:`.files`:
  :func:`evaluate_ava_files`;
- :mod:`.boxes`: the columnar row container and the official IoU arithmetic.

Boxes are ``[x1, y1, x2, y2]`` normalized to ``[0, 1]``, timestamps in
seconds, APs fractions in ``[0, 1]``.
"""

from __future__ import annotations

from vidstruct.eval.spatiotemporal.boxes import AvaBoxes, pairwise_iou_rows
from vidstruct.eval.spatiotemporal.files import evaluate_ava_files
from vidstruct.eval.spatiotemporal.frame_map import (
    AVA_IOU_THRESHOLD,
    AVA_MAX_DETECTIONS_PER_KEYFRAME,
    DETECTION_BOX_TOLERANCE,
    AvaResult,
    evaluate_ava,
    evaluate_ava_boxes,
    voc_average_precision,
)
from vidstruct.eval.spatiotemporal.reading import read_detection_boxes, read_ground_truth_boxes

__all__ = [
    "AVA_IOU_THRESHOLD",
    "AVA_MAX_DETECTIONS_PER_KEYFRAME",
    "DETECTION_BOX_TOLERANCE",
    "AvaBoxes",
    "AvaResult",
    "evaluate_ava",
    "evaluate_ava_boxes",
    "evaluate_ava_files",
    "pairwise_iou_rows",
    "read_detection_boxes",
    "read_ground_truth_boxes",
    "voc_average_precision",
]
