"""Writing a planned reel with PyAV: packets stream-copied, or frames re-encoded with H.264.

Both write video only (audio is not carried) to a temporary file beside the destination that is renamed onto it
(:mod:`vidstruct.atomic`). Timestamps are rebased so the parts play back to back from ``t = 0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from vidstruct.atomic import atomic_path
from vidstruct.io import VideoReader, write_video
from vidstruct.io.index import FrameIndex
from vidstruct.pipeline.reels.plan import ReelPlan

__all__ = ["copy_reel", "encode_reel", "write_reel"]


def write_reel(source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path) -> Path:
    """Write ``plan`` (cut from ``source``, whose frame index is ``index``) to ``out`` in its mode; returns ``out``."""
    if plan.mode == "copy":
        return copy_reel(source, index, plan, out)
    return encode_reel(source, index, plan, out)


def copy_reel(source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path) -> Path:
    """Stream-copy each part's packets (pts in ``[start_pts, end_pts)``), shifted to follow the previous part.

    Needs every part to start on a keyframe and end on one (or at the end): see :mod:`.plan`.
    """
    out = Path(out)
    with atomic_path(out) as tmp, av.open(str(source)) as inp, av.open(str(tmp), mode="w") as container:
        ist = inp.streams.video[0]
        ost = container.add_stream_from_template(ist)
        reel_ticks = 0
        for part in plan.parts:
            last_dts = int(index.dts[part.first_frame : part.end_frame].max())
            shift = reel_ticks - part.start_pts
            inp.seek(part.start_pts, stream=ist, backward=True, any_frame=False)
            for packet in inp.demux(ist):
                if packet.pts is None and packet.dts is None:
                    continue  # flush marker
                if getattr(packet, "is_discard", False):
                    continue
                dts = packet.dts if packet.dts is not None else packet.pts
                if dts > last_dts:
                    break
                pts = packet.pts if packet.pts is not None else dts
                if not part.start_pts <= pts < part.end_pts:
                    continue
                packet.pts, packet.dts = pts + shift, dts + shift
                packet.stream = ost
                container.mux(packet)
            reel_ticks += part.end_pts - part.start_pts
    return out


def _frames(source: str | Path, plan: ReelPlan) -> Iterator[np.ndarray]:
    indices = np.concatenate([np.arange(p.first_frame, p.end_frame) for p in plan.parts])
    with VideoReader(source) as reader:
        for _, frame in reader.iter_frames(indices):
            yield frame.numpy()


def encode_reel(source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path) -> Path:
    """Decode each part's frames and encode them with H.264 (crf 18) at their rebased presentation times."""
    times: list[float] = []
    for part in plan.parts:
        rel = (index.pts[part.first_frame : part.end_frame] - part.start_pts).astype(np.float64)
        times.extend((part.reel_start_s + rel * float(plan.time_base)).tolist())
    fps = index.average_fps or 25.0
    return write_video(out, _frames(source, plan), fps, timestamps_s=times)
