"""Untrimmed video classification (ActivityNet), equal to the official ``Evaluation/eval_classification.py``.

Files:

- ground truth: the ActivityNet-1.3 / HACS JSON (``database -> video -> subset, annotations[{segment, label}]``),
  read by :func:`vidstruct.eval.temporal.load_ground_truth`; a video's classes are the distinct labels of its
  annotations (the official ``drop_duplicates`` of (video, label) pairs); the classes are the labels in order of
  first appearance;
- submission: ``{"results": {video_id: [{"label": name, "score": s}, ...]}}`` (``version`` / ``external_data``
  are optional here, the official script requires them). A label that is no ground-truth class is an error (the
  official script raises ``KeyError``).

Metrics (fractions in [0, 1], as the official script prints them):

- ``mAP``: mean over the ground-truth classes of the interpolated AP (VOC 2011, all points) of the class's
  predictions over all videos ranked by descending score, where a prediction is a true positive if its video has
  the class and no higher-ranked prediction of the class took that video; repeats of a (video, class) and
  predictions for videos without the class (or outside the ground truth) are false positives; ``npos`` is the
  number of videos with the class. This is the detection AP with every segment the whole video, so it is
  computed by :func:`vidstruct.eval.temporal.average_precision_per_class` on unit segments (one implementation);
- ``hit_at_k``: over the ground-truth videos that have annotations, the fraction whose top-``k`` predictions (by
  descending score; a repeated label takes a slot) contain one of the video's labels; a video without
  predictions counts as a miss; ``avg_hit_at_k``: the mean, per video, of the fraction of its labels in the
  top ``k`` (the official script computes both).

Ties (``tie_order``): ``"stable"`` ranks equal scores in file order; ``"official"`` as the script,
``argsort()[::-1]`` over a class's (AP) or a video's (hit@k) predictions in file order
(:mod:`vidstruct.eval.temporal.ranking`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.formats._common import load_json
from vidstruct.errors import AnnotationError, InputError
from vidstruct.eval.temporal import TemporalGroundTruth, average_precision_per_class, rank_by_score
from vidstruct.eval.temporal.ranking import TieOrder, check_tie_order
from vidstruct.registry import did_you_mean

__all__ = ["ClassificationPredictions", "evaluate_video_classification", "load_classification_submission"]


@dataclass(frozen=True)
class ClassificationPredictions:
    """File order: ``video_ids`` (the ``results`` keys), ``video`` ``[P]`` index into them, ``scores`` ``[P]``,
    ``labels`` ``[P]`` class names."""

    source: str
    video_ids: tuple[str, ...]
    video: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]


def load_classification_submission(path: str | Path, *, blocked: Collection[str] = ()) -> ClassificationPredictions:
    """Read and validate ``{"results": {video: [{"label", "score"}]}}``; blocked videos are left out."""
    source = str(path)
    doc = load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise AnnotationError(f"{source}: expected a JSON object with a 'results' object (video id -> list)")
    blocked = frozenset(blocked)
    video_ids: list[str] = []
    video: list[int] = []
    scores: list[float] = []
    labels: list[str] = []
    for vid, entries in doc["results"].items():
        if vid in blocked:
            continue
        if not isinstance(entries, list):
            raise AnnotationError(f"{source}, results[{vid!r}]: expected a list of {{label, score}} objects")
        v = len(video_ids)
        video_ids.append(vid)
        for j, e in enumerate(entries):
            where = f"{source}, results[{vid!r}][{j}]"
            if not isinstance(e, Mapping):
                raise AnnotationError(f"{where}: expected an object with label and score, got {e!r}")
            for key in ("label", "score"):
                if key not in e:
                    raise AnnotationError(f"{where}, field {key!r}: missing")
            if not isinstance(e["label"], str):
                raise AnnotationError(f"{where}, field 'label': expected a class name string, got {e['label']!r}")
            s = e["score"]
            if not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s):
                raise AnnotationError(f"{where}, field 'score': expected a finite number, got {s!r}")
            video.append(v)
            scores.append(float(s))
            labels.append(e["label"])
    return ClassificationPredictions(
        source=source,
        video_ids=tuple(video_ids),
        video=np.asarray(video, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
        labels=tuple(labels),
    )


def evaluate_video_classification(
    ground_truth: TemporalGroundTruth,
    predictions: ClassificationPredictions,
    *,
    top_k: int = 3,
    tie_order: TieOrder = "stable",
) -> dict[str, Any]:
    """``{"mAP", "hit_at_k", "avg_hit_at_k", "top_k", "per_class_AP", counts, "tie_order"}`` (module docstring)."""
    tie_order = check_tie_order(tie_order)
    if top_k < 1:
        raise InputError(f"top-k must be >= 1, got {top_k}")
    if not ground_truth.class_names:
        raise AnnotationError(f"{ground_truth.source}: no annotated videos in subset {ground_truth.subset!r}")
    class_index = {c: i for i, c in enumerate(ground_truth.class_names)}
    for i, name in enumerate(predictions.labels):
        if name not in class_index:
            vid = predictions.video_ids[predictions.video[i]]
            raise AnnotationError(
                f"{predictions.source}, results[{vid!r}], field 'label': {name!r} is not a class of the ground truth "
                f"({len(class_index)} classes){did_you_mean(name, list(class_index))}"
            )
    # distinct (video, class) pairs of the ground truth
    pairs = np.unique(np.stack([ground_truth.video, ground_truth.labels], axis=1), axis=0)
    gt_video, gt_label = pairs[:, 0], pairs[:, 1]
    video_index = {v: i for i, v in enumerate(ground_truth.video_ids)}
    outside = len(ground_truth.video_ids)  # one id for videos absent from the ground truth
    pred_video = (
        np.array([video_index.get(v, outside) for v in predictions.video_ids], dtype=np.int64)[predictions.video]
        if predictions.video.size
        else np.zeros(0, dtype=np.int64)
    )
    pred_label = np.array([class_index[n] for n in predictions.labels], dtype=np.int64)
    whole = np.tile([0.0, 1.0], (1, 1))  # every segment is the whole video: tIoU 1 within a (class, video)
    ap = average_precision_per_class(
        gt_video,
        np.repeat(whole, gt_video.size, axis=0),
        gt_label,
        pred_video,
        np.repeat(whole, pred_video.size, axis=0),
        predictions.scores,
        pred_label,
        num_classes=len(class_index),
        tiou_thresholds=[1.0],
        tie_order=tie_order,
    )[0]
    # hit@k over the annotated videos
    order = rank_by_score(predictions.scores, pred_video, tie_order)  # by video, then descending score
    sorted_video = pred_video[order]
    annotated = np.unique(gt_video)
    hits = np.zeros(annotated.size)
    avg_hits = np.zeros(annotated.size)
    for i, v in enumerate(annotated):
        s, e = np.searchsorted(sorted_video, [v, v + 1])
        top = set(pred_label[order[s:e][:top_k]].tolist())
        truth = gt_label[gt_video == v]
        found = np.array([c in top for c in truth.tolist()], dtype=np.float64)
        avg_hits[i] = found.mean()
        hits[i] = float(found.any())
    return {
        "mAP": float(ap.mean()),
        "hit_at_k": float(hits.mean()),
        "avg_hit_at_k": float(avg_hits.mean()),
        "top_k": top_k,
        "per_class_AP": {c: float(ap[i]) for i, c in enumerate(ground_truth.class_names)},
        "num_videos": int(annotated.size),
        "num_predictions": int(predictions.scores.size),
        "num_videos_without_predictions": int(np.setdiff1d(annotated, pred_video).size),
        "tie_order": tie_order,
    }
