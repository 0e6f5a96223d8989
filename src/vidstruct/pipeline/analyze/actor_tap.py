"""Actors fed by the single decode pass: person boxes and action probabilities at keyframes.

Keyframes are ``0, every_s, 2 * every_s, ...`` seconds before the video's end
(:func:`vidstruct.pipeline.detection.keyframe_times`). Two :class:`~.taps.FrameTap` views of one stage:

- :class:`ActorTap` (``actors``) takes every frame of every keyframe's clip
  (:func:`~vidstruct.pipeline.detection.actions.clip_frame_indices`: the action detector's ``num_frames`` samples
  ``frame_interval`` apart at ``target_fps``, centred on the keyframe) at the size the detector's own reader
  decodes them (short side ``size``, aspect kept: :attr:`ActorTap.frame_size`, scaled by swscale from the decoded
  YUV planes exactly as that reader does);
- :class:`PersonTap` (``persons``), only when boxes come from a person detector
  (:class:`~vidstruct.pipeline.persons.detector.DetectorSource`), takes the frame displayed at each keyframe at
  the video's own size (what the detector's reader gives it) and runs the detector on it at once; a proposals file
  is looked up once for every keyframe (no frame needed).

As soon as a keyframe's clip is complete, :class:`ActorTap` turns it into the detector's clip
(:func:`~vidstruct.pipeline.detection.actions.clip_preprocessor`) and runs the per-keyframe code of
``detect-actions`` (:class:`~vidstruct.pipeline.detection.actions.KeyframeScorer`: the action detector, then
track ids); :attr:`ActorTap.result` is then what :func:`~vidstruct.pipeline.detection.detect_actions` returns
for the video (the same boxes, track ids and probabilities: clips are scored one keyframe at a time instead of in
batches, which moves probabilities by float rounding only).

Object boxes (``objects``, optional: an :class:`~vidstruct.pipeline.detection.objects.ObjectBoxSource`, e.g. the
profile's ``actors.objects`` file) are looked up once for every keyframe and passed with each clip, as
``detect-actions --objects`` does.

Memory: the frames of clips still open (fed, and some of their frames still to come), each held once however
many clips share it (:attr:`ActorTap.peak_frames_held`); one source-size frame at a time for the person
detector; boxes and probabilities per actor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vidstruct.io import FrameIndex
from vidstruct.io.pixel_format import output_size
from vidstruct.models.detection import DetectorBundle
from vidstruct.pipeline.analyze.taps import FrameTap
from vidstruct.pipeline.detection.actions import (
    DetectionResult,
    KeyframeDetections,
    KeyframeScorer,
    clip_frame_indices,
    clip_preprocessor,
    detection_result,
    keyframe_times,
)
from vidstruct.pipeline.detection.objects import ObjectBoxSource
from vidstruct.pipeline.persons import KeyframeBoxes, PersonBoxSource
from vidstruct.pipeline.persons.detector import DetectorSource

__all__ = ["ActorTap", "PersonTap"]


class PersonTap:
    """Person boxes from a detector run on the frame displayed at each keyframe (source size, see module doc)."""

    name = "persons"

    def __init__(
        self, detector: DetectorSource, index: FrameIndex, times_s: Sequence[float], size: tuple[int, int]
    ) -> None:
        """``size``: the video's displayed ``(width, height)`` (the detector's reader decodes at the source size)."""
        self.detector = detector
        self.seconds = 0.0
        self.frame_size: tuple[int, int] | None = size
        self._times = [float(t) for t in times_s]
        keyframe_frames = index.index_at(self._times) if self._times else np.zeros(0, np.int64)
        self._at: dict[int, list[int]] = {}  # frame index -> keyframes displayed there
        for k, i in enumerate(keyframe_frames.tolist()):
            self._at.setdefault(int(i), []).append(k)
        self.boxes: dict[int, KeyframeBoxes] = {}  # keyframe -> its boxes, until the actors tap takes them

    def indices(self) -> np.ndarray:
        return np.fromiter(self._at, dtype=np.int64) if self._at else np.zeros(0, np.int64)

    def feed(self, index: int, frame: torch.Tensor) -> None:
        (boxes, scores), *_ = self.detector.detect(frame.unsqueeze(0))
        for k in self._at.pop(index, ()):
            self.boxes[k] = KeyframeBoxes(self._times[k], boxes, scores, self.detector.name)

    def finish(self) -> None:
        pass


class ActorTap:
    """The actors stage as a :class:`~.taps.FrameTap` (see the module doc); :attr:`result` after :meth:`finish`.

    ``video``: the video's path (proposals match it by file stem; the result names it); ``index``: its frame
    index; ``size``: its displayed ``(width, height)``; ``persons``: the person-box source; ``every_s``: seconds
    between keyframes; ``objects``: the object-box source (None: no object tokens). :attr:`taps` lists the taps
    to feed, in order (the person detector's first).
    """

    name = "actors"

    def __init__(
        self,
        video: str,
        index: FrameIndex,
        size: tuple[int, int],
        bundle: DetectorBundle,
        persons: PersonBoxSource,
        *,
        every_s: float = 1.0,
        device: str | torch.device = "cpu",
        objects: ObjectBoxSource | None = None,
    ) -> None:
        self.video = str(video)
        self.objects = objects
        self.bundle = bundle
        self.persons = persons
        self.every_s = float(every_s)
        self.seconds = 0.0
        self._duration_s = index.duration_s
        prep = bundle.preprocessing
        # the detector's own reader decodes at short side `size`: the same swscale conversion, by display size
        self.frame_size: tuple[int, int] | None = output_size(size[0], size[1], int(prep["size"]))
        self._clips = clip_preprocessor(bundle)
        self._scorer = KeyframeScorer(bundle, device=device)
        self.times_s = keyframe_times(index.duration_s, every_s)
        self._rows = [clip_frame_indices(index, t, prep) for t in self.times_s]
        self._missing = [int(np.unique(row).size) for row in self._rows]
        self._slots: dict[int, list[int]] = {}  # frame index -> keyframes whose clip shows it
        for k, row in enumerate(self._rows):
            for i in np.unique(row).tolist():
                self._slots.setdefault(int(i), []).append(k)
        self._uses: dict[int, int] = {}  # frame index -> clips not scored yet that show it
        self._held: dict[int, torch.Tensor] = {}  # frames of open clips (uint8 [H, W, 3] at frame_size)
        self._next = 0  # the next keyframe to score (keyframes are scored, and tracked, in time order)
        self._keyframes: list[KeyframeDetections] = []
        self.person_tap: PersonTap | None = None
        self._looked_up: list[KeyframeBoxes] = []
        if isinstance(persons, DetectorSource):  # a detector: the keyframe frames come from the pass
            self.person_tap = PersonTap(persons, index, self.times_s, size)
        elif self.times_s:  # a proposals file (boxes and scores per keyframe: small): looked up once
            self._looked_up = persons.boxes_at(self.video, self.times_s)
        self._objects = objects.boxes_at(self.video, self.times_s) if objects is not None and self.times_s else []
        #: the most frames held at once (fed, waiting for the rest of their clips)
        self.peak_frames_held = 0
        self.result: DetectionResult | None = None

    @property
    def taps(self) -> list[FrameTap]:
        """The frame taps of this stage, in feeding order."""
        return [self] if self.person_tap is None else [self.person_tap, self]

    def indices(self) -> np.ndarray:
        return np.fromiter(self._slots, dtype=np.int64) if self._slots else np.zeros(0, np.int64)

    def feed(self, index: int, frame: torch.Tensor) -> None:
        keyframes = self._slots.pop(index, ())
        if keyframes:
            self._held[index] = frame
            self._uses[index] = len(keyframes)
            self.peak_frames_held = max(self.peak_frames_held, len(self._held))
        for k in keyframes:
            self._missing[k] -= 1
        while self._next < len(self._rows) and self._missing[self._next] == 0:
            self._score(self._next)
            self._next += 1

    def _boxes(self, k: int) -> KeyframeBoxes:
        if self.person_tap is not None:
            return self.person_tap.boxes.pop(k)
        return self._looked_up[k]

    def _score(self, k: int) -> None:
        """Keyframe ``k``'s clip is complete: score it, let its frames go."""
        found = self._boxes(k)
        row = self._rows[k].tolist()
        probs = None
        if len(found):
            clip = self._clips.to_clip(torch.stack([self._held[i] for i in row]))
            objects = self._objects[k].boxes if self._objects else None
            probs = self._scorer.clip_probabilities(clip, found.boxes, objects)
        self._keyframes.append(self._scorer.keyframe(found, probs))
        for i in set(row):
            self._uses[i] -= 1
            if self._uses[i] == 0:
                del self._uses[i], self._held[i]

    def finish(self) -> None:
        if self._next != len(self._rows):
            raise RuntimeError(f"actors: {len(self._rows) - self._next} keyframe clips never received their frames")
        self.result = detection_result(
            self.video, self.bundle, self.persons, self.every_s, self._duration_s, self._keyframes, self.objects
        )
