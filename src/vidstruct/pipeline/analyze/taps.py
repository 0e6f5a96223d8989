"""One decode pass that feeds every stage: frame taps.

A *tap* is a stage's view of the video: it names the frames it needs (:meth:`FrameTap.indices`, frame
indices in presentation order) and receives each one as it is decoded (:meth:`FrameTap.feed`). The
driver, :func:`decode_once`, decodes the union of every tap's frames in **one forward pass** of one
:class:`~vidstruct.io.VideoReader` (the planner decodes each needed GOP once, skips non-reference frames
nobody asked for, converts only the frames some tap needs) and hands each decoded frame to the taps that
asked for it, in increasing index order.

Sizes: the reader converts frames at the *decode size* (:func:`decode_short_side`): the largest size any
stage needs, reached inside FFmpeg's swscale during the YUV → RGB conversion (area averaging when
shrinking), and never above the source. Each stage then resizes those already small frames to its own
size (the shot detector to ``48 × 27``, the recognizer's eval transform to its short side and crop, the
thumbnails to their width). One conversion per decoded frame at one size is what the reader offers; it
costs less than converting each frame several times, and the per-stage resizes run on small tensors.

Memory: the driver holds one frame; each tap documents what it holds (windows being filled, a chunk of
shot-detector frames, the thumbnails' JPEG candidates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from vidstruct.io import VideoReader

__all__ = ["FrameTap", "area_resize", "decode_once", "decode_short_side", "short_side_for"]

#: ``progress(done_s)``: seconds of video decoded so far
DecodeProgress = Callable[[float], None]


class FrameTap(Protocol):
    """A stage fed by :func:`decode_once`."""

    #: stage name (its key in the document's ``timings``)
    name: str
    #: seconds spent in :meth:`feed` and :meth:`finish` (the stage's own work, decoding excluded)
    seconds: float

    def indices(self) -> np.ndarray:
        """int64 ``[M]``: sorted unique frame indices this stage needs."""
        ...

    def feed(self, index: int, frame: torch.Tensor) -> None:
        """Frame ``index``: uint8 ``[H, W, 3]`` RGB at the decode size, displayed orientation."""
        ...

    def finish(self) -> None:
        """Every frame has been fed: flush what is left."""
        ...


def short_side_for(width: int, height: int, frame_size: tuple[int, int]) -> int:
    """Short side (pixels) a ``width × height`` frame must be scaled to so that it covers ``frame_size``
    (``(w, h)``) in both directions, aspect ratio kept."""
    w, h = frame_size
    scale = max(w / width, h / height)
    return max(1, math.ceil(scale * min(width, height) - 1e-9))


def decode_short_side(width: int, height: int, needs: Sequence[int]) -> int | None:
    """The decode size: the largest short side in ``needs`` (pixels), or ``None`` (the source size) when
    that is not smaller than the source's short side (frames are never scaled up at decode time)."""
    if not needs:
        return None
    need = max(needs)
    return None if need >= min(width, height) else int(need)


def area_resize(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` → uint8 ``[T, height, width, 3]`` by area averaging (aspect not kept)."""
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    x = F.adaptive_avg_pool2d(frames.permute(0, 3, 1, 2).float(), (height, width))
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def decode_once(
    reader: VideoReader, taps: Sequence[FrameTap], *, progress: DecodeProgress | None = None
) -> dict[str, float]:
    """Decode the frames every tap needs in one pass of ``reader`` and feed them; then finish every tap.

    Returns ``{"decode": seconds spent decoding and converting}`` (the taps keep their own time).
    """
    wanted = [np.unique(np.asarray(tap.indices(), dtype=np.int64)) for tap in taps]
    union = np.unique(np.concatenate(wanted)) if wanted else np.zeros(0, np.int64)
    times = reader.times_s
    cursor = [0] * len(taps)
    decode_s = 0.0
    frames = reader.iter_frames(union) if union.size else iter(())
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        decode_s += time.perf_counter() - t0
        if item is None:
            break
        index, frame = item
        for k, tap in enumerate(taps):
            need = wanted[k]
            if cursor[k] < need.size and need[cursor[k]] == index:
                cursor[k] += 1
                t1 = time.perf_counter()
                tap.feed(index, frame)
                tap.seconds += time.perf_counter() - t1
        if progress is not None:
            progress(float(times[index]))
    for tap in taps:
        t1 = time.perf_counter()
        tap.finish()
        tap.seconds += time.perf_counter() - t1
    return {"decode": decode_s}
