"""Thumbnails from the single decode pass: JPEG candidates on a time grid, one picked per shot / segment.

Shots and segments are only known once the whole video has been seen, and the video is decoded once, so
the :class:`ThumbnailTap` keeps *candidates*: the frames displayed at ``k / fps`` seconds, resized to
``width`` pixels wide (aspect ratio kept, never enlarged) and JPEG-encoded (Pillow, ``quality``) as they go
by. Memory grows with the video's length but stays small: one JPEG of a few kB per ``1 / fps`` seconds
(about 10 kB per second of video at the defaults, 2 candidates per second at 160 px).

:meth:`ThumbnailTap.pick` chooses for a span ``[start_s, end_s)`` the candidate inside it that is closest
to its middle; a span shorter than the grid step that holds no candidate gets the candidate closest to its
middle (its ``time_s`` then lies just outside the span, and says so).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vidstruct.io import FrameIndex

__all__ = ["Thumbnail", "ThumbnailTap"]


@dataclass(frozen=True)
class Thumbnail:
    """One JPEG candidate: ``time_s`` (seconds, the frame's presentation time) and its bytes."""

    time_s: float
    jpeg: bytes


class ThumbnailTap:
    """A :class:`~vidstruct.pipeline.analyze.taps.FrameTap` keeping JPEG candidates (see the module doc)."""

    name = "thumbnails"

    def __init__(self, index: FrameIndex, *, width: int = 160, quality: int = 85, fps: float = 2.0) -> None:
        if width < 8 or not 1 <= quality <= 95 or not fps > 0:
            raise ValueError(f"expected width >= 8, quality in [1, 95], fps > 0; got {width}, {quality}, {fps}")
        self.seconds = 0.0
        self.frame_size: tuple[int, int] | None = None  # the decode size: resized here, aspect kept
        self.width = width
        self.quality = quality
        grid = np.arange(0.0, index.duration_s, 1.0 / fps)
        self._indices = np.unique(index.index_at(grid[grid < index.duration_s]))
        self._times = index.times_s
        self.candidates: list[Thumbnail] = []
        self._picking: np.ndarray | None = None  # the candidates' times, float64 [N]

    def indices(self) -> np.ndarray:
        return self._indices

    def feed(self, index: int, frame: torch.Tensor) -> None:
        height, width = int(frame.shape[0]), int(frame.shape[1])
        image = Image.frombytes("RGB", (width, height), frame.numpy().tobytes())  # 6x cheaper than fromarray
        width = min(self.width, image.width)
        height = max(1, round(image.height * width / image.width))
        if (width, height) != image.size:
            image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=self.quality)
        self.candidates.append(Thumbnail(float(self._times[index]), buffer.getvalue()))

    def finish(self) -> None:
        pass

    def pick(self, start_s: float, end_s: float) -> Thumbnail | None:
        """The candidate for ``[start_s, end_s)`` (see the module doc); None when there is no candidate."""
        if not self.candidates:
            return None
        if self._picking is None or self._picking.size != len(self.candidates):
            self._picking = np.asarray([c.time_s for c in self.candidates])  # built once for all the picks
        times = self._picking
        middle = (start_s + end_s) / 2
        inside = np.flatnonzero((times >= start_s) & (times < end_s))
        pool = inside if inside.size else np.arange(times.size)
        return self.candidates[int(pool[np.argmin(np.abs(times[pool] - middle))])]
