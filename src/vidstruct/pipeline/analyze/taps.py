"""One decode pass that feeds every stage: frame taps.

A *tap* is a stage's view of the video: it names the frames it needs (:meth:`FrameTap.indices`, frame
indices in presentation order) and receives each one as it is decoded (:meth:`FrameTap.feed`). The
driver, :func:`decode_once`, decodes the union of every tap's frames in **one forward pass** of one
:class:`~vidstruct.io.VideoReader` (the planner decodes each needed GOP once, skips non-reference frames
nobody asked for, converts only the frames some tap needs) and hands each decoded frame to the taps that
asked for it, in increasing index order.

Sizes: a tap that names a ``frame_size`` (the shot detector: ``48 × 27``, squeezed) gets its frames scaled
to it by FFmpeg's swscale straight from the decoded YUV planes (:meth:`VideoReader.to_rgb`); the others get
them at the *decode size* (:func:`decode_short_side`): the largest size those stages need, reached inside
swscale during the YUV → RGB conversion (area averaging when shrinking), never above the source, then
resized by each stage (the recognizer's eval transform to its short side and crop, the thumbnails to their
width). Each decoded frame is converted once per size some tap wants it at, and not at all when no tap
does: the shot detector takes every frame, the windows about one in four at 25 fps, so most frames are
only ever converted at ``48 × 27``.

A tap that names a ``frame_size`` may also offer ``buffer(index)``: the uint8 ``[H, W, 3]`` array (C-contiguous,
at that size) where frame ``index`` should land; the driver then converts the frame straight into it
(:meth:`VideoReader.to_rgb_into`) and feeds a tensor viewing it (the shot detector's chunk: no array per frame).

Per frame the driver only looks up which taps take it (computed once for the whole pass), converts, and feeds.

Memory: the driver holds one frame; each tap documents what it holds (windows being filled, a chunk of
shot-detector frames, the thumbnails' JPEG candidates, the actors' open clips).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from vidstruct.io import VideoReader

__all__ = ["FrameTap", "decode_once", "decode_short_side", "short_side_for"]

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

    #: ``(width, height)`` the stage wants its frames at (aspect not kept), or ``None`` for the decode size
    frame_size: tuple[int, int] | None

    def feed(self, index: int, frame: torch.Tensor) -> None:
        """Frame ``index``: uint8 ``[H, W, 3]`` RGB at :attr:`frame_size` (or the decode size), displayed
        orientation."""
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


def decode_once(
    reader: VideoReader, taps: Sequence[FrameTap], *, progress: DecodeProgress | None = None
) -> dict[str, float]:
    """Decode the frames every tap needs in one pass of ``reader`` and feed them; then finish every tap.

    Returns ``{"decode": seconds spent decoding and converting}`` (the taps keep their own time).
    """
    wanted = [np.unique(np.asarray(tap.indices(), dtype=np.int64)) for tap in taps]
    sizes = [tap.frame_size for tap in taps]
    buffers = [getattr(tap, "buffer", None) if size is not None else None for tap, size in zip(taps, sizes)]
    union = np.unique(np.concatenate(wanted)) if wanted else np.zeros(0, np.int64)
    takers: list[list[int]] = [[] for _ in range(union.size)]  # position in union -> the taps that take it
    for k, need in enumerate(wanted):
        for pos in np.searchsorted(union, need).tolist():
            takers[pos].append(k)
    taken = dict(zip(union.tolist(), takers))
    times = reader.times_s.tolist()
    clock = time.perf_counter
    fed_before = sum(tap.seconds for tap in taps)
    start = clock()  # the loop's time less the taps' feed time is decoding and converting
    for index, decoded in reader.iter_decoded(union) if union.size else ():
        fed: list[tuple[int, torch.Tensor]] = []
        converted: dict[tuple[int, int] | None, torch.Tensor] = {}
        for k in taken[index]:
            size, buffer = sizes[k], buffers[k]
            if buffer is not None:
                out = buffer(index)
                reader.to_rgb_into(decoded, size, out)  # type: ignore[arg-type]
                fed.append((k, torch.from_numpy(out)))
                continue
            frame = converted.get(size)
            if frame is None:
                frame = converted[size] = reader.to_rgb(decoded, size)
            fed.append((k, frame))
        t1 = clock()
        for k, frame in fed:
            tap = taps[k]
            tap.feed(index, frame)
            t2 = clock()
            tap.seconds += t2 - t1
            t1 = t2
        if progress is not None:
            progress(times[index])
    decode_s = clock() - start - (sum(tap.seconds for tap in taps) - fed_before)
    for tap in taps:
        t1 = clock()
        tap.finish()
        tap.seconds += clock() - t1
    return {"decode": decode_s}
