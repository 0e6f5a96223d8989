"""From chosen source spans to frame ranges, reel times, and the cutting mode.

A part ``[start_s, end_s)`` (seconds from frame 0) holds the frames whose presentation time ``t`` satisfies
``start_s <= t < end_s`` (the frame index's pts, so variable frame rate is exact). In the reel the parts play
back to back: part ``k`` starts where part ``k - 1`` ends, and lasts from its first frame's pts to the pts of
the first frame after it (or the end of the video).

**Mode rule.** ``copy`` (packets stream-copied, no re-encoding, rebased timestamps) when the source codec can
be muxed into MP4 and *every* cut falls on a keyframe: each part starts on a keyframe and ends on a keyframe
or at the end of the video (a closed group of pictures, so no kept frame references a dropped one). Otherwise
``encode``: the whole reel is decoded and re-encoded with H.264, because stream-copied and re-encoded parts
cannot be mixed in one stream (their codec parameters differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from vidstruct.io.index import TIME_EPS_S, FrameIndex
from vidstruct.pipeline.reels.errors import ReelError
from vidstruct.pipeline.reels.select import ReelPick

__all__ = ["COPY_CODECS", "ReelPart", "ReelPlan", "plan_reel"]

#: source codecs whose packets are stream-copied into an MP4 reel
COPY_CODECS = ("h264", "hevc", "mpeg4", "av1", "vp9")


@dataclass(frozen=True)
class ReelPart:
    """One part: source frames ``[first_frame, end_frame)`` shown from ``reel_start_s`` to ``reel_end_s`` (seconds)."""

    label: str
    score: float
    segments: tuple[int, ...]
    source_start_s: float
    source_end_s: float
    first_frame: int
    end_frame: int
    start_pts: int
    end_pts: int
    reel_start_s: float
    reel_end_s: float

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.first_frame

    def to_json(self) -> dict[str, Any]:
        """The part as JSON: times rounded to the millisecond."""
        return {
            "label": self.label,
            "score": self.score,
            "segments": list(self.segments),
            "source_start_s": round(self.source_start_s, 3),
            "source_end_s": round(self.source_end_s, 3),
            "reel_start_s": round(self.reel_start_s, 3),
            "reel_end_s": round(self.reel_end_s, 3),
            "frames": self.num_frames,
        }


@dataclass(frozen=True)
class ReelPlan:
    """The parts in reel order, the mode (``copy`` | ``encode``) and why that mode was chosen."""

    parts: list[ReelPart]
    mode: Literal["copy", "encode"]
    reason: str
    time_base: Fraction

    @property
    def duration_s(self) -> float:
        return self.parts[-1].reel_end_s if self.parts else 0.0

    @property
    def num_frames(self) -> int:
        return sum(p.num_frames for p in self.parts)


def plan_reel(index: FrameIndex, picks: Sequence[ReelPick], codec: str) -> ReelPlan:
    """Frame ranges and reel times of ``picks`` (time order, non-overlapping) in the video ``index`` describes.

    Parts that hold no frame (shorter than a frame, or past the end) are dropped; :class:`ReelError` when none is left.
    """
    times = index.times_s
    n = index.num_frames
    end_of_video = int(index.pts[-1]) + index.last_duration
    parts: list[ReelPart] = []
    reel_ticks = 0
    tb = index.time_base
    for pick in picks:
        a = int(np.searchsorted(times, pick.start_s - TIME_EPS_S, side="left"))
        b = int(np.searchsorted(times, pick.end_s - TIME_EPS_S, side="left"))
        a, b = min(a, n), min(b, n)
        if b <= a:
            continue
        start_pts = int(index.pts[a])
        end_pts = int(index.pts[b]) if b < n else end_of_video
        length = end_pts - start_pts
        parts.append(
            ReelPart(
                label=pick.label,
                score=pick.score,
                segments=pick.segments,
                source_start_s=pick.start_s,
                source_end_s=pick.end_s,
                first_frame=a,
                end_frame=b,
                start_pts=start_pts,
                end_pts=end_pts,
                reel_start_s=float(reel_ticks * tb),
                reel_end_s=float((reel_ticks + length) * tb),
            )
        )
        reel_ticks += length
    if not parts:
        raise ReelError(f"the chosen segments hold no frame of {index.path} (are they inside the video?)")
    mode, reason = _mode(index, parts, codec)
    return ReelPlan(parts, mode, reason, tb)


def _mode(index: FrameIndex, parts: list[ReelPart], codec: str) -> tuple[Literal["copy", "encode"], str]:
    if codec not in COPY_CODECS:
        return "encode", f"source codec {codec!r} is not stream-copied into MP4"
    n = index.num_frames
    for k, part in enumerate(parts):
        if not index.keyframe[part.first_frame]:
            return "encode", f"part {k} starts on frame {part.first_frame}, not a keyframe"
        if part.end_frame < n and not index.keyframe[part.end_frame]:
            return "encode", f"part {k} ends before frame {part.end_frame}, not a keyframe"
    return "copy", "every cut falls on a keyframe"
