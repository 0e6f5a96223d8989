"""Box AP of any person-box source on the keyframes of an AVA-style ground-truth CSV.

The protocol is AVA's frame-mAP (:func:`vidstruct.eval.spatiotemporal.evaluate_ava`: PASCAL VOC AP at IoU
0.5 over keyframes, at most 50 detections per keyframe) with one class, ``person``: every ground-truth person
box (the CSV's rows merged per person and keyframe, actions ignored) is a ``person`` row, every box of the
source at that keyframe a ``person`` detection with its score. The AP is that class's AP, i.e. box AP@0.5.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vidstruct.data.formats.ava import merge_boxes, read_ava
from vidstruct.data.records import BoxAnnotation
from vidstruct.errors import AnnotationError
from vidstruct.eval.spatiotemporal import AvaResult, evaluate_ava
from vidstruct.pipeline.persons import PersonBoxSource

__all__ = ["PERSON_CLASS_ID", "evaluate_person_boxes", "person_ground_truth"]

PERSON_CLASS_ID = 1
"""The one class of the person-box evaluation (label map ``{1: "person"}``)."""


def person_ground_truth(annotations: str | Path) -> list[BoxAnnotation]:
    """One ``person`` row per person box and keyframe of an AVA-style CSV (file order of keyframes)."""
    merged = merge_boxes(read_ava(str(annotations)))
    return [
        BoxAnnotation(video_id, time_s, kb.box, PERSON_CLASS_ID, kb.person_id)
        for (video_id, time_s), boxes in merged.items()
        for kb in boxes
    ]


def evaluate_person_boxes(
    source: PersonBoxSource,
    annotations: str | Path,
    videos_dir: str | Path | None = None,
    *,
    video_suffix: str = ".mp4",
) -> AvaResult:
    """Box AP@0.5 of ``source`` on the keyframes of ``annotations`` (see the module doc).

    Videos are ``videos_dir / f"{video_id}{video_suffix}"`` (default ``videos_dir``: ``videos/`` beside the
    CSV); a missing one is an :class:`~vidstruct.errors.AnnotationError`. ``result.mAP`` is the person AP.
    """
    ground_truth = person_ground_truth(annotations)
    folder = Path(videos_dir) if videos_dir is not None else Path(annotations).parent / "videos"
    times: dict[str, list[float]] = defaultdict(list)
    for row in ground_truth:
        if row.timestamp_s not in times[row.video_id]:
            times[row.video_id].append(row.timestamp_s)
    detections: list[BoxAnnotation] = []
    for video_id, keyframes in times.items():
        path = folder / f"{video_id}{video_suffix}"
        if not path.is_file():
            raise AnnotationError(f"{annotations}: video {video_id!r} not found (expected {path})")
        for kf in source.boxes_at(path, keyframes):
            for box, score in zip(kf.boxes.tolist(), kf.scores.tolist()):
                detections.append(BoxAnnotation(video_id, kf.time_s, tuple(box), PERSON_CLASS_ID, -1, score))
    return evaluate_ava(ground_truth, detections, {PERSON_CLASS_ID: "person"})
