"""Read AVA ground-truth and detection CSVs into columns, fast and strictly.

Both files have no header; rows are
``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` (ground truth;
AVA-Kinetics may leave out ``person_id`` and list keyframes without a person
as ``video_id, timestamp``) and ``video_id, timestamp, x1, y1, x2, y2,
action_id, score`` (detections; a row without ``score`` scores 1.0, as
officially).

Fast path: numpy's C ``loadtxt`` parses the numeric columns and one Python
pass takes the video ids (no Python object per number), then every rule is
checked on whole columns. Any
file the fast path does not accept (a malformed row, quotes, a mixed column
count) is read again row by row with the located checks of
:mod:`vidstruct.data.formats.ava`, which raise the one-line error naming the
file, the line and the field (or read the file when only the fast path
disliked it). The rules:

- ground truth: ``x1 < x2``, ``y1 < y2``, every coordinate in ``[0, 1]``
  exactly, ``action_id`` an integer of the label map, finite numbers;
- detections: the same box order, coordinates within
  :data:`~vidstruct.eval.spatiotemporal.frame_map.DETECTION_BOX_TOLERANCE` of
  ``[0, 1]`` (used unclipped, as officially), ``action_id`` an integer (ids
  outside the label map are ignored by the evaluation, as officially),
  ``score`` any finite number.

The official reader checks none of this: it drops ground truth of unknown
classes, silently drops degenerate detection boxes (after they took a slot of
the 50 per keyframe) and fails with a traceback on a degenerate ground-truth
box or a non-integer timestamp. Timestamps here are any finite number of
seconds (AVA's are whole seconds such as ``0902``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vidstruct.data.formats._common import fail, read_csv, to_float, to_int
from vidstruct.data.formats.ava import AvaLabel, parse_ava_box, read_ava
from vidstruct.errors import AnnotationError
from vidstruct.eval.spatiotemporal.boxes import AvaBoxes

__all__ = ["read_detection_boxes", "read_ground_truth_boxes"]

_GT_DTYPE = np.dtype([("t", "f8"), ("x1", "f8"), ("y1", "f8"), ("x2", "f8"), ("y2", "f8"), ("a", "i8"), ("p", "i8")])
_DET_DTYPE = np.dtype([("t", "f8"), ("x1", "f8"), ("y1", "f8"), ("x2", "f8"), ("y2", "f8"), ("a", "i8"), ("s", "f8")])


def _read_text(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None


def _fast_columns(path: str | Path, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """``(video_ids [N] object, rows [N] structured)`` of a plain 8-column file, or ``None`` to take the slow path."""
    text = _read_text(path)
    if '"' in text:  # quoted fields: the csv module's job
        return None
    lines = text.splitlines()
    if lines.count(""):
        lines = [line for line in lines if line]
        text = "\n".join(lines)
    if not lines:
        return np.empty(0, dtype=object), np.empty(0, dtype=dtype)
    # 8 columns everywhere: loadtxt fails on a row with fewer, so with 7 commas per line on average none has more
    if text.count(",") != 7 * len(lines):
        return None
    try:
        rows = np.loadtxt(io.StringIO(text), delimiter=",", usecols=range(1, 8), dtype=dtype, ndmin=1, comments=None)
    except ValueError:
        return None
    video_ids = np.empty(len(lines), dtype=object)
    video_ids[:] = [line[: line.index(",")] for line in lines]
    return video_ids, rows


def _columns_ok(video_ids: np.ndarray, rows: np.ndarray, *, low: float, high: float, extra: np.ndarray) -> bool:
    boxes = np.stack([rows["x1"], rows["y1"], rows["x2"], rows["y2"]], axis=1)
    ok = np.isfinite(boxes).all() and np.isfinite(rows["t"]).all() and bool(extra.all())
    ok = ok and bool((boxes >= low).all() and (boxes <= high).all())
    ok = ok and bool((rows["x1"] < rows["x2"]).all() and (rows["y1"] < rows["y2"]).all())
    return ok and all(v and v == v.strip() for v in set(video_ids.tolist()))


def _to_boxes(video_ids: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> AvaBoxes:
    return AvaBoxes(
        video_ids=video_ids,
        timestamps=rows["t"].astype(np.float64),
        boxes=np.stack([rows["x1"], rows["y1"], rows["x2"], rows["y2"]], axis=1),
        action_ids=rows["a"].astype(np.int64),
        scores=scores,
    )


def read_ground_truth_boxes(path: str | Path, label_map: Mapping[int, AvaLabel]) -> AvaBoxes:
    """Ground-truth rows of an AVA / AVA-Kinetics CSV as columns (file order), checked strictly.

    Exact duplicate rows are kept (the official evaluation counts each row);
    rows listing a keyframe without a person are skipped.
    """
    fast = _fast_columns(path, _GT_DTYPE)
    if fast is not None:
        video_ids, rows = fast
        known = np.isin(rows["a"], np.fromiter(label_map, np.int64))
        if _columns_ok(video_ids, rows, low=0.0, high=1.0, extra=known):
            return _to_boxes(video_ids, rows, np.ones(rows.shape[0]))
    records = read_ava(str(path), label_map=label_map, duplicates="keep")
    return AvaBoxes.from_annotations(records)


def read_detection_boxes(path: str | Path, *, tolerance: float) -> AvaBoxes:
    """Detection rows ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]`` as columns (file order).

    Boxes may overshoot ``[0, 1]`` by ``tolerance``; scores are any finite number.
    """
    fast = _fast_columns(path, _DET_DTYPE)
    if fast is not None:
        video_ids, rows = fast
        if _columns_ok(video_ids, rows, low=-tolerance, high=1.0 + tolerance, extra=np.isfinite(rows["s"])):
            return _to_boxes(video_ids, rows, rows["s"].astype(np.float64))
    return _read_detections_slowly(path, tolerance=tolerance)


def _read_detections_slowly(path: str | Path, *, tolerance: float) -> AvaBoxes:
    header = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
    table = read_csv(path, header=header, num_columns=(7, 8))
    video_ids: list[str] = []
    stamps: list[float] = []
    boxes: list[tuple[float, float, float, float]] = []
    actions: list[int] = []
    scores: list[float] = []
    for line, row in table:
        if not row["video_id"]:
            raise fail(path, line, "video_id", "empty video id")
        stamps.append(to_float(row["timestamp"], path, line, "timestamp"))
        boxes.append(parse_ava_box(row, str(path), line, tolerance=tolerance))
        actions.append(to_int(row["action_id"], path, line, "action_id"))
        scores.append(to_float(row["score"], path, line, "score") if row["score"] else 1.0)
        video_ids.append(row["video_id"])
    ids = np.empty(len(video_ids), dtype=object)
    ids[:] = video_ids
    return AvaBoxes(
        video_ids=ids,
        timestamps=np.array(stamps, dtype=np.float64),
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        action_ids=np.array(actions, dtype=np.int64),
        scores=np.array(scores, dtype=np.float64),
    )
