"""``vidstruct detect-actions``: who does what, where, on keyframes of a video.

Keyframes are ``0, every_s, 2 * every_s, ...`` seconds (before the video's end). For each keyframe, a person-box
source (:func:`vidstruct.pipeline.persons.person_box_source`: a proposals file or a person detector) gives the
actors; a clip centred on the keyframe (the detector checkpoint's sampling and preprocessing, exactly as in
training: :class:`~vidstruct.data.detection.KeyframeClipDataset`) and the boxes go through the action detector;
each actor gets sigmoid probabilities for every class and a track id (:class:`~.tracking.IouTracker`).

Streaming: keyframes are processed in chunks of ``chunk`` keyframes (person boxes, clip decoding, the model),
so memory is bounded by one chunk of clips whatever the video's length; the result keeps only boxes and scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidstruct.data.detection import KeyframeClipDataset, KeyframeRecord, collate_keyframes
from vidstruct.errors import InputError
from vidstruct.io.reader import VideoReader
from vidstruct.models.detection import DetectorBundle
from vidstruct.pipeline.detection.tracking import IouTracker
from vidstruct.pipeline.persons import PersonBoxSource

__all__ = ["ActorDetection", "DetectionResult", "KeyframeDetections", "detect_actions", "keyframe_times"]

SCHEMA = "vidstruct.actions/1"


@dataclass
class ActorDetection:
    """One actor at a keyframe: normalized ``box``, person ``score``, ``track_id``, ``probs`` ``[K]`` (sigmoid)."""

    box: tuple[float, float, float, float]
    score: float
    track_id: int
    probs: np.ndarray


@dataclass
class KeyframeDetections:
    time_s: float
    actors: list[ActorDetection] = field(default_factory=list)


@dataclass
class DetectionResult:
    """Every keyframe of one video; ``model``: name, checkpoint, head, backbone, classes; ``persons``: the source."""

    video: str
    video_id: str
    duration_s: float
    model: dict[str, Any]
    persons: str
    every_s: float
    keyframes: list[KeyframeDetections]
    classes: list[str]
    class_ids: list[int]

    def actions(self, actor: ActorDetection, min_prob: float) -> list[dict[str, Any]]:
        """``[{"label", "prob"}]`` of ``actor`` with ``prob >= min_prob``, most probable first."""
        order = np.argsort(-actor.probs, kind="stable")
        return [
            {"label": self.classes[k], "prob": round(float(actor.probs[k]), 4)}
            for k in order
            if actor.probs[k] >= min_prob
        ]

    def to_dict(self, min_prob: float) -> dict[str, Any]:
        """The JSON document (times to the millisecond, boxes to 4 decimals, probabilities to 4)."""
        return {
            "schema": SCHEMA,
            "video": self.video,
            "video_id": self.video_id,
            "duration_s": round(self.duration_s, 3),
            "model": self.model,
            "persons": self.persons,
            "every_s": self.every_s,
            "min_prob": min_prob,
            "scores": "sigmoid probabilities (multi-label: each action independent)",
            "keyframes": [
                {
                    "time_s": round(kf.time_s, 3),
                    "actors": [
                        {
                            "track_id": a.track_id,
                            "box": [round(v, 4) for v in a.box],
                            "person_score": round(a.score, 4),
                            "actions": self.actions(a, min_prob),
                        }
                        for a in kf.actors
                    ],
                }
                for kf in self.keyframes
            ],
        }

    def ava_rows(self) -> Iterator[str]:
        """AVA submission rows ``video_id,time_s,x1,y1,x2,y2,action_id,score``: every actor × every class (the
        official evaluation keeps the 50 best per keyframe), full precision."""
        for kf in self.keyframes:
            for a in kf.actors:
                box = ",".join(f"{v:.6f}" for v in a.box)
                for k, action in enumerate(self.class_ids):
                    yield f"{self.video_id},{kf.time_s:g},{box},{action},{float(a.probs[k]):.6f}"


def keyframe_times(duration_s: float, every_s: float) -> list[float]:
    """``0, every_s, 2 * every_s, ...`` strictly before ``duration_s`` (seconds)."""
    if not every_s > 0:
        raise InputError(f"--every-s: expected a positive number of seconds, got {every_s}")
    n = int(np.floor(duration_s / every_s - 1e-9)) + 1
    return [round(i * every_s, 9) for i in range(max(n, 0)) if i * every_s < duration_s]


def detect_actions(
    video: str | Path,
    bundle: DetectorBundle,
    persons: PersonBoxSource,
    *,
    every_s: float = 1.0,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    chunk: int = 32,
    tracker: IouTracker | None = None,
) -> DetectionResult:
    """Actors and their action probabilities at every keyframe of ``video`` (see module doc)."""
    video = str(video)
    with VideoReader(video, threads=1) as reader:  # the frame index's duration: what the clip decoder accepts
        duration = float(reader.duration_s)
    times = keyframe_times(duration, every_s)
    prep = bundle.preprocessing
    tracker = tracker or IouTracker()
    video_id = Path(video).stem
    model = bundle.model.to(device).eval()
    keyframes: list[KeyframeDetections] = []
    for start in range(0, len(times), chunk):
        found = persons.boxes_at(video, times[start : start + chunk])
        records = [
            KeyframeRecord(
                video_id,
                video,
                float(kf.time_s),
                tuple(tuple(float(v) for v in b) for b in kf.boxes.tolist()),
                tuple(() for _ in range(len(kf))),
                tuple(-1 for _ in range(len(kf))),
                tuple(float(s) for s in kf.scores.tolist()),
            )  # fmt: skip
            for kf in found
            if len(kf)
        ]
        dataset = KeyframeClipDataset(
            records, bundle.class_ids, num_frames=prep["num_frames"], frame_interval=prep["frame_interval"],
            target_fps=prep["target_fps"], size=prep["size"], mean=prep["mean"], std=prep["std"], reader_cache=1,
        )  # fmt: skip
        probs: dict[float, torch.Tensor] = {}
        with torch.no_grad():
            for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate_keyframes):
                out = torch.sigmoid(
                    model(batch["clip"].to(device), batch["boxes"].to(device), batch["mask"].to(device)).float()
                ).cpu()
                for b, t in enumerate(batch["time_s"]):
                    probs[t] = out[b, : int(batch["mask"][b].sum())]
        for kf in found:
            ids = tracker.update(kf.boxes) if len(kf) else tracker.update(torch.zeros((0, 4)))
            p = probs.get(float(kf.time_s))
            actors = [
                ActorDetection(tuple(float(v) for v in kf.boxes[n].tolist()), float(kf.scores[n]), ids[n],
                               p[n].numpy())  # type: ignore[index]
                for n in range(len(kf))
            ]  # fmt: skip
            keyframes.append(KeyframeDetections(float(kf.time_s), actors))
    model_info = {
        "name": bundle.name, "checkpoint": bundle.path, "head": bundle.builder.get("head"),
        "backbone": bundle.builder.get("backbone"), "classes": list(bundle.classes),
    }  # fmt: skip
    return DetectionResult(
        video, video_id, duration, model_info, persons.name, every_s, keyframes, list(bundle.classes),
        list(bundle.class_ids),
    )  # fmt: skip
