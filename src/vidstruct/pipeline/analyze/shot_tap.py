"""Shot detection fed by the single decode pass.

A :class:`ShotTap` takes every frame (or the frames at the detector's own ``fps``) at the detector's
``frame_size`` (its :attr:`ShotTap.frame_size`: the decode pass scales them with swscale's area averaging,
aspect ratio not kept: the detectors are tuned on squeezed frames, as
:func:`vidstruct.pipeline.shots.iter_detector_frames` feeds them) and pushes them in chunks of
``chunk_frames``. Memory: one chunk of detector-size frames plus what the detector holds (bounded, see
:mod:`vidstruct.pipeline.shots.base`).
"""

from __future__ import annotations

import numpy as np
import torch

from vidstruct.io import FrameIndex
from vidstruct.pipeline.shots import ShotDetector, ShotResult

__all__ = ["ShotTap"]


class ShotTap:
    """A :class:`~vidstruct.pipeline.analyze.taps.FrameTap` feeding ``detector``; :attr:`result` after finish."""

    name = "shots"

    def __init__(self, detector: ShotDetector, index: FrameIndex, *, chunk_frames: int = 64) -> None:
        self.detector = detector
        self.frame_size: tuple[int, int] | None = detector.frame_size
        detector.reset()  # whatever an interrupted video left in it
        self.seconds = 0.0
        self.chunk_frames = chunk_frames
        self._times = index.times_s
        self._duration_s = index.duration_s
        if detector.fps is None:
            self._indices = np.arange(index.num_frames, dtype=np.int64)
        else:
            grid = np.arange(0.0, index.duration_s, 1.0 / detector.fps)
            self._indices = np.unique(index.index_at(grid[grid < index.duration_s]))
        self._chunk: list[torch.Tensor] = []
        self._chunk_times: list[float] = []
        self.result: ShotResult | None = None

    def indices(self) -> np.ndarray:
        return self._indices

    def feed(self, index: int, frame: torch.Tensor) -> None:
        self._chunk.append(frame)
        self._chunk_times.append(float(self._times[index]))
        if len(self._chunk) == self.chunk_frames:
            self._push()

    def _push(self) -> None:
        self.detector.push(torch.stack(self._chunk).numpy(), np.asarray(self._chunk_times))
        self._chunk, self._chunk_times = [], []

    def finish(self) -> None:
        if self._chunk:
            self._push()
        self.result = self.detector.close(end_s=self._duration_s)
