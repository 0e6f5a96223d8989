"""``evaluate_ava_files``: frame-mAP from the files the official tool takes (ground truth, detections, label map)."""

from __future__ import annotations

from pathlib import Path

from vidstruct.data.formats.ava import read_ava_excluded, read_ava_label_map
from vidstruct.eval.spatiotemporal.frame_map import DETECTION_BOX_TOLERANCE, AvaResult, evaluate_ava_boxes
from vidstruct.eval.spatiotemporal.reading import read_detection_boxes, read_ground_truth_boxes
from vidstruct.eval.temporal.ranking import TieOrder

__all__ = ["evaluate_ava_files"]


def evaluate_ava_files(
    gt_csv: str | Path,
    det_csv: str | Path,
    labelmap: str | Path,
    exclusions: str | Path | None = None,
    tie_order: TieOrder = "official",
) -> AvaResult:
    """Frame-mAP@0.5 of ``det_csv`` against ``gt_csv`` as ActivityNet's ``get_ava_performance.py`` computes it.

    ``labelmap``: pbtxt (``item {name id}`` or ``label {name label_id}``), the
    classes evaluated; ``exclusions``: ``video_id,timestamp`` rows left out of
    both files; ``tie_order``: how equal scores are ranked ("official": numpy's
    argsort as the official tool; "stable": first listed first, portable).
    Malformed files raise :class:`~vidstruct.errors.AnnotationError`
    naming the file, the line and the field.
    """
    labels = read_ava_label_map(str(labelmap))
    gt = read_ground_truth_boxes(gt_csv, labels)
    det = read_detection_boxes(det_csv, tolerance=DETECTION_BOX_TOLERANCE)
    excluded = read_ava_excluded(str(exclusions)) if exclusions is not None else None
    return evaluate_ava_boxes(gt, det, labels, excluded, tie_order)
