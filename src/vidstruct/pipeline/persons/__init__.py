"""Person boxes: one interface for "where are the actors" at keyframes of a video.

Every source answers :meth:`PersonBoxSource.boxes_at`::

    source = person_box_source(proposals="dets.csv")                       # (a) a proposals file
    source = person_box_source(detector="fasterrcnn_resnet50_fpn_v2",      # (b) a torchvision detector,
                               detector_weights="frcnn_v2_coco.pth")       #     weights from a local file
    source = person_box_source(detector="runs/persons/person_detector.pt")  # (c) trained by vidstruct train
    for kf in source.boxes_at("videos/clip.mp4", [1.0, 2.0, 3.0]):
        kf.time_s, kf.boxes, kf.scores, kf.source

- :class:`KeyframeBoxes`: ``time_s`` (seconds from frame 0), ``boxes`` float32 ``[N, 4]``
  ``[x1, y1, x2, y2]`` normalized to ``[0, 1]`` with ``x1 < x2`` and ``y1 < y2``, ``scores`` float32 ``[N]``
  (person probabilities: the detector's softmax / sigmoid, or the proposals file's score column), highest
  score first, and ``source`` (the proposals file, or the detector name / checkpoint that made them);
  one per requested time, in request order; a keyframe without boxes has ``N = 0`` (not an error).
- proposals (:class:`~.proposals.ProposalsSource`): the AVA-style CSV
  ``video_id,timestamp,x1,y1,x2,y2,[action_id],score`` or the pickle ``{"video_id,keyframe": array [N, 5]}``;
  a video's id is its file stem and a keyframe matches a requested time within
  :data:`~.proposals.TIME_TOLERANCE_S`.
- detectors (:class:`~.detector.DetectorSource`): frames decoded with
  :meth:`vidstruct.io.VideoReader.get_frames_at` in batches, only the person class kept, scores below
  ``min_score`` dropped.

Boxes of a proposals file are kept when ``score >= min_score`` as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from vidstruct.errors import InputError

__all__ = ["DEFAULT_MIN_SCORE", "KeyframeBoxes", "PersonBoxSource", "person_box_source"]

DEFAULT_MIN_SCORE = 0.5
"""Person score a box needs to be kept when the caller gives no ``min_score``."""


@dataclass(frozen=True)
class KeyframeBoxes:
    """Person boxes at one keyframe.

    - ``time_s``: the keyframe, seconds from frame 0 (as requested);
    - ``boxes``: float32 ``[N, 4]`` ``[x1, y1, x2, y2]`` normalized to ``[0, 1]`` (``x1 < x2``, ``y1 < y2``), CPU;
    - ``scores``: float32 ``[N]`` person probabilities, descending;
    - ``source``: what made them (proposals file path, torchvision detector name, or checkpoint path).
    """

    time_s: float
    boxes: torch.Tensor
    scores: torch.Tensor
    source: str

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@runtime_checkable
class PersonBoxSource(Protocol):
    """Anything that gives person boxes at keyframe times of a video."""

    @property
    def name(self) -> str:
        """What makes the boxes (the ``source`` of every :class:`KeyframeBoxes` it returns)."""
        ...

    def boxes_at(self, video_path: str | Path, times_s: Sequence[float]) -> list[KeyframeBoxes]:
        """One :class:`KeyframeBoxes` per time of ``times_s`` (seconds from frame 0), in that order."""
        ...


def person_box_source(
    proposals: str | Path | None = None,
    detector: str | Path | None = None,
    detector_weights: str | Path | None = None,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    device: str = "cpu",
    batch_size: int = 8,
) -> PersonBoxSource:
    """The person-box source the arguments name (exactly one of ``proposals`` / ``detector``).

    - ``proposals``: a proposals file (``.csv``, or ``.pkl`` / ``.pickle``);
    - ``detector`` + ``detector_weights``: a torchvision detection model name (COCO classes, person = 1) and a
      local state-dict file for it;
    - ``detector`` alone: a person-detector checkpoint written by ``vidstruct train`` (``task: person-detection``),
      or its run directory.

    ``min_score``: the probability a box needs; ``device``: where a detector runs; ``batch_size``: frames per
    detector forward pass. Bad combinations are an :class:`~vidstruct.errors.InputError`.
    """
    if not 0.0 <= min_score <= 1.0:
        raise InputError(f"min_score: expected a probability in [0, 1], got {min_score}")
    if (proposals is None) == (detector is None):
        raise InputError("person boxes: give exactly one of a proposals file (--proposals) or a detector (--detector)")
    if proposals is not None:
        if detector_weights is not None:
            raise InputError("--detector-weights: only applies with --detector NAME, not with --proposals")
        from vidstruct.pipeline.persons.proposals import ProposalsSource

        return ProposalsSource(proposals, min_score=min_score)
    from vidstruct.pipeline.persons.detector import DetectorSource

    if detector_weights is not None:
        return DetectorSource.from_torchvision(
            str(detector), detector_weights, min_score=min_score, device=device, batch_size=batch_size
        )
    return DetectorSource.from_checkpoint(detector, min_score=min_score, device=device, batch_size=batch_size)
