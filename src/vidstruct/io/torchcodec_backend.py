"""Optional torchcodec backend with the reader API of :class:`~vidstruct.io.reader.VideoReader`.

torchcodec is not a dependency: this module imports it only when a
torchcodec reader is requested (it needs FFmpeg shared libraries from the
system). ``open_reader(path, backend="torchcodec")`` returns a
:class:`TorchCodecReader`; ``backend="pyav"`` (the default) the PyAV reader.
Both return uint8 ``[T, H, W, C]`` RGB with rotation applied and take times
in seconds from frame 0. The file is validated by
:func:`~vidstruct.io.container.open_video` first, so bad inputs raise the
same typed errors on both backends.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vidstruct.io.container import DEFAULT_MAX_PIXELS, open_video
from vidstruct.io.errors import CorruptVideoError, DecoderBackendError, FrameOutOfRangeError
from vidstruct.io.index import TIME_EPS_S
from vidstruct.io.pixel_format import output_size
from vidstruct.io.reader import VideoReader

Backend = Literal["pyav", "torchcodec"]


@functools.lru_cache(maxsize=1)
def torchcodec_available() -> bool:
    """Whether torchcodec imports and finds its FFmpeg libraries."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception:  # ImportError, or OSError / RuntimeError when FFmpeg libraries are missing
        return False
    return True


class TorchCodecReader:
    """Frame-accurate reads through ``torchcodec.decoders.VideoDecoder`` (``seek_mode`` exact or approximate)."""

    def __init__(
        self,
        path: str | Path,
        *,
        short_side: int | None = None,
        threads: int = 0,
        seek_mode: Literal["exact", "approximate"] = "exact",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if not torchcodec_available():
            raise DecoderBackendError(
                "backend 'torchcodec' requested but torchcodec is not installed or cannot load FFmpeg "
                "(pip install torchcodec; it needs FFmpeg shared libraries); use backend='pyav'"
            )
        from torchcodec.decoders import VideoDecoder

        container, _ = open_video(path, max_pixels=max_pixels)  # same typed errors as the PyAV reader
        container.close()
        self.path = str(path)
        self.short_side = short_side
        probe_decoder = VideoDecoder(self.path, dimension_order="NHWC", seek_mode=seek_mode)
        meta = probe_decoder.metadata
        transforms = None
        if short_side is not None:
            from torchcodec.transforms import Resize

            w, h = output_size(int(meta.width), int(meta.height), short_side)
            transforms = [Resize(size=(h, w))]
        try:
            self._decoder = VideoDecoder(
                self.path,
                dimension_order="NHWC",
                num_ffmpeg_threads=threads,
                seek_mode=seek_mode,
                transforms=transforms,
            )
        except Exception as exc:
            raise CorruptVideoError(self.path, f"torchcodec cannot decode: {exc}") from None
        self.metadata = self._decoder.metadata
        self._start_s = float(self.metadata.begin_stream_seconds or 0.0)

    @property
    def num_frames(self) -> int:
        return int(self.metadata.num_frames)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration_s(self) -> float:
        return float(self.metadata.end_stream_seconds) - self._start_s

    @property
    def fps(self) -> float:
        return float(self.metadata.average_fps)

    def get_frames(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, H, W, C]`` frames at ``indices`` (request order)."""
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64).reshape(-1)
        bad = idx[(idx < 0) | (idx >= self.num_frames)]
        if bad.size:
            raise FrameOutOfRangeError(
                self.path, f"frame index {int(bad[0])} is out of range: the video has {self.num_frames} frames"
            )
        return self._decoder.get_frames_at(idx.tolist()).data

    def get_frames_at(self, times_s: Sequence[float] | np.ndarray | float) -> torch.Tensor:
        """uint8 ``[T, H, W, C]`` frames displayed at ``times_s`` (seconds from frame 0)."""
        t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
        if t.size and (t.min() < -TIME_EPS_S or t.max() >= self.duration_s):
            bad = t[(t < -TIME_EPS_S) | (t >= self.duration_s)][0]
            raise FrameOutOfRangeError(
                self.path, f"time {bad:.6g}s is outside the video (valid 0 <= t < {self.duration_s:.6g}s)"
            )
        absolute = np.maximum(t, 0.0) + self._start_s + TIME_EPS_S
        return self._decoder.get_frames_played_at(absolute.tolist()).data

    def close(self) -> None:
        self._decoder = None  # type: ignore[assignment]

    def __enter__(self) -> TorchCodecReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(path: str | Path, *, backend: Backend = "pyav", **kwargs: Any) -> VideoReader | TorchCodecReader:
    """A reader of ``path`` on ``backend`` ("pyav": :class:`VideoReader`; "torchcodec": :class:`TorchCodecReader`)."""
    if backend == "pyav":
        return VideoReader(path, **kwargs)
    if backend == "torchcodec":
        return TorchCodecReader(path, **kwargs)
    raise DecoderBackendError(f"unknown decoder backend {backend!r} (expected 'pyav' or 'torchcodec')")
