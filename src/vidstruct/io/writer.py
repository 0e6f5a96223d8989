"""Encode frames to real video files with PyAV (H.264 by default).

Used by the synthetic generator, tests and benchmarks. Frames are uint8
``[T, H, W, C]`` RGB (numpy or torch); H and W must be even for yuv420p.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from vidstruct.atomic import atomic_path


def write_video(
    path: str | Path,
    frames: Iterable[Any],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    gop: int | None = None,
    pix_fmt: str = "yuv420p",
    timestamps_s: list[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write ``frames`` (each uint8 ``[H, W, 3]`` RGB) to ``path``.

    - ``fps``: nominal frame rate;
    - ``gop``: keyframe interval in frames (``None``: the encoder's default);
    - ``timestamps_s``: explicit presentation times (seconds) per frame, for
      variable-frame-rate files; default ``i / fps``.

    Returns the path. Encodes into a temporary file with a unique name in the
    same folder (keeping ``path``'s suffix, from which the muxer picks the
    format), then fsyncs and renames it (:func:`vidstruct.atomic.atomic_path`):
    two writers of one path never share a temporary file, and an error while
    encoding removes it, leaving any old file under ``path`` untouched.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        _encode(
            tmp, frames, fps, codec=codec, crf=crf, gop=gop, pix_fmt=pix_fmt, timestamps_s=timestamps_s, options=options
        )
    return path


def _encode(
    path: Path,
    frames: Iterable[Any],
    fps: float,
    *,
    codec: str,
    crf: int,
    gop: int | None,
    pix_fmt: str,
    timestamps_s: list[float] | None,
    options: dict[str, str] | None,
) -> None:
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000) if timestamps_s is not None else 1 / rate
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = pix_fmt
        opts = {"crf": str(crf)} if codec in ("libx264", "libx265") else {}
        if gop is not None:
            stream.codec_context.gop_size = gop
            if codec == "libx264":
                opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        opts.update(options or {})
        stream.options = opts
        stream.codec_context.time_base = time_base
        started = False
        for i, frame in enumerate(frames):
            array = np.ascontiguousarray(np.asarray(frame, dtype=np.uint8))
            if not started:
                stream.height, stream.width = array.shape[0], array.shape[1]
                started = True
            video_frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if timestamps_s is not None:
                video_frame.pts = round(timestamps_s[i] / time_base)
            else:
                video_frame.pts = i
            video_frame.time_base = time_base
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
