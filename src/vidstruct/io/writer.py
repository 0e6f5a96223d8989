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

    Returns the path. Writes to a temporary name and renames, so an
    interrupted write never leaves a half-written file under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000) if timestamps_s is not None else 1 / rate
    with av.open(str(tmp), mode="w") as container:
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
    tmp.replace(path)
    return path
