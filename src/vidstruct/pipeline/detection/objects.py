"""Object boxes at keyframes: what the relation module's object tokens see at inference.

The action detector's relation head lets each actor attend to object tokens (RoI features of object boxes,
:mod:`vidstruct.models.detection.relation`); training reads them from ``data.objects``. At inference an
:class:`ObjectBoxSource` answers, like a person-box source, ``boxes_at(video, times_s)`` → one
:class:`~vidstruct.pipeline.persons.KeyframeBoxes` per keyframe time (``boxes`` float32 ``[M, 4]`` normalized
``[x1, y1, x2, y2]``, ``scores`` ``[M]``; ``M = 0`` for a keyframe without objects, not an error):

- :class:`ObjectsFile` — the file format training reads for ``data.objects``
  (:func:`vidstruct.data.formats.ava.read_ava_proposals`): an AVA-style CSV without a header, 8 columns
  ``video_id,time_s,x1,y1,x2,y2,action_id,score`` (``action_id`` may be empty and is ignored; boxes normalized
  to ``[0, 1]`` with ``x1 < x2``, ``y1 < y2``; ``score`` a probability), or the pickle
  ``{"video_id,time_s": array [M, 5]}``. Every box is kept (training keeps every box too). A video's id is its
  file stem; a requested time matches a keyframe of the file within
  :data:`~vidstruct.pipeline.persons.proposals.TIME_TOLERANCE_S`. A malformed file is a one-line
  :class:`~vidstruct.errors.VidstructError` naming the file, the line and the field.
- :class:`ObjectDetectorSource` — a torchvision detection model by name (COCO classes), weights from a local
  state-dict file (nothing is downloaded): every class except person (and background) with a score of at least
  ``min_score``, on the frame displayed at each keyframe.

:func:`object_box_source` builds the one the arguments name (or None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from vidstruct.errors import InputError
from vidstruct.models.persons import PERSON_LABEL, person_detections
from vidstruct.models.persons.builders import TORCHVISION_DETECTORS
from vidstruct.pipeline.persons import KeyframeBoxes
from vidstruct.pipeline.persons.detector import DetectorSource
from vidstruct.pipeline.persons.proposals import ProposalsSource

__all__ = [
    "DEFAULT_OBJECT_MIN_SCORE",
    "ObjectBoxSource",
    "ObjectDetectorSource",
    "ObjectsFile",
    "object_box_source",
    "object_detections",
]

DEFAULT_OBJECT_MIN_SCORE = 0.5
"""Score an object detector's box needs when the caller gives no ``min_score``."""


@runtime_checkable
class ObjectBoxSource(Protocol):
    """Anything that gives object boxes at keyframe times of a video (see the module doc)."""

    @property
    def name(self) -> str:
        """What makes the boxes (the objects file, or the detector's name)."""
        ...

    def boxes_at(self, video_path: str | Path, times_s: Sequence[float]) -> list[KeyframeBoxes]:
        """One :class:`KeyframeBoxes` per time of ``times_s`` (seconds from frame 0), in that order."""
        ...


class ObjectsFile(ProposalsSource):
    """Object boxes looked up in a file of the ``data.objects`` format (see the module doc); all boxes kept."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, min_score=0.0)


def object_detections(
    output: Mapping[str, torch.Tensor], image_hw: tuple[int, int], *, person_label: int = PERSON_LABEL,
    min_score: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(boxes [M, 4] normalized, scores [M])`` of the non-person objects in one image's torchvision detector
    ``output`` (``boxes`` in pixels of ``image_hw = (H, W)``, ``labels``, ``scores``): labels other than
    ``person_label`` and background (0) with ``score >= min_score``, clipped to the frame, empty boxes dropped,
    highest score first (:func:`vidstruct.models.persons.person_detections` on the kept rows)."""
    labels = output["labels"]
    keep = (labels != person_label) & (labels != 0)
    kept = {"boxes": output["boxes"][keep], "scores": output["scores"][keep], "labels": labels[keep]}
    kept["labels"] = torch.full_like(kept["labels"], 1)  # one class "object" for the shared normalization
    return person_detections(kept, image_hw, person_label=1, min_score=min_score)


class ObjectDetectorSource(DetectorSource):
    """Object boxes from a torchvision detection model (COCO), every class but person (see the module doc)."""

    def detections(
        self, output: Mapping[str, torch.Tensor], image_hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept ``(boxes [M, 4] normalized, scores [M])`` of one image's torchvision ``output``: every class but
        person (``detect``, inherited, runs the model on uint8 ``[T, H, W, C]`` RGB frames)."""
        return object_detections(output, image_hw, person_label=self.person_label, min_score=self.min_score)


def object_box_source(
    objects: str | Path | None = None,
    detector: str | None = None,
    detector_weights: str | Path | None = None,
    *,
    min_score: float = DEFAULT_OBJECT_MIN_SCORE,
    device: str = "cpu",
    batch_size: int = 8,
) -> ObjectBoxSource | None:
    """The object-box source the arguments name: an ``objects`` file, or a torchvision ``detector`` name with its
    local ``detector_weights``; None when neither is given. Bad combinations are one-line
    :class:`~vidstruct.errors.InputError` s (``--objects`` / ``--object-detector`` / ``--object-detector-weights``)."""
    if objects is not None and detector is not None:
        raise InputError("object boxes: give one of --objects FILE or --object-detector NAME, not both")
    if detector_weights is not None and detector is None:
        raise InputError("--object-detector-weights: only applies with --object-detector NAME")
    if objects is not None:
        if not Path(objects).is_file():
            raise InputError(f"--objects: {objects}: no such file")
        return ObjectsFile(objects)
    if detector is None:
        return None
    if not 0.0 <= min_score <= 1.0:
        raise InputError(f"--object-min-score: expected a probability in [0, 1], got {min_score}")
    if detector not in TORCHVISION_DETECTORS:
        raise InputError(
            f"--object-detector: {detector!r} is not a torchvision detection model (known: "
            f"{', '.join(TORCHVISION_DETECTORS)})"
        )
    if detector_weights is None:
        raise InputError(
            f"--object-detector {detector}: needs its local weights file (--object-detector-weights FILE); "
            "nothing is downloaded"
        )
    return ObjectDetectorSource.from_torchvision(
        detector, detector_weights, min_score=min_score, device=device, batch_size=batch_size
    )
