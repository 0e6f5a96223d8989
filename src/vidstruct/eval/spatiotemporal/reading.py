"""Read AVA ground-truth and detection CSVs into columns, fast and strictly.

Both files have no header; rows are
``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` (ground truth;
AVA-Kinetics may leave out ``person_id`` and list keyframes without a person
as ``video_id, timestamp``) and ``video_id, timestamp, x1, y1, x2, y2,
action_id, score`` (detections; a row without ``score`` scores 1.0, as
officially).

Fast path: numpy's C ``loadtxt`` parses the numeric columns and the video ids
are coded with numpy alone (no Python object per row), then every rule is
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


def _first_column_codes(buf: np.ndarray, line_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(distinct texts [U] object, code [N])`` of each line's first field (up to its first comma).

    ``buf``: the file's bytes (``uint8``); ``line_starts``: ``[N]`` offsets of the
    lines. A 64-bit polynomial hash per field, over its bytes read 8 at a time,
    groups the fields; every field is then compared with its group's first one
    word by word, so a hash collision cannot merge two ids (it falls back to an
    exact ``np.unique`` over the words). ``None`` for an empty or non-UTF-8 id.
    """
    commas = np.flatnonzero(buf == ord(","))
    ends = commas[np.searchsorted(commas, line_starts)]
    width = ends - line_starts
    if (width <= 0).any() or int(width.max()) > 256:
        return None
    # 8 bytes at a time: windows[i] is bytes i..i+7 as one little-endian uint64 (bytes past the field masked)
    padded = np.concatenate([buf, np.zeros(8, dtype=np.uint8)])
    windows = np.lib.stride_tricks.as_strided(padded, shape=(buf.size, 8), strides=(1, 1))
    words = []
    digest = width.astype(np.uint64)
    for j in range(0, int(width.max()), 8):
        word = windows[np.minimum(line_starts + j, buf.size - 1)].view("<u8").reshape(-1)
        left = np.clip(width - j, 0, 8).astype(np.uint64)
        word &= np.where(left == 8, np.uint64(2**64 - 1), (np.uint64(1) << (np.uint64(8) * left)) - np.uint64(1))
        words.append(word)
        digest = digest * np.uint64(1099511628211) + word
    _, first, code = np.unique(digest, return_index=True, return_inverse=True)
    code = code.reshape(-1)
    if not all((word == word[first][code]).all() for word in words):  # a collision: compare the words exactly
        _, first, code = np.unique(
            np.stack([width.astype(np.uint64), *words], axis=1), axis=0, return_index=True, return_inverse=True
        )
        code = code.reshape(-1)
    data = buf.tobytes()
    try:
        texts = [data[a:b].decode("utf-8") for a, b in zip(line_starts[first].tolist(), ends[first].tolist())]
    except UnicodeDecodeError:
        return None
    names = np.empty(len(texts), dtype=object)
    names[:] = texts
    return names, code


def _fast_columns(path: str | Path, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(video_names [U], video_codes [N], rows [N] structured)`` of a plain 8-column file, or ``None``."""
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if b'"' in data or b"\r" in data or b" " in data:  # quotes, lone CR, spaces: the row-by-row reader's job
        return None
    data = data.strip(b"\n")
    while b"\n\n" in data:  # blank lines
        data = data.replace(b"\n\n", b"\n")
    if not data:
        return np.empty(0, dtype=object), np.zeros(0, dtype=np.int64), np.empty(0, dtype=dtype)
    n_lines = data.count(b"\n") + 1
    # 8 columns everywhere: loadtxt fails on a row with fewer, so with 7 commas per line on average none has more
    if data.count(b",") != 7 * n_lines:
        return None
    try:
        text = data.decode("utf-8")
        rows = np.loadtxt(io.StringIO(text), delimiter=",", usecols=range(1, 8), dtype=dtype, ndmin=1, comments=None)
    except (ValueError, UnicodeDecodeError):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    line_starts = np.concatenate(([0], np.flatnonzero(buf == ord("\n")) + 1))
    coded = _first_column_codes(buf, line_starts)
    if coded is None or rows.shape[0] != n_lines:
        return None
    return coded[0], coded[1], rows


def _columns_ok(rows: np.ndarray, boxes: np.ndarray, *, low: float, high: float, extra: bool = True) -> bool:
    ok = extra and bool(np.isfinite(boxes).all() and np.isfinite(rows["t"]).all())
    ok = ok and bool((boxes >= low).all() and (boxes <= high).all())
    return ok and bool((boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all())


def _box_array(rows: np.ndarray) -> np.ndarray:
    return np.stack([rows["x1"], rows["y1"], rows["x2"], rows["y2"]], axis=1)


def read_ground_truth_boxes(path: str | Path, label_map: Mapping[int, AvaLabel]) -> AvaBoxes:
    """Ground-truth rows of an AVA / AVA-Kinetics CSV as columns (file order), checked strictly.

    Exact duplicate rows are kept (the official evaluation counts each row);
    rows listing a keyframe without a person are skipped.
    """
    fast = _fast_columns(path, _GT_DTYPE)
    if fast is not None:
        names, codes, rows = fast
        boxes = _box_array(rows)
        known = bool(np.isin(rows["a"], np.fromiter(label_map, np.int64)).all())
        if _columns_ok(rows, boxes, low=0.0, high=1.0, extra=known):
            # the official reader's "score" of a ground-truth row; a missing id (< 0 here) reads as 1.0
            person = np.where(rows["p"] >= 0, rows["p"], 1).astype(np.float64)
            return AvaBoxes(names, codes, rows["t"].copy(), boxes, rows["a"].copy(), person)
    records = read_ava(str(path), label_map=label_map, duplicates="keep")
    return AvaBoxes.from_annotations(records, ground_truth=True)


def read_detection_boxes(path: str | Path, *, tolerance: float) -> AvaBoxes:
    """Detection rows ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]`` as columns (file order).

    Boxes may overshoot ``[0, 1]`` by ``tolerance``; scores are any finite number.
    """
    fast = _fast_columns(path, _DET_DTYPE)
    if fast is not None:
        names, codes, rows = fast
        boxes = _box_array(rows)
        finite = bool(np.isfinite(rows["s"]).all())
        if _columns_ok(rows, boxes, low=-tolerance, high=1.0 + tolerance, extra=finite):
            return AvaBoxes(names, codes, rows["t"].copy(), boxes, rows["a"].copy(), rows["s"].copy())
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
