"""Validation of a localizer on a localization dataset, with the ActivityNet-equivalent metrics.

:func:`localize_dataset` runs the model over every item (batched), decodes
each with :func:`vidstruct.eval.localization.chain.decode_item` and
merges the windows of a video (:func:`~vidstruct.eval.localization.chain.merge_items`):
the same chain as ``vidstruct localize`` (:mod:`vidstruct.pipeline.localization_chain`).
:func:`evaluate_localizer` scores the result with :mod:`vidstruct.eval.temporal` (never a re-implementation):

- proposals: ``AR@1``, ``AR@10``, ``AR@100`` (fractions) and ``AUC`` (percent)
  of :func:`~vidstruct.eval.temporal.evaluate_proposals` at the ActivityNet
  tIoUs 0.5:0.05:0.95, 100 proposals per video;
- detections (unless fusion is ``none``): ``mAP@0.5`` and ``average_mAP``
  (mean over the protocol's tIoUs) of :func:`~vidstruct.eval.temporal.evaluate_detection`.

The ground truth is the dataset's annotated videos that have features, as
ActivityNet JSON (whole segments, not window-clipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidstruct.data.localization import collate_localization
from vidstruct.eval.localization.chain import Localization, decode_item, merge_items
from vidstruct.eval.temporal import evaluate_detection, evaluate_proposals, load_ground_truth, load_submission
from vidstruct.eval.temporal.formats import submission_entries
from vidstruct.models.localization.run import run_model
from vidstruct.models.localization.spec import PostprocessSettings

__all__ = ["evaluate_localizer", "ground_truth_doc", "localize_dataset", "localization_metrics"]


def localize_dataset(
    model: nn.Module,
    kind: str,
    dataset: Any,
    *,
    post: PostprocessSettings,
    class_map: np.ndarray | None = None,
    batch_size: int = 16,
) -> dict[str, Localization]:
    """Video id → :class:`Localization` (seconds of the video) for every video of ``dataset``."""
    parts: dict[str, list[Localization]] = {}
    durations: dict[str, float] = {}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_localization)
    for batch in loader:
        out = run_model(model, batch["features"])
        for b, vid in enumerate(batch["video_id"]):
            probs = None
            if class_map is not None:
                probs = batch["probs"][b].T.numpy()[:, class_map]
            loc = decode_item(
                kind,
                out,
                b,
                span_s=float(batch["duration_s"][b]),
                offset_s=float(batch["offset_s"][b]),
                video_duration_s=float(batch["video_duration_s"][b]),
                post=post,
                probs=probs,
            )
            parts.setdefault(vid, []).append(loc)
            durations[vid] = float(batch["video_duration_s"][b])
    return {vid: merge_items(p, post, durations[vid]) for vid, p in parts.items()}


def ground_truth_doc(videos: Sequence[Any]) -> dict[str, Any]:
    """ActivityNet-style ground truth (subset ``"eval"``) of :class:`~vidstruct.data.records.UntrimmedVideo` s."""
    return {
        "database": {
            v.video_id: {
                "subset": "eval",
                "duration": float(v.duration_s) if v.duration_s > 0 else None,
                "annotations": [{"segment": [s.start_s, s.end_s], "label": s.label} for s in v.segments],
            }
            for v in videos
        }
    }


def localization_metrics(
    videos: Sequence[Any],
    results: dict[str, Localization],
    classes: Sequence[str],
    *,
    tiou: Sequence[float] | np.ndarray,
    detections: bool = True,
) -> dict[str, float]:
    """AR@1 / AR@10 / AR@100 / AUC of the proposals and mAP@0.5 / average mAP of the detections (module doc)."""
    gt = load_ground_truth(ground_truth_doc(videos), subset=None, duration_tolerance=1e9)
    props = {vid: submission_entries(r.proposals[:, :2], r.proposals[:, 2]) for vid, r in results.items()}
    pr = evaluate_proposals(gt, load_submission({"results": props}, require_label=False), max_avg_nr_proposals=100)
    out = {"AR@1": pr.ar_at(1) or 0.0, "AR@10": pr.ar_at(10) or 0.0, "AR@100": pr.ar_at(100) or 0.0, "AUC": pr.auc}
    if detections:
        dets = {
            vid: submission_entries(
                r.detections[:, :2], r.detections[:, 2], [classes[int(c)] for c in r.detections[:, 3]]
            )
            for vid, r in results.items()
        }
        sub = load_submission({"results": dets}, require_label=True)
        thr = np.asarray(tiou, dtype=np.float64)
        det = evaluate_detection(gt, sub, tiou_thresholds=thr, unknown_labels="ignore")
        at5 = np.flatnonzero(np.isclose(thr, 0.5))
        if at5.size:
            map5 = float(det.mAP[at5[0]])
        else:
            map5 = float(evaluate_detection(gt, sub, tiou_thresholds=[0.5], unknown_labels="ignore").mAP[0])
        out.update({"mAP@0.5": map5, "average_mAP": det.average_mAP})
    return {k: float(v) for k, v in out.items()}


@torch.no_grad()
def evaluate_localizer(
    model: nn.Module,
    kind: str,
    dataset: Any,
    *,
    classes: Sequence[str],
    post: PostprocessSettings,
    tiou: Sequence[float] | np.ndarray,
    class_map: np.ndarray | None = None,
    batch_size: int = 16,
) -> dict[str, float]:
    """:func:`localize_dataset` then :func:`localization_metrics` on ``dataset.videos``."""
    results = localize_dataset(model, kind, dataset, post=post, class_map=class_map, batch_size=batch_size)
    return localization_metrics(dataset.videos, results, classes, tiou=tiou, detections=post.fusion != "none")
