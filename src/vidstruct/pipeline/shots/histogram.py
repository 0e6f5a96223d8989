"""HSV colour histograms of frames and the distance between them (the content detector's frame score).

Each frame is converted to HSV by Pillow (``Image.convert("HSV")``: H, S, V each 0-255) and
histogrammed per channel: :data:`HUE_BINS` hue bins, :data:`SAT_BINS` saturation bins,
:data:`VALUE_BINS` value bins, as integer counts (exact, so results never depend on how frames are
batched). The distance between two frames is the mean over the three channels of the total
variation distance between their normalized histograms, ``0.5 * sum |p - q|``: 0 for identical
colour distributions, 1 when no bin overlaps in any channel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vidstruct.errors import ShapeError

__all__ = ["HUE_BINS", "SAT_BINS", "VALUE_BINS", "histogram_distance", "hsv_histograms"]

HUE_BINS, SAT_BINS, VALUE_BINS = 32, 16, 16
_SHIFTS = np.array([8 - 5, 8 - 4, 8 - 4], dtype=np.uint8)  # 256 levels -> 32 / 16 / 16 bins
_OFFSETS = np.array([0, HUE_BINS, HUE_BINS + SAT_BINS], dtype=np.int64)
_BINS = HUE_BINS + SAT_BINS + VALUE_BINS
_CHANNELS = (slice(0, HUE_BINS), slice(HUE_BINS, HUE_BINS + SAT_BINS), slice(HUE_BINS + SAT_BINS, _BINS))


def hsv_histograms(frames: np.ndarray) -> np.ndarray:
    """int64 ``[T, 64]`` histograms of uint8 ``[T, H, W, 3]`` RGB frames: hue (32), saturation (16), value (16)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ShapeError(f"expected uint8 [T, H, W, 3] RGB frames, got {frames.dtype} {list(frames.shape)}")
    t, h, w, _ = frames.shape
    if t == 0:
        return np.zeros((0, _BINS), dtype=np.int64)
    hsv = np.asarray(Image.fromarray(frames.reshape(t * h, w, 3)).convert("HSV")).reshape(t, h * w, 3)
    bins = (hsv >> _SHIFTS).astype(np.int64) + _OFFSETS + (np.arange(t, dtype=np.int64) * _BINS)[:, None, None]
    return np.bincount(bins.ravel(), minlength=t * _BINS).reshape(t, _BINS)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 ``[T]`` distances in ``[0, 1]`` between histograms ``a`` and ``b`` (int ``[T, 64]`` each).

    Mean over hue, saturation and value of the total variation distance of the normalized histograms.
    """
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != _BINS:
        raise ShapeError(f"expected two [T, {_BINS}] histograms, got {list(a.shape)} and {list(b.shape)}")
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    pixels = a[:, _CHANNELS[0]].sum(axis=1).astype(np.float64)
    per_channel = [diff[:, c].sum(axis=1) for c in _CHANNELS]
    return 0.5 * np.mean(per_channel, axis=0) / np.maximum(pixels, 1.0)
