"""AVA v2.2 annotations: box CSVs, label map (pbtxt), excluded timestamps, person proposals.

- ground truth ``ava_{train,val}_v2.2.csv`` (no header)::

      video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id, person_id

  one row per (person box, action) at a keyframe (timestamps in whole
  seconds, e.g. ``0902``); boxes normalized to [0, 1].
- label map ``ava_action_list_v2.2*.pbtxt``: ``item { name: "..." id: 1 label_type: ... }``
  (the 60-class file spells it ``label { name: "..." label_id: 1 ... }``; both read).
- excluded timestamps: ``video_id, timestamp`` rows.
- person proposals / detections: ``video_id, timestamp, x1, y1, x2, y2, action_id, score``
  with an empty ``action_id`` for class-agnostic person boxes (→ ``action_id = -1``), or the
  widely used pickle (mmaction2's ``ava_dense_proposals_*.FAIR.recall_93.9.pkl``)
  ``{"video_id,timestamp": float array [N, 5]}`` with rows ``x1, y1, x2, y2, score``
  (normalized; ``[N, 4]`` without scores reads as score 1.0), read only through
  :func:`~vidstruct.data.formats.safe_pickle.load_restricted_pickle`.
- AVA-Kinetics ``kinetics_{train,val}_v1.0.csv``: the same columns (one keyframe per
  Kinetics clip, ``timestamp`` in seconds of the YouTube video; ``person_id`` may be
  missing), plus rows ``video_id, timestamp`` (or with empty box fields) that list a
  keyframe without any annotated person: :func:`read_ava` skips those.

Boxes: ``x1 < x2`` and ``y1 < y2`` (a zero-width box is an error), every coordinate in
``[0, 1]`` (proposals / detections may overshoot by ``tolerance``).

:func:`group_by_keyframe` and :func:`merge_boxes` turn rows into per-keyframe
multi-label boxes for training and evaluation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidstruct.data.formats._common import fail, read_csv, to_float, to_int
from vidstruct.data.records import BoxAnnotation
from vidstruct.errors import AnnotationError

__all__ = [
    "AvaLabel",
    "KeyframeBox",
    "group_by_keyframe",
    "merge_boxes",
    "read_ava",
    "read_ava_excluded",
    "read_ava_label_map",
    "parse_ava_box",
    "read_ava_proposals",
    "read_ava_proposals_pickle",
]

_BOX_FIELDS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class AvaLabel:
    id: int
    name: str
    label_type: str = ""


_BLOCK = re.compile(r"\b(item|label)\s*\{([^{}]*)\}", re.S)
_FIELD = re.compile(r"(\w+)\s*:\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s}]+)")


def read_ava_label_map(path: str) -> dict[int, AvaLabel]:
    """Parse a pbtxt label map with a small regex parser → ``{id: AvaLabel}`` (ids unique)."""
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    text = p.read_text(encoding="utf-8")
    labels: dict[int, AvaLabel] = {}
    for block in _BLOCK.finditer(text):
        line = text.count("\n", 0, block.start()) + 1
        fields: dict[str, tuple[str, int]] = {}  # key -> (value, line)
        for m in _FIELD.finditer(block.group(2)):
            fields[m.group(1)] = (m.group(2), text.count("\n", 0, block.start(2) + m.start()) + 1)
        name = fields.get("name", ("", 0))[0]
        raw_id, id_line = fields.get("id", fields.get("label_id", ("", line)))
        if not name:
            raise fail(path, line, "name", "item has no name")
        if not raw_id:
            raise fail(path, line, "id", "item has no id / label_id")
        label_id = to_int(raw_id, path, id_line, "id")
        if label_id in labels:
            raise fail(path, id_line, "id", f"duplicate id {label_id} ({labels[label_id].name!r})")
        if name[0] in "\"'" and name[-1] == name[0]:
            name = name[1:-1].replace("\\" + name[0], name[0])
        labels[label_id] = AvaLabel(label_id, name, fields.get("label_type", ("", 0))[0])
    if not labels:
        raise AnnotationError(f"{path}: no 'item {{ name: ... id: ... }}' entries found")
    return labels


def parse_ava_box(
    row: Mapping[str, str], path: str, line: int | str, *, tolerance: float = 0.0
) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` of a row's ``x1``..``y2`` fields: numbers in ``[-tolerance, 1 + tolerance]``,
    ``x1 < x2`` and ``y1 < y2``; an :class:`AnnotationError` naming file, line and field otherwise."""
    x1, y1, x2, y2 = (to_float(row[k], path, line, k) for k in _BOX_FIELDS)
    lo, hi = -tolerance, 1.0 + tolerance
    for key, value in zip(_BOX_FIELDS, (x1, y1, x2, y2)):
        if not lo <= value <= hi:
            where = "[0, 1]" if tolerance == 0 else f"[{lo:g}, {hi:g}] (normalized box, tolerance {tolerance:g})"
            raise fail(path, line, key, f"box coordinate {value} outside {where}")
    if x1 >= x2:
        raise fail(path, line, "x2", f"expected x1 < x2, got x1 {x1} >= x2 {x2}")
    if y1 >= y2:
        raise fail(path, line, "y2", f"expected y1 < y2, got y1 {y1} >= y2 {y2}")
    return x1, y1, x2, y2


_box = parse_ava_box


def read_ava(
    annotations: str,
    *,
    label_map: Mapping[int, AvaLabel] | None = None,
    unknown_actions: Literal["error", "drop"] = "error",
    duplicates: Literal["error", "keep"] = "error",
) -> list[BoxAnnotation]:
    """Read a ground-truth CSV (AVA or AVA-Kinetics). With ``label_map``, an action id outside it is an error
    (or dropped). A row repeating an earlier one exactly is an error, or kept with ``duplicates="keep"`` (the
    official evaluation counts each row as one ground-truth instance). Rows that list a keyframe without a
    person (AVA-Kinetics: ``video_id, timestamp`` and nothing else) yield no box."""
    header = ("video_id", "timestamp", *_BOX_FIELDS, "action_id", "person_id")
    table = read_csv(annotations, header=header, num_columns=(2, 7, 8))
    out: list[BoxAnnotation] = []
    seen: dict[tuple[str, float, tuple[float, ...], int, int], int] = {}
    for line, row in table:
        if not row["video_id"]:
            raise fail(annotations, line, "video_id", "empty video id")
        ts = to_float(row["timestamp"], annotations, line, "timestamp")
        if not any(row[k] for k in (*_BOX_FIELDS, "action_id", "person_id")):
            continue  # a keyframe listed without a person (AVA-Kinetics)
        box = _box(row, annotations, line)
        action = to_int(row["action_id"], annotations, line, "action_id")
        if label_map is not None and action not in label_map:
            if unknown_actions == "drop":
                continue
            raise fail(annotations, line, "action_id", f"action id {action} is not in the label map")
        person = to_int(row["person_id"], annotations, line, "person_id") if row["person_id"] else -1
        key = (row["video_id"], ts, box, action, person)
        if key in seen and duplicates == "error":
            raise fail(annotations, line, None, f"duplicate row (same as line {seen[key]})")
        seen.setdefault(key, line)
        out.append(BoxAnnotation(row["video_id"], ts, box, action, person))
    return out


def read_ava_proposals(annotations: str, *, min_score: float = 0.0) -> list[BoxAnnotation]:
    """Read person proposals / detections ``video_id,timestamp,x1,y1,x2,y2,[action_id],score``.

    Rows with ``score < min_score`` are dropped; an empty ``action_id`` reads as -1.
    A ``.pkl`` / ``.pickle`` file is read by :func:`read_ava_proposals_pickle`.
    """
    if Path(annotations).suffix.lower() in (".pkl", ".pickle"):
        return read_ava_proposals_pickle(annotations, min_score=min_score)
    header = ("video_id", "timestamp", *_BOX_FIELDS, "action_id", "score")
    table = read_csv(annotations, header=header)
    out: list[BoxAnnotation] = []
    for line, row in table:
        if not row["video_id"]:
            raise fail(annotations, line, "video_id", "empty video id")
        ts = to_float(row["timestamp"], annotations, line, "timestamp")
        box = _box(row, annotations, line)
        action = to_int(row["action_id"], annotations, line, "action_id") if row["action_id"] else -1
        score = to_float(row["score"], annotations, line, "score")
        if not 0.0 <= score <= 1.0:
            raise fail(annotations, line, "score", f"expected a probability in [0, 1], got {score}")
        if score >= min_score:
            out.append(BoxAnnotation(row["video_id"], ts, box, action, -1, score))
    return out


def read_ava_proposals_pickle(annotations: str, *, min_score: float = 0.0) -> list[BoxAnnotation]:
    """Read a proposals pickle ``{"video_id,timestamp": array [N, 5] (x1, y1, x2, y2, score)}`` (or ``[N, 4]``).

    Keys in file order, rows in array order; boxes must be normalized (up to 0.01 outside [0, 1]: an
    unclipped detector), scores in [0, 1]; rows with ``score < min_score`` are dropped; ``action_id`` is -1.
    Loaded through :func:`~vidstruct.data.formats.safe_pickle.load_restricted_pickle` (numpy arrays and plain
    containers only). Errors name the file, the key, the row and the column.
    """
    import numpy as np

    from vidstruct.data.formats.safe_pickle import load_restricted_pickle

    data = load_restricted_pickle(annotations)
    if not isinstance(data, Mapping):
        raise AnnotationError(
            f"{annotations}: expected a dict {{'video_id,timestamp': array [N, 5]}}, got {type(data).__name__}"
        )
    out: list[BoxAnnotation] = []
    for key, value in data.items():
        where = f"key {key!r}"
        video_id, sep, stamp = key.rpartition(",") if isinstance(key, str) else ("", "", "")
        if not sep or not video_id:
            raise fail(annotations, where, None, "expected a key 'video_id,timestamp' (e.g. '-5KQ66BBWC4,0902')")
        ts = to_float(stamp, annotations, where, "timestamp")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            found = type(value).__name__
            raise fail(annotations, where, None, f"expected a numeric array [N, 5], got {found}") from None
        if arr.size == 0:
            continue
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            raise fail(annotations, where, None, f"expected an array [N, 5] (x1, y1, x2, y2, score), got {arr.shape}")
        for i, values in enumerate(arr.tolist()):
            row_where = f"{where}, row {i}"
            row = dict(zip(_BOX_FIELDS, (repr(v) for v in values[:4])))
            box = parse_ava_box(row, annotations, row_where, tolerance=0.01)
            score = values[4] if arr.shape[1] == 5 else 1.0
            if not 0.0 <= score <= 1.0:
                raise fail(annotations, row_where, "score", f"expected a probability in [0, 1], got {score}")
            if score >= min_score:
                out.append(BoxAnnotation(video_id, ts, box, -1, -1, score))
    return out


def read_ava_excluded(annotations: str) -> set[tuple[str, float]]:
    """Read excluded keyframes ``video_id,timestamp`` → ``{(video_id, timestamp_s)}``."""
    table = read_csv(annotations, header=("video_id", "timestamp"))
    out: set[tuple[str, float]] = set()
    for line, row in table:
        if not row["video_id"]:
            raise fail(annotations, line, "video_id", "empty video id")
        out.add((row["video_id"], to_float(row["timestamp"], annotations, line, "timestamp")))
    return out


def group_by_keyframe(rows: Iterable[BoxAnnotation]) -> dict[tuple[str, float], list[BoxAnnotation]]:
    """Rows keyed by ``(video_id, timestamp_s)``, keyframes and rows in first-seen order."""
    groups: dict[tuple[str, float], list[BoxAnnotation]] = defaultdict(list)
    for row in rows:
        groups[(row.video_id, row.timestamp_s)].append(row)
    return dict(groups)


@dataclass(frozen=True)
class KeyframeBox:
    """One person box at a keyframe with all its actions (AVA is multi-label)."""

    box: tuple[float, float, float, float]
    action_ids: tuple[int, ...]
    person_id: int = -1
    score: float = 1.0


def merge_boxes(rows: Iterable[BoxAnnotation]) -> dict[tuple[str, float], list[KeyframeBox]]:
    """Per keyframe, merge rows with the same box (and person id) into one multi-label box.

    Action ids are sorted and de-duplicated; ``-1`` (no action) is left out.
    The score of a merged box is the highest of its rows.
    """
    merged: dict[tuple[str, float], dict[tuple, tuple[set[int], float]]] = defaultdict(dict)
    for row in rows:
        slot = merged[(row.video_id, row.timestamp_s)]
        key = (row.box, row.person_id)
        actions, score = slot.get(key, (set(), 0.0))
        if row.action_id >= 0:
            actions.add(row.action_id)
        slot[key] = (actions, max(score, row.score))
    return {
        frame: [KeyframeBox(box, tuple(sorted(acts)), person, score) for (box, person), (acts, score) in boxes.items()]
        for frame, boxes in merged.items()
    }
