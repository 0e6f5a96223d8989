"""Helpers of the io tests: frames that carry their own number, reference decoding, broken files.

Frame ``i`` of an *id video* shows ``i`` in binary as a 4 x 4 grid of black /
white blocks (bit ``k`` = block ``k`` in row-major order), so its identity
survives lossy H.264 coding and resizing: :func:`read_ids` recovers it.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vidstruct.io import write_video

GRID = 4  # 4 x 4 blocks = 16 bits
#: presentation times of the variable-frame-rate test video's frames (seconds)
VFR_TIMES = [0.0, 0.05, 0.10, 0.30, 0.32, 0.50, 0.90, 0.95, 1.00, 1.20]


def id_frame(i: int, height: int = 64, width: int = 64) -> np.ndarray:
    """uint8 ``[H, W, 3]`` showing ``i`` (0 <= i < 2**16) as white blocks for 1-bits."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    bh, bw = height // GRID, width // GRID
    for k in range(GRID * GRID):
        if (i >> k) & 1:
            r, c = divmod(k, GRID)
            frame[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = 255
    return frame


def read_id(frame: np.ndarray | torch.Tensor) -> int:
    """The number shown by an id frame ``[H, W, 3]`` (block centres thresholded at 128)."""
    arr = frame.numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
    h, w = arr.shape[:2]
    value = 0
    for k in range(GRID * GRID):
        r, c = divmod(k, GRID)
        y0, y1 = int((r + 0.25) * h / GRID), int((r + 0.75) * h / GRID)
        x0, x1 = int((c + 0.25) * w / GRID), int((c + 0.75) * w / GRID)
        if arr[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)].mean() > 128:
            value |= 1 << k
    return value


def read_ids(frames: torch.Tensor | np.ndarray) -> list[int]:
    """Numbers shown by uint8 ``[T, H, W, 3]`` id frames."""
    return [read_id(f) for f in frames]


def id_video(
    path: Path,
    num_frames: int,
    fps: float,
    *,
    gop: int | None = None,
    timestamps_s: list[float] | None = None,
    height: int = 64,
    width: int = 64,
) -> Path:
    """Write an id video (H.264, yuv420p, crf 18)."""
    frames = (id_frame(i, height, width) for i in range(num_frames))
    return write_video(path, frames, fps, gop=gop, timestamps_s=timestamps_s)


class _NonSeekable(io.RawIOBase):
    """A write-only stream that cannot seek: what a muxer sees when it streams (e.g. a browser's MediaRecorder)."""

    def __init__(self, target: io.BufferedWriter) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.target.write(data)


def write_streamed_webm(path: Path, timestamps_s: list[float], codec: str = "libvpx-vp9") -> Path:
    """Id frames ``0..N-1`` at ``timestamps_s`` (millisecond clock), muxed to WebM through a non-seekable stream.

    Like MediaRecorder output, the header states no duration (the muxer cannot go back to write it)
    and there is no cue index; frame ``i`` shows ``i``.
    """
    with open(path, "wb") as raw, av.open(_NonSeekable(raw), mode="w", format="webm") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(timestamps_s):
            vf = av.VideoFrame.from_ndarray(id_frame(i), format="rgb24")
            vf.pts, vf.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_reference(path: str | Path) -> np.ndarray:
    """Every frame, decoded sequentially by plain PyAV and ordered by pts: uint8 ``[T, H, W, 3]``."""
    with av.open(str(path)) as container:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    frames.sort(key=lambda pair: pair[0])
    return np.stack([f for _, f in frames])


def quadrant_frame(height: int = 32, width: int = 64) -> np.ndarray:
    """Red top-left quadrant, blue bottom-right, black elsewhere (orientation is visible)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[: height // 2, : width // 2] = (255, 0, 0)
    frame[height // 2 :, width // 2 :] = (0, 0, 255)
    return frame


def write_rotated(path: Path, degrees: int, num_frames: int = 4, fps: int = 25) -> Path:
    """Quadrant frames stored 32 x 64 with a display matrix rotating ``degrees`` counter-clockwise."""
    frame = quadrant_frame()
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(degrees)
        for i in range(num_frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_faststart(path: Path, num_frames: int = 30, fps: int = 25) -> Path:
    """An id video with the mp4 index (moov) before the data, as streamed downloads have."""
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(num_frames):
            vf = av.VideoFrame.from_ndarray(id_frame(i), format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_undecodable(path: Path, source: Path) -> Path:
    """``source`` with its mp4 ``mdat`` payload overwritten by noise: a valid container where no frame decodes."""
    data = bytearray(source.read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    noise = np.random.default_rng(0).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    data[at + 4 : at - 4 + size] = noise
    path.write_bytes(bytes(data))
    return path


def write_random_bytes(path: Path, size: int = 20000) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def write_y4m_header(path: Path, width: int, height: int) -> Path:
    """A raw YUV4MPEG2 file whose header declares ``width x height`` followed by a few bytes of one frame."""
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x80" * 4096)
    return path


def truncate(path: Path, source: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def max_rss_bytes() -> int:
    """Peak resident memory of this process (bytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
