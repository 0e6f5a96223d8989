"""Decoded frame → RGB pixels, with optional resizing in the same FFmpeg pass.

Conversion goes through PyAV's swscale wrapper (``VideoReformatter``), reused
across frames (building a new scaler per frame costs ~10x the conversion).
When resizing, the frame is first scaled in its native YUV layout (half the
bytes of RGB for 4:2:0) and then converted to RGB at the small size, which is
about twice as fast as scaling in RGB and never materializes a full-resolution
RGB frame. Downscaling uses area averaging (anti-aliased), upscaling bilinear.

Rotation (display-matrix side data) is applied to whole ``[T, H, W, C]``
tensors after conversion: :func:`apply_rotation`.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from av import VideoFrame
from av.video.reformatter import Interpolation, VideoReformatter

# pixel formats swscale can both read and write cheaply; others go RGB in one step
_TWO_STEP_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})


def output_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """``(width, height)`` after resizing so that the shorter side is ``short_side``.

    The longer side keeps the aspect ratio, rounded to the nearest pixel;
    ``short_side=None`` keeps the size. Sizes are in the stored (coded)
    orientation; rotation swaps them afterwards.
    """
    if short_side is None:
        return width, height
    if short_side < 1:
        raise ValueError(f"short_side must be >= 1, got {short_side}")
    if width <= height:
        return short_side, max(1, round(height * short_side / width))
    return max(1, round(width * short_side / height)), short_side


#: output frames up to this many pixels are converted on one thread when the caller leaves the choice to us
SMALL_FRAME_PIXELS = 320 * 180


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def scaling_threads(threads: int, width: int, height: int) -> int:
    """swscale threads for output frames of ``width × height``: ``threads`` when given (> 0); for 0 (our
    choice) 1 on small frames (up to :data:`SMALL_FRAME_PIXELS`), else 0 (FFmpeg's choice). On small frames
    swscale's threads cost more than they save: 3x the CPU for 48 × 27 output (57 vs 18 µs per frame on 2
    cores), 3.4x for 96 × 96 (31 vs 9 µs), with no gain in wall time."""
    if threads > 0:
        return threads
    return 1 if width * height <= SMALL_FRAME_PIXELS else 0


class FrameConverter:
    """Convert decoded frames to uint8 RGB ``[H, W, 3]`` at a fixed output size.

    ``threads``: swscale threads (0 = our choice, :func:`scaling_threads`; 1 inside DataLoader workers).
    """

    def __init__(self, width: int, height: int, *, threads: int = 0) -> None:
        self.width = width
        self.height = height
        self.threads = scaling_threads(threads, width, height)
        self._scaler = VideoReformatter()
        self._to_rgb = VideoReformatter()

    def rgb_frame(self, frame: VideoFrame) -> VideoFrame:
        """The ``rgb24`` frame at the output size (scaled first in YUV when resizing)."""
        w, h = self.width, self.height
        if frame.width == w and frame.height == h:
            return self._to_rgb.reformat(frame, format="rgb24", threads=self.threads)
        down = w * h < frame.width * frame.height
        interpolation = Interpolation.AREA if down else Interpolation.BILINEAR
        if frame.format.name in _TWO_STEP_FORMATS:
            small = self._scaler.reformat(
                frame, width=w, height=h, format=frame.format.name, interpolation=interpolation, threads=self.threads
            )
            return self._to_rgb.reformat(small, format="rgb24", threads=self.threads)
        return self._to_rgb.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=interpolation, threads=self.threads
        )

    def convert_into(self, frame: VideoFrame, out: np.ndarray) -> None:
        """Write ``frame`` as RGB into ``out`` (uint8 ``[H, W, 3]``), with a single copy."""
        rgb = self.rgb_frame(frame)
        plane = rgb.planes[0]
        h, w = self.height, self.width
        line = plane.line_size
        view = np.frombuffer(plane, dtype=np.uint8, count=line * h).reshape(h, line)[:, : w * 3]
        out[...] = view.reshape(h, w, 3)

    def convert(self, frame: VideoFrame) -> np.ndarray:
        """``frame`` as a new uint8 RGB array ``[H, W, 3]``."""
        out = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self.convert_into(frame, out)
        return out


def rotation_quarter_turns(rotation: float | int | None) -> int:
    """Counter-clockwise quarter turns (0-3) for a display rotation in degrees.

    ``rotation`` is PyAV's ``VideoFrame.rotation``: the angle by which the
    stored frame must be rotated counter-clockwise to be displayed (a phone
    video tagged ``rotate=90``, i.e. 90° clockwise, reads as ``-90``).
    Angles are rounded to the nearest multiple of 90.
    """
    if not rotation:
        return 0
    return int(round(float(rotation) / 90.0)) % 4


def apply_rotation(frames: torch.Tensor, rotation: float | int | None) -> torch.Tensor:
    """Rotate uint8 ``[T, H, W, C]`` frames for display (see :func:`rotation_quarter_turns`).

    Returns the input unchanged (no copy) when there is nothing to rotate,
    else a contiguous rotated copy (``H`` and ``W`` swap for ±90°).
    """
    k = rotation_quarter_turns(rotation)
    if k == 0:
        return frames
    return torch.from_numpy(np.ascontiguousarray(np.rot90(frames.numpy(), k, axes=(1, 2))))
