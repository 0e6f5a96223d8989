"""Keyframe images with person boxes for training and evaluating a person detector.

A sample of :class:`PersonKeyframes` is a dict:

- ``image``: float32 ``[3, H, W]`` RGB in ``[0, 1]`` (the frame displayed at the keyframe time);
- ``target``: ``{"boxes": float32 [N, 4] [x1, y1, x2, y2] in pixels of the image, "labels": int64 [N]}`` with
  every label :data:`~vidstruct.models.persons.PERSON_LABEL`-compatible ``1`` (person);
- ``video_id`` (str) and ``time_s`` (float): which keyframe.

Boxes come from the AVA rows of the keyframe merged per person
(:func:`vidstruct.data.formats.ava.merge_boxes`). A box under one pixel wide or high (an actor leaving the
frame) cannot be trained on (torchvision detectors reject it): it is left out and counted in
:attr:`PersonKeyframes.dropped_boxes` (logged). Videos are ``videos_dir / f"{video_id}{video_suffix}"``
(default ``videos_dir``: ``videos/`` beside the CSV, as ``vidstruct synth`` writes); a missing video is an
:class:`~vidstruct.errors.AnnotationError` when the dataset is built, a keyframe past the video's end when it
is read. ``hflip``: the chance that a training sample is mirrored left-right (its boxes too). Decoded keyframes
are kept per video (``cache=True``): synthetic datasets are small, and each video is decoded once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from vidstruct.data.formats.ava import merge_boxes, read_ava
from vidstruct.errors import AnnotationError
from vidstruct.io import FrameOutOfRangeError, VideoReader

__all__ = ["PersonKeyframes", "collate_keyframes"]

log = logging.getLogger(__name__)

MIN_BOX_PX = 1.0


class PersonKeyframes(Dataset):
    """Keyframes of an AVA-style CSV with their person boxes (see the module doc)."""

    def __init__(
        self,
        annotations: str | Path,
        videos_dir: str | Path | None = None,
        *,
        video_suffix: str = ".mp4",
        hflip: float = 0.0,
        cache: bool = True,
    ) -> None:
        if not 0.0 <= hflip <= 1.0:
            raise ValueError(f"hflip must be a probability, got {hflip}")
        self.annotations = str(annotations)
        self.videos_dir = Path(videos_dir) if videos_dir is not None else Path(annotations).parent / "videos"
        self.hflip = hflip
        self.cache = cache
        merged = merge_boxes(read_ava(self.annotations))
        if not merged:
            raise AnnotationError(f"{annotations}: no keyframes (the CSV has no rows)")
        self.keyframes: list[tuple[str, float]] = sorted(merged)
        self.boxes: dict[tuple[str, float], torch.Tensor] = {
            key: torch.tensor([kb.box for kb in merged[key]], dtype=torch.float32).reshape(-1, 4)
            for key in self.keyframes
        }
        self.video_paths: dict[str, Path] = {}
        for video_id, _ in self.keyframes:
            path = self.videos_dir / f"{video_id}{video_suffix}"
            if video_id not in self.video_paths and not path.is_file():
                raise AnnotationError(f"{annotations}: video {video_id!r} not found (expected {path})")
            self.video_paths[video_id] = path
        self._frames: dict[str, dict[float, torch.Tensor]] = {}
        self.dropped_boxes = 0

    def __len__(self) -> int:
        return len(self.keyframes)

    def _decode(self, video_id: str, times: list[float]) -> dict[float, torch.Tensor]:
        try:
            with VideoReader(self.video_paths[video_id], threads=1) as reader:
                frames = reader.get_frames_at(times)
        except FrameOutOfRangeError as e:
            raise AnnotationError(f"{self.annotations}: video {video_id!r}: a keyframe is past its end ({e})") from None
        return dict(zip(times, frames))

    def frame(self, video_id: str, time_s: float) -> torch.Tensor:
        """uint8 ``[H, W, 3]`` RGB frame of ``video_id`` displayed at the keyframe ``time_s``."""
        if video_id in self._frames:
            return self._frames[video_id][time_s]
        if not self.cache:
            return self._decode(video_id, [time_s])[time_s]
        times = [t for vid, t in self.keyframes if vid == video_id]
        self._frames[video_id] = self._decode(video_id, times)
        return self._frames[video_id][time_s]

    def ground_truth(self, index: int) -> torch.Tensor:
        """float32 ``[N, 4]`` normalized ``[x1, y1, x2, y2]`` person boxes of keyframe ``index`` (as in the CSV)."""
        return self.boxes[self.keyframes[index]].clone()

    def __getitem__(self, index: int) -> dict[str, Any]:
        video_id, time_s = self.keyframes[index]
        frame = self.frame(video_id, time_s)
        height, width = int(frame.shape[0]), int(frame.shape[1])
        image = frame.permute(2, 0, 1).float().div_(255.0)
        boxes = self.boxes[(video_id, time_s)] * torch.tensor([width, height, width, height], dtype=torch.float32)
        big = ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_PX) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_PX)
        if not bool(big.all()):
            self.dropped_boxes += int((~big).sum())
            log.debug("%s: %s at %gs: left out %d boxes under 1 px", self.annotations, video_id, time_s, (~big).sum())
            boxes = boxes[big]
        if self.hflip > 0 and float(torch.rand(())) < self.hflip:
            image = image.flip(-1)
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
        labels = torch.ones(boxes.shape[0], dtype=torch.int64)
        return {"image": image, "target": {"boxes": boxes, "labels": labels}, "video_id": video_id, "time_s": time_s}


def collate_keyframes(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"images": [float [3, H, W]], "targets": [{"boxes", "labels"}], "keys": [(video_id, time_s)]}``."""
    return {
        "images": [s["image"] for s in samples],
        "targets": [s["target"] for s in samples],
        "keys": [(s["video_id"], s["time_s"]) for s in samples],
    }
