"""Frame index: presentation timestamps and keyframes from demuxing only.

Built once per reader by reading packets (no decoding): frame ``i`` is the
packet with the ``i``-th smallest presentation timestamp (pts), so indices
follow display order also for B-frames and variable frame rate. Keyframes
come from ``packet.is_keyframe``. Times are seconds relative to frame 0
(frame 0 is at ``t = 0``); ``start_s`` keeps the absolute pts of frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from vidstruct.io.errors import CorruptVideoError, FrameOutOfRangeError, NoFramesError

# container formats whose header frame count is the exact packet count (mp4 sample tables)
_EXACT_HEADER_COUNT = ("mov", "mp4")
# tolerance when mapping times to frames: a time within this of a frame's pts belongs to it
TIME_EPS_S = 1e-6


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps (stream ``time_base`` ticks) of every frame, in display order.

    - ``pts``: int64 ``[N]``, strictly the sorted packet pts;
    - ``keyframe``: bool ``[N]``, decoding can start at frame ``i``;
    - ``dts``: int64 ``[N]``, decode timestamp of each frame's packet;
    - ``last_duration``: ticks the last frame is displayed for.
    """

    path: str
    pts: np.ndarray
    keyframe: np.ndarray
    dts: np.ndarray
    time_base: Fraction
    last_duration: int

    @property
    def num_frames(self) -> int:
        return int(self.pts.shape[0])

    @property
    def start_s(self) -> float:
        """Absolute presentation time of frame 0 in seconds (container clock)."""
        return float(self.pts[0] * self.time_base)

    @cached_property
    def times_s(self) -> np.ndarray:
        """float64 ``[N]``: presentation time of each frame, seconds from frame 0."""
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)

    @property
    def duration_s(self) -> float:
        """Seconds from frame 0's start to the end of the last frame."""
        return float((int(self.pts[-1]) - int(self.pts[0]) + self.last_duration) * self.time_base)

    @property
    def average_fps(self) -> float:
        return self.num_frames / self.duration_s if self.duration_s > 0 else 0.0

    @cached_property
    def keyframe_indices(self) -> np.ndarray:
        return np.flatnonzero(self.keyframe)

    def gop_start(self, indices: np.ndarray) -> np.ndarray:
        """For each frame index, the index of the last keyframe at or before it (0 if none)."""
        keys = self.keyframe_indices
        if keys.size == 0:
            return np.zeros_like(indices)
        pos = np.searchsorted(keys, indices, side="right") - 1
        return np.where(pos >= 0, keys[np.maximum(pos, 0)], 0)

    def check_indices(self, indices: np.ndarray) -> None:
        """Raise :class:`FrameOutOfRangeError` for any index outside ``[0, N)``."""
        if indices.size == 0:
            return
        bad = indices[(indices < 0) | (indices >= self.num_frames)]
        if bad.size:
            raise FrameOutOfRangeError(
                self.path,
                f"frame index {int(bad[0])} is out of range: the video has {self.num_frames} frames "
                f"(valid 0..{self.num_frames - 1})",
            )

    def index_at(self, times_s: np.ndarray | list[float] | float) -> np.ndarray:
        """Index of the frame displayed at each time (seconds from frame 0).

        The frame displayed at ``t`` is the last one whose presentation time is
        ``<= t`` (pts, not ``t * fps``, so variable frame rate is exact).
        Times in ``[0, duration_s)`` are valid; others raise
        :class:`FrameOutOfRangeError`.
        """
        t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
        if t.size and (not np.all(np.isfinite(t)) or t.min() < -TIME_EPS_S or t.max() >= self.duration_s):
            bad = t[~np.isfinite(t) | (t < -TIME_EPS_S) | (t >= self.duration_s)][0]
            raise FrameOutOfRangeError(
                self.path, f"time {bad:.6g}s is outside the video (valid 0 <= t < {self.duration_s:.6g}s)"
            )
        idx = np.searchsorted(self.times_s, t + TIME_EPS_S, side="right") - 1
        return np.clip(idx, 0, self.num_frames - 1).astype(np.int64)


def build_frame_index(container: InputContainer, stream: VideoStream, path: str | Path) -> FrameIndex:
    """Demux every packet of ``stream`` (no decoding) and index pts / keyframes.

    Raises :class:`NoFramesError` for zero frames, :class:`CorruptVideoError`
    when demuxing fails or an mp4 holds fewer packets than its sample table
    declares (truncated download). Leaves the container at the end: callers
    seek before decoding.
    """
    pts: list[int] = []
    dts: list[int] = []
    key: list[bool] = []
    durations: list[int] = []
    total = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 and packet.pts is None and packet.dts is None:
                continue  # PyAV's flush marker at the end
            total += 1
            if getattr(packet, "is_discard", False):
                continue  # outside an edit list: never displayed
            p = packet.pts if packet.pts is not None else packet.dts
            if p is None:
                raise CorruptVideoError(path, "packets carry no timestamps; frame-accurate access is impossible")
            pts.append(p)
            dts.append(packet.dts if packet.dts is not None else p)
            key.append(bool(packet.is_keyframe))
            durations.append(packet.duration or 0)
    except av.FFmpegError as exc:
        raise CorruptVideoError(path, f"demuxing failed after {total} packets: {exc}") from None
    declared = stream.frames or 0
    fmt = container.format.name if container.format is not None else ""
    if declared and total < declared and any(name in fmt for name in _EXACT_HEADER_COUNT):
        raise CorruptVideoError(path, f"truncated: the header declares {declared} frames but only {total} are present")
    if not pts:
        raise NoFramesError(path, "the video stream holds zero frames")
    pts_arr = np.asarray(pts, dtype=np.int64)
    order = np.argsort(pts_arr, kind="stable")
    pts_arr = pts_arr[order]
    key_arr = np.asarray(key, dtype=bool)[order]
    dts_arr = np.asarray(dts, dtype=np.int64)[order]
    dur_arr = np.asarray(durations, dtype=np.int64)[order]
    last = int(dur_arr[-1])
    if last <= 0:
        diffs = np.diff(pts_arr)
        diffs = diffs[diffs > 0]
        if diffs.size:
            last = int(np.median(diffs))
        else:
            rate = stream.average_rate or stream.guessed_rate or 25
            last = max(1, round(1 / (float(rate) * float(stream.time_base))))
    if not key_arr.any():
        key_arr[0] = True  # some demuxers flag nothing; start of stream is always decodable
    return FrameIndex(
        path=str(path),
        pts=pts_arr,
        keyframe=key_arr,
        dts=dts_arr,
        time_base=Fraction(stream.time_base),
        last_duration=last,
    )
