"""AVA rows as columns (numpy arrays), and the box IoU of the official evaluation.

The evaluation works on whole columns instead of one record per row: a 1.4M-row
detection file is five arrays, not 1.4M Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidstruct.data.records import BoxAnnotation

__all__ = ["AvaBoxes", "pairwise_iou_rows"]


@dataclass(frozen=True)
class AvaBoxes:
    """AVA rows in input (file) order, one array per column.

    - ``video_names``: ``[U]`` str (object array), the distinct video ids;
    - ``video_codes``: ``[N]`` int64, each row's index into ``video_names``;
    - ``timestamps``: ``[N]`` float64, keyframe time in seconds;
    - ``boxes``: ``[N, 4]`` float64 ``[x1, y1, x2, y2]`` normalized to ``[0, 1]``;
    - ``action_ids``: ``[N]`` int64, label-map ids;
    - ``scores``: ``[N]`` float64. For ground truth, what the official reader
      takes as the score: the 8th column, ``person_id`` (1.0 when absent); it
      only orders a keyframe's ground-truth boxes (descending), which decides
      which of two boxes with equal IoU a detection claims.
    """

    video_names: np.ndarray
    video_codes: np.ndarray
    timestamps: np.ndarray
    boxes: np.ndarray
    action_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def video_ids(self) -> np.ndarray:
        """``[N]`` str (object array): each row's video id."""
        return self.video_names[self.video_codes]

    @classmethod
    def from_columns(
        cls,
        video_ids: Sequence[str],
        timestamps: np.ndarray,
        boxes: np.ndarray,
        action_ids: np.ndarray,
        scores: np.ndarray,
    ) -> AvaBoxes:
        """Rows from per-row video ids (coded here) and the numeric columns."""
        vocab: dict[str, int] = {}
        codes = np.fromiter((vocab.setdefault(v, len(vocab)) for v in video_ids), np.int64, count=len(video_ids))
        names = np.empty(len(vocab), dtype=object)
        names[:] = list(vocab)
        return cls(
            names,
            codes,
            np.asarray(timestamps, dtype=np.float64),
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(action_ids, dtype=np.int64),
            np.asarray(scores, dtype=np.float64),
        )

    @classmethod
    def from_annotations(cls, rows: Sequence[BoxAnnotation], *, ground_truth: bool = False) -> AvaBoxes:
        """Columns of ``rows``; with ``ground_truth``, ``scores`` are the person ids (1.0 where ``person_id < 0``)."""
        n = len(rows)
        if ground_truth:
            return cls.from_columns(
                [r.video_id for r in rows],
                np.fromiter((r.timestamp_s for r in rows), np.float64, count=n),
                np.array([r.box for r in rows], dtype=np.float64).reshape(n, 4),
                np.fromiter((r.action_id for r in rows), np.int64, count=n),
                np.fromiter((r.person_id if r.person_id >= 0 else 1.0 for r in rows), np.float64, count=n),
            )
        return cls.from_columns(
            [r.video_id for r in rows],
            np.fromiter((r.timestamp_s for r in rows), np.float64, count=n),
            np.array([r.box for r in rows], dtype=np.float64).reshape(n, 4),
            np.fromiter((r.action_id for r in rows), np.int64, count=n),
            np.fromiter((r.score for r in rows), np.float64, count=n),
        )

    def take(self, index: np.ndarray) -> AvaBoxes:
        """The rows ``index`` (a bool mask or integer indices), in that order."""
        return AvaBoxes(
            self.video_names,
            self.video_codes[index],
            self.timestamps[index],
            self.boxes[index],
            self.action_ids[index],
            self.scores[index],
        )


def pairwise_iou_rows(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of row ``i`` of ``boxes_a`` with row ``i`` of ``boxes_b``: ``[P, 4]`` x ``[P, 4]`` -> ``[P]``.

    Boxes are ``[x1, y1, x2, y2]`` in normalized coordinates; areas are plain
    ``(x2 - x1) * (y2 - y1)`` (no "+1" pixel convention), and the arithmetic is
    grouped as the official ``np_box_ops.iou`` groups it (intersection height
    times width; ``area_a + area_b - intersection``), so an IoU that lands
    exactly on the 0.5 threshold lands there in both.
    """
    ax1, ay1, ax2, ay2 = boxes_a.T
    bx1, by1, bx2, by2 = boxes_b.T
    heights = np.maximum(0.0, np.minimum(ay2, by2) - np.maximum(ay1, by1))
    widths = np.maximum(0.0, np.minimum(ax2, bx2) - np.maximum(ax1, bx1))
    intersection = heights * widths
    area_a = (ay2 - ay1) * (ax2 - ax1)
    area_b = (by2 - by1) * (bx2 - bx1)
    return intersection / (area_a + area_b - intersection)
