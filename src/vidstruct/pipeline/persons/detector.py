"""Person boxes from a detection model run on decoded keyframes.

:class:`DetectorSource` decodes the frames displayed at the requested times
(:meth:`vidstruct.io.VideoReader.get_frames_at`, ``batch_size`` frames at a time, so memory stays bounded on
long requests), runs the detector on them (eval mode, no gradients) and keeps the person class
(:func:`vidstruct.models.persons.person_detections`). Two ways to get one:

- :meth:`DetectorSource.from_torchvision`: a torchvision detection model by name (COCO classes, person = label 1),
  its weights from a local state-dict file;
- :meth:`DetectorSource.from_checkpoint`: a detector trained by ``vidstruct train`` (``task: person-detection``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from vidstruct.device import resolve_device
from vidstruct.errors import InputError
from vidstruct.io import VideoReader
from vidstruct.models.persons import (
    PERSON_LABEL,
    build_person_detector,
    load_detector_weights,
    load_person_detector,
    person_detections,
    set_score_threshold,
)
from vidstruct.models.persons.builders import TORCHVISION_DETECTORS
from vidstruct.pipeline.persons import DEFAULT_MIN_SCORE, KeyframeBoxes

__all__ = ["DetectorSource"]


class DetectorSource:
    """Person boxes from ``model`` (a torchvision detection model in eval mode; see the module doc).

    ``name``: the ``source`` of every result; ``person_label``: the class kept; ``min_score``: the probability a
    box needs; ``batch_size``: frames per forward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        *,
        person_label: int = PERSON_LABEL,
        min_score: float = DEFAULT_MIN_SCORE,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size: expected a positive number of frames, got {batch_size}")
        self.device = resolve_device(str(device), where="device") if isinstance(device, str) else device
        self.model = model.eval().to(self.device)
        set_score_threshold(self.model, min_score)
        self._name = name
        self.person_label = person_label
        self.min_score = float(min_score)
        self.batch_size = batch_size

    @classmethod
    def from_torchvision(
        cls,
        name: str,
        weights: str | Path,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        device: str = "cpu",
        batch_size: int = 8,
    ) -> DetectorSource:
        """torchvision's detector ``name`` with COCO's 91 classes, weights from the state-dict file ``weights``."""
        if name not in TORCHVISION_DETECTORS:
            from vidstruct.registry import did_you_mean

            raise InputError(
                f"--detector: {name!r} is not a torchvision detection model{did_you_mean(name, TORCHVISION_DETECTORS)}"
                f" (known: {', '.join(TORCHVISION_DETECTORS)})"
            )
        model = build_person_detector(name)
        load_detector_weights(model, weights, model_name=name)
        return cls(model, name, min_score=min_score, device=device, batch_size=batch_size)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, min_score: float = DEFAULT_MIN_SCORE, device: str = "cpu", batch_size: int = 8
    ) -> DetectorSource:
        """A person detector written by ``vidstruct train`` (``RUN/person_detector.pt`` or ``RUN``)."""
        if str(path) in TORCHVISION_DETECTORS and not Path(path).exists():
            raise InputError(
                f"--detector {path}: a torchvision detector needs its weights file (--detector-weights FILE); "
                "nothing is downloaded"
            )
        bundle = load_person_detector(path)
        return cls(
            bundle.model, bundle.path, person_label=bundle.person_label, min_score=min_score, device=device,
            batch_size=batch_size,
        )  # fmt: skip

    @property
    def name(self) -> str:
        return self._name

    @torch.inference_mode()
    def detect(self, frames: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Person ``(boxes [N, 4] normalized, scores [N])`` of each frame of uint8 ``[T, H, W, C]`` RGB frames."""
        height, width = int(frames.shape[1]), int(frames.shape[2])
        images = [f.to(self.device).permute(2, 0, 1).float().div_(255.0) for f in frames]
        outputs = self.model(images) if images else []
        return [self.detections(out, (height, width)) for out in outputs]

    def detections(
        self, output: Mapping[str, torch.Tensor], image_hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept ``(boxes [N, 4] normalized, scores [N])`` of one image's torchvision ``output``: persons."""
        return person_detections(output, image_hw, person_label=self.person_label, min_score=self.min_score)

    def boxes_at(self, video_path: str | Path, times_s: Sequence[float]) -> list[KeyframeBoxes]:
        """One :class:`KeyframeBoxes` per time of ``times_s``; a time outside the video is a decode error."""
        times = [float(t) for t in times_s]
        out: list[KeyframeBoxes] = []
        with VideoReader(video_path) as reader:
            for start in range(0, len(times), self.batch_size):
                chunk = times[start : start + self.batch_size]
                for t, (boxes, scores) in zip(chunk, self.detect(reader.get_frames_at(chunk))):
                    out.append(KeyframeBoxes(t, boxes, scores, self.name))
        return out
