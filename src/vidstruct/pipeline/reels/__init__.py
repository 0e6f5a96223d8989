"""Highlight reels: chosen segments of a video cut into one MP4, in time order, with a WebVTT chapters track.

- :mod:`.select` — which segments (label or ids, minimum score, a time budget best first, overlaps merged);
- :mod:`.plan` — frame ranges, reel times, and the mode rule (stream copy when every cut falls on a keyframe,
  H.264 re-encoding otherwise);
- :mod:`.cut` — writing the reel with PyAV; :mod:`.chapters` — the chapters track;
- :mod:`.make` — all of it for one structure document (:func:`make_reel`).
"""

from vidstruct.pipeline.reels.chapters import chapters_vtt, write_chapters
from vidstruct.pipeline.reels.errors import ReelCanceled, ReelError
from vidstruct.pipeline.reels.make import Reel, chapters_path, cut_reel, make_reel, source_video
from vidstruct.pipeline.reels.plan import COPY_CODECS, ReelPart, ReelPlan, plan_reel
from vidstruct.pipeline.reels.select import ReelPick, choose_segments

__all__ = [
    "COPY_CODECS",
    "Reel",
    "ReelCanceled",
    "ReelError",
    "ReelPart",
    "ReelPick",
    "ReelPlan",
    "chapters_path",
    "chapters_vtt",
    "choose_segments",
    "cut_reel",
    "make_reel",
    "plan_reel",
    "source_video",
    "write_chapters",
]
