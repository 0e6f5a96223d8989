"""``vidstruct detect-actions``: who does what, where, on keyframes of a video.

Keyframes are ``0, every_s, 2 * every_s, ...`` seconds (before the video's end). For each keyframe, a person-box
source (:func:`vidstruct.pipeline.persons.person_box_source`: a proposals file or a person detector) gives the
actors; a clip centred on the keyframe (the detector checkpoint's sampling and preprocessing, exactly as in
training: :class:`~vidstruct.data.detection.KeyframeClipDataset`) and the boxes go through the action detector;
each actor gets sigmoid probabilities for every class and a track id (:class:`~.tracking.IouTracker`).

Streaming: keyframes are processed in chunks of ``chunk`` keyframes (person boxes, clip decoding, the model),
so memory is bounded by one chunk of clips whatever the video's length; the result keeps only boxes and scores.

The per-keyframe work is shared with ``vidstruct analyze``'s actors tap
(:mod:`vidstruct.pipeline.analyze.actor_tap`, which takes its clips from the analysis' single decode pass):
:func:`clip_frame_indices` (which frames make a keyframe's clip), :func:`clip_preprocessor` (uint8 frames →
the detector's normalized clip), :class:`KeyframeScorer` (the action detector on a batch of clips, then the
tracker and the :class:`KeyframeDetections` of each keyframe) and :func:`detection_result`.

Object boxes (optional, ``objects``: an :class:`~vidstruct.pipeline.detection.objects.ObjectBoxSource`, e.g. the
file training read for ``data.objects``) become the relation head's object tokens, exactly as in training: the
clip dataset carries them per keyframe and :func:`collate_keyframes` pads them with a mask; a keyframe without
objects gets none (only padding); the RoI head ignores them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidstruct.data.detection import KeyframeClipDataset, KeyframeRecord, collate_keyframes
from vidstruct.data.detection.dataset import keyframe_clip_times
from vidstruct.errors import InputError
from vidstruct.io.index import FrameIndex
from vidstruct.io.reader import VideoReader
from vidstruct.models.detection import DetectorBundle
from vidstruct.pipeline.detection.tracking import IouTracker
from vidstruct.pipeline.persons import KeyframeBoxes, PersonBoxSource

if TYPE_CHECKING:
    from vidstruct.pipeline.detection.objects import ObjectBoxSource

__all__ = [
    "ActorDetection",
    "DetectionResult",
    "KeyframeDetections",
    "KeyframeScorer",
    "clip_frame_indices",
    "clip_preprocessor",
    "detect_actions",
    "detection_result",
    "keyframe_times",
]

SCHEMA = "vidstruct.actions/1"
#: keyframes per chunk of :func:`detect_actions` (person boxes asked for, clips batched within a chunk)
CHUNK = 32


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
    """Every keyframe of one video; ``model``: name, checkpoint, head, backbone, classes; ``persons``: the source;
    ``objects``: the object-box source (None: no object tokens)."""

    video: str
    video_id: str
    duration_s: float
    model: dict[str, Any]
    persons: str
    every_s: float
    keyframes: list[KeyframeDetections]
    classes: list[str]
    class_ids: list[int]
    objects: str | None = None

    def actions(self, actor: ActorDetection, min_prob: float) -> list[dict[str, Any]]:
        """``[{"label", "prob"}]`` of ``actor`` with ``prob >= min_prob``, most probable first."""
        order = np.argsort(-actor.probs, kind="stable")
        return [
            {"label": self.classes[k], "prob": round(float(actor.probs[k]), 4)}
            for k in order
            if actor.probs[k] >= min_prob
        ]

    def to_dict(self, min_prob: float) -> dict[str, Any]:
        """The JSON document (times to the millisecond, boxes to 4 decimals, probabilities to 4); ``objects`` only
        when an object-box source was used."""
        doc = {
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
        if self.objects is not None:
            doc["objects"] = self.objects
        return doc

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


def clip_frame_indices(index: FrameIndex, time_s: float, preprocessing: dict[str, Any]) -> np.ndarray:
    """int64 ``[T]``: the frames of the clip centred on the keyframe ``time_s`` (seconds), as
    :meth:`KeyframeClipDataset.load_frames` picks them: ``num_frames`` samples ``frame_interval`` apart at
    ``target_fps`` (the video's average rate when ``None``), times clamped to the first and last frame."""
    fps = preprocessing["target_fps"] or index.average_fps
    wanted = keyframe_clip_times(time_s, int(preprocessing["num_frames"]), int(preprocessing["frame_interval"]), fps)
    return index.index_at(np.clip(wanted, 0.0, float(index.times_s[-1])))


def clip_preprocessor(
    bundle: DetectorBundle,
    records: Sequence[KeyframeRecord] = (),
    objects: dict[tuple[str, float], list[list[float]]] | None = None,
) -> KeyframeClipDataset:
    """The detector's clip dataset over ``records`` (its sampling, size and normalization; ``objects``: object
    boxes per ``(video_id, time_s)``, as training's ``data.objects``); with no records, its
    :meth:`~KeyframeClipDataset.to_clip` turns uint8 ``[T, H, W, C]`` frames (decoded at short side ``size``)
    into the normalized ``float32 [C, T, S, S]`` clip the detector takes."""
    prep = bundle.preprocessing
    return KeyframeClipDataset(
        records, bundle.class_ids, num_frames=prep["num_frames"], frame_interval=prep["frame_interval"],
        target_fps=prep["target_fps"], size=prep["size"], mean=prep["mean"], std=prep["std"], reader_cache=1,
        objects=objects,
    )  # fmt: skip


class KeyframeScorer:
    """The per-keyframe work of action detection: the detector on clips and boxes (:meth:`probabilities`), then
    track ids and the keyframe's detections (:meth:`keyframe`, called once per keyframe in time order)."""

    def __init__(
        self, bundle: DetectorBundle, *, device: str | torch.device = "cpu", tracker: IouTracker | None = None
    ) -> None:
        self.bundle = bundle
        self.device = device
        self.model = bundle.model.to(device).eval()
        self.tracker = tracker or IouTracker()

    def probabilities(
        self,
        clips: torch.Tensor,
        boxes: torch.Tensor,
        mask: torch.Tensor,
        objects: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Sigmoid probabilities ``[N_b, K]`` (CPU) of each clip's real boxes: ``clips`` float ``[B, C, T, S, S]``,
        ``boxes`` float ``[B, N, 4]`` normalized (zero-padded), ``mask`` bool ``[B, N]`` (True: a real box);
        ``objects`` ``[B, M, 4]`` / ``object_mask`` ``[B, M]``: object boxes (None: no object tokens)."""
        extra = {}
        if objects is not None and object_mask is not None:
            extra = {"objects": objects.to(self.device), "object_mask": object_mask.to(self.device)}
        with torch.no_grad():
            out = torch.sigmoid(
                self.model(clips.to(self.device), boxes.to(self.device), mask.to(self.device), **extra).float()
            ).cpu()
        return [out[b, : int(mask[b].sum())] for b in range(out.shape[0])]

    def keyframe(self, found: KeyframeBoxes, probs: torch.Tensor | None) -> KeyframeDetections:
        """The keyframe's actors: ``found``'s boxes and scores, their track ids (the tracker moves on by one
        keyframe) and ``probs`` ``[N, K]`` (None only when there is no box)."""
        ids = self.tracker.update(found.boxes) if len(found) else self.tracker.update(torch.zeros((0, 4)))
        actors = [
            ActorDetection(tuple(float(v) for v in found.boxes[n].tolist()), float(found.scores[n]), ids[n],
                           probs[n].numpy())  # type: ignore[index]
            for n in range(len(found))
        ]  # fmt: skip
        return KeyframeDetections(float(found.time_s), actors)


def detection_result(
    video: str,
    bundle: DetectorBundle,
    persons: PersonBoxSource,
    every_s: float,
    duration_s: float,
    keyframes: list[KeyframeDetections],
    objects: ObjectBoxSource | None = None,
) -> DetectionResult:
    """The :class:`DetectionResult` of ``video``'s ``keyframes`` (its id: the file stem; ``objects``: the
    object-box source used, if any)."""
    model_info = {
        "name": bundle.name, "checkpoint": bundle.path, "head": bundle.builder.get("head"),
        "backbone": bundle.builder.get("backbone"), "classes": list(bundle.classes),
    }  # fmt: skip
    return DetectionResult(
        video, Path(video).stem, duration_s, model_info, persons.name, every_s, keyframes, list(bundle.classes),
        list(bundle.class_ids), objects.name if objects is not None else None,
    )  # fmt: skip


def detect_actions(
    video: str | Path,
    bundle: DetectorBundle,
    persons: PersonBoxSource,
    *,
    every_s: float = 1.0,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    chunk: int = CHUNK,
    tracker: IouTracker | None = None,
    objects: ObjectBoxSource | None = None,
) -> DetectionResult:
    """Actors and their action probabilities at every keyframe of ``video`` (see module doc); ``objects``: where
    the relation head's object boxes come from (None: no object tokens)."""
    video = str(video)
    with VideoReader(video, threads=1) as reader:  # the frame index's duration: what the clip decoder accepts
        duration = float(reader.duration_s)
    times = keyframe_times(duration, every_s)
    scorer = KeyframeScorer(bundle, device=device, tracker=tracker)
    video_id = Path(video).stem
    keyframes: list[KeyframeDetections] = []
    for start in range(0, len(times), chunk):
        found = persons.boxes_at(video, times[start : start + chunk])
        object_boxes = None
        if objects is not None:
            object_boxes = {
                (video_id, float(kf.time_s)): kf.boxes.tolist()
                for kf in objects.boxes_at(video, times[start : start + chunk])
            }
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
        probs: dict[float, torch.Tensor] = {}
        clips = clip_preprocessor(bundle, records, object_boxes)
        for batch in DataLoader(clips, batch_size=batch_size, collate_fn=collate_keyframes):
            with_objects = (batch["objects"], batch["object_mask"]) if objects is not None else ()
            for t, p in zip(
                batch["time_s"], scorer.probabilities(batch["clip"], batch["boxes"], batch["mask"], *with_objects)
            ):
                probs[t] = p
        keyframes.extend(scorer.keyframe(kf, probs.get(float(kf.time_s))) for kf in found)
    return detection_result(video, bundle, persons, every_s, duration, keyframes, objects)
