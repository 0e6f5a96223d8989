"""Writing a planned reel with PyAV: packets stream-copied, or frames re-encoded with H.264.

Both write video only (audio is not carried) to a temporary file beside the destination that is renamed onto it
(:mod:`vidstruct.atomic`). Timestamps are rebased so the parts play back to back from ``t = 0``.

Stopping a cut: ``should_stop(done, total)`` (frames of the reel written so far, frames of the reel) is asked before
each frame (a packet when copying, a decoded frame when encoding) is written; when it answers True the cut raises
:class:`~vidstruct.pipeline.reels.errors.ReelCanceled`. That, or any other exception (``KeyboardInterrupt`` on
Ctrl-C included), removes the temporary file: nothing half-written stays and an old file under the destination is
untouched. ``should_stop`` is called for every frame: it should be cheap (rate-limit any database read inside it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np

from vidstruct.atomic import atomic_path
from vidstruct.io import VideoReader, write_video
from vidstruct.io.index import FrameIndex
from vidstruct.pipeline.reels.errors import ReelCanceled
from vidstruct.pipeline.reels.plan import ReelPlan

__all__ = ["StopFn", "copy_reel", "encode_reel", "write_reel"]

#: should_stop(done_frames, total_frames) -> True to stop the cut (see the module doc)
StopFn = Callable[[int, int], bool]


def _check(should_stop: StopFn | None, done: int, total: int) -> None:
    if should_stop is not None and should_stop(done, total):
        raise ReelCanceled(f"the cut was stopped after {done} of {total} frames")


def write_reel(
    source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path, should_stop: StopFn | None = None
) -> Path:
    """Write ``plan`` (cut from ``source``, whose frame index is ``index``) to ``out`` in its mode; returns ``out``.
    ``should_stop``: see the module doc (:class:`ReelCanceled` when it answers True)."""
    if plan.mode == "copy":
        return copy_reel(source, index, plan, out, should_stop)
    return encode_reel(source, index, plan, out, should_stop)


def copy_reel(
    source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path, should_stop: StopFn | None = None
) -> Path:
    """Stream-copy each part's packets (pts in ``[start_pts, end_pts)``), shifted to follow the previous part.

    Needs every part to start on a keyframe and end on one (or at the end): see :mod:`.plan`.
    """
    out = Path(out)
    done, total = 0, plan.num_frames
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
                _check(should_stop, done, total)
                packet.pts, packet.dts = pts + shift, dts + shift
                packet.stream = ost
                container.mux(packet)
                done += 1
            reel_ticks += part.end_pts - part.start_pts
    return out


def _frames(source: str | Path, plan: ReelPlan, should_stop: StopFn | None) -> Iterator[np.ndarray]:
    indices = np.concatenate([np.arange(p.first_frame, p.end_frame) for p in plan.parts])
    with VideoReader(source) as reader:
        for done, (_, frame) in enumerate(reader.iter_frames(indices)):
            _check(should_stop, done, len(indices))
            yield frame.numpy()


def encode_reel(
    source: str | Path, index: FrameIndex, plan: ReelPlan, out: str | Path, should_stop: StopFn | None = None
) -> Path:
    """Decode each part's frames and encode them with H.264 (crf 18) at their rebased presentation times."""
    times: list[float] = []
    for part in plan.parts:
        rel = (index.pts[part.first_frame : part.end_frame] - part.start_pts).astype(np.float64)
        times.extend((part.reel_start_s + rel * float(plan.time_base)).tolist())
    fps = index.average_fps or 25.0
    return write_video(out, _frames(source, plan, should_stop), fps, timestamps_s=times)
