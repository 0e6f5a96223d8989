"""Shot detection fed by the single decode pass.

A :class:`ShotTap` takes every frame (or the frames at the detector's own ``fps``) at the detector's
``frame_size`` (its :attr:`ShotTap.frame_size`: the decode pass scales them with swscale's area averaging,
aspect ratio not kept: the detectors are tuned on squeezed frames, as
:func:`vidstruct.pipeline.shots.iter_detector_frames` feeds them) and pushes them in chunks of
``chunk_frames``. The decode pass converts each frame straight into its place in the chunk
(:meth:`ShotTap.buffer`): no array per frame, no stacking. Memory: one chunk of detector-size frames plus what
the detector holds (bounded, see :mod:`vidstruct.pipeline.shots.base`).
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
        width, height = detector.frame_size
        self._frame_bytes = width * height * 3
        self._chunk = self._new_chunk()
        self._chunk_times = np.empty(chunk_frames, dtype=np.float64)
        self._filled = 0  # frames in the chunk
        self.result: ShotResult | None = None

    def _new_chunk(self) -> np.ndarray:
        """uint8 ``[chunk_frames, H, W, 3]`` at the detector's frame size (a new one per push: a detector may keep
        the frames it was given)."""
        width, height = self.detector.frame_size
        chunk = np.empty((self.chunk_frames, height, width, 3), dtype=np.uint8)
        self._chunk_address = chunk.ctypes.data  # where slot k starts: this + k * frame bytes
        return chunk

    def indices(self) -> np.ndarray:
        return self._indices

    def buffer(self, index: int) -> np.ndarray:
        """Where frame ``index`` goes: the chunk's next slot (uint8 ``[H, W, 3]`` at :attr:`frame_size`)."""
        return self._chunk[self._filled]

    def feed(self, index: int, frame: torch.Tensor) -> None:
        if frame.data_ptr() != self._chunk_address + self._filled * self._frame_bytes:  # not converted into
            self._chunk[self._filled] = frame.numpy()  # :meth:`buffer`: copy it there
        self._chunk_times[self._filled] = self._times[index]
        self._filled += 1
        if self._filled == self.chunk_frames:
            self._push()

    def _push(self) -> None:
        n = self._filled
        self.detector.push(self._chunk[:n], self._chunk_times[:n].copy())
        self._chunk, self._filled = self._new_chunk(), 0

    def finish(self) -> None:
        if self._filled:
            self._push()
        self.result = self.detector.close(end_s=self._duration_s)
