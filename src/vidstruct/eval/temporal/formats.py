"""ActivityNet-style ground truth and submissions: reading (validated) and writing; THUMOS14 detection lines.

Ground truth (ActivityNet-1.3, HACS Segments)::

    {"version": ..., "taxonomy": [...],                     # both optional here
     "database": {"<video id>": {"subset": "validation", "duration": 82.7,   # duration optional
                                 "annotations": [{"segment": [t0, t1], "label": "Long jump"}, ...]}}}

Submission (``"label"`` only for detection; ``version`` / ``external_data``
are optional here, the official toolkit requires them)::

    {"version": "VERSION 1.3", "external_data": {...},
     "results": {"<video id>": [{"label": "Long jump", "score": 0.64, "segment": [24.25, 38.08]}, ...]}}

What is kept, as in the official toolkit (``ANETdetection`` / ``ANETproposal``):

- ground truth: the videos whose ``subset`` equals ``subset`` (``None``: all),
  minus blocked videos; the classes are the labels of their annotations in
  order of first appearance (the toolkit's ``activity_index``; the taxonomy is
  not used);
- predictions: every entry of ``results`` except blocked videos; predictions
  for videos absent from the ground truth are kept (the detection metric counts
  them as false positives, the proposal metric counts them in the total number
  of proposals) — see :mod:`.detection` and :mod:`.proposal`;
- the blocklist (the toolkit downloads one from the challenge server) is an
  explicit, optional list of video ids here (:func:`load_blocked`).

Validation (each failure is an :class:`~vidstruct.errors.AnnotationError`
naming the file, the video and the field):

- ground truth: ``database`` must be an object of objects with a string
  ``subset``; for kept videos ``annotations`` is a list of objects with a string
  ``label`` and a ``segment`` of two finite numbers with ``start <= end``
  (zero-length segments exist in ActivityNet-1.3 and are accepted); when the
  video has a ``duration``, segments must lie in
  ``[-tolerance, duration + tolerance]`` (``duration_tolerance``, default 1 s:
  ActivityNet has a few annotations ending slightly past the duration;
  ``math.inf`` disables the check);
- predictions: ``segment`` two finite numbers with ``start <= end``; ``score``
  a finite number (not a string or bool); ``label`` a string (detection).
  Parsed objects given in memory may hold numpy numbers / arrays too.
  Predictions are *not* clipped to the video duration, as in the toolkit,
  which never reads durations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import write_json_atomic, write_text_atomic
from vidstruct.errors import AnnotationError

__all__ = [
    "TemporalGroundTruth",
    "TemporalPredictions",
    "load_blocked",
    "load_ground_truth",
    "load_submission",
    "submission_entries",
    "write_anet_submission",
    "write_thumos_detections",
]

Source = str | Path | Mapping[str, Any]
_NUMBER = (int, float, np.integer, np.floating)  # Python or numpy numbers; bools are rejected


def _is_number(x: Any) -> bool:
    return isinstance(x, _NUMBER) and not isinstance(x, bool)


def _number_types(types: set[type]) -> bool:
    return all(issubclass(t, _NUMBER) and not issubclass(t, bool) for t in types)


@dataclass(frozen=True)
class TemporalGroundTruth:
    """Ground-truth segments of one subset, as flat arrays.

    ``video_ids``: every kept video (also those without annotations), in file
    order; ``durations``: ``[V]`` seconds (NaN where the file has none);
    ``video``: ``[G]`` index into ``video_ids``; ``segments``: ``[G, 2]``
    ``[start, end]`` seconds (float64); ``labels``: ``[G]`` index into
    ``class_names`` (first-appearance order).
    """

    source: str
    subset: str | None
    video_ids: tuple[str, ...]
    durations: np.ndarray
    video: np.ndarray
    segments: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class TemporalPredictions:
    """Submitted segments as flat arrays, in file order.

    ``video_ids``: the videos of ``results`` (file order, blocked ones
    removed); ``video``: ``[P]`` index into ``video_ids``; ``segments``:
    ``[P, 2]`` seconds; ``scores``: ``[P]`` float64; ``labels``: ``[P]`` index
    into ``label_names`` (all ``-1`` for proposals, whose labels are not read).
    """

    source: str
    video_ids: tuple[str, ...]
    video: np.ndarray
    segments: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]


def _fail(source: str, where: str, field: str | None, message: str) -> AnnotationError:
    fld = f", field {field!r}" if field else ""
    return AnnotationError(f"{source}, {where}{fld}: {message}")


def _read(source: Source, what: str) -> tuple[str, Any]:
    if isinstance(source, Mapping):
        return f"<{what}>", source
    path = Path(source)
    if not path.is_file():
        raise AnnotationError(f"{path}: {what} file not found")
    try:
        with path.open(encoding="utf-8") as f:
            return str(path), json.load(f)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc.reason})") from None


def load_blocked(path: str | Path | None) -> frozenset[str]:
    """Video ids to leave out: a JSON list of ids, or a text file with one id per line (``None``: none)."""
    if path is None:
        return frozenset()
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{p}: blocked-videos file not found")
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            ids = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not all(isinstance(i, str) for i in ids):
            raise AnnotationError(f"{p}: expected a JSON list of video id strings")
        return frozenset(ids)
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _segment(source: str, where: str, seg: Any) -> tuple[float, float]:
    if not isinstance(seg, (list, tuple, np.ndarray)) or len(seg) != 2:
        raise _fail(source, where, "segment", f"expected [start, end] in seconds, got {seg!r}")
    if not all(_is_number(x) for x in seg):
        raise _fail(source, where, "segment", f"expected two numbers, got {seg!r}")
    start, end = float(seg[0]), float(seg[1])
    if not (math.isfinite(start) and math.isfinite(end)):
        raise _fail(source, where, "segment", f"expected finite numbers, got {seg!r}")
    if start > end:
        raise _fail(source, where, "segment", f"start {start} is after end {end}")
    return start, end


def load_ground_truth(
    source: Source,
    *,
    subset: str | None = "validation",
    blocked: Collection[str] = (),
    duration_tolerance: float = 1.0,
) -> TemporalGroundTruth:
    """Read and validate an ActivityNet-style ground truth (a path or the parsed JSON object).

    ``subset``: keep videos of this subset (``None``: every video). Raises
    :class:`AnnotationError` when the file is malformed or the subset is empty.
    """
    name, data = _read(source, "ground truth")
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{name}: expected a JSON object with a 'database' object of videos")
    blocked = frozenset(blocked)
    video_ids: list[str] = []
    durations: list[float] = []
    video_idx: list[int] = []
    starts: list[float] = []
    ends: list[float] = []
    labels: list[int] = []
    class_index: dict[str, int] = {}
    subsets: set[str] = set()
    for vid, entry in data["database"].items():
        where = f"database[{vid!r}]"
        if not isinstance(entry, dict):
            raise _fail(name, where, None, f"expected an object, got {type(entry).__name__}")
        if subset is not None:
            if not isinstance(entry.get("subset"), str):
                raise _fail(name, where, "subset", f"expected a subset name string, got {entry.get('subset')!r}")
            subsets.add(entry["subset"])
            if entry["subset"] != subset:
                continue
        if vid in blocked:
            continue
        duration = math.nan
        if entry.get("duration") is not None:
            d = entry["duration"]
            if not _is_number(d) or not math.isfinite(d) or d <= 0:
                raise _fail(name, where, "duration", f"expected a positive number of seconds, got {d!r}")
            duration = float(d)
        anns = entry.get("annotations")
        if not isinstance(anns, list):
            raise _fail(name, where, "annotations", f"expected a list, got {anns!r}")
        v = len(video_ids)
        video_ids.append(vid)
        durations.append(duration)
        for j, ann in enumerate(anns):
            at = f"{where}.annotations[{j}]"
            if not isinstance(ann, dict):
                raise _fail(name, at, None, f"expected an object, got {ann!r}")
            start, end = _segment(name, at, ann.get("segment"))
            if not math.isnan(duration) and (start < -duration_tolerance or end > duration + duration_tolerance):
                raise _fail(
                    name,
                    at,
                    "segment",
                    f"[{start}, {end}] lies outside the video (duration {duration} s, tolerance "
                    f"{duration_tolerance} s; raise it with --duration-tolerance)",
                )
            label = ann.get("label")
            if not isinstance(label, str) or not label:
                raise _fail(name, at, "label", f"expected a class name string, got {label!r}")
            video_idx.append(v)
            starts.append(start)
            ends.append(end)
            labels.append(class_index.setdefault(label, len(class_index)))
    if not video_ids:
        found = ", ".join(repr(s) for s in sorted(subsets)) or "none"
        raise AnnotationError(f"{name}: no videos of subset {subset!r} (subsets in the file: {found})")
    return TemporalGroundTruth(
        source=name,
        subset=subset,
        video_ids=tuple(video_ids),
        durations=np.asarray(durations, dtype=np.float64),
        video=np.asarray(video_idx, dtype=np.int64),
        segments=np.stack([np.asarray(starts, np.float64), np.asarray(ends, np.float64)], axis=1).reshape(-1, 2),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(class_index),
    )


def _diagnose(name: str, vid: str, j: int, det: Any, require_label: bool) -> AnnotationError | None:
    """The precise error of one submitted entry, or None when it is valid."""
    where = f"results[{vid!r}][{j}]"
    if not isinstance(det, dict):
        return _fail(name, where, None, f"expected an object with segment/score, got {det!r}")
    for key in ("segment", "score") + (("label",) if require_label else ()):
        if key not in det:
            return _fail(name, where, key, "missing")
    try:
        _segment(name, where, det["segment"])
    except AnnotationError as exc:
        return exc
    score = det["score"]
    if not _is_number(score) or not math.isfinite(score):
        return _fail(name, where, "score", f"expected a finite number, got {score!r}")
    if require_label and not isinstance(det["label"], str):
        return _fail(name, where, "label", f"expected a class name string, got {det['label']!r}")
    return None


def load_submission(source: Source, *, require_label: bool, blocked: Collection[str] = ()) -> TemporalPredictions:
    """Read and validate a submission (a path or the parsed JSON object).

    ``require_label``: True for detection results (every entry needs a string
    ``label``), False for proposals (labels, if any, are not read).
    """
    name, data = _read(source, "submission")
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise AnnotationError(f"{name}: expected a JSON object with a 'results' object (video id -> list)")
    blocked = frozenset(blocked)
    video_ids: list[str] = []
    counts: list[int] = []
    starts: list[Any] = []
    ends: list[Any] = []
    scores: list[Any] = []
    label_strs: list[Any] = []
    for vid, dets in data["results"].items():
        if vid in blocked:
            continue
        if not isinstance(dets, list):
            raise _fail(name, f"results[{vid!r}]", None, f"expected a list of predictions, got {type(dets).__name__}")
        try:
            segs = [d["segment"] for d in dets]
            for s in segs:
                a, b = s
                starts.append(a)
                ends.append(b)
            scores.extend(d["score"] for d in dets)
            if require_label:
                label_strs.extend(d["label"] for d in dets)
        except (KeyError, TypeError, ValueError):
            _raise_first(name, vid, dets, require_label)
            raise  # pragma: no cover - _raise_first always raises here
        video_ids.append(vid)
        counts.append(len(dets))
    n = len(scores)
    # fast type check of every value at once; on failure find the first bad entry for the message
    ok = _number_types({type(x) for x in starts} | {type(x) for x in ends} | {type(x) for x in scores})
    if require_label:
        ok = ok and all(issubclass(t, str) for t in {type(x) for x in label_strs})
    start_arr = np.asarray(starts, dtype=np.float64) if ok else None
    end_arr = np.asarray(ends, dtype=np.float64) if ok else None
    score_arr = np.asarray(scores, dtype=np.float64) if ok else None
    if ok:
        bad = ~np.isfinite(start_arr) | ~np.isfinite(end_arr) | ~np.isfinite(score_arr) | (start_arr > end_arr)
        ok = not bad.any()
    if not ok:
        for vid in video_ids:
            _raise_first(name, vid, data["results"][vid], require_label)
        raise AnnotationError(f"{name}: invalid prediction")  # pragma: no cover - unreachable
    video = np.repeat(np.arange(len(video_ids), dtype=np.int64), counts)
    if require_label:
        label_index: dict[str, int] = {}
        labels = np.fromiter((label_index.setdefault(s, len(label_index)) for s in label_strs), np.int64, count=n)
        label_names = tuple(str(k) for k in label_index)
    else:
        labels, label_names = np.full(n, -1, dtype=np.int64), ()
    return TemporalPredictions(
        source=name,
        video_ids=tuple(video_ids),
        video=video,
        segments=np.stack([start_arr, end_arr], axis=1).reshape(-1, 2),
        scores=score_arr,
        labels=labels,
        label_names=label_names,
    )


def _raise_first(name: str, vid: str, dets: Any, require_label: bool) -> None:
    if not isinstance(dets, list):
        raise _fail(name, f"results[{vid!r}]", None, f"expected a list of predictions, got {type(dets).__name__}")
    for j, det in enumerate(dets):
        err = _diagnose(name, vid, j, det, require_label)
        if err is not None:
            raise err


# --------------------------------------------------------------------------------------------------- writing


def submission_entries(
    segments: np.ndarray | Sequence[Sequence[float]],
    scores: np.ndarray | Sequence[float],
    labels: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One video's submission list: ``[{"segment": [s, e], "score": p, ("label": name)}, ...]``.

    ``segments``: ``[N, 2]`` seconds; ``scores``: ``[N]``; ``labels``: ``N`` class
    names (detection) or None (proposals). Values become plain Python floats.
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if seg.shape[0] != sc.shape[0] or (labels is not None and len(labels) != sc.shape[0]):
        raise AnnotationError(
            f"submission entries: {seg.shape[0]} segments, {sc.shape[0]} scores"
            + (f", {len(labels)} labels" if labels is not None else "")
            + " (expected equal counts)"
        )
    out: list[dict[str, Any]] = []
    for i in range(sc.shape[0]):
        entry: dict[str, Any] = {"segment": [float(seg[i, 0]), float(seg[i, 1])], "score": float(sc[i])}
        if labels is not None:
            entry["label"] = str(labels[i])
        out.append(entry)
    return out


def write_anet_submission(
    path: str | Path,
    results: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    version: str = "VERSION 1.3",
    external_data: Mapping[str, Any] | None = None,
) -> None:
    """Write ``{"version", "results", "external_data"}`` JSON (the ActivityNet / HACS submission format).

    ``results``: video id → list of :func:`submission_entries` dicts. Written
    atomically (:mod:`vidstruct.atomic`): a reader never sees half a file.
    """
    doc = {
        "version": version,
        "results": {str(vid): list(dets) for vid, dets in results.items()},
        "external_data": dict(external_data) if external_data is not None else {"used": False, "details": ""},
    }
    write_json_atomic(path, doc, indent=None)


def write_thumos_detections(
    path: str | Path,
    results: Mapping[str, Iterable[Mapping[str, Any]]],
    class_index: Mapping[str, int],
) -> None:
    """Write THUMOS14 detection lines ``<video_name> <start> <end> <class_index> <score>``.

    The format read by the THUMOS14 evaluation toolkit (``TH14evalDet``): one
    detection per line, whitespace separated, times in seconds.
    ``class_index`` maps label names to the toolkit's class ids (THUMOS14 uses
    the UCF101 indices of ``Class Index_Detection.txt``, e.g. 7 for
    ``BaseballPitch``). ``results`` is the same mapping as for
    :func:`write_anet_submission`. Written atomically.
    """
    lines = []
    for vid, dets in results.items():
        for j, det in enumerate(dets):
            label = det.get("label")
            if label not in class_index:
                raise AnnotationError(
                    f"THUMOS writer: results[{vid!r}][{j}], field 'label': no class index for {label!r}"
                )
            start, end = det["segment"]
            lines.append(
                f"{vid} {float(start):.3f} {float(end):.3f} {int(class_index[label])} {float(det['score']):.8g}"
            )
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
