"""EPIC-Kitchens-100 action detection, equal to the C2 challenge's ``evaluate_detection_json_ek100.py``.

Submission (validated as the official script does, each failure a one-line
:class:`~vidstruct.errors.AnnotationError` naming the video, entry and field)::

    {"version": "0.2", "challenge": "action_detection", "sls_pt": 0..5, "sls_tl": 0..5, "sls_td": 0..5,
     "results": {"P01_11": [{"verb": 3, "noun": 12, "action": "3,12", "score": 0.61, "segment": [12.3, 15.0]},
                            ...]}}

Protocol: every labelled segment of the labels file is ground truth (``video_id``, ``start_timestamp`` /
``stop_timestamp`` in seconds). Three evaluations, one per task, each the ActivityNet detection mAP
(:func:`vidstruct.eval.temporal.evaluate_detection`: greedy matching by descending score, interpolated AP, tIoU
thresholds ``0.1:0.1:0.5``, ``mAP`` the mean over the ground-truth classes, ``average_mAP`` its mean over the
thresholds):

- ``verb``: class = ``verb`` of the entry / ``verb_class`` of the segment;
- ``noun``: class = ``noun`` / ``noun_class``;
- ``action``: class = ``v * num_nouns + n`` from the entry's ``"v,n"`` ``action`` string (not from its ``verb``
  and ``noun`` fields, as the official script) / ``verb_class * num_nouns + noun_class``.

Predictions for videos without ground truth are false positives; a class without predictions has AP 0.

Differences from the official script (documented choices):

- classes that occur only in the predictions: the official script maps the ground-truth classes to indices
  ``0..C-1`` (sorted ids) with ``DataFrame.replace`` but leaves a prediction whose class is no ground-truth class
  with its raw id, so it is evaluated as whichever ground-truth class has that *index* (e.g. with ground-truth
  verbs {3, 7}, a prediction of verb 1 counts as a prediction of verb 7). Here such predictions are dropped: a
  class without ground truth is not evaluated, so they can change nothing (equal to the official numbers
  whenever every predicted class occurs in the ground truth);
- ties: ``tie_order`` ``"stable"`` (default; equal scores in file order) or ``"official"`` (numpy's
  ``argsort()[::-1]`` per class, as the script), see :mod:`vidstruct.eval.temporal.ranking`;
- a segment with ``start > end`` is an error (the official script computes a meaningless tIoU for it);
  ``verb`` / ``noun`` must be integers (the official ``int()`` would also take ``"3"`` in one place and then
  reject it in its validation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import write_json_atomic
from vidstruct.data.formats._common import load_json
from vidstruct.errors import AnnotationError
from vidstruct.eval.epic.labels import EpicLabels
from vidstruct.eval.temporal import EPIC_TIOU, TemporalGroundTruth, TemporalPredictions, evaluate_detection
from vidstruct.eval.temporal.ranking import TieOrder

__all__ = [
    "DetectionSubmission",
    "detection_entries",
    "evaluate_epic_detection",
    "load_detection_submission",
    "write_detection_submission",
]

VERSIONS = ("0.2",)
CHALLENGE = "action_detection"
TASKS = ("verb", "noun", "action")


@dataclass(frozen=True)
class DetectionSubmission:
    """Flat arrays in file order: ``video`` ``[P]`` index into ``video_ids``; ``segments`` ``[P, 2]`` seconds;
    ``scores``, ``verb``, ``noun`` ``[P]``; ``action_verb`` / ``action_noun`` ``[P]`` from the ``"v,n"`` strings;
    ``sls``: the three supervision levels."""

    source: str
    video_ids: tuple[str, ...]
    video: np.ndarray
    segments: np.ndarray
    scores: np.ndarray
    verb: np.ndarray
    noun: np.ndarray
    action_verb: np.ndarray
    action_noun: np.ndarray
    sls: dict[str, int | float]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _entry(source: str, vid: str, j: int, e: Any, num_verbs: int, num_nouns: int) -> tuple:
    where = f"{source}, results[{vid!r}][{j}]"
    if not isinstance(e, Mapping):
        raise AnnotationError(f"{where}: expected an object with verb, noun, action, score, segment")
    for key in ("verb", "noun", "action", "score", "segment"):
        if key not in e:
            raise AnnotationError(f"{where}, field {key!r}: missing")
    for key, limit in (("verb", num_verbs), ("noun", num_nouns)):
        if not _is_int(e[key]) or not 0 <= e[key] < limit:
            raise AnnotationError(f"{where}, field {key!r}: expected a class id in [0, {limit}), got {e[key]!r}")
    parts = e["action"].split(",") if isinstance(e["action"], str) else []
    try:
        av, an = (int(p) for p in parts)
    except ValueError:
        raise AnnotationError(f"{where}, field 'action': expected a 'verb,noun' string, got {e['action']!r}") from None
    if not (0 <= av < num_verbs and 0 <= an < num_nouns):
        raise AnnotationError(
            f"{where}, field 'action': {e['action']!r} has a verb outside [0, {num_verbs}) or a noun outside "
            f"[0, {num_nouns})"
        )
    if not _is_number(e["score"]):
        raise AnnotationError(f"{where}, field 'score': expected a finite number, got {e['score']!r}")
    seg = e["segment"]
    if not isinstance(seg, list) or len(seg) != 2 or not all(_is_number(t) for t in seg):
        raise AnnotationError(f"{where}, field 'segment': expected [start, end] (two finite numbers), got {seg!r}")
    if seg[0] > seg[1]:
        raise AnnotationError(f"{where}, field 'segment': start {seg[0]} is after end {seg[1]}")
    return float(seg[0]), float(seg[1]), float(e["score"]), e["verb"], e["noun"], av, an


def load_detection_submission(path: str | Path, *, num_verbs: int = 97, num_nouns: int = 300) -> DetectionSubmission:
    """Read and validate an EPIC-100 action detection submission JSON (module docstring)."""
    source = str(path)
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise AnnotationError(f"{source}: expected a JSON object with version, challenge, sls_*, results")
    for key in ("version", "challenge", "sls_pt", "sls_tl", "sls_td", "results"):
        if key not in doc:
            raise AnnotationError(f"{source}, field {key!r}: missing")
    if doc["version"] not in VERSIONS:
        raise AnnotationError(
            f"{source}, field 'version': {doc['version']!r} is not supported; expected "
            f"{' or '.join(map(repr, VERSIONS))}"
        )
    if doc["challenge"] != CHALLENGE:
        raise AnnotationError(f"{source}, field 'challenge': expected {CHALLENGE!r}, got {doc['challenge']!r}")
    sls = {}
    for key in ("sls_pt", "sls_tl", "sls_td"):
        if not _is_number(doc[key]) or not 0 <= doc[key] <= 5:
            raise AnnotationError(f"{source}, field {key!r}: expected a supervision level in [0, 5], got {doc[key]!r}")
        sls[key] = doc[key]
    if not isinstance(doc["results"], dict):
        raise AnnotationError(f"{source}, field 'results': expected an object (video id -> list of detections)")
    rows: list[tuple] = []
    video: list[int] = []
    video_ids = tuple(doc["results"])
    for v, vid in enumerate(video_ids):
        entries = doc["results"][vid]
        if not isinstance(entries, list):
            raise AnnotationError(f"{source}, results[{vid!r}]: expected a list of detections")
        for j, e in enumerate(entries):
            rows.append(_entry(source, vid, j, e, num_verbs, num_nouns))
            video.append(v)
    cols = list(zip(*rows)) if rows else [()] * 7
    return DetectionSubmission(
        source=source,
        video_ids=video_ids,
        video=np.asarray(video, dtype=np.int64),
        segments=np.stack([np.asarray(cols[0], np.float64), np.asarray(cols[1], np.float64)], axis=1).reshape(-1, 2),
        scores=np.asarray(cols[2], np.float64),
        verb=np.asarray(cols[3], np.int64),
        noun=np.asarray(cols[4], np.int64),
        action_verb=np.asarray(cols[5], np.int64),
        action_noun=np.asarray(cols[6], np.int64),
        sls=sls,
    )


def _class_names(ids: np.ndarray, task: str, num_nouns: int) -> list[str]:
    if task != "action":
        return [str(int(i)) for i in ids]
    return [f"{int(i) // num_nouns},{int(i) % num_nouns}" for i in ids]


def evaluate_epic_detection(
    labels: EpicLabels,
    submission: DetectionSubmission,
    *,
    num_nouns: int = 300,
    tie_order: TieOrder = "stable",
) -> dict[str, Any]:
    """``{"verb" | "noun" | "action": DetectionResult.to_dict(), "sls_pt", "sls_tl", "sls_td"}`` (fractions).

    Classes are named by their ids (``"12"``; actions ``"v,n"``), listed in ascending id order as the official
    ``activity_index``.
    """
    if not labels.has_times:
        raise AnnotationError(
            f"{labels.source}: detection needs video_id, start_timestamp and stop_timestamp for every segment"
        )
    gt_video_ids = tuple(dict.fromkeys(labels.video_ids))
    gt_video_index = {v: i for i, v in enumerate(gt_video_ids)}
    gt_video = np.array([gt_video_index[v] for v in labels.video_ids], dtype=np.int64)
    gt_segments = np.stack([labels.start_s, labels.stop_s], axis=1)
    gt_ids = {"verb": labels.verb, "noun": labels.noun, "action": labels.verb * num_nouns + labels.noun}
    pred_ids = {
        "verb": submission.verb,
        "noun": submission.noun,
        "action": submission.action_verb * num_nouns + submission.action_noun,
    }
    out: dict[str, Any] = {}
    for task in TASKS:
        classes, gt_labels = np.unique(gt_ids[task], return_inverse=True)
        pred_classes, pred_labels = np.unique(pred_ids[task], return_inverse=True)
        gt = TemporalGroundTruth(
            source=labels.source,
            subset=None,
            video_ids=gt_video_ids,
            durations=np.full(len(gt_video_ids), np.nan),
            video=gt_video,
            segments=gt_segments,
            labels=gt_labels.astype(np.int64),
            class_names=tuple(_class_names(classes, task, num_nouns)),
        )
        preds = TemporalPredictions(
            source=submission.source,
            video_ids=submission.video_ids,
            video=submission.video,
            segments=submission.segments,
            scores=submission.scores,
            labels=pred_labels.astype(np.int64).reshape(-1),
            label_names=tuple(_class_names(pred_classes, task, num_nouns)),
        )
        out[task] = evaluate_detection(
            gt, preds, tiou_thresholds=EPIC_TIOU, unknown_labels="ignore", tie_order=tie_order
        ).to_dict()
    out.update(submission.sls)
    return out


def detection_entries(
    segments: np.ndarray | Sequence[Sequence[float]],
    scores: np.ndarray | Sequence[float],
    verbs: np.ndarray | Sequence[int],
    nouns: np.ndarray | Sequence[int],
) -> list[dict[str, Any]]:
    """One video's C2 list: ``[{"verb", "noun", "action": "v,n", "score", "segment": [s, e]}, ...]``.

    ``segments`` ``[N, 2]`` seconds (full precision: the file is for the evaluator), ``scores`` ``[N]`` (the
    action's combined score), ``verbs`` / ``nouns`` ``[N]`` class ids; values become plain Python numbers.
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    v = np.asarray(verbs, dtype=np.int64).reshape(-1)
    n = np.asarray(nouns, dtype=np.int64).reshape(-1)
    if not (seg.shape[0] == sc.shape[0] == v.shape[0] == n.shape[0]):
        raise ValueError(f"{seg.shape[0]} segments, {sc.shape[0]} scores, {v.shape[0]} verbs, {n.shape[0]} nouns")
    return [
        {
            "verb": int(v[i]),
            "noun": int(n[i]),
            "action": f"{int(v[i])},{int(n[i])}",
            "score": float(sc[i]),
            "segment": [float(seg[i, 0]), float(seg[i, 1])],
        }
        for i in range(sc.shape[0])
    ]


def write_detection_submission(
    path: str | Path, results: Mapping[str, Sequence[Mapping[str, Any]]], *, sls: tuple[int, int, int]
) -> Path:
    """Write the C2 submission JSON atomically; ``results``: video id -> :func:`detection_entries`; ``sls``:
    (pretraining, training labels, training data) supervision levels, each 0..5."""
    if not all(isinstance(x, int) and 0 <= x <= 5 for x in sls) or len(sls) != 3:
        raise ValueError(f"sls must be three levels in 0..5, got {sls!r}")
    doc = {
        "version": VERSIONS[0],
        "challenge": CHALLENGE,
        "sls_pt": sls[0],
        "sls_tl": sls[1],
        "sls_td": sls[2],
        "results": {str(vid): list(entries) for vid, entries in results.items()},
    }
    write_json_atomic(path, doc)
    return Path(path)
