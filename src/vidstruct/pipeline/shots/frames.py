"""Feed a shot detector from a video file: every frame, resized to the detector's size, in chunks.

:func:`detect_shots` is the one-call form (decode → push → close) for a detector on its own;
``vidstruct analyze`` instead feeds every stage from a single decode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidstruct.io import VideoReader, probe
from vidstruct.pipeline.shots.base import ShotDetector, ShotResult

__all__ = ["detect_shots", "iter_detector_frames"]


def _resize(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` → uint8 ``[T, height, width, 3]`` by area averaging."""
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    x = F.adaptive_avg_pool2d(frames.permute(0, 3, 1, 2).float(), (height, width))
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _reader_for(path: str | Path, frame_size: tuple[int, int], threads: int) -> VideoReader:
    """A reader that resizes (inside FFmpeg, aspect kept) to the smallest size covering ``frame_size``."""
    width, height = frame_size
    info = probe(path)
    scale = max(width / info.width, height / info.height)
    return VideoReader(path, short_side=max(1, math.ceil(scale * min(info.width, info.height))), threads=threads)


def _chunks(
    reader: VideoReader, frame_size: tuple[int, int], chunk_frames: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    width, height = frame_size
    times = reader.times_s
    chunk: list[torch.Tensor] = []
    start = 0
    for i, frame in reader.iter_frames(np.arange(reader.num_frames)):
        chunk.append(frame)
        if len(chunk) == chunk_frames or i == reader.num_frames - 1:
            batch = _resize(torch.stack(chunk), width, height)
            yield batch.numpy(), np.asarray(times[start : i + 1], dtype=np.float64)
            start, chunk = i + 1, []


def iter_detector_frames(
    path: str | Path, frame_size: tuple[int, int], *, chunk_frames: int = 256, threads: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every frame of ``path`` at ``frame_size`` (``(w, h)``): ``(uint8 [T, h, w, 3] RGB, float64 [T] seconds)``.

    Frames are decoded once, in order, resized inside FFmpeg to the smallest size that covers
    ``frame_size`` with the aspect ratio kept (area averaging), then to ``frame_size`` exactly by area
    averaging (the aspect ratio is not kept: the detectors are trained / tuned on squeezed frames).
    At most ``chunk_frames`` frames are held. Decode errors are :class:`~vidstruct.io.VideoDecodeError`.
    """
    reader = _reader_for(path, frame_size, threads)
    try:
        yield from _chunks(reader, frame_size, chunk_frames)
    finally:
        reader.close()


def detect_shots(path: str | Path, detector: ShotDetector, *, chunk_frames: int = 256) -> ShotResult:
    """Shots of the video at ``path`` by ``detector`` (frames decoded at its ``frame_size``, every frame).

    The last shot ends at the video's duration (:attr:`vidstruct.io.VideoReader.duration_s`).
    """
    if detector.fps is not None:
        raise ValueError(
            f"{detector.name}: detect_shots feeds every frame; a detector at {detector.fps} fps needs analyze"
        )
    detector.reset()
    reader = _reader_for(path, detector.frame_size, threads=0)
    try:
        for frames, times in _chunks(reader, detector.frame_size, chunk_frames):
            detector.push(frames, times)
        return detector.close(end_s=reader.duration_s)
    except BaseException:
        detector.reset()  # ready for the next video even when this one failed half-way
        raise
    finally:
        reader.close()
