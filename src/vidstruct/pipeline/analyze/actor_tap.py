"""Actors fed by the single decode pass: person boxes and action probabilities at keyframes.

Keyframes are ``0, every_s, 2 * every_s, ...`` seconds before the video's end
(:func:`vidstruct.pipeline.detection.keyframe_times`). Two :class:`~.taps.FrameTap` views of one stage:

- :class:`ActorTap` (``actors``) takes every frame of the clip of every keyframe that may hold actors
  (:func:`~vidstruct.pipeline.detection.actions.clip_frame_indices`: the action detector's ``num_frames`` samples
  ``frame_interval`` apart at ``target_fps``, centred on the keyframe) at the size the detector's own reader
  decodes them (short side ``size``, aspect kept: :attr:`ActorTap.frame_size`, scaled by swscale from the decoded
  YUV planes exactly as that reader does); with a proposals file, keyframes the file has no boxes for need no
  frame at all;
- :class:`PersonTap` (``persons``), only when boxes come from a person detector
  (:class:`~vidstruct.pipeline.persons.detector.DetectorSource`), takes the frame displayed at each keyframe at
  the video's own size (what the detector's reader gives it); a proposals file is looked up once for every
  keyframe (no frame needed).

Both run their model in the batches ``detect-actions`` makes (:func:`~vidstruct.pipeline.detection.detect_actions`:
keyframes in chunks of :data:`~vidstruct.pipeline.detection.actions.CHUNK`, the person detector on ``batch_size``
keyframes of a chunk at a time, the action detector on ``batch_size`` keyframes with boxes of a chunk at a time):
a batch runs as soon as its last keyframe frame (persons) or its last clip (actors) has been decoded. A complete
clip is turned into the detector's clip at once (:func:`~vidstruct.pipeline.detection.actions.clip_preprocessor`)
and its frames go. The per-keyframe code is ``detect-actions``' own
(:class:`~vidstruct.pipeline.detection.actions.KeyframeScorer`: the action detector, then track ids in keyframe
order), so :attr:`ActorTap.result` is what :func:`~vidstruct.pipeline.detection.detect_actions` returns for the
video: the same boxes, track ids and probabilities (the same batches: equal up to float rounding).

Object boxes (``objects``, optional: an :class:`~vidstruct.pipeline.detection.objects.ObjectBoxSource`, e.g. the
profile's ``actors.objects`` file) are looked up once for every keyframe and passed with each clip, as
``detect-actions --objects`` does.

Memory: the frames of clips still open (fed, and some of their frames still to come), each held once however
many clips share it (:attr:`ActorTap.peak_frames_held`); complete clips waiting for their batch, as the
detector's input (``float32 [C, T, S, S]``, at most about two batches); the person detector's batch of
source-size keyframe frames (at most ``batch_size``); boxes and probabilities per actor.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch

from vidstruct.data.detection.dataset import pad_boxes
from vidstruct.io import FrameIndex
from vidstruct.io.pixel_format import output_size
from vidstruct.models.detection import DetectorBundle
from vidstruct.pipeline.analyze.taps import FrameTap
from vidstruct.pipeline.detection.actions import (
    CHUNK,
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
    """Person boxes from a detector run on the frame displayed at each keyframe (source size, see module doc), in
    ``detect-actions``' batches: ``batch_size`` keyframes of a chunk of ``chunk`` keyframes at a time."""

    name = "persons"

    def __init__(
        self,
        detector: DetectorSource,
        index: FrameIndex,
        times_s: Sequence[float],
        size: tuple[int, int],
        *,
        batch_size: int = 8,
        chunk: int = CHUNK,
    ) -> None:
        """``size``: the video's displayed ``(width, height)`` (the detector's reader decodes at the source size)."""
        self.detector = detector
        self.seconds = 0.0
        self.frame_size: tuple[int, int] | None = size
        self.batch_size, self.chunk = max(1, int(batch_size)), max(1, int(chunk))
        self._times = [float(t) for t in times_s]
        keyframe_frames = index.index_at(self._times) if self._times else np.zeros(0, np.int64)
        self._at: dict[int, list[int]] = {}  # frame index -> keyframes displayed there
        for k, i in enumerate(keyframe_frames.tolist()):
            self._at.setdefault(int(i), []).append(k)
        self._batch: list[tuple[int, torch.Tensor]] = []  # (keyframe, its frame) waiting for the batch's last one
        self.boxes: dict[int, KeyframeBoxes] = {}  # keyframe -> its boxes, until the actors tap takes them

    def indices(self) -> np.ndarray:
        return np.fromiter(self._at, dtype=np.int64) if self._at else np.zeros(0, np.int64)

    def feed(self, index: int, frame: torch.Tensor) -> None:
        for k in self._at.pop(index, ()):
            self._batch.append((k, frame))
            last = k + 1 == len(self._times) or (k + 1) % self.chunk == 0 or (k % self.chunk + 1) % self.batch_size == 0
            if last:
                self._run()

    def _run(self) -> None:
        found = self.detector.detect(torch.stack([frame for _, frame in self._batch]))
        for (k, _), (boxes, scores) in zip(self._batch, found):
            self.boxes[k] = KeyframeBoxes(self._times[k], boxes, scores, self.detector.name)
        self._batch = []

    def finish(self) -> None:
        if self._batch:
            self._run()


class ActorTap:
    """The actors stage as a :class:`~.taps.FrameTap` (see the module doc); :attr:`result` after :meth:`finish`.

    ``video``: the video's path (proposals match it by file stem; the result names it); ``index``: its frame
    index; ``size``: its displayed ``(width, height)``; ``persons``: the person-box source; ``every_s``: seconds
    between keyframes; ``objects``: the object-box source (None: no object tokens); ``batch_size``: keyframes with
    boxes per action-detector batch (the person detector batches by its own ``batch_size``); ``chunk``:
    ``detect-actions``' chunk (batches never cross one). :attr:`taps` lists the taps to feed, in order (the person
    detector's first).
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
        batch_size: int = 8,
        chunk: int = CHUNK,
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
        self.batch_size, self.chunk = max(1, int(batch_size)), max(1, int(chunk))
        self.person_tap: PersonTap | None = None
        self._looked_up: list[KeyframeBoxes] = []
        if isinstance(persons, DetectorSource):  # a detector: the keyframe frames come from the pass
            self.person_tap = PersonTap(persons, index, self.times_s, size, batch_size=persons.batch_size, chunk=chunk)
        elif self.times_s:  # a proposals file (boxes and scores per keyframe: small): looked up once
            self._looked_up = persons.boxes_at(self.video, self.times_s)
        self._objects = objects.boxes_at(self.video, self.times_s) if objects is not None and self.times_s else []
        self._missing = [int(np.unique(row).size) for row in self._rows]
        self._slots: dict[int, list[int]] = {}  # frame index -> keyframes whose clip shows it
        for k, row in enumerate(self._rows):
            if self._looked_up and not len(self._looked_up[k]):
                continue  # no boxes in the proposals file: no clip to score
            for i in np.unique(row).tolist():
                self._slots.setdefault(int(i), []).append(k)
        self._uses: dict[int, int] = {}  # frame index -> open clips that show it
        self._held: dict[int, torch.Tensor] = {}  # frames of open clips (uint8 [H, W, 3] at frame_size)
        self._clip: dict[int, torch.Tensor] = {}  # keyframe -> its complete clip, not scored yet
        self._needs_clip = [True] * len(self.times_s)  # False once its boxes are known to be none
        self._found: list[KeyframeBoxes | None] = [None] * len(self.times_s)  # boxes known, keyframe not emitted
        self._probs: dict[int, torch.Tensor] = {}  # keyframe -> probabilities, until it is emitted
        self._boxed = 0  # keyframes whose boxes have been put in a batch (in keyframe order)
        self._group: list[int] = []  # keyframes with boxes of the batch being gathered
        self._groups: deque[list[int]] = deque()  # gathered batches waiting for their clips
        self._emitted = 0  # keyframes tracked and emitted (in keyframe order)
        self._keyframes: list[KeyframeDetections] = []
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
            if self._missing[k] == 0:
                self._complete(k)
        self._advance()

    def _complete(self, k: int) -> None:
        """Keyframe ``k``'s clip is complete: the detector's input from it, and its frames go."""
        row = self._rows[k].tolist()
        if self._needs_clip[k]:
            self._clip[k] = self._clips.to_clip(torch.stack([self._held[i] for i in row]))
        for i in set(row):
            self._uses[i] -= 1
            if self._uses[i] == 0:
                del self._uses[i], self._held[i]

    def _known(self, k: int) -> KeyframeBoxes | None:
        """Keyframe ``k``'s person boxes, or None while the person detector has not run on it yet."""
        if self.person_tap is not None:
            return self.person_tap.boxes.pop(k, None)
        return self._looked_up[k]

    def _advance(self) -> None:
        """Gather keyframes whose boxes are known into ``detect-actions``' batches (``batch_size`` keyframes with
        boxes, never across a chunk), run the batches whose clips are all complete, emit keyframes in order."""
        count = len(self.times_s)
        while self._boxed < count:
            found = self._known(self._boxed)
            if found is None:
                break
            k, self._boxed = self._boxed, self._boxed + 1
            self._found[k] = found
            if len(found):
                self._group.append(k)
            else:  # nobody to score
                self._needs_clip[k] = False
                self._clip.pop(k, None)
            chunk_ends = self._boxed % self.chunk == 0 or self._boxed == count
            if len(self._group) == self.batch_size or (self._group and chunk_ends):
                self._groups.append(self._group)
                self._group = []
        while self._groups and all(k in self._clip for k in self._groups[0]):
            self._run(self._groups.popleft())
        while self._emitted < self._boxed:
            k = self._emitted
            found = self._found[k]
            assert found is not None
            if len(found) and k not in self._probs:
                break
            self._keyframes.append(self._scorer.keyframe(found, self._probs.pop(k, None)))
            self._found[k] = None
            self._emitted += 1

    def _run(self, group: list[int]) -> None:
        """The action detector on one batch of keyframes (their clips, padded boxes and object boxes)."""
        clips = torch.stack([self._clip.pop(k) for k in group])
        boxes, mask = pad_boxes([self._found[k].boxes.float() for k in group])  # type: ignore[union-attr]
        objects: tuple[torch.Tensor, ...] = ()
        if self.objects is not None:
            objects = pad_boxes([self._objects[k].boxes.float().reshape(-1, 4) for k in group])
        for k, probs in zip(group, self._scorer.probabilities(clips, boxes, mask, *objects)):
            self._probs[k] = probs

    def finish(self) -> None:
        self._advance()
        if self._emitted != len(self.times_s):
            missing = len(self.times_s) - self._emitted
            raise RuntimeError(f"actors: {missing} keyframes never received their frames or boxes")
        self.result = detection_result(
            self.video, self.bundle, self.persons, self.every_s, self._duration_s, self._keyframes, self.objects
        )
