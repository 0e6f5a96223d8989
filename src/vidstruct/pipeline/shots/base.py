"""The streaming interface every shot detector follows, and the shots it returns.

A detector is fed the frames of one video in chunks, in time order, as they are decoded, then
closed::

    detector = build_shot_detector("transnetv2")   # states detector.frame_size and detector.fps
    for frames, times in decoded_chunks:           # uint8 [T, H, W, 3] RGB, float seconds [T]
        detector.push(frames, times)
    result = detector.close(end_s=duration_s)      # ShotResult: shots + per-frame scores

Frames must already be at ``detector.frame_size`` (``(width, height)`` in pixels) and at
``detector.fps`` (``None``: every frame of the video, at its native rate); the caller resizes
(ideally inside the decoder, see :mod:`vidstruct.io`). ``reset()`` drops a video half-way (a decode
error). A detector holds only a bounded number of frames whatever the video length (a few windows;
it never buffers the video), plus a score and a timestamp per frame (12-16 bytes). Results do not
depend on how the frames are split into chunks. ``close()`` readies the detector for the next video.

Shots are contiguous: the first starts at 0 s, each ends where the next starts, the last ends at
``end_s``. A shot's ``confidence`` is the probability that the cut opening it is real (1.0 for
the first shot); each detector documents how it computes it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from vidstruct.errors import InputError, ShapeError

__all__ = ["Shot", "ShotDetector", "ShotResult", "shots_from_cuts"]


@dataclass(frozen=True)
class Shot:
    """One shot: ``[start_s, end_s)`` in seconds from the video's first frame.

    ``confidence``: probability that the cut opening this shot is real (1.0 for the first shot).
    """

    index: int
    start_s: float
    end_s: float
    confidence: float

    def as_dict(self) -> dict[str, int | float]:
        """``{index, start_s, end_s, confidence}`` (full precision; readers round for display)."""
        return asdict(self)


@dataclass(frozen=True)
class ShotResult:
    """What :meth:`ShotDetector.close` returns for one video.

    - ``shots``: contiguous, in time order (see :class:`Shot`);
    - ``cut_frames``: int64 ``[K]``, for shots 1..K the index (in the frames pushed, from 0) of their first frame;
    - ``scores``: float32 ``[N]``, the detector's score of every frame pushed (see each detector);
    - ``timestamps_s``: float64 ``[N]``, the time of every frame pushed, seconds;
    - ``detector``: the detector's name; ``settings``: the settings it ran with.
    """

    shots: list[Shot]
    cut_frames: np.ndarray
    scores: np.ndarray
    timestamps_s: np.ndarray
    detector: str
    settings: dict[str, Any]

    def shot_dicts(self) -> list[dict[str, int | float]]:
        """The shots as ``[{index, start_s, end_s, confidence}]``."""
        return [shot.as_dict() for shot in self.shots]


def shots_from_cuts(
    cut_frames: np.ndarray, confidences: np.ndarray, timestamps_s: np.ndarray, end_s: float
) -> list[Shot]:
    """Contiguous shots from the frames that open them.

    - ``cut_frames``: int ``[K]``, strictly increasing frame indices in ``[1, N)``: the first frame of shots 1..K;
    - ``confidences``: float ``[K]``, the probability of each cut;
    - ``timestamps_s``: float ``[N]``, frame times in seconds;
    - ``end_s``: the end of the video (of the last shot), seconds, not before the last frame.

    Shot 0 starts at 0 s with confidence 1.0; shot ``k`` starts at the time of ``cut_frames[k - 1]``.
    """
    cuts = np.asarray(cut_frames, dtype=np.int64)
    conf = np.asarray(confidences, dtype=np.float64)
    times = np.asarray(timestamps_s, dtype=np.float64)
    if cuts.shape != conf.shape or cuts.ndim != 1:
        raise ShapeError(f"cut_frames {list(cuts.shape)} and confidences {list(conf.shape)} must be equal 1-D")
    if cuts.size and (cuts[0] < 1 or cuts[-1] >= times.size or np.any(np.diff(cuts) <= 0)):
        raise ValueError(f"cut frames must increase strictly within [1, {times.size}), got {cuts.tolist()}")
    starts = [0.0, *(float(times[c]) for c in cuts)]
    ends = [*starts[1:], float(end_s)]
    confidence = [1.0, *(float(c) for c in conf)]
    return [Shot(i, s, e, c) for i, (s, e, c) in enumerate(zip(starts, ends, confidence))]


class ShotDetector(ABC):
    """Base of the streaming shot detectors (see the module doc for the protocol).

    Subclasses set ``name``, ``frame_size`` (``(width, height)``, pixels) and ``fps`` (``None``: native
    rate), and implement :meth:`_push_frames` (a chunk of frames, in order), :meth:`_finish` (per-frame
    scores and cuts once every frame is in) and :meth:`_reset` (forget the video).
    """

    name: ClassVar[str]
    frame_size: tuple[int, int]
    fps: float | None = None

    def __init__(self) -> None:
        self._times: list[np.ndarray] = []
        self._last_time = -np.inf

    # ------------------------------------------------------------------ protocol
    def push(self, frames: np.ndarray | torch.Tensor, timestamps_s: np.ndarray | list[float]) -> None:
        """Feed the next frames of the video, uint8 ``[T, H, W, 3]`` RGB at :attr:`frame_size`.

        ``timestamps_s``: float ``[T]``, the frames' times in seconds, increasing strictly across calls.
        """
        array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        width, height = self.frame_size
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (height, width, 3):
            raise ShapeError(
                f"{self.name} shot detector expects uint8 [T, {height}, {width}, 3] RGB frames, "
                f"got {array.dtype} {list(array.shape)}"
            )
        times = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
        if times.size != array.shape[0]:
            raise ShapeError(f"{times.size} timestamps for {array.shape[0]} frames")
        if times.size == 0:
            return
        if times[0] <= self._last_time or np.any(np.diff(times) <= 0):
            raise ValueError(f"frame timestamps must increase strictly (after {self._last_time} s got {times[:4]}…)")
        self._times.append(times)
        self._last_time = float(times[-1])
        self._push_frames(np.ascontiguousarray(array))

    def close(self, end_s: float | None = None) -> ShotResult:
        """Finish the video: its shots and per-frame scores; the detector is then ready for another video.

        ``end_s``: the video's duration in seconds (the end of the last shot); by default the last
        frame's time plus the median frame interval (plus nothing after a single frame). A video with
        no frame is an :class:`~vidstruct.errors.InputError`.
        """
        try:
            if not self._times:
                raise InputError(
                    f"{self.name} shot detection received no frames "
                    "(expected at least one uint8 [T, H, W, 3] frame pushed before close())"
                )
            times = np.concatenate(self._times)
            if end_s is None:
                end_s = float(times[-1] + (np.median(np.diff(times)) if times.size > 1 else 0.0))
            if end_s < times[-1]:
                raise ValueError(f"end_s={end_s} lies before the last frame ({times[-1]} s)")
            scores, cuts, confidences = self._finish(times)
            if scores.shape != times.shape:
                raise ShapeError(f"{self.name}: {scores.shape[0]} scores for {times.size} frames")
            return ShotResult(
                shots=shots_from_cuts(cuts, confidences, times, end_s),
                cut_frames=np.asarray(cuts, dtype=np.int64),
                scores=scores.astype(np.float32),
                timestamps_s=times,
                detector=self.name,
                settings=self.settings(),
            )
        finally:
            self.reset()

    def reset(self) -> None:
        """Forget the frames pushed so far (e.g. after a decode error): the next push starts a new video."""
        self._times = []
        self._last_time = -np.inf
        self._reset()

    def settings(self) -> dict[str, Any]:
        """The settings that determine this detector's output (for the structure document's ``models``)."""
        width, height = self.frame_size
        return {"frame_width": width, "frame_height": height, "fps": self.fps}

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _push_frames(self, frames: np.ndarray) -> None:
        """Consume uint8 ``[T, H, W, 3]`` frames (``T >= 1``), the next ones of the video."""

    @abstractmethod
    def _finish(self, timestamps_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(scores float [N], cut frames int [K], cut confidences float [K])`` for the frames pushed.

        ``timestamps_s``: float64 ``[N]``, the times of those frames, seconds.
        """

    @abstractmethod
    def _reset(self) -> None:
        """Forget the current video."""
