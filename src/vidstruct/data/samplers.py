"""Clip samplers: which frame indices of a video make up each clip.

Every sampler is a callable::

    sampler(num_frames: int, fps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]

returning one ``int64`` array of frame indices per clip (indices into the
decoded video, ``0 <= i < num_frames``). ``rng=None`` means deterministic
evaluation mode; a seeded :class:`numpy.random.Generator` gives training-time
randomness that is reproducible.

Vocabulary (mmaction2's ``SampleFrames`` + PySlowFast's target fps):

- ``clip_len``: frames per clip;
- ``frame_interval``: gap between consecutive sampled frames, counted in frames
  **at ``target_fps``** (at the source fps when ``target_fps`` is ``None``), so a
  clip spans the same time at any source frame rate;
- ``num_clips``: clips per video;
- ``target_fps``: the frame rate the interval is measured at.

Shared rules (exact, the tests compute them by hand):

- source step ``s = frame_interval * fps / target_fps`` (``s = frame_interval``
  without ``target_fps``); clip frame ``k`` sits at ``offset + round(k * s)``
  where ``round`` is round-half-up (``floor(x + 0.5)``);
- a clip's span is ``span = round((clip_len - 1) * s) + 1`` source frames
  (first to last sampled frame inclusive; mmaction2 uses ``clip_len *
  frame_interval``, one interval longer), so valid offsets are
  ``0 .. num_frames - span``;
- padding rule: an index past the end (video shorter than the clip, or the
  tail of the last dense window) is clamped to ``num_frames - 1`` (the last
  frame repeats, mmaction2's ``repeat_last``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidstruct.errors import ConfigError, InputError
from vidstruct.registry import SAMPLERS

__all__ = [
    "DenseSampler",
    "IntervalSampler",
    "MultiViewPlan",
    "MultiViewSampler",
    "SegmentSampler",
    "View",
    "round_half_up",
]


def round_half_up(x: np.ndarray | float) -> np.ndarray:
    """``floor(x + 0.5)`` as int64 (0.5 → 1, 1.5 → 2; numpy's ``round`` would give 0 and 2)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _check_video(num_frames: int, fps: float, needs_fps: bool) -> None:
    if int(num_frames) != num_frames or num_frames < 1:
        raise InputError(f"num_frames must be a positive integer, got {num_frames!r}")
    if needs_fps and not (fps > 0):
        raise InputError(f"fps must be > 0 when target_fps is set, got {fps!r}")


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ConfigError(f"sampler argument {name!r} must be an integer >= 1, got {value!r}")
    return int(value)


def _positive_float_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not value > 0:
        raise ConfigError(f"sampler argument {name!r} must be > 0 or null, got {value!r}")
    return float(value)


def _source_step(interval: float, fps: float, target_fps: float | None) -> float:
    """Gap in source frames for ``interval`` frames at ``target_fps``."""
    return float(interval) if target_fps is None else interval * fps / target_fps


def _clamp(indices: np.ndarray, num_frames: int) -> np.ndarray:
    return np.minimum(indices, num_frames - 1).astype(np.int64)


@dataclass(frozen=True)
class IntervalSampler:
    """``num_clips`` clips of ``clip_len`` frames, ``frame_interval`` apart (at ``target_fps``).

    Offsets (``n`` = num_frames, ``N`` = num_clips, ``P = n - span + 1`` valid offsets):

    - training (``rng`` given): the range ``[0, P)`` is cut into ``N`` equal
      chunks ``[floor(i*P/N), floor((i+1)*P/N))``; clip ``i`` starts uniformly at
      random inside chunk ``i`` (at its lower end when the chunk is empty);
    - test (``rng=None``): mmaction2's test-mode formula
      ``avg = P / N; offset_i = int(avg / 2 + avg * i)`` — clip ``i`` centred in
      chunk ``i``, deterministic;
    - ``n < span`` (video shorter than a clip): every offset is 0 and the tail
      indices clamp to the last frame.
    """

    clip_len: int = 8
    frame_interval: int = 1
    num_clips: int = 1
    target_fps: float | None = None

    def __post_init__(self) -> None:
        _positive_int("clip_len", self.clip_len)
        _positive_int("frame_interval", self.frame_interval)
        _positive_int("num_clips", self.num_clips)
        _positive_float_or_none("target_fps", self.target_fps)

    def relative_indices(self, fps: float) -> np.ndarray:
        """Indices of one clip relative to its offset: ``round(k * s)``, ``k = 0..clip_len-1``."""
        step = _source_step(self.frame_interval, fps, self.target_fps)
        return round_half_up(np.arange(self.clip_len) * step)

    def offsets(self, num_frames: int, fps: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Start frame of each clip (int64 ``[num_clips]``)."""
        _check_video(num_frames, fps, self.target_fps is not None)
        span = int(self.relative_indices(fps)[-1]) + 1
        n_valid = num_frames - span + 1
        if n_valid <= 0:
            return np.zeros(self.num_clips, dtype=np.int64)
        i = np.arange(self.num_clips)
        if rng is None:
            avg = n_valid / self.num_clips
            return (avg / 2 + avg * i).astype(np.int64)
        lo = (i * n_valid) // self.num_clips
        hi = ((i + 1) * n_valid) // self.num_clips
        return np.where(hi > lo, rng.integers(lo, np.maximum(hi, lo + 1)), lo).astype(np.int64)

    def __call__(self, num_frames: int, fps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]:
        offsets = self.offsets(num_frames, fps, rng)  # validates num_frames / fps first
        rel = self.relative_indices(fps)
        return [_clamp(int(o) + rel, num_frames) for o in offsets]


@dataclass(frozen=True)
class SegmentSampler:
    """TSN: ``num_segments`` equal segments, one frame from each (a single clip).

    Segment ``k`` covers frames ``[floor(k*n/K), floor((k+1)*n/K))``; training
    picks a uniformly random frame inside it (its first frame when empty, i.e.
    ``n < K``), test picks the centre ``int(n/K * (k + 0.5))``. The fps is unused
    (segments are proportional to the video length). Returns one array of
    ``num_segments`` indices.
    """

    num_segments: int = 8

    def __post_init__(self) -> None:
        _positive_int("num_segments", self.num_segments)

    def __call__(self, num_frames: int, fps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]:
        _check_video(num_frames, fps, needs_fps=False)
        k = np.arange(self.num_segments)
        if rng is None:
            idx = (num_frames / self.num_segments * (k + 0.5)).astype(np.int64)
        else:
            lo = (k * num_frames) // self.num_segments
            hi = ((k + 1) * num_frames) // self.num_segments
            idx = np.where(hi > lo, rng.integers(lo, np.maximum(hi, lo + 1)), lo)
        return [_clamp(idx, num_frames)]


@dataclass(frozen=True)
class DenseSampler:
    """Sliding windows over the whole video for feature extraction (deterministic).

    Window ``j`` starts at source frame ``round(j * stride * fps / target_fps)``
    (``round(j * stride)`` without ``target_fps``) and holds ``clip_len`` frames
    ``frame_interval`` apart, as in :class:`IntervalSampler`. The number of
    windows is the smallest ``J >= 1`` whose last window reaches the last frame
    (its last index ``>= num_frames - 1``); indices past the end clamp to the
    last frame, so starts stay on a regular grid and window ``j`` begins at
    ``j * stride / target_fps`` seconds. ``rng`` is ignored.
    """

    clip_len: int = 16
    stride: int = 16
    frame_interval: int = 1
    target_fps: float | None = None

    def __post_init__(self) -> None:
        _positive_int("clip_len", self.clip_len)
        _positive_int("stride", self.stride)
        _positive_int("frame_interval", self.frame_interval)
        _positive_float_or_none("target_fps", self.target_fps)

    def starts(self, num_frames: int, fps: float) -> np.ndarray:
        """Start frame of every window (int64)."""
        _check_video(num_frames, fps, self.target_fps is not None)
        rel_last = int(round_half_up((self.clip_len - 1) * _source_step(self.frame_interval, fps, self.target_fps)))
        stride = _source_step(self.stride, fps, self.target_fps)
        starts = [0]
        while starts[-1] + rel_last < num_frames - 1:
            starts.append(int(round_half_up(len(starts) * stride)))
        return np.asarray(starts, dtype=np.int64)

    def __call__(self, num_frames: int, fps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]:
        starts = self.starts(num_frames, fps)
        step = _source_step(self.frame_interval, fps, self.target_fps)
        rel = round_half_up(np.arange(self.clip_len) * step)
        return [_clamp(int(s) + rel, num_frames) for s in starts]


@dataclass(frozen=True)
class View:
    """One test view: the frames of temporal clip ``clip_index`` with spatial crop ``crop_index``.

    ``crop_index`` follows :func:`vidstruct.data.transforms.spatial_crop`: with
    1 crop it is 1 (centre); with 3 crops 0 / 1 / 2 = left (top), centre,
    right (bottom) along the longer side.
    """

    clip_index: int
    crop_index: int
    indices: np.ndarray


@dataclass(frozen=True)
class MultiViewPlan:
    """All views of one video, temporal-major: view ``t * spatial_crops + c``."""

    views: tuple[View, ...]
    temporal_views: int
    spatial_crops: int

    def __len__(self) -> int:
        return len(self.views)

    def crop_indices(self) -> list[int]:
        return [v.crop_index for v in self.views]


@dataclass(frozen=True)
class MultiViewSampler:
    """Multi-view testing: ``temporal_views`` clips × ``spatial_crops`` (1 or 3) crops.

    The temporal clips are :class:`IntervalSampler`'s deterministic test-mode
    clips (``num_clips = temporal_views``); each is repeated once per spatial
    crop. Calling it returns the per-view index arrays (``temporal_views *
    spatial_crops`` of them); :meth:`plan` also says which crop each view takes.
    """

    clip_len: int = 8
    frame_interval: int = 1
    temporal_views: int = 1
    spatial_crops: int = 1
    target_fps: float | None = None

    def __post_init__(self) -> None:
        _positive_int("temporal_views", self.temporal_views)
        if self.spatial_crops not in (1, 3):
            raise ConfigError(f"sampler argument 'spatial_crops' must be 1 or 3, got {self.spatial_crops!r}")

    def plan(self, num_frames: int, fps: float) -> MultiViewPlan:
        clips = IntervalSampler(self.clip_len, self.frame_interval, self.temporal_views, self.target_fps)(
            num_frames, fps, None
        )
        crops: Sequence[int] = (1,) if self.spatial_crops == 1 else (0, 1, 2)
        views = tuple(View(t, c, idx) for t, idx in enumerate(clips) for c in crops)
        return MultiViewPlan(views, self.temporal_views, self.spatial_crops)

    def __call__(self, num_frames: int, fps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]:
        return [v.indices for v in self.plan(num_frames, fps).views]


@SAMPLERS.register("interval")
def interval(
    *, clip_len: int = 8, frame_interval: int = 1, num_clips: int = 1, target_fps: float | None = None
) -> IntervalSampler:
    """mmaction2 ``SampleFrames``: ``num_clips`` clips of ``clip_len`` frames, interval at ``target_fps``."""
    return IntervalSampler(clip_len, frame_interval, num_clips, target_fps)


@SAMPLERS.register("segment")
def segment(*, num_segments: int = 8) -> SegmentSampler:
    """TSN segment sampling: one frame from each of ``num_segments`` equal segments."""
    return SegmentSampler(num_segments)


@SAMPLERS.register("dense")
def dense(
    *, clip_len: int = 16, stride: int = 16, frame_interval: int = 1, target_fps: float | None = None
) -> DenseSampler:
    """Sliding windows covering the whole video (feature extraction)."""
    return DenseSampler(clip_len, stride, frame_interval, target_fps)


@SAMPLERS.register("multiview")
def multiview(
    *,
    clip_len: int = 8,
    frame_interval: int = 1,
    temporal_views: int = 1,
    spatial_crops: int = 1,
    target_fps: float | None = None,
) -> MultiViewSampler:
    """Multi-view testing plan: ``temporal_views`` evenly spaced clips × 1 or 3 spatial crops."""
    return MultiViewSampler(clip_len, frame_interval, temporal_views, spatial_crops, target_fps)
